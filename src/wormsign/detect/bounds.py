"""Where a large plain log is cut into ranges of whole lines, with nothing but ``os``.

:func:`wormsign.detect.ranges.split` cuts a file with :func:`range_bounds`, and so does the
early pre-scan that ``wormsign scan`` forks before any of its imports
(:mod:`wormsign.cli._early`): both must cut the same ranges.
"""

from __future__ import annotations

import os

#: A scan of less than this in all stays in one process (starting workers costs more).
MIN_PARALLEL_BYTES = 24 << 20
#: Plain files at least this large are cut into ranges.
MIN_SPLIT_BYTES = 16 << 20
#: Target size of one range.
RANGE_BYTES = 32 << 20
#: Leading bytes of compressed files (read as one piece, never cut).
MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_STEP = 1 << 16


def range_bounds(fd: int, size: int, workers: int, range_bytes: int = RANGE_BYTES) -> list[int]:
    """The offsets at which the ``size``-byte file open as ``fd`` is cut (0 first, ``size``
    last): about ``range_bytes`` apart, as many ranges as a multiple of ``workers`` (so that
    they end together), each cut at the start of a line."""
    n = -(-max(1, size // range_bytes) // max(1, workers)) * max(1, workers)
    bounds = [0]
    for k in range(1, n):
        at = line_start_after(fd, max(bounds[-1], k * size // n), size)
        if at is not None and at > bounds[-1]:
            bounds.append(at)
    bounds.append(size)
    return bounds


def line_start_after(fd: int, pos: int, stop: int) -> int | None:
    """The start of the first line after byte ``pos`` (before ``stop``) of the file open as
    ``fd``, read in bounded steps (a line may be gigabytes long)."""
    while pos < stop:
        block = os.pread(fd, min(_STEP, stop - pos), pos)
        if not block:
            return None
        nl = block.find(b"\n")
        if nl >= 0:
            return pos + nl + 1 if pos + nl + 1 < stop else None
        pos += len(block)
    return None


#: The first bytes of a file that the scan itself reads first (the byte-order mark, the
#: binary check and the format's sniffing look at them); the pre-scan starts after them.
SNIFFED = 65536 + 3


def first_prescanned(path: str, end: int) -> int | None:
    """Where the pre-scan of a file's first range (bytes ``0:end``) begins: the first line
    after :data:`SNIFFED` bytes; None when there is none (or the file cannot be read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        return line_start_after(fd, SNIFFED, end)
    except OSError:
        return None
    finally:
        os.close(fd)


def file_identity(path: str) -> tuple[int, int, int] | None:
    """(device, inode, size) of the file ``path``, or None: the early pre-scan notes it, and
    the scan uses its records only for a file that is still that one, not shorter."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size
