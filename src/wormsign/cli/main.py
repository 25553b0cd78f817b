"""Entry point of the ``wormsign`` command: parse, dispatch, turn errors into exit codes."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from wormsign import __version__
from wormsign.errors import WormsignError

# Subcommand modules, imported lazily so that `wormsign scan` does not pay for the others.
COMMANDS: dict[str, str] = {
    "scan": "wormsign.cli.scan",
    "rules": "wormsign.cli.rules",
    "simulate": "wormsign.cli.simulate",
    "assess": "wormsign.cli.assess",
    "probe": "wormsign.cli.probe",
    "incident": "wormsign.cli.incident",
    "serve": "wormsign.cli.serve",
    "watch": "wormsign.cli.watch",
}

EXIT_ERROR = 2


def _available() -> dict[str, str]:
    found = {}
    for name, module in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = module
    return found


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; with ``only`` just that subcommand is imported."""
    parser = argparse.ArgumentParser(
        prog="wormsign",
        description="Detect, assess, simulate and respond to Internet worms "
        "(Code Red, Code Red II, Nimda).",
    )
    parser.add_argument("--version", action="version", version=f"wormsign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available().items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"(run `wormsign {name} --help`)")
            continue
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok/nothing found, 1 found, 2 error)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("-")), None)
    only = first if first in COMMANDS else None
    parser = build_parser(only)
    args = parser.parse_args(args_list)
    if not getattr(args, "command", None) or not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except WormsignError as exc:
        print(f"wormsign: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("wormsign: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
