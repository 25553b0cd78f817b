"""Entry point of the ``wormsign`` command: parse, dispatch, turn errors into exit codes.

Whatever happens inside a command, the user sees one line on stderr and an exit status (0
nothing found, 1 found, 2 error, 130 interrupted), never a traceback:

- a command whose optional extra is not installed stops before any work with the same
  ``pip install 'wormsign[EXTRA]'`` hint everywhere (:data:`COMMAND_EXTRAS`);
- :class:`WormsignError` is the library's own one-line error;
- anything else is a bug: ``wormsign: internal error: <Type>: <message>``, and the
  traceback only with ``WORMSIGN_DEBUG=1``;
- Ctrl-C exits 130 quietly; a closed stdout (``wormsign scan ... | head``) exits quietly.
"""

from __future__ import annotations

import argparse
import atexit
import contextvars
import gc
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from wormsign import __version__
from wormsign.errors import MissingExtraError, WormsignError
from wormsign.logs.text import safe

# Subcommand modules, imported lazily so that `wormsign scan` does not pay for the others.
COMMANDS: dict[str, str] = {
    "scan": "wormsign.cli.scan",
    "rules": "wormsign.cli.rules",
    "simulate": "wormsign.cli.simulate",
    "assess": "wormsign.cli.assess",
    "probe": "wormsign.cli.probe",
    "incident": "wormsign.cli.incident",
    "triage": "wormsign.cli.triage",
    "serve": "wormsign.cli.serve",
    "watch": "wormsign.cli.watch",
    "forecast": "wormsign.cli.forecast",
    "demo": "wormsign.cli.demo",
    "user": "wormsign.cli.user",
    "notify": "wormsign.cli.notify",
}

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "incident": ("sqlalchemy", "alembic", "jinja2", "stix2"),
    "web": ("fastapi", "uvicorn", "itsdangerous", "multipart",
            "sqlalchemy", "alembic", "jinja2", "stix2"),
    "plot": ("matplotlib",),
    "parquet": ("pyarrow",),
    "dask": ("distributed",),
    "pcap": ("dpkt",),
    "sigma": ("sigma",),
}
"""The importable modules each optional extra of ``pyproject.toml`` provides."""

COMMAND_EXTRAS: dict[str, str] = {"incident": "incident", "serve": "web", "triage": "incident",
                                  "user": "incident", "notify": "incident"}
"""Commands that cannot do anything without an extra (checked before the command runs)."""


def module_missing(name: str) -> bool:
    """Whether ``name`` cannot be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def require_extra(extra: str, what: str) -> None:
    """Raise the one-line ``pip install 'wormsign[EXTRA]'`` error when ``extra`` is missing."""
    missing = [m for m in EXTRA_MODULES[extra] if module_missing(m)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise MissingExtraError(f"{what} needs the '{extra}' extra (pip install "
                                f"'wormsign[{extra}]'): {', '.join(missing)} {verb} not "
                                "installed")


def _available() -> dict[str, str]:
    found = {}
    for name, module in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = module
    return found


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the full usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, safe(f"{self.prog}: error: {message} (see {self.prog} --help)")
                  + "\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; with ``only`` just that subcommand is imported."""
    parser = _Parser(
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


def _internal_error(exc: BaseException) -> int:
    if os.environ.get("WORMSIGN_DEBUG", "") not in ("", "0"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    message = " ".join(str(exc).split())[:500]
    print(safe(f"wormsign: internal error: {type(exc).__name__}: {message} "
               "(run with WORMSIGN_DEBUG=1 for the traceback)"), file=sys.stderr)
    return EXIT_ERROR


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so that the interpreter's final flush
    does not print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


#: Thread pools of the numeric libraries: one thread per process unless the user says
#: otherwise. wormsign's parallel work is its own worker processes; OpenBLAS would otherwise
#: start a thread per core at ``import numpy`` (about 0.1 s of CPU per command, in every
#: worker's parent) for matrix work the commands do not do at that size.
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _prepare_process() -> None:
    for name in THREAD_ENV:
        os.environ.setdefault(name, "1")


def _build_quietly(only: str | None) -> argparse.ArgumentParser:
    """:func:`build_parser` with the cyclic garbage collector paused: importing a command
    allocates tens of thousands of objects that live as long as the process, and
    collecting them over and over while they are created costs 10-15 ms. They are then
    frozen (never traversed again, and left untouched in forked workers' pages)."""
    was = gc.isenabled()
    gc.disable()
    try:
        return build_parser(only)
    finally:
        gc.freeze()
        if was:
            gc.enable()


def _dispatch(args_list: list[str], entry: bool = False) -> int:
    first = next((a for a in args_list if not a.startswith("-")), None)
    only = first if first in COMMANDS else None
    if entry:  # the process is this command (not a caller's in-process main([...]))
        _prepare_process()
        parser = _build_quietly(only)
    else:
        parser = build_parser(only)
    args = parser.parse_args(args_list)
    if not getattr(args, "command", None) or not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    extra = COMMAND_EXTRAS.get(args.command)
    if extra is not None:
        require_extra(extra, f"wormsign {args.command}")
    # a context of its own: the actor a command sets (cli.access.authorize) ends with it
    result = contextvars.copy_context().run(args.func, args)
    sys.stdout.flush()
    if entry and args.command in FAST_EXIT:
        _leave_now(int(result))
    return int(result)


#: Commands whose process ends without the interpreter's teardown once they are done
#: (:func:`_leave_now`): every file they write is closed by then. Freeing a scan's modules,
#: arrays and tables one object at a time costs 20-30 ms of a 0.35 s scan of a
#: 1-million-line log (benchmarks/bench_scan.py).
FAST_EXIT = frozenset({"scan"})


def _leave_now(code: int) -> None:
    """End the process with ``code`` at once: streams flushed and ``atexit`` functions run,
    but no freeing of every object. Returns (the usual exit follows) while another thread
    runs, whose end the interpreter would wait for."""
    if threading.active_count() > 1:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok/nothing found, 1 found, 2 error)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args_list, entry=argv is None)
    except WormsignError as exc:
        text = "\n".join(safe(line) for line in str(exc).split("\n"))
        print(f"wormsign: error: {text}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except SystemExit:
        raise
    except ModuleNotFoundError as exc:
        extra = next((e for e, mods in EXTRA_MODULES.items()
                      if (exc.name or "").split(".")[0] in mods), None)
        if extra is None:
            return _internal_error(exc)
        print(f"wormsign: error: this needs the '{extra}' extra (pip install "
              f"'wormsign[{extra}]'): {exc.name} is not installed", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print("wormsign: error: out of memory", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        return _internal_error(exc)


if __name__ == "__main__":
    sys.exit(main())
