from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pytest

from wormsign.errors import InputError
from wormsign.logs.source import Input, expand, read_chunks

TEXT = b"".join(b"line %d\n" % i for i in range(5000))


@pytest.mark.parametrize("kind", ["plain", "gz", "bz2", "xz"])
def test_compressed_inputs_by_magic(tmp_path: Path, kind: str) -> None:
    data = {"plain": TEXT, "gz": gzip.compress(TEXT), "bz2": bz2.compress(TEXT),
            "xz": lzma.compress(TEXT)}[kind]
    p = tmp_path / "log.txt"  # the extension says nothing: magic bytes decide
    p.write_bytes(data)
    chunks = list(read_chunks(Input(str(p)), chunk_size=1000))
    assert b"".join(chunks) == TEXT
    assert all(c.endswith(b"\n") for c in chunks)


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    p = tmp_path / "cut.log.gz"
    p.write_bytes(gzip.compress(TEXT)[:-200])
    got = b""
    with pytest.raises(InputError) as ei:
        for c in read_chunks(Input(str(p)), chunk_size=1000):
            got += c
    assert str(p) in str(ei.value) and "truncated" in str(ei.value)
    assert TEXT.startswith(got) and len(got) > 0


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "a.out"
    p.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(InputError, match="binary"):
        list(read_chunks(Input(str(p))))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No such file"):
        list(read_chunks(Input(str(tmp_path / "nope.log"))))


def test_directories_are_walked_recursively(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.log").write_text("x\n")
    (tmp_path / "a.log").write_text("y\n")
    (tmp_path / ".hidden").write_text("z\n")
    names = [Path(i.name).name for i in expand([str(tmp_path)])]
    assert names == ["a.log", "x.log"]


def test_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    p = tmp_path / "ex010719.log"
    p.write_bytes(b"\xef\xbb\xbf#Software: Microsoft Internet Information Services 5.0\n")
    assert b"".join(read_chunks(Input(str(p)))) == (
        b"#Software: Microsoft Internet Information Services 5.0\n")


def test_a_run_of_nuls_is_not_a_binary_file(tmp_path: Path) -> None:
    p = tmp_path / "crashed.log"
    p.write_bytes(b"line 1\nline 2\n" + b"\x00" * 512 + b"\nline 3\n" + b"x\n" * 4000)
    assert b"".join(read_chunks(Input(str(p)))).startswith(b"line 1\n")


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_truncated_archives_keep_everything_before_the_break(tmp_path: Path, kind: str) -> None:
    import random

    rng = random.Random(1)
    full = b"".join(b"line %d %x\n" % (i, rng.getrandbits(64)) for i in range(100_000))
    comp = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](full)
    p = tmp_path / f"cut.{kind}"
    p.write_bytes(comp[: len(comp) * 3 // 4])
    got = b""
    with pytest.raises(InputError, match=r"truncated|corrupt"):
        for c in read_chunks(Input(str(p)), chunk_size=1000):
            got += c
    assert full.startswith(got)
    # nearly everything up to the break is recovered, not just whole internal read blocks
    assert len(got) > len(full) // 2


def test_concatenated_gzip_members(tmp_path: Path) -> None:
    p = tmp_path / "multi.gz"
    p.write_bytes(gzip.compress(TEXT) + gzip.compress(TEXT))
    assert b"".join(read_chunks(Input(str(p)))) == TEXT + TEXT


@pytest.mark.parametrize("seed", range(6))
def test_regular_file_blocks_equal_the_stream_blocks(tmp_path: Path, seed: int) -> None:
    """Blocks of a regular file end at a newline found by a look ahead; a pipe's blocks are
    completed line by line: both give the same lines (cut where they may differ), overlong
    lines and all, in chunks of whole lines of bounded size."""
    import io
    import random

    from wormsign.logs.source import InputStream, Limits, ReadStats, _chunks

    rng = random.Random(seed)
    lines = []
    for _ in range(rng.randrange(50, 400)):
        n = rng.choice([0, 5, 80, 300, 3000, 5000, 9000, 70000])
        lines.append(b"1.2.3.4 " + bytes(rng.choice(b"abc ") for _ in range(n)))
    data = b"\n".join(lines) + (b"\n" if seed % 2 else b"")
    p = tmp_path / "a.log"
    p.write_bytes(data)
    limits = Limits(max_line_bytes=rng.choice([256, 8192, 65536]))
    size = rng.choice([4097, 6000, 20000, 1 << 16])

    def chunks(stream: InputStream) -> tuple[list[bytes], ReadStats]:
        st = ReadStats()
        return list(_chunks(stream, Input(str(p)), size, None, limits, st)), st

    with open(p, "rb") as f:
        got, st1 = chunks(InputStream(f))
    want, st2 = chunks(InputStream(io.BufferedReader(io.BytesIO(data))))  # type: ignore[arg-type]
    assert b"".join(got) == b"".join(want)
    assert b"".join(got).count(b"\n") >= len(lines) - 1
    assert max(map(len, got)) <= size + limits.max_line_bytes + 1
    assert (st1.overlong, st1.discarded, st1.bytes_read) == (
        st2.overlong, st2.discarded, st2.bytes_read)
    assert all(c.endswith(b"\n") for c in got[:-1])
