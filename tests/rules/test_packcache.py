"""The built-in rule pack kept parsed on disk (``wormsign.rules.packcache``)."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from wormsign import cache
from wormsign.cache import CACHE_ENV
from wormsign.logs.record import Request
from wormsign.rules import loader, packcache
from wormsign.rules.model import Condition, RulePack


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pack cache's folder under a cache folder of this test."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / packcache.KIND


def _parsed(monkeypatch: pytest.MonkeyPatch) -> RulePack:
    """The built-in pack parsed from YAML, no cache."""
    with monkeypatch.context() as m:
        m.setenv(CACHE_ENV, "off")
        return loader.load_pack()


def _no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str, name: str) -> packcache.Parsed:
        raise AssertionError(f"{name} parsed again")

    monkeypatch.setattr(loader, "_parse_builtin", refuse)


def _same(a: RulePack, b: RulePack) -> None:
    """Equal, including what equality leaves out (source, line, references, ...)."""
    assert a == b
    assert [vars(r) for r in a.rules] == [vars(r) for r in b.rules]
    assert dict(a.families) == dict(b.families)


REQUESTS = [
    Request(None, "1.2.3.4", "GET", "/default.ida?NNNNNNNN%u9090%u6858%ucbd3", 404),
    Request(None, "1.2.3.4", "GET", "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir"),
    Request(None, "1.2.3.4", "GET", "/index.html", 200),
    Request(None, "1.2.3.4", "GET", "/MSADC/root.exe?/c+dir", user_agent="Mozilla/4.0"),
]


def test_cached_pack_equals_the_parsed_one_and_matches_the_same(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _parsed(monkeypatch)
    first = loader.load_pack()
    assert len(list(folder.glob("*.pack"))) == 1
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    _no_parse(monkeypatch)
    cached = loader.load_pack()
    _same(cached, parsed)
    _same(first, parsed)
    conds = [c for r in cached.rules for conj in (*r.match, *r.exclude) for c in conj]
    assert conds and all(c._compiled == () for c in conds)
    hits = [[r.id for r in pack.rules if r.matches(q)] for pack in (parsed, cached)
            for q in REQUESTS]
    assert hits[:len(REQUESTS)] == hits[len(REQUESTS):]
    assert any(hits)


def test_user_rules_are_parsed_beside_the_cached_pack(
        folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mine = tmp_path / "mine.yml"
    mine.write_text("- id: code-red\n  title: mine\n  family: code-red\n  severity: low\n"
                    "  match: {url|contains: default.ida}\n")
    parsed = loader.load_pack([str(mine)])
    _no_parse(monkeypatch)
    _same(loader.load_pack([str(mine)]), parsed)
    assert parsed.get("code-red").title == "mine"  # type: ignore[union-attr]


def test_a_changed_pack_file_gets_its_own_entry(folder: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    files = loader._builtin_files()
    old = loader.load_pack()
    name, text = files[0]
    title = old.rules[0].title
    changed = [(name, text.replace(f"title: {title}", "title: Changed title", 1)), *files[1:]]
    assert changed[0][1] != text
    monkeypatch.setattr(loader, "_builtin_files", lambda: changed)
    new = loader.load_pack()
    assert new.rules[0].title == "Changed title"
    assert len(list(folder.glob("*.pack"))) == 2
    _no_parse(monkeypatch)
    assert loader.load_pack().rules[0].title == "Changed title"
    monkeypatch.setattr(loader, "_builtin_files", lambda: files)
    assert loader.load_pack().rules[0].title == title


def _framed(body: bytes) -> bytes:
    return packcache._MAGIC + hashlib.sha256(body).digest() + body


@pytest.mark.parametrize("damage", ["flip", "cut", "empty", "garbage", "not-pickle",
                                    "wrong-type", "wrong-shape", "raises", "compiled"])
def test_a_damaged_entry_is_parsed_again_and_rewritten(
        folder: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    parsed = _parsed(monkeypatch)
    loader.load_pack()
    (path,) = folder.glob("*.pack")
    data = bytearray(path.read_bytes())
    good = pickle.loads(data[len(packcache._MAGIC) + 32:])
    if damage == "flip":
        data[len(data) // 2] ^= 0x41
    elif damage == "cut":
        data = data[: len(data) // 3]
    elif damage == "empty":
        data = bytearray()
    elif damage == "garbage":
        data = bytearray(b"\xde\xad" * 500)
    elif damage == "not-pickle":
        data = bytearray(_framed(b"not a pickle at all"))
    elif damage == "wrong-type":
        data = bytearray(_framed(pickle.dumps({"rules": []})))
    elif damage == "wrong-shape":
        data = bytearray(_framed(pickle.dumps([(["code-red"], {}, [])] * len(good))))
    elif damage == "raises":  # unpickling calls int("x")
        data = bytearray(_framed(b"cbuiltins\nint\n(Vx\ntR."))
    else:  # a condition with compiled patterns: never written, refused when read
        data = bytearray(_framed(_pickle_with_compiled(good)))
    path.write_bytes(bytes(data))
    _same(loader.load_pack(), parsed)
    names = [n for n, _ in loader._builtin_files()]
    assert packcache._load(path, names) is not None  # rewritten whole


def _pickle_with_compiled(parsed: list[packcache.Parsed]) -> bytes:
    """``parsed`` pickled with one condition's ``_compiled`` kept (as a pickled
    :class:`Condition` never has it)."""
    cond = parsed[0][0][0].match[0][0]
    orig = Condition.__getstate__
    object.__setattr__(cond, "_compiled", ("compiled",))
    try:
        Condition.__getstate__ = lambda self: dict(self.__dict__)  # type: ignore[method-assign]
        return pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        Condition.__getstate__ = orig  # type: ignore[method-assign]


def test_a_pickled_condition_leaves_its_compiled_patterns_out() -> None:
    cond = Condition("url", "re", (r"default\.ida",))
    assert cond._compiled
    again = pickle.loads(pickle.dumps(cond))
    assert again == cond and again._compiled == ()
    assert again.test("/DEFAULT.IDA?x") and not again.test("/index.html")


@pytest.mark.parametrize("value", ["off", ""])
def test_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            value: str) -> None:
    monkeypatch.setenv(CACHE_ENV, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _same(loader.load_pack(), _parsed(monkeypatch))
    assert not list(tmp_path.rglob("*"))


def test_a_folder_others_can_write_to_is_neither_written_nor_read(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _parsed(monkeypatch)
    folder.mkdir(mode=0o700, parents=True)
    os.chmod(folder, 0o777)
    _same(loader.load_pack(), parsed)
    assert not list(folder.iterdir())
    os.chmod(folder, 0o700)
    loader.load_pack()  # an entry written by us, then the folder opened to others
    os.chmod(folder, 0o777)
    calls: list[str] = []

    def counted(text: str, name: str) -> packcache.Parsed:
        calls.append(name)
        return loader.parse_text(text, name, builtin=True)

    monkeypatch.setattr(loader, "_parse_builtin", counted)
    _same(loader.load_pack(), parsed)
    assert len(calls) == len(loader._builtin_files())


def test_read_private_reads_only_regular_files_of_a_private_folder(tmp_path: Path) -> None:
    d = tmp_path / "private"
    assert cache.private(d)
    (d / "entry").write_bytes(b"data")
    (d / "sub").mkdir()
    (d / "link").symlink_to(d / "entry")
    assert cache.read_private(d, "entry") == b"data"
    assert cache.read_private(d, "sub") is None
    assert cache.read_private(d, "link") is None
    assert cache.read_private(d, "missing") is None
    os.chmod(d, 0o770)
    assert cache.read_private(d, "entry") is None
    assert cache.read_private(tmp_path / "nowhere", "entry") is None


def test_default_folder_beside_the_hyperscan_one(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    loader.load_pack()
    assert len(list((tmp_path / "xdg" / "wormsign" / "packs").glob("*.pack"))) == 1
    assert oct((tmp_path / "xdg" / "wormsign").stat().st_mode & 0o777) == "0o700"


def test_old_entries_are_pruned(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packcache, "MAX_FILES", 2)
    files = loader._builtin_files()
    for k in range(4):
        variant = [(name, text + f"\n# {k}\n") for name, text in files]
        monkeypatch.setattr(loader, "_builtin_files", lambda v=variant: v)
        loader.load_pack()
    names = {p.name for p in folder.glob("*.pack")}
    assert len(names) == 2
    assert packcache.cache_key(variant) + ".pack" in names
    assert not list(folder.glob(".tmp-*"))


_SCAN = """
import json, sys
from wormsign.cli.main import main
rc = main(["scan", "--json", sys.argv[1]])
print(json.dumps({"rc": rc, "yaml": "yaml" in sys.modules}), file=sys.stderr)
"""


def test_a_scan_with_the_pack_cached_imports_no_yaml(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text('1.2.3.4 - - [19/Jul/2001:00:00:00 +0000] "GET /default.ida?NNNN%u9090 '
                   'HTTP/1.0" 404 0\n5.6.7.8 - - [19/Jul/2001:00:00:01 +0000] "GET '
                   '/index.html HTTP/1.0" 200 9\n')
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", _SCAN, str(log)], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
            for _ in range(2)]
    results = [r.stderr.strip().splitlines()[-1] for r in runs]
    assert results[0] == '{"rc": 1, "yaml": true}', runs[0].stderr  # parsed, stored
    assert results[1] == '{"rc": 1, "yaml": false}', runs[1].stderr  # read back
    assert runs[0].stdout == runs[1].stdout and '"alerts":1' in runs[1].stdout.replace(" ", "")
