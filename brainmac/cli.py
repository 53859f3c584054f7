"""The ``brainmac`` command: run | compile | validate | bench | plan | info.

Each subcommand lives in ``brainmac/commands/<name>.py`` with ``register(subparsers)`` (cheap:
no heavy imports) and ``main(args) -> int``. Bad input ends with a one-line message and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from brainmac.errors import CapacityError, ConfigError, StoreError

COMMANDS = ("run", "compile", "info", "validate", "bench", "plan")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainmac",
        description="Spiking networks as 8-bit synapses and 16-bit neurons on a fixed clock.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"brainmac.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"brainmac.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(f"brainmac.commands.{args.command}")
    try:
        return int(module.main(args) or 0)
    except (ConfigError, StoreError, CapacityError) as err:
        print(f"brainmac {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"brainmac {args.command}: error: {err.strerror or err} "
              f"({getattr(err, 'filename', '') or 'I/O'})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"brainmac {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
