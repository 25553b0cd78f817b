"""Compiled Hyperscan databases kept on disk between runs.

Compiling the built-in pack's prefilter takes 50-100 ms, about a tenth of a whole
``wormsign scan`` of a 1-million-line log; loading the serialised database takes
microseconds. A database is stored under a key made of everything that shapes it (the
expressions, their flags and ids, the Hyperscan version and the machine), so a changed rule
file gives a new key and never an old database.

Where: ``$WORMSIGN_CACHE_DIR``, else ``$XDG_CACHE_HOME/wormsign/hyperscan``, else
``~/.cache/wormsign/hyperscan``. ``WORMSIGN_CACHE_DIR=off`` (or an empty value) turns it off.
The folder is created private (0700) and is not used when another user owns it or others can
write to it. A file that cannot be read back (cut short, corrupt, written for another CPU) is
refused by Hyperscan's own checks (checksum, version, platform) and compiled again; a folder
that cannot be written to only costs the compile. At most :data:`MAX_FILES` databases are
kept, the least recently used removed first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import hyperscan

CACHE_ENV = "WORMSIGN_CACHE_DIR"
MAX_FILES = 32
_SUFFIX = ".hsdb"


def cache_dir() -> Path | None:
    """The folder for compiled databases, or None when caching is off."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "no", "false") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wormsign" / "hyperscan"


def _private(folder: Path) -> bool:
    """Create ``folder`` (0700) if needed; True when it is ours and only we can write to it."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


def cache_key(expressions: list[bytes], flags: list[int], ids: list[int]) -> str:
    """The file name (without suffix) of the database these arguments compile to."""
    import hyperscan

    h = hashlib.sha256()
    version = str(getattr(hyperscan, "__version__", "?"))
    for part in (version, platform.machine(), platform.system()):
        h.update(part.encode() + b"\0")
    for expr, flag, pid in zip(expressions, flags, ids, strict=True):
        h.update(b"%d\0%d\0%d\0" % (pid, flag, len(expr)) + expr)
    return h.hexdigest()[:40]


def compile_block(expressions: list[bytes], flags: list[int],
                  ids: list[int]) -> hyperscan.Database:
    """A block-mode database of ``expressions``: loaded from the cache when it is there,
    else compiled (and stored for the next run)."""
    import hyperscan

    folder = cache_dir()
    path = None
    if folder is not None and _private(folder):
        path = folder / (cache_key(expressions, flags, ids) + _SUFFIX)
        db = _load(path)
        if db is not None:
            return db
    db = hyperscan.Database()
    db.compile(expressions=expressions, ids=ids, elements=len(expressions), flags=flags)
    if path is not None:
        _store(path, hyperscan.dumpb(db))
    return db


def _load(path: Path) -> hyperscan.Database | None:
    import hyperscan

    try:
        data = path.read_bytes()
        db = hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK)
        db.scratch = hyperscan.Scratch(db)  # a loaded database comes without one
    except (OSError, hyperscan.error):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # most recently used: kept when the folder is pruned
    return db


def _store(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (another scan may read it meanwhile), then keep
    only the :data:`MAX_FILES` most recently used databases."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(path.parent)
    except OSError:
        return


def _prune(folder: Path) -> None:
    files = []
    for p in folder.glob("*" + _SUFFIX):
        try:
            files.append((p.stat().st_mtime, p))
        except OSError:
            continue
    files.sort(reverse=True)
    for _, p in files[MAX_FILES:]:
        try:
            p.unlink()
        except OSError:
            continue
