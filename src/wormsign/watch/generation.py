"""Telling generations of a log file apart: head fingerprints and rotated-sibling names.

A *generation* is one life of a log file between rotations. The follower recognises a
generation by its device and inode while the file stays where it is, and by its *head
fingerprint* (a hash of its first bytes, up to :data:`HEAD_BYTES`) wherever it went: renamed
(``access.log.1``), copied before a truncation, or compressed (``access.log.2.gz``: the
fingerprint is taken over the decompressed start). Rotated siblings of a followed file are
recognised by name (``NAME.1``, ``NAME-20010719``, ``NAME.old``, with ``.gz``/``.bz2``/``.xz``/
``.zst``) and are never started as new files; they are only read to finish a generation
whose fingerprint they carry.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

HEAD_BYTES = 1024
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip", ".z")
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


@dataclass(frozen=True)
class Head:
    """The fingerprint of a file's first ``length`` bytes (length 0: nothing read yet)."""

    length: int
    digest: str

    @classmethod
    def of(cls, data: bytes) -> Head:
        return cls(len(data), hashlib.blake2b(data, digest_size=16).hexdigest())

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` (at least ``length`` bytes from the start) has this head."""
        return len(data) >= self.length and Head.of(data[:self.length]) == self


EMPTY = Head.of(b"")


def read_head(fd: int, length: int) -> bytes:
    """The first ``length`` bytes of an open plain file."""
    return os.pread(fd, length, 0) if length else b""


def compression(path: str) -> str | None:
    """``gzip``/``bzip2``/``xz`` when the file starts with that magic number."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return None
    return next((k for m, k in _MAGIC.items() if head.startswith(m)), None)


def open_decompressed(path: str, kind: str) -> IO[bytes]:
    """A reader of the decompressed content of a compressed rotation."""
    if kind == "gzip":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if kind == "bzip2":
        return bz2.open(path, "rb")
    return lzma.open(path, "rb")


def content_head(path: str, length: int) -> bytes | None:
    """The first ``length`` bytes of a file's content (decompressed when compressed); None
    when it cannot be read."""
    kind = compression(path)
    try:
        if kind is None:
            with open(path, "rb") as f:
                return f.read(length)
        with open_decompressed(path, kind) as z:
            return z.read(length)
    except (OSError, EOFError, lzma.LZMAError, ValueError):
        return None


def rotated_pattern(base: str) -> re.Pattern[str]:
    """Names that logrotate/newsyslog/cronolog give to rotations of ``base``."""
    suffix = "|".join(re.escape(s) for s in COMPRESSED_SUFFIXES)
    return re.compile(rf"^{re.escape(base)}(?:[.-]\d{{1,8}}|[.-]\d{{8}}(?:-?\d{{2,6}})?|\.old"
                      rf"|\.bak)?(?:{suffix})?$")


def is_compressed_name(name: str) -> bool:
    return name.lower().endswith(COMPRESSED_SUFFIXES)


def looks_rotated(name: str) -> bool:
    """A name that is a rotation of some other log (``x.log.1``, ``x.log-20010719.gz``):
    such files in a watched directory are old generations, not new logs."""
    return bool(re.search(r"[.-]\d{1,8}(?:\.\w{1,4})?$|[.-]\d{8}(?:-?\d{2,6})?(?:\.\w{1,4})?$"
                          r"|\.old$|\.bak$", name)) or is_compressed_name(name)


def siblings(path: str) -> Iterator[str]:
    """Rotated siblings of ``path`` in its directory, newest first (by modification time)."""
    p = Path(path)
    pat = rotated_pattern(p.name)
    found: list[tuple[float, str]] = []
    try:
        with os.scandir(p.parent) as it:
            for e in it:
                if e.name != p.name and pat.match(e.name) and e.is_file():
                    try:
                        found.append((e.stat().st_mtime, e.path))
                    except OSError:
                        continue
    except OSError:
        return
    for _, name in sorted(found, reverse=True):
        yield name
