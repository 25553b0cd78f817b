"""Opening inputs: files, directories (recursive), ``-`` for stdin; plain, gzip, bzip2, xz.

Compression is recognised by its magic bytes, not the file name. Content is read in chunks of
whole lines so that memory stays flat however large the input.
"""

from __future__ import annotations

import bz2
import lzma
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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
    """True for content that is clearly not a text log: mostly NUL or other non-text bytes.

    A run of NULs in a log (left by a crash) makes some lines unparseable, not the file."""
    sample = head[:8192]
    if not sample:
        return False
    control = sum(1 for b in sample if b < 0x20 and b not in (9, 10, 13))
    return control / len(sample) > 0.08


class _Decoder:
    """Streaming decompression (gzip, bzip2, xz) over any number of concatenated members,
    which keeps everything decoded before the point where a truncated archive breaks."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._new()

    def _new(self) -> None:
        self.d: Any = (zlib.decompressobj(16 + zlib.MAX_WBITS) if self.kind == "gzip"
                       else bz2.BZ2Decompressor() if self.kind == "bzip2"
                       else lzma.LZMADecompressor())
        self.started = False

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            self.started = True
            out.append(self.d.decompress(data))
            if not self.d.eof:
                break
            data = self.d.unused_data
            self._new()
        return b"".join(out)

    @property
    def truncated(self) -> bool:
        return self.started and not self.d.eof


def read_chunks(inp: Input, chunk_size: int = CHUNK,
                on_bytes: Callable[[int], None] | None = None,
                ) -> Iterator[bytes]:
    """Yield chunks of whole lines (each ends with a newline, except maybe the last).

    Raises :class:`InputError` naming the file for unreadable, binary or truncated input; the
    chunks yielded before the problem stay valid, and a truncated archive yields everything
    it held up to the break.
    """
    try:
        raw: IO[bytes] = sys.stdin.buffer if inp.is_stdin else open(inp.name, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path=inp.name) from None
    try:
        head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
        kind = _compression(head)
        if kind is None:
            yield from _plain_chunks(raw, inp, chunk_size, on_bytes)
        else:
            yield from _compressed_chunks(raw, inp, kind, chunk_size, on_bytes)
    finally:
        if not inp.is_stdin:
            raw.close()


def _first_block(b: bytes, inp: Input) -> bytes:
    if b.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (Windows tools)
        b = b[3:]
    if looks_binary(b):
        raise InputError("binary file, not a text log", path=inp.name)
    return b


def _plain_chunks(raw: IO[bytes], inp: Input, chunk_size: int,
                  on_bytes: Callable[[int], None] | None) -> Iterator[bytes]:
    """Blocks of ``chunk_size`` bytes completed to the end of their last line (one copy)."""
    first = True
    while True:
        try:
            b = raw.read(chunk_size)
            if b and not b.endswith(b"\n"):
                b += raw.readline()
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path=inp.name) from None
        if on_bytes is not None:
            on_bytes(len(b))
        if first:
            first = False
            b = _first_block(b, inp)
        if not b:
            return
        yield b


def _compressed_chunks(raw: IO[bytes], inp: Input, kind: str, chunk_size: int,
                       on_bytes: Callable[[int], None] | None) -> Iterator[bytes]:
    dec = _Decoder(kind)
    parts: list[bytes] = []
    size = 0
    first = True
    while True:
        try:
            comp = raw.read(1 << 16)
            data = dec.feed(comp)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            if parts:
                yield b"".join(parts)
            raise InputError(f"corrupt {kind} data ({exc})", path=inp.name) from None
        if on_bytes is not None:
            on_bytes(len(comp))
        if first and data:
            first = False
            data = _first_block(data, inp)
        if data:
            parts.append(data)
            size += len(data)
        if not comp:
            if parts:
                yield b"".join(parts)
            if dec.truncated:
                raise InputError(f"truncated {kind} data (everything before the break was "
                                 "scanned)", path=inp.name)
            return
        if size >= chunk_size:
            joined = b"".join(parts)
            cut = joined.rfind(b"\n") + 1
            if cut:
                yield joined[:cut]
                parts = [joined[cut:]] if cut < len(joined) else []
                size = len(joined) - cut
