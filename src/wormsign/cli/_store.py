"""What the subcommands that open the incident store share: the usage printer of a command
group, the wrapper that opens the store and checks the caller's role, and JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wormsign.incidents import Store

Command = Callable[[argparse.Namespace], int]
StoreAction = Callable[["Store", argparse.Namespace], int]


def usage(p: argparse.ArgumentParser) -> Command:
    """A group run without an action prints its help and exits 2."""
    def run(_args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2
    return run


def with_store(fn: StoreAction) -> Command:
    """Run ``fn(store, args)`` on the store ``--db`` names, once the caller's role allows
    the command (:func:`wormsign.cli.access.authorize`, which also sets the actor)."""
    def run(args: argparse.Namespace) -> int:
        from wormsign.cli.access import authorize, command_key
        from wormsign.incidents import Store
        with Store.open(getattr(args, "db", None)) as store:
            authorize(store, command_key(args))
            return fn(store, args)
    return run


def dump(obj: object) -> None:
    """``obj`` as indented JSON on stdout (text as it is: escaping is the reader's job)."""
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
