"""Opening inputs: files, directories (recursive), ``-`` for stdin; plain, gzip, bzip2, xz.

Compression is recognised by its magic bytes, not the file name. Content is read in chunks of
whole lines so that memory stays flat however large the input.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from wormsign.errors import InputError

CHUNK = 8 << 20
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


@dataclass(frozen=True)
class Input:
    """One input to scan: a path on disk or ``-`` (standard input)."""

    name: str

    @property
    def is_stdin(self) -> bool:
        return self.name == "-"

    @property
    def display(self) -> str:
        """The name as valid text (undecodable bytes of a file name as ``\\xNN``)."""
        if self.is_stdin:
            return "<stdin>"
        return self.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    @property
    def full_path(self) -> str:
        """The absolute path as valid text, for alerts (ECS ``log.file.path``)."""
        if self.is_stdin:
            return "<stdin>"
        full = os.path.abspath(self.name)
        return full.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    def size(self) -> int | None:
        if self.is_stdin:
            return None
        try:
            return os.path.getsize(self.name)
        except OSError:
            return None


def expand(paths: list[str]) -> Iterator[Input]:
    """Files as given, directories walked recursively in sorted order, ``-`` as stdin."""
    for p in paths:
        if p == "-":
            yield Input("-")
            continue
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    if not f.startswith("."):
                        yield Input(str(Path(root) / f))
        else:
            yield Input(p)


def _compression(head: bytes) -> str | None:
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def looks_binary(head: bytes) -> bool:
    """True for content that is clearly not a text log (NUL bytes or mostly non-text)."""
    if not head:
        return False
    if b"\x00" in head[:8192]:
        return True
    sample = head[:8192]
    text = sum(1 for b in sample if b >= 0x20 or b in (9, 10, 13))
    return text / len(sample) < 0.7


def read_chunks(inp: Input, chunk_size: int = CHUNK,
                on_bytes: Callable[[int], None] | None = None,
                ) -> Iterator[bytes]:
    """Yield chunks of whole lines (each ends with a newline, except maybe the last).

    Raises :class:`InputError` naming the file for unreadable, binary or truncated input; the
    chunks yielded before the problem stay valid.
    """
    try:
        raw: IO[bytes] = sys.stdin.buffer if inp.is_stdin else open(inp.name, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path=inp.name) from None
    try:
        head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
        kind = _compression(head)
        stream: IO[bytes] | io.BufferedIOBase
        if kind == "gzip":
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        elif kind == "bzip2":
            stream = bz2.BZ2File(raw, "rb")
        elif kind == "xz":
            stream = lzma.LZMAFile(raw, "rb")  # noqa: SIM115
        else:
            stream = raw
        yield from _chunks(stream, raw, inp, kind, chunk_size, on_bytes)
    finally:
        if not inp.is_stdin:
            raw.close()


def _chunks(stream: IO[bytes] | io.BufferedIOBase, raw: IO[bytes], inp: Input,
            kind: str | None, chunk_size: int,
            on_bytes: Callable[[int], None] | None) -> Iterator[bytes]:
    """Blocks of about ``chunk_size`` bytes completed to the end of their last line.

    Compressed streams are read in small pieces so that a truncated archive loses nothing
    before the point where it breaks.
    """
    piece = chunk_size if kind is None else min(chunk_size, 1 << 18)
    pos = 0
    first = True
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            b = stream.read(piece)
            if size + len(b) >= chunk_size and b and not b.endswith(b"\n"):
                b += stream.readline()
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
            if parts:
                yield b"".join(parts)
            raise InputError(f"truncated or corrupt {kind} data" if kind else str(exc),
                             path=inp.name) from None
        if on_bytes is not None and not inp.is_stdin:
            now = raw.tell()
            on_bytes(now - pos)
            pos = now
        if first:
            first = False
            if b.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (Windows tools)
                b = b[3:]
            if looks_binary(b):
                raise InputError("binary file, not a text log", path=inp.name)
        if b:
            parts.append(b)
            size += len(b)
        if (not b or size >= chunk_size) and parts:
            yield parts[0] if len(parts) == 1 else b"".join(parts)
            parts.clear()
            size = 0
        if not b:
            return
