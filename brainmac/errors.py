"""The exceptions brainmac raises for bad input; each message names what to change."""


class ConfigError(ValueError):
    """A network, parameter or option that brainmac cannot run as given."""


class StoreError(ValueError):
    """A compiled store that is missing, damaged or of an unknown format."""


class CapacityError(RuntimeError):
    """A fixed-size buffer overflowed; the message says which setting to raise."""
