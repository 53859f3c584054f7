"""Reference simulators that brainmac is measured against (optional extra ``reference``).

Nothing here imports a reference simulator until a function runs:
``run_nest`` raises ConfigError when NEST is missing.
"""

from brainmac.reference.nest import NestResult, run_nest

__all__ = ["NestResult", "run_nest"]
