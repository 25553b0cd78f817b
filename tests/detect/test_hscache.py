"""The on-disk cache of compiled Hyperscan databases (``wormsign.detect.hscache``)."""

from __future__ import annotations

import os
from pathlib import Path

import hyperscan
import pytest

from wormsign.detect import hscache
from wormsign.detect.prefilter import Prefilter
from wormsign.rules.loader import load_pack

EXPR = [b"default\\.ida", b"cmd\\.exe"]
FLAGS = [hyperscan.HS_FLAG_CASELESS, hyperscan.HS_FLAG_CASELESS]
IDS = [0, 1]


def _hits(db: hyperscan.Database, data: bytes) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    db.scan(data, match_event_handler=lambda i, _f, to, _fl, _c: out.append((i, to)))
    return out


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv(hscache.CACHE_ENV, str(d))
    return d


def test_second_build_is_loaded_not_compiled(folder: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    db = hscache.compile_block(EXPR, FLAGS, IDS)
    files = list(folder.glob("*.hsdb"))
    assert len(files) == 1
    assert oct(folder.stat().st_mode & 0o777) == "0o700"

    class NoCompile:
        def __init__(self) -> None:
            raise AssertionError("compiled again")

    monkeypatch.setattr(hyperscan, "Database", NoCompile)
    again = hscache.compile_block(EXPR, FLAGS, IDS)
    data = b"GET /default.ida?NNNN\nGET /scripts/CMD.EXE\n"
    assert _hits(again, data) == _hits(db, data) == [(0, 16), (1, 42)]


def test_another_pattern_set_gets_its_own_file(folder: Path) -> None:
    hscache.compile_block(EXPR, FLAGS, IDS)
    hscache.compile_block(EXPR[:1], FLAGS[:1], IDS[:1])
    hscache.compile_block(EXPR, [0, 0], IDS)  # case-sensitive: another database
    assert len(list(folder.glob("*.hsdb"))) == 3
    db = hscache.compile_block(EXPR, [0, 0], IDS)
    assert _hits(db, b"CMD.EXE cmd.exe") == [(1, 15)]


@pytest.mark.parametrize("damage", ["flip", "cut", "empty", "garbage"])
def test_a_damaged_file_is_compiled_again(folder: Path, damage: str) -> None:
    hscache.compile_block(EXPR, FLAGS, IDS)
    (path,) = folder.glob("*.hsdb")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x41
    elif damage == "cut":
        data = data[: len(data) // 3]
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"\xde\xad" * 500)
    path.write_bytes(bytes(data))
    db = hscache.compile_block(EXPR, FLAGS, IDS)
    assert _hits(db, b"x default.ida") == [(0, 13)]
    assert hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK) is not None  # rewritten


@pytest.mark.parametrize("value", ["off", "", "0"])
def test_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(hscache.CACHE_ENV, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert hscache.cache_dir() is None
    db = hscache.compile_block(EXPR, FLAGS, IDS)
    assert _hits(db, b"cmd.exe") == [(1, 7)]
    assert not list(tmp_path.rglob("*.hsdb"))


def test_default_folder_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hscache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hscache.cache_dir() == tmp_path / "xdg" / "wormsign" / "hyperscan"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hscache.cache_dir() == tmp_path / "home" / ".cache" / "wormsign" / "hyperscan"


def test_a_folder_others_can_write_to_is_not_used(folder: Path) -> None:
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o777)
    db = hscache.compile_block(EXPR, FLAGS, IDS)
    assert _hits(db, b"default.ida") == [(0, 11)]
    assert not list(folder.iterdir())


def test_a_file_in_place_of_the_folder_costs_only_the_compile(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv(hscache.CACHE_ENV, str(blocker))
    db = hscache.compile_block(EXPR, FLAGS, IDS)
    assert _hits(db, b"default.ida") == [(0, 11)]
    assert blocker.read_text() == "not a folder"


def test_old_databases_are_pruned(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hscache, "MAX_FILES", 3)
    for k in range(5):
        hscache.compile_block([b"word%d" % k], [0], [0])
    names = {p.name for p in folder.glob("*.hsdb")}
    assert len(names) == 3
    newest = hscache.cache_key([b"word4"], [0], [0]) + ".hsdb"
    assert newest in names
    assert not list(folder.glob(".tmp-*"))


def test_prefilter_from_the_cache_flags_the_same_lines(folder: Path) -> None:
    rules = load_pack().rules
    first = Prefilter(rules)
    assert len(list(folder.glob("*.hsdb"))) == 2  # per keyword, and one report per line
    cached = Prefilter(rules)
    chunk = (b'1.2.3.4 - - [19/Jul/2001:00:00:00 +0000] "GET /default.ida?NNNN%u9090 HTTP/1.0"'
             b' 404 0\n5.6.7.8 - - [19/Jul/2001:00:00:01 +0000] "GET /index.html HTTP/1.0"'
             b' 200 9\n9.9.9.9 - - [19/Jul/2001:00:00:02 +0000] "GET /scripts/..%c0%af../'
             b'winnt/system32/cmd.exe?/c+dir HTTP/1.0" 404 0\n')
    assert list(first.candidates(chunk)) == list(cached.candidates(chunk))
    assert [s for s, _e, _m in cached.candidates(chunk)] == [0, 160]


def test_keys_noted_for_a_later_process(folder: Path) -> None:
    """:func:`hscache.remember` notes the keys of the databases a scan used; a later process
    finds them (:func:`hscache.recall`) and loads them by key (:func:`hscache.load`) before
    it knows their expressions. Anything else noted, or a folder others can write to,
    gives nothing."""
    assert hscache.recall("scan") is None
    key = hscache.cache_key(EXPR, FLAGS, IDS)
    hscache.compile_block(EXPR, FLAGS, IDS)
    hscache.remember("scan", (key, key))
    assert hscache.recall("scan") == (key, key)
    db = hscache.load(key)
    assert db is not None and _hits(db, b"x cmd.exe") == [(1, 9)]
    assert hscache.load("0" * 40) is None and hscache.load("../../etc/passwd") is None
    hscache.remember("scan", ("not a key",))
    assert hscache.recall("scan") == (key, key)  # refused, the old note kept
    for text in (b"", b"zz\n", b"../x " * 9, b"a" * 5000):
        (folder / "scan.keys").write_bytes(text)
        assert hscache.recall("scan") is None
    (folder / "scan.keys").write_text(f"{key} {key}\n")
    os.chmod(folder, 0o777)
    assert hscache.recall("scan") is None and hscache.load(key) is None
