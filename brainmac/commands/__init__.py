"""One module per ``brainmac`` subcommand: ``register(subparsers)`` and ``main(args)``."""
