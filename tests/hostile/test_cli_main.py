"""The CLI's last line of defence: one line on stderr and an exit status, never a traceback.

Each case runs ``wormsign`` in a subprocess, the way a user meets it; a missing optional
extra is simulated by making its modules unimportable (``sys.modules[name] = None``) before
the CLI starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
ENV.pop("WORMSIGN_DEBUG", None)


def _cli(prelude: str, args: list[str], timeout: float = 60.0,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(prelude) + textwrap.dedent(f"""
        import sys
        from wormsign.cli.main import main
        sys.exit(main({args!r}))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env or ENV, cwd=ROOT)


def _block(*modules: str) -> str:
    return "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)


@pytest.mark.parametrize("modules, args, extra", [
    (("sqlalchemy",), ["incident", "list"], "incident"),
    (("alembic",), ["incident", "new", "x"], "incident"),
    (("fastapi",), ["serve", "--get", "/api/incidents"], "web"),
    (("sqlalchemy", "fastapi", "uvicorn"), ["serve"], "web"),
    (("matplotlib",), ["simulate", "--address-bits", "16", "--vulnerable", "100",
                       "--hours", "0.01", "--plot", "PLOT"], "plot"),
    (("pyarrow",), ["simulate", "--address-bits", "16", "--vulnerable", "100",
                    "--hours", "0.01", "--out", "OUT.parquet"], "parquet"),
    (("distributed",), ["simulate", "--runs", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "dask"),
])
def test_a_missing_extra_is_a_one_line_pip_hint_before_any_work(
        tmp_path: Path, modules: tuple[str, ...], args: list[str], extra: str) -> None:
    args = [a.replace("PLOT", str(tmp_path / "p.png")).replace("OUT", str(tmp_path / "o"))
            for a in args]
    env = {**ENV, "WORMSIGN_DB": str(tmp_path / "case.db")}
    done = _cli(_block(*modules), args, env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"pip install 'wormsign[{extra}]'" in lines[0]
    assert done.stdout == ""
    # nothing was done: no store, no plot, no table
    assert list(tmp_path.iterdir()) == []


def test_an_import_failure_inside_a_command_still_gives_the_hint(tmp_path: Path) -> None:
    prelude = _block("matplotlib") + textwrap.dedent("""
        import wormsign.cli.main as m
        m.require_extra = lambda *args: None   # the up-front check is skipped ...
    """)
    done = _cli(prelude, ["simulate", "--address-bits", "16", "--vulnerable", "100",
                          "--hours", "0.01", "--plot", str(tmp_path / "p.png")])
    # ... and the import deep inside the plot code is caught by the last line of defence
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "pip install 'wormsign[plot]'" in done.stderr
    # one error line (a cold numba cache adds the simulator's "compiling ..." notice first)
    lines = [ln for ln in done.stderr.strip().splitlines() if "compiling the simulator" not in ln]
    assert len(lines) == 1


BOOM = """
import wormsign.cli.rules as rules
def boom(args):
    raise {exc}
rules.run = boom
_register = rules.register
def register(sub):
    _register(sub)
    sub.choices["rules"].set_defaults(func=boom)
rules.register = register
"""


def test_an_unexpected_exception_is_one_line_and_exit_2() -> None:
    done = _cli(BOOM.format(exc='RuntimeError("disk on fire\\nsecond line\\x1b[2J")'),
                ["rules", "list"])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["wormsign: internal error: RuntimeError: disk on fire second "
                     "line\\x1b[2J (run with WORMSIGN_DEBUG=1 for the traceback)"]


def test_wormsign_debug_shows_the_traceback() -> None:
    done = _cli(BOOM.format(exc='RuntimeError("disk on fire")'), ["rules", "list"],
                env={**ENV, "WORMSIGN_DEBUG": "1"})
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "disk on fire" in done.stderr


def test_ctrl_c_exits_130_quietly() -> None:
    done = _cli(BOOM.format(exc="KeyboardInterrupt()"), ["rules", "list"])
    assert done.returncode == 130
    assert done.stderr == ""


def test_a_closed_stdout_exits_quietly(tmp_path: Path) -> None:
    prelude = BOOM.format(exc="SystemExit(9)").replace(
        "def boom(args):\n    raise SystemExit(9)",
        "def boom(args):\n    for _ in range(200000):\n        print('x' * 100)\n    return 0")
    script = tmp_path / "big.py"
    script.write_text(textwrap.dedent(prelude) + textwrap.dedent("""
        import sys
        from wormsign.cli.main import main
        sys.exit(main(["rules", "list"]))
    """))
    done = subprocess.run(f"{sys.executable} {script} | head -c 10; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True,
                          text=True, timeout=60, env=ENV)
    assert done.stdout == "x" * 10
    assert done.stderr == ""
    assert done.returncode == 0


@pytest.mark.parametrize("args", [
    ["simulate", "--vulnerable", "2.5"],
    ["simulate", "--runs", "x"],
    ["nope"],
    ["assess", "--frobnicate"],
    ["simulate", "--scan-rate", "\x1b[2J\u202e"],
])
def test_usage_errors_are_one_line(args: list[str]) -> None:
    done = _cli("", args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0]
    assert "\x1b" not in done.stderr and "\u202e" not in done.stderr
