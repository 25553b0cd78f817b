"""Opening inputs: files, directories (recursive), ``-`` for stdin; plain, gzip, bzip2, xz.

Compression is recognised by its magic bytes, not the file name. Content is read in chunks of
whole lines so that memory stays flat however large the input.
"""

from __future__ import annotations

import bz2
import gzip
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


class _Counting:
    """A raw binary stream that counts the bytes read from it (for progress)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self.raw is not sys.stdin.buffer:
            self.raw.close()


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
        raw: IO[bytes] = sys.stdin.buffer if inp.is_stdin else open(inp.name, "rb")  # noqa: SIM115 - closed in finally
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path=inp.name) from None
    counting = _Counting(raw)
    try:
        head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
        kind = _compression(head)
        stream: IO[bytes]
        if kind == "gzip":
            stream = gzip.GzipFile(fileobj=counting, mode="rb")  # type: ignore[call-overload]
        elif kind == "bzip2":
            stream = bz2.BZ2File(counting, "rb")  # type: ignore[call-overload]
        elif kind == "xz":
            stream = lzma.LZMAFile(counting, "rb")  # type: ignore[arg-type]  # noqa: SIM115
        else:
            stream = counting  # type: ignore[assignment]
        carry = b""
        first = True
        last_count = 0
        while True:
            try:
                block = stream.read(chunk_size)
            except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
                what = f"truncated or corrupt {kind} data" if kind else str(exc)
                if carry:
                    yield carry
                raise InputError(what, path=inp.name) from None
            if on_bytes is not None:
                on_bytes(counting.count - last_count)
                last_count = counting.count
            if first:
                first = False
                if looks_binary(block):
                    raise InputError("binary file, not a text log", path=inp.name)
            if not block:
                if carry:
                    yield carry
                return
            data = carry + block if carry else block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                if len(carry) > 64 * chunk_size:
                    raise InputError("line longer than 512 MB", path=inp.name)
                continue
            carry = data[cut + 1:]
            yield data[: cut + 1]
    finally:
        counting.close()
