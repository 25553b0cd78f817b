"""Compiled Hyperscan databases kept on disk between runs.

Compiling the built-in pack's prefilter takes 50-100 ms, about a tenth of a whole
``wormsign scan`` of a 1-million-line log; loading the serialised database takes
microseconds. A database is stored under a key made of everything that shapes it (the
expressions, their flags and ids, the Hyperscan version and the machine), so a changed rule
file gives a new key and never an old database.

Where: the ``hyperscan`` folder of :mod:`wormsign.cache` (``$WORMSIGN_CACHE_DIR``, else
``$XDG_CACHE_HOME/wormsign/hyperscan``, else ``~/.cache/wormsign/hyperscan``;
``WORMSIGN_CACHE_DIR=off`` or an empty value turns it off), private (0700) and not used when
another user owns it or others can write to it. A file that cannot be read back (cut short,
corrupt, written for another CPU) is refused by Hyperscan's own checks (checksum, version,
platform) and compiled again; a folder that cannot be written to only costs the compile. At
most :data:`MAX_FILES` databases are kept, the least recently used removed first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from wormsign import cache
from wormsign.cache import CACHE_ENV

if TYPE_CHECKING:
    import hyperscan

__all__ = ["CACHE_ENV", "MAX_FILES", "cache_dir", "cache_key", "compile_block", "load",
           "recall", "remember"]

MAX_FILES = 32
_SUFFIX = ".hsdb"
_NOTE = ".keys"


def cache_dir() -> Path | None:
    """The folder for compiled databases, or None when caching is off."""
    return cache.cache_dir(cache.HYPERSCAN)


def cache_key(expressions: list[bytes], flags: list[int], ids: list[int]) -> str:
    """The file name (without suffix) of the database these arguments compile to."""
    import hashlib

    import hyperscan

    h = hashlib.sha256()
    version = str(getattr(hyperscan, "__version__", "?"))
    for part in (version, *_machine()):
        h.update(part.encode() + b"\0")
    for expr, flag, pid in zip(expressions, flags, ids, strict=True):
        h.update(b"%d\0%d\0%d\0" % (pid, flag, len(expr)) + expr)
    return h.hexdigest()[:40]


def _machine() -> tuple[str, str]:
    """``platform.machine()`` and ``platform.system()`` (without importing ``platform``,
    3 ms of a scan's start, where ``os.uname`` has them)."""
    if hasattr(os, "uname"):
        u = os.uname()
        return u.machine, u.sysname
    import platform

    return platform.machine(), platform.system()


def compile_block(expressions: list[bytes], flags: list[int],
                  ids: list[int], key: str | None = None) -> hyperscan.Database:
    """A block-mode database of ``expressions``: loaded from the cache when it is there,
    else compiled (and stored for the next run). ``key``: their :func:`cache_key`, when
    the caller has it."""
    import hyperscan

    folder = cache.usable_dir(cache.HYPERSCAN)
    path = None
    if folder is not None:
        path = folder / ((key or cache_key(expressions, flags, ids)) + _SUFFIX)
        db = _load(path)
        if db is not None:
            return db
    db = hyperscan.Database()
    db.compile(expressions=expressions, ids=ids, elements=len(expressions), flags=flags)
    if path is not None:
        _store(path, hyperscan.dumpb(db))
    return db


def load(key: str) -> hyperscan.Database | None:
    """The database stored under ``key`` (a :func:`cache_key`), or None when it is not
    there (or caching is off, or the key is not one)."""
    folder = cache.usable_dir(cache.HYPERSCAN)
    if folder is None or not _is_key(key):
        return None
    return _load(folder / (key + _SUFFIX))


def remember(name: str, keys: tuple[str, ...]) -> None:
    """Note ``keys`` under ``name`` (``[a-z-]+``) for a later process that must find its
    databases before it can build them (:mod:`wormsign.cli._early`); written only when
    they changed."""
    folder = cache.usable_dir(cache.HYPERSCAN)
    if folder is None or not all(map(_is_key, keys)) or recall(name) == keys:
        return
    cache.store_atomic(folder / (name + _NOTE), (" ".join(keys) + "\n").encode("ascii"))


def recall(name: str) -> tuple[str, ...] | None:
    """The keys last noted under ``name`` (:func:`remember`), or None."""
    folder = cache.cache_dir(cache.HYPERSCAN)
    data = cache.read_private(folder, name + _NOTE) if folder is not None else None
    if not data or len(data) > 4096:
        return None
    keys = tuple(data.decode("ascii", "replace").split())
    return keys if keys and all(map(_is_key, keys)) else None


def _is_key(key: str) -> bool:
    return len(key) == 40 and all(c in "0123456789abcdef" for c in key)


def _load(path: Path) -> hyperscan.Database | None:
    import hyperscan

    data = cache.read_private(path.parent, path.name)
    if data is None:
        return None
    try:
        db = hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK)
        db.scratch = hyperscan.Scratch(db)  # a loaded database comes without one
    except hyperscan.error:
        return None
    cache.mark_used(path)
    return db


def _store(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (another scan may read it meanwhile), then keep
    only the :data:`MAX_FILES` most recently used databases."""
    if cache.store_atomic(path, data):
        cache.prune(path.parent, _SUFFIX, MAX_FILES)
