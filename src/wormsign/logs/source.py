"""Opening inputs: files, directories (recursive), ``-`` for stdin; plain, gzip, bzip2, xz.

Compression is recognised by its magic bytes, not the file name. Content is read in chunks of
whole lines so that memory stays flat however large the input, and every input is bounded
(:class:`Limits`): a line longer than ``max_line_bytes`` is kept cut to its first bytes (the
rest is discarded without ever being buffered, and counted in :class:`ReadStats`), and
decompression stops with an error once a file inflates past its budget (a "zip bomb").

Special files (FIFOs, character devices, sockets) are refused unless the user named one as the
only input (``scan <(cat log)``, ``scan /dev/stdin``) or gave ``-``: a FIFO found while
walking a directory would hang the scan, a symlink to ``/dev/zero`` would never end. They are
refused from their ``stat`` before any open, so a refusal never blocks.

The library calls: :func:`expand` turns command-line paths into :class:`Input` s;
:func:`open_input` opens one as a stream with a reliable :meth:`InputStream.peek` (format and
pcap checks look at the first bytes without losing them, even on a pipe); :func:`read_chunks`
yields its content as chunks of whole lines.
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wormsign.errors import ConfigError, InputError
from wormsign.logs.text import safe

#: Bytes read per step (then completed to a line end). Below glibc's mmap threshold as
#: ``wormsign scan`` sets it (4 MiB), so that chunk buffers are reused from the heap rather
#: than mapped and faulted in afresh each time (8 MiB chunks cost 3x the read time in
#: page faults).
CHUNK = 2 << 20
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_COMP_READ = 1 << 16  # compressed bytes read per step
_PROBE = 1 << 12  # the look ahead that ends a block of a regular file at a newline
_OUT_STEP = 1 << 20  # the most bytes one decompression step may produce
_MAX_LINE_LIMIT = 1 << 30
# xz names its dictionary size in its header: a 100-byte file can ask for 4 GiB. The presets
# (xz -0 .. -9e) need at most 65 MiB to decompress.
_XZ_MEMLIMIT = 256 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on what one input may cost.

    ``max_line_bytes``: longer lines are kept cut to this many bytes (``--max-line-bytes``).
    The decompression budget of a file is ``max(decompression_ratio * compressed size,
    decompression_min)`` decoded bytes (``--max-decompressed-ratio``).
    """

    max_line_bytes: int = 65536
    decompression_ratio: float = 100.0
    decompression_min: int = 20 * 2**30

    def __post_init__(self) -> None:
        m = self.max_line_bytes
        if isinstance(m, bool) or not isinstance(m, int) or not 256 <= m <= _MAX_LINE_LIMIT:
            raise ConfigError(f"max line bytes must be a whole number from 256 to "
                              f"{_MAX_LINE_LIMIT}, not {m!r}")
        r = self.decompression_ratio
        if (isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r)
                or not 1 <= r <= 1e9):
            raise ConfigError(f"decompression ratio must be a number from 1 to 1e9, not {r!r}")
        lo = self.decompression_min
        if isinstance(lo, bool) or not isinstance(lo, int) or not 0 <= lo <= 2**62:
            raise ConfigError(f"minimum decompression budget must be a whole number of bytes "
                              f"from 0 to 2**62, not {lo!r}")

    def budget(self, compressed_size: int) -> int:
        """The most decoded bytes a file of ``compressed_size`` bytes may inflate to."""
        return max(int(self.decompression_ratio * compressed_size), self.decompression_min)


DEFAULT_LIMITS = Limits()


@dataclass
class ReadStats:
    """What reading one input cost and cut (filled in while :func:`read_chunks` runs)."""

    overlong: int = 0  # lines longer than max_line_bytes (kept cut)
    discarded: int = 0  # bytes of those lines that were dropped
    bytes_read: int = 0  # bytes read from the input (compressed bytes when compressed)
    bytes_decoded: int = 0  # bytes after decompression (equal to bytes_read when plain)


@dataclass(frozen=True)
class Input:
    """One input to scan: a path on disk or ``-`` (standard input).

    ``allow_special``: the user named this path as the only input, so a FIFO, character
    device or socket behind it is read; anywhere else such a file is refused."""

    name: str
    allow_special: bool = False

    @property
    def is_stdin(self) -> bool:
        return self.name == "-"

    @property
    def display(self) -> str:
        """The name as valid text safe for a terminal (undecodable bytes of a file name as
        ``\\xNN``, control and bidi characters escaped)."""
        if self.is_stdin:
            return "<stdin>"
        return safe(self.name.encode("utf-8", "surrogateescape")
                    .decode("utf-8", "backslashreplace"))

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
    """Files as given, directories walked recursively in sorted order, ``-`` as stdin.

    A path given as the only input may be a FIFO or device (``scan <(zcat log.gz)``); files
    met inside a directory may not (they are yielded, and refused when opened). A directory
    that cannot be listed is yielded too, so that its error is reported, not lost."""
    only = len(paths) == 1
    for p in paths:
        if p == "-":
            yield Input("-", allow_special=True)
            continue
        path = Path(p)
        if not path.is_dir():
            yield Input(p, allow_special=only)
            continue
        unreadable: list[str] = []

        def note(exc: OSError, seen: list[str] = unreadable) -> None:
            seen.append(str(exc.filename))

        for root, dirs, files in os.walk(path, onerror=note):
            dirs.sort()
            for f in sorted(files):
                if not f.startswith("."):
                    yield Input(str(Path(root) / f))
            while unreadable:
                yield Input(unreadable.pop(0))
        while unreadable:
            yield Input(unreadable.pop(0))


class InputStream:
    """A binary stream whose :meth:`peek` returns ``n`` bytes (fewer only at the end of the
    input), on files and pipes alike; the peeked bytes are read again by :meth:`read`."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._head = b""
        self._regular: bool | None = None  # a regular file (seekable): known once asked

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes without consuming them."""
        while len(self._head) < n:
            more = self._raw.read(n - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:n]

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all when ``n < 0``); fewer only at the end of the input."""
        if not self._head:
            return self._raw.read(n)
        head = self._head
        if 0 <= n < len(head):
            self._head = head[n:]
            return head[:n]
        self._head = b""
        return head + self._raw.read(-1 if n < 0 else n - len(head))

    def read_block(self, n: int, line_limit: int) -> bytes:
        """About ``n`` bytes completed to the end of their last line, unless that line is
        longer than ``line_limit`` (then its first ``line_limit`` bytes end the block).

        On a regular file a look at the block's last few kilobytes first finds its last
        newline, so that the block is read in one piece: completing the line afterwards
        would copy the whole block again (14 % of a worker's time on a plain log)."""
        if n > _PROBE and not self._head and self._is_regular():
            b = self._read_to_newline(n)
        else:
            b = self.read(n)
        if b and not b.endswith(b"\n"):
            b += self.readline(line_limit)
        return b

    def _is_regular(self) -> bool:
        if self._regular is None:
            try:
                self._regular = (stat.S_ISREG(os.fstat(self._raw.fileno()).st_mode)
                                 and self._raw.seekable())
            except (AttributeError, OSError, ValueError):  # no descriptor, closed
                self._regular = False
        return self._regular

    def _read_to_newline(self, n: int) -> bytes:
        """Bytes up to the last newline within ``n`` bytes (``n`` bytes if none is near their
        end, or fewer at the end of the file); the file may change meanwhile, so the caller
        still completes a block that does not end with a newline."""
        raw = self._raw
        pos = raw.tell()
        raw.seek(pos + n - _PROBE)
        probe = raw.read(_PROBE)
        raw.seek(pos)
        nl = probe.rfind(b"\n")
        return raw.read(n - _PROBE + nl + 1 if nl >= 0 else n)

    def readline(self, size: int) -> bytes:
        """One line, or its first ``size`` bytes when it is longer (always bounded)."""
        if not self._head:
            return self._raw.readline(size)
        nl = self._head.find(b"\n", 0, size)
        if nl >= 0 or len(self._head) >= size:
            return self.read(nl + 1 if nl >= 0 else size)
        head = self._head
        self._head = b""
        return head + self._raw.readline(size - len(head))


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISBLK, "a block device"))


def _special_kind(mode: int) -> str | None:
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


def _refuse_special(inp: Input, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise InputError("is a directory", path=inp.display)
    kind = _special_kind(mode)
    if kind is not None and not inp.allow_special:
        raise InputError(f"not a regular file ({kind}); name it as the only input to read it",
                         path=inp.display)


def _open_file(inp: Input) -> IO[bytes]:
    try:
        _refuse_special(inp, os.stat(inp.name).st_mode)
        if inp.allow_special:
            return open(inp.name, "rb")  # closed by open_input
        # Non-blocking open, then fstat: a FIFO swapped in after the stat cannot hang us.
        fd = os.open(inp.name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path=inp.display) from None
    try:
        _refuse_special(inp, os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return open(fd, "rb")  # closed by open_input


@contextmanager
def open_input(inp: Input) -> Iterator[InputStream]:
    """Open ``inp`` for reading as an :class:`InputStream` (standard input is not closed).

    Raises :class:`InputError` naming the file when it cannot be opened, is a directory, or is
    a FIFO, character device or socket that was not named as the only input."""
    if inp.is_stdin:
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:  # started with standard input closed (``<&-``)
            raise InputError("standard input is closed", path=inp.display)
        yield InputStream(stdin)
        return
    raw = _open_file(inp)
    try:
        yield InputStream(raw)
    finally:
        raw.close()


def _compression(head: bytes) -> str | None:
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def looks_binary(head: bytes) -> bool:
    """True for content that is clearly not a text log: mostly NUL or other non-text bytes.

    A run of NULs in a log (left by a crash) makes some lines unparseable, not the file; and
    a file that begins as a log line does (an access, error or IIS log) is text even when its
    first kilobytes are a worm's raw bytes: Apache 1.3 logged the 2003 WebDAV overflow's
    30 KB of ``\x90``/``\x02\xb1`` junk unescaped."""
    sample = head[:8192]
    if not sample:
        return False
    control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return control / len(sample) > 0.08 and _LOG_START.match(sample) is None


_CONTROL_BYTES = bytes(b for b in range(0x20) if b not in (9, 10, 13))
#: The start of a log line: an access log's ``host ident user [time] "`` (optionally after a
#: vhost), an error log's ``[Day Mon`` or ``YYYY/MM/DD hh:mm:ss [``, IIS's ``#Software:``.
_LOG_START = re.compile(
    rb'(?:[!-~]{1,255} ){3,4}\[[0-9A-Za-z/:+ -]{10,40}\] "[A-Za-z]'
    rb"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d"
    rb"|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \["
    rb"|#(?:Software|Version|Date|Fields): ")


class _Decoder:
    """Streaming decompression (gzip, bzip2, xz) over any number of concatenated members,
    in steps of bounded output, which keeps everything decoded before the point where a
    truncated archive breaks."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._new()

    def _new(self) -> None:
        import bz2
        import lzma

        self.d: Any = (zlib.decompressobj(16 + zlib.MAX_WBITS) if self.kind == "gzip"
                       else bz2.BZ2Decompressor() if self.kind == "bzip2"
                       else lzma.LZMADecompressor(memlimit=_XZ_MEMLIMIT))
        self.started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded blocks of at most 1 MiB for ``data`` (an empty ``data`` may be given)."""
        while True:
            if data:
                self.started = True
            out = self.d.decompress(data, _OUT_STEP)
            if self.kind == "gzip":
                data = self.d.unconsumed_tail
                more = bool(data) or len(out) == _OUT_STEP
            else:
                data = b""
                more = not self.d.eof and not self.d.needs_input
            if out:
                yield out
            if self.d.eof:
                data = self.d.unused_data
                self._new()
                if not data:
                    return
            elif not more:
                return

    @property
    def truncated(self) -> bool:
        return self.started and not self.d.eof


def _overlong_at(buf: bytes, pos: int, limit: int) -> int:
    """Where the first line at or after ``pos`` longer than ``limit`` bytes starts, or -1.

    Looks at windows of ``limit + 1`` bytes from their end, so that it costs a few
    C-speed searches per window rather than one Python step per line."""
    n = len(buf)
    while n - pos > limit:
        r = buf.rfind(b"\n", pos, pos + limit + 1)
        if r < 0:
            return pos
        pos = r + 1
    return -1


class _Lines:
    """Turns blocks of bytes into chunks of whole lines, each cut to ``limit`` bytes."""

    def __init__(self, limit: int, stats: ReadStats) -> None:
        self.limit = limit
        self.stats = stats
        self.carry = b""  # a line begun but not ended (at most ``limit`` bytes)
        self.skipping = False  # inside the discarded rest of an overlong line

    def feed(self, data: bytes) -> bytes:
        if self.skipping:
            nl = data.find(b"\n")
            if nl < 0:
                self.stats.discarded += len(data)
                return b""
            self.stats.discarded += nl
            data = data[nl + 1:]
            self.skipping = False
        buf = self.carry + data if self.carry else data
        self.carry = b""
        out: list[bytes] = []
        pos = 0
        while (s := _overlong_at(buf, pos, self.limit)) >= 0:
            end = s + self.limit
            out += (buf[pos:end], b"\n")
            self.stats.overlong += 1
            nl = buf.find(b"\n", end)
            if nl < 0:
                self.stats.discarded += len(buf) - end
                self.skipping = True
                return b"".join(out)
            self.stats.discarded += nl - end
            pos = nl + 1
        last = buf.rfind(b"\n", pos)
        if last >= 0:
            out.append(buf[pos:last + 1] if pos or last + 1 < len(buf) else buf)
            pos = last + 1
        self.carry = buf[pos:]
        return b"".join(out)

    def finish(self) -> bytes:
        tail, self.carry = self.carry, b""
        return tail


def read_chunks(inp: Input, chunk_size: int = CHUNK,
                on_bytes: Callable[[int], None] | None = None,
                limits: Limits = DEFAULT_LIMITS, stats: ReadStats | None = None,
                stream: InputStream | None = None) -> Iterator[bytes]:
    """Yield chunks of whole lines (each ends with a newline, except maybe the last).

    Lines longer than ``limits.max_line_bytes`` are yielded cut to that length (and counted in
    ``stats.overlong``). ``stream`` reads from an already opened :func:`open_input` stream
    (after a peek at its first bytes) instead of opening ``inp``; it is not closed here.
    ``on_bytes`` receives the number of bytes read from the input as reading progresses.

    Raises :class:`InputError` naming the file for unreadable, binary, truncated or
    over-budget input; the chunks yielded before the problem stay valid, and a truncated
    archive yields everything it held up to the break.
    """
    st = stats if stats is not None else ReadStats()
    if stream is not None:
        yield from _chunks(stream, inp, chunk_size, on_bytes, limits, st)
        return
    with open_input(inp) as s:
        yield from _chunks(s, inp, chunk_size, on_bytes, limits, st)


def _chunks(stream: InputStream, inp: Input, chunk_size: int,
            on_bytes: Callable[[int], None] | None, limits: Limits,
            stats: ReadStats) -> Iterator[bytes]:
    try:
        kind = _compression(stream.peek(8))
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path=inp.display) from None
    blocks = (_plain_blocks(stream, inp, chunk_size, on_bytes, limits, stats) if kind is None
              else _decoded_blocks(stream, inp, kind, chunk_size, on_bytes, limits, stats))
    lines = _Lines(limits.max_line_bytes, stats)
    first = True
    try:
        for block in blocks:
            if first:
                first = False
                block = _first_block(block, inp)
            out = lines.feed(block)
            if out:
                yield out
    except InputError:
        tail = lines.finish()
        if tail:
            yield tail
        raise
    tail = lines.finish()
    if tail:
        yield tail


def _first_block(b: bytes, inp: Input) -> bytes:
    if b.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (Windows tools)
        b = b[3:]
    if looks_binary(b):
        raise InputError("binary file, not a text log", path=inp.display)
    return b


def _plain_blocks(stream: InputStream, inp: Input, chunk_size: int,
                  on_bytes: Callable[[int], None] | None, limits: Limits,
                  stats: ReadStats) -> Iterator[bytes]:
    """Blocks of ``chunk_size`` bytes completed to the end of their last line, unless that
    line is longer than the limit (one copy, bounded reads only)."""
    while True:
        try:
            b = stream.read_block(chunk_size, limits.max_line_bytes + 1)
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path=inp.display) from None
        stats.bytes_read += len(b)
        stats.bytes_decoded += len(b)
        if on_bytes is not None:
            on_bytes(len(b))
        if not b:
            return
        yield b


def _decoded_blocks(stream: InputStream, inp: Input, kind: str, chunk_size: int,
                    on_bytes: Callable[[int], None] | None, limits: Limits,
                    stats: ReadStats) -> Iterator[bytes]:
    """Decompressed blocks of about ``chunk_size`` bytes; raises after yielding what was
    decoded when the archive is corrupt, truncated or inflates past its budget."""
    import lzma  # compressed inputs only

    dec = _Decoder(kind)
    size = max(inp.size() or 0, 0)
    parts: list[bytes] = []
    held = 0
    while True:
        try:
            comp = stream.read(_COMP_READ)
            stats.bytes_read += len(comp)
            if on_bytes is not None:
                on_bytes(len(comp))
            for data in dec.feed(comp):
                stats.bytes_decoded += len(data)
                budget = limits.budget(max(size, stats.bytes_read))
                if stats.bytes_decoded > budget:
                    raise InputError(
                        f"decompressed size exceeds {budget} bytes "
                        f"({limits.decompression_ratio:g}x the compressed size, at least "
                        f"{limits.decompression_min}); raise with --max-decompressed-ratio",
                        path=inp.display)
                parts.append(data)
                held += len(data)
                if held >= chunk_size:
                    yield b"".join(parts)
                    parts, held = [], 0
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            if parts:
                yield b"".join(parts)
            raise InputError(f"corrupt {kind} data ({exc})", path=inp.display) from None
        except InputError:
            if parts:
                yield b"".join(parts)
            raise
        if not comp:
            if parts:
                yield b"".join(parts)
            if dec.truncated:
                raise InputError(f"truncated {kind} data (everything before the break was "
                                 "scanned)", path=inp.display)
            return
