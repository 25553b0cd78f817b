"""Writing output files from the CLI: a failure is a one-line error naming the file."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from wormsign.errors import InputError


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8, newlines as given)."""
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None


def claim_output(path: str) -> None:
    """Create or empty the regular file ``path`` now, before the work whose output it will
    hold (as a shell's ``>`` does): a path that cannot be written is reported before a long
    scan instead of after it, and :func:`open_output` then finds it empty.

    Emptying a file early also spares the end of the run a cost: ext4 (the default Linux
    file system) starts writing back a file that was truncated to nothing and rewritten when
    it is closed (its ``auto_da_alloc`` guard), 0.06-0.15 s for a 200 MB alerts file on
    this project's test machine. Truncated and closed here, the file holds nothing to write
    back. A FIFO, a terminal or a device is left alone: it is opened once, when written."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise InputError("cannot write: Is a directory", path=path)
        return
    try:
        open_output(path).close()
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None


def open_output(path: str) -> BinaryIO:
    """``path`` opened for binary writing from its start: created if missing, emptied only if
    it holds bytes (an empty file is not truncated again; see :func:`claim_output`). Raises
    ``OSError`` as ``open(path, "wb")`` does."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_size:
            os.ftruncate(fd, 0)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise
