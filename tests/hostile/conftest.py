"""Shared helpers for the hostile-input suite (issue 10).

Every hostile input must end in counted, skipped lines or a one-line error naming the file:
exit status 0, 1 or 2, no traceback, memory under 1 GB, no hang, and no raw control or bidi
character in what a person reads. :func:`run_cli` runs one ``wormsign`` command in a child
process under those limits and :func:`assert_clean` checks its result; each area adds its
own ``test_<area>.py`` here and its corpus under ``corpus/<area>/``.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"
SRC = Path(__file__).parents[2] / "src"
MEMORY_LIMIT = 1 << 30  # bytes of address space for the child (RLIMIT_AS)
TIMEOUT = 30.0  # seconds; a hostile input may not hang a command past this

#: What may not reach a terminal raw: C0/C1 controls except tab and newline, DEL, and the
#: bidi, directional-mark and line-separator characters (Trojan Source).
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029"
                    r"\u2066-\u2069]")


@dataclass(frozen=True)
class CliResult:
    """What one command did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def _limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(args: list[str], *, stdin: bytes | None = None, stdin_file: Path | None = None,
            shell_prefix: str | None = None, timeout: float = TIMEOUT,
            cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    """Run ``wormsign ARGS`` in a child process with a memory cap and a timeout.

    ``stdin`` feeds bytes, ``stdin_file`` a file; ``shell_prefix`` runs the command through
    ``bash -c`` after that text (``"head -c 1G /dev/zero |"``, or process substitution in
    ``args``). A command still running after ``timeout`` fails the test (a hang)."""
    full_env = {**os.environ, "PYTHONPATH": str(SRC), "OPENBLAS_NUM_THREADS": "1",
                "PYTHONIOENCODING": "utf-8", **(env or {})}
    argv = [sys.executable, "-m", "wormsign", *args]
    if shell_prefix is not None or any(a.startswith("<(") for a in args):
        quoted = " ".join(a if a.startswith("<(") else _quote(a) for a in argv)
        argv = ["bash", "-c", f"{shell_prefix or ''} {quoted}"]
    stdin_handle = open(stdin_file, "rb") if stdin_file is not None else None  # noqa: SIM115
    try:
        proc = subprocess.run(argv, input=stdin, stdin=stdin_handle, capture_output=True,
                              timeout=timeout, preexec_fn=_limit_memory, cwd=cwd,
                              env=full_env, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"wormsign {' '.join(args)} hung for more than {timeout:g} s")
    finally:
        if stdin_handle is not None:
            stdin_handle.close()
    return CliResult(tuple(args), proc.returncode,
                     proc.stdout.decode("utf-8", "backslashreplace"),
                     proc.stderr.decode("utf-8", "backslashreplace"))


def _quote(a: str) -> str:
    return "'" + a.replace("'", "'\\''") + "'"


def assert_clean(r: CliResult, *, stdout_is_text: bool = True) -> None:
    """The bars every hostile input must meet (issue 10)."""
    what = f"wormsign {' '.join(r.args)}"
    assert r.returncode in (0, 1, 2), f"{what}: exit status {r.returncode}\n{r.stderr[-2000:]}"
    assert "Traceback" not in r.stderr, f"{what}: traceback\n{r.stderr[-4000:]}"
    assert "MemoryError" not in r.stderr, f"{what}: out of memory"
    assert_one_line_errors(r.stderr, what)
    assert not UNSAFE.search(r.stderr), f"{what}: raw control/bidi character on stderr"
    if stdout_is_text:
        bad = UNSAFE.search(r.stdout)
        assert bad is None, f"{what}: raw {bad.group()!r} on stdout" if bad else ""


def assert_one_line_errors(stderr: str, what: str = "") -> None:
    """Each error is one line: ``wormsign: error: ...`` (a rule pack's problems may follow
    it, indented, one per line); nothing else (a traceback's frames, a library's log)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith(("wormsign", "usage:", "  ", "warning:", "note:")):
            continue
        if i and lines[i - 1].startswith("usage:"):
            continue
        raise AssertionError(f"{what}: stderr line {i + 1} is not a one-line message: {ln!r}")


@pytest.fixture
def corpus() -> Path:
    """The hostile corpus folder (``corpus/<area>/``)."""
    return CORPUS
