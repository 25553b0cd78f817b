"""Bounded input: overlong lines, decompression budgets, special files, peeking on pipes."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import random
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest

from wormsign.errors import ConfigError, InputError
from wormsign.logs.source import (
    Input,
    InputStream,
    Limits,
    ReadStats,
    expand,
    open_input,
    read_chunks,
)

SMALL = Limits(max_line_bytes=1000)


def _read(inp: Input, limits: Limits = SMALL, chunk_size: int = 4096,
          stats: ReadStats | None = None) -> bytes:
    return b"".join(read_chunks(inp, chunk_size=chunk_size, limits=limits, stats=stats))


def test_an_overlong_line_is_kept_cut_and_counted(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_bytes(b"short 1\n" + b"A" * 5000 + b"\nshort 2\n" + b"B" * 1000 + b"\n"
                  + b"C" * 1001 + b"\nend")
    stats = ReadStats()
    got = _read(Input(str(p)), stats=stats)
    assert got.split(b"\n") == [b"short 1", b"A" * 1000, b"short 2", b"B" * 1000,
                                b"C" * 1000, b"end"]
    assert stats.overlong == 2
    assert stats.discarded == 4000 + 1
    assert stats.bytes_read == p.stat().st_size


@pytest.mark.parametrize("chunk_size", [1, 7, 999, 1000, 1001, 4096, 1 << 20])
def test_chunks_hold_whole_lines_whatever_the_chunk_size(tmp_path: Path, chunk_size: int,
                                                         ) -> None:
    rng = random.Random(chunk_size)
    lines = [b"x" * rng.choice([0, 1, 50, 999, 1000, 1001, 3000]) for _ in range(300)]
    p = tmp_path / "a.log"
    p.write_bytes(b"\n".join(lines) + b"\n")
    chunks = list(read_chunks(Input(str(p)), chunk_size=chunk_size, limits=SMALL))
    assert all(c.endswith(b"\n") for c in chunks)
    assert b"".join(chunks).split(b"\n")[:-1] == [ln[:1000] for ln in lines]


def test_a_line_without_end_stays_bounded() -> None:
    """Like ``scan - </dev/zero`` but text: 50 MB with no newline from a pipe yield one cut
    line, and no chunk ever holds more than a chunk and a line."""
    code = "import sys; sys.stdout.buffer.write(b'GET /' * 10_000_000)"
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert writer.stdout is not None
    stats = ReadStats()
    chunks: list[bytes] = []
    for c in read_chunks(Input("pipe"), chunk_size=1 << 20, stream=InputStream(writer.stdout),
                         stats=stats):
        chunks.append(c)
        assert len(c) <= (1 << 20) + 65537
    writer.stdout.close()
    writer.wait()
    assert chunks == [(b"GET /" * 13108)[:65536] + b"\n"]
    assert stats.overlong == 1
    assert stats.discarded == 50_000_000 - 65536


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_a_compressed_single_huge_line_is_cut_not_buffered(tmp_path: Path, kind: str) -> None:
    # 64 MB of one line, compressed to a few hundred KB: read in bounded memory
    comp = {"gz": lambda: _gzip_stream(b"A" * (1 << 20), 64),
            "bz2": lambda: bz2.compress(b"A" * (64 << 20), 1),
            "xz": lambda: lzma.compress(b"A" * (64 << 20), preset=0)}[kind]()
    p = tmp_path / f"one.{kind}"
    p.write_bytes(comp)
    stats = ReadStats()
    chunks = list(read_chunks(Input(str(p)), chunk_size=1 << 20, stats=stats))
    assert chunks == [b"A" * 65536 + b"\n"]
    assert stats.overlong == 1
    assert stats.bytes_decoded == 64 << 20


def _gzip_stream(block: bytes, times: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join([c.compress(block) for _ in range(times)] + [c.flush()])


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_decompression_budget_ends_a_bomb_after_yielding_what_came_before(
        tmp_path: Path, kind: str) -> None:
    text = b"".join(b"line %d\n" % i for i in range(300_000))
    comp = (gzip.compress(text) if kind == "gz" else bz2.compress(text) if kind == "bz2"
            else lzma.compress(text, preset=0))
    p = tmp_path / f"bomb.{kind}"
    p.write_bytes(comp)
    limits = Limits(decompression_ratio=2.0, decompression_min=1 << 20)
    got = b""
    with pytest.raises(InputError) as ei:
        for c in read_chunks(Input(str(p)), chunk_size=1 << 16, limits=limits):
            got += c
    msg = str(ei.value)
    assert msg.startswith(str(p) + ": decompressed size exceeds")
    assert "--max-decompressed-ratio" in msg and "\n" not in msg
    assert got and text.startswith(got)
    assert len(got) <= max(2 * len(comp), 1 << 20)


def test_budget_is_generous_by_default(tmp_path: Path) -> None:
    text = b"x" * 100 + b"\n"
    p = tmp_path / "ok.gz"
    p.write_bytes(gzip.compress(text * 100_000))  # ratio ~1000x, far below 20 GiB
    assert _read(Input(str(p)), Limits()) == text * 100_000


@pytest.mark.parametrize("bad", [
    {"max_line_bytes": 0}, {"max_line_bytes": -5}, {"max_line_bytes": 10.5},
    {"max_line_bytes": True}, {"max_line_bytes": 2**40},
    {"decompression_ratio": 0.5}, {"decompression_ratio": float("nan")},
    {"decompression_ratio": float("inf")}, {"decompression_ratio": "100"},
    {"decompression_min": -1}, {"decompression_min": 1.5},
])
def test_nonsense_limits_are_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Limits(**bad)  # type: ignore[arg-type]


def test_budget_formula() -> None:
    lim = Limits(decompression_ratio=100.0, decompression_min=1000)
    assert lim.budget(5) == 1000
    assert lim.budget(50) == 5000


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_in_a_directory_is_refused_without_opening(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"line\n")
    os.mkfifo(tmp_path / "b.fifo")  # nobody ever writes: opening it would block forever
    (tmp_path / "zero").symlink_to("/dev/zero")
    inputs = list(expand([str(tmp_path)]))
    assert [Path(i.name).name for i in inputs] == ["a.log", "b.fifo", "zero"]
    assert not any(i.allow_special for i in inputs)
    assert _read(inputs[0]) == b"line\n"
    with pytest.raises(InputError, match=r"b\.fifo: not a regular file \(a FIFO\)"):
        _read(inputs[1])
    with pytest.raises(InputError, match=r"zero: not a regular file \(a character device\)"):
        _read(inputs[2])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_as_the_only_input_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "live"
    os.mkfifo(fifo)
    [inp] = list(expand([str(fifo)]))
    assert inp.allow_special
    t = threading.Thread(target=lambda: fifo.write_bytes(b"l1\nl2\n"))
    t.start()
    assert _read(inp) == b"l1\nl2\n"
    t.join()
    # named beside another input, it is refused
    assert not any(i.allow_special for i in expand([str(fifo), str(tmp_path)]))


def test_stdin_and_devices_named_alone() -> None:
    assert list(expand(["-"])) == [Input("-", allow_special=True)]
    [dev] = list(expand(["/dev/null"]))
    assert dev.allow_special and _read(dev) == b""
    with pytest.raises(InputError, match="character device"):
        _read(Input("/dev/null"))


def test_peek_then_read_the_same_pipe_loses_nothing(tmp_path: Path) -> None:
    text = b"".join(b"10.0.0.%d - - [x] \"GET / HTTP/1.0\" 200 1\n" % (i % 250)
                    for i in range(50_000))
    r, w = os.pipe()

    def write() -> None:
        os.write(w, text[:3])
        os.write(w, text[3:])
        os.close(w)

    t = threading.Thread(target=write)
    t.start()
    [inp] = list(expand([f"/dev/fd/{r}"]))
    try:
        with open_input(inp) as stream:
            assert stream.peek(4) == text[:4]  # a pipe delivering 3 bytes first
            assert stream.peek(2) == text[:2]
            got = b"".join(read_chunks(inp, chunk_size=1000, stream=stream))
    finally:
        t.join()
        os.close(r)
    assert got == text


def test_a_directory_and_a_missing_file_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        _read(Input(str(tmp_path)))
    with pytest.raises(InputError, match="No such file") as ei:
        _read(Input(str(tmp_path / "gone.log")))
    assert "\n" not in str(ei.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_an_unreadable_subdirectory_is_reported_not_lost(tmp_path: Path) -> None:
    sub = tmp_path / "locked"
    sub.mkdir()
    (sub / "x.log").write_text("x\n")
    sub.chmod(0)
    try:
        names = [i.name for i in expand([str(tmp_path)])]
        assert names == [str(sub)]
        with pytest.raises(InputError, match="Permission denied"):
            _read(Input(names[0]))
    finally:
        sub.chmod(0o755)


def test_an_xz_asking_for_a_huge_dictionary_is_refused(tmp_path: Path) -> None:
    from tests.hostile.corpus.readers.make_corpus import xz_with_huge_dictionary

    p = tmp_path / "big-dict.xz"
    p.write_bytes(xz_with_huge_dictionary(b"line\n" * 100))
    with pytest.raises(InputError, match="Memory usage limit"):
        list(read_chunks(Input(str(p))))
