"""Private folders where commands keep what they would otherwise rebuild on every start.

Two caches use them: compiled Hyperscan databases (:mod:`wormsign.detect.hscache`, kind
``hyperscan``) and the parsed built-in rule pack (:mod:`wormsign.rules.packcache`, kind
``packs``).

Where: ``$XDG_CACHE_HOME/wormsign/<kind>``, else ``~/.cache/wormsign/<kind>``.
``$WORMSIGN_CACHE_DIR`` moves them: it names the Hyperscan folder itself (its meaning since
that cache came first), and every other kind is a sub-folder of it (``$WORMSIGN_CACHE_DIR/packs``).
``WORMSIGN_CACHE_DIR=off`` (or an empty value, ``0``, ``no``, ``false``) turns every cache off.

A folder is created private (0700, and so are the folders above it that it creates) and is
not used when it is not a folder, another user owns it or others can write to it
(:func:`private`; :func:`read_private` reads through the folder it has checked): what is
read back from it is then as trusted as the user's own files. Entries are written atomically
(:func:`store_atomic`: a command reading meanwhile sees the old file or the new one, never
half of one), and the least recently used are removed beyond a number per kind
(:func:`prune`). A cache that cannot be written to only costs the work it would have saved.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["CACHE_ENV", "HYPERSCAN", "cache_dir", "mark_used", "private", "prune",
           "read_private", "store_atomic", "usable_dir"]

CACHE_ENV = "WORMSIGN_CACHE_DIR"
#: The kind whose folder ``$WORMSIGN_CACHE_DIR`` names itself.
HYPERSCAN = "hyperscan"
_OFF = ("", "0", "off", "no", "false")


def cache_dir(kind: str) -> Path | None:
    """The folder for caches of ``kind`` (see the module docstring), or None when caching
    is off."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        if env.strip().lower() in _OFF:
            return None
        return Path(env) if kind == HYPERSCAN else Path(env) / kind
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wormsign" / kind


def usable_dir(kind: str) -> Path | None:
    """The folder for caches of ``kind``, created if needed, when caching is on and the folder
    is private (:func:`private`); else None."""
    folder = cache_dir(kind)
    return folder if folder is not None and private(folder) else None


def private(folder: Path) -> bool:
    """Create ``folder`` (and any missing folder above it: 0700) if needed; True when it is a
    folder of ours and only we can write to it."""
    try:
        _make(folder)
        st = folder.stat()
    except OSError:
        return False
    return _ours(st)


def _ours(st: os.stat_result) -> bool:
    """A folder that we own and only we can write to."""
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


def read_private(folder: Path, name: str) -> bytes | None:
    """The bytes of the file ``name`` in ``folder``, read only when ``folder`` is private
    (:func:`private`) and ``name`` is a regular file in it; else None. The folder is opened
    once and the file read through that handle, so a folder swapped for another between the
    check and the read is never read from."""
    if os.open not in os.supports_dir_fd:  # Windows: the check, then the read by name
        try:
            return folder.joinpath(name).read_bytes() if private(folder) else None
        except OSError:
            return None
    try:
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    try:
        if not _ours(os.fstat(dfd)):
            return None
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=dfd)
        with os.fdopen(fd, "rb") as f:
            return f.read() if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else None
    except OSError:
        return None
    finally:
        os.close(dfd)


def _make(folder: Path) -> None:
    """Create ``folder`` and the folders above it that are missing, each 0700 (``mkdir -p``
    would make the ones above with the default mode, readable by others)."""
    if folder.exists() or folder.parent == folder:
        return
    _make(folder.parent)
    folder.mkdir(mode=0o700, exist_ok=True)


def store_atomic(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename
    (another command may read it meanwhile); False when it could not be written."""
    try:
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True


def mark_used(path: Path) -> None:
    """Mark an entry read back as the most recently used (kept when the folder is pruned)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def prune(folder: Path, suffix: str, keep: int) -> None:
    """Keep the ``keep`` most recently used files of ``folder`` whose names end in
    ``suffix``; remove the others."""
    files = []
    for p in folder.glob("*" + suffix):
        try:
            files.append((p.stat().st_mtime, p))
        except OSError:
            continue
    files.sort(reverse=True)
    for _, p in files[keep:]:
        try:
            p.unlink()
        except OSError:
            continue
