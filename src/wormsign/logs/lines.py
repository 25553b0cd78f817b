"""Counting the lines of a chunk that a format does not accept."""

from __future__ import annotations

from collections.abc import Callable


def count_bad(buf: bytes, base_line: int, max_bad: int,
              accept: Callable[[bytes, int], bool]) -> tuple[int, int, list[int]]:
    """``(lines, bad, first_bad)`` for a chunk of whole lines.

    ``accept(line, number)`` judges each non-blank line (``number`` is absolute and 1-based:
    ``base_line`` lines came before ``buf``); blank lines are accepted. At most ``max_bad``
    line numbers are returned. A final line without a newline counts as a line.
    """
    if not buf:
        return 0, 0, []
    parts = buf[:-1].split(b"\n") if buf.endswith(b"\n") else buf.split(b"\n")
    bad = 0
    first: list[int] = []
    for i, line in enumerate(parts):
        if line and line != b"\r" and not accept(line, base_line + i + 1):
            bad += 1
            if len(first) < max_bad:
                first.append(base_line + i + 1)
    return len(parts), bad, first
