"""Every rule of every built-in pack, through the real scanner: its positive log texts give an
alert of that rule, its negative ones do not (cases in tests/rules/cases/<pack>.yml)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from wormsign.detect.scanner import scan_paths
from wormsign.rules.loader import FIRST_PACK, NETWORK_PACK, load_pack
from wormsign.rules.model import RulePack
from wormsign.rules.netloader import load_network_pack

CASES = Path(__file__).parent / "cases"
_REPEAT = re.compile(r"<<(.*?)\*(\d+)>>", re.DOTALL)


def expand(text: str) -> str:
    """``<<TEXT*N>>`` written out: TEXT repeated N times (long worm lines stay readable)."""
    return _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), text)


@cache
def builtin() -> RulePack:
    return load_pack()


def _cases() -> list[tuple[str, str, bool, int]]:
    out: list[tuple[str, str, bool, int]] = []
    for f in sorted(CASES.glob("*.yml")):
        for rule_id, spec in yaml.safe_load(f.read_text("utf-8")).items():
            for want, key in ((True, "match"), (False, "no_match")):
                out += [(rule_id, text, want, k) for k, text in enumerate(spec.get(key, []))]
    return out


def alerts_of(tmp_path: Path, text: str) -> list[str]:
    p = tmp_path / "case.log"
    p.write_bytes(expand(text).encode("utf-8") + b"\n")
    report = scan_paths([str(p)], pack=builtin())
    assert not report.errors, [f.error for f in report.errors]
    return [a.rule_id for a in report.alerts]


@pytest.mark.parametrize(("rule_id", "text", "want", "k"), _cases(),
                         ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "")
def test_rule_case(tmp_path: Path, rule_id: str, text: str, want: bool, k: int) -> None:
    got = alerts_of(tmp_path, text)
    assert (rule_id in got) is want, (rule_id, "match" if want else "no_match", k, got)


def test_every_builtin_rule_has_positive_and_negative_cases() -> None:
    have: dict[str, set[bool]] = {}
    for rule_id, _text, want, _k in _cases():
        have.setdefault(rule_id, set()).add(want)
    ids = {r.id for r in builtin().rules}
    missing = sorted(i for i in ids if have.get(i) != {True, False})
    assert not missing, f"rules without a positive and a negative case: {missing}"
    assert not set(have) - ids, f"cases for rules that do not exist: {set(have) - ids}"


def test_every_builtin_rule_has_references_and_keywords() -> None:
    for r in builtin().rules:
        assert r.references, r.id
        assert r.keywords, r.id  # the fast pattern, declared


def test_every_builtin_pack_is_loaded() -> None:
    """Each shipped pack reaches the scanner: request packs through load_pack, the network
    pack through load_network_pack; a pack without cases here fails the test above."""
    sources = {Path(r.source).name for r in builtin().rules}
    shipped = {p.name for p in (Path(__file__).parents[2] / "src/wormsign/rules/packs")
               .glob("*.y*ml")}
    assert shipped - {NETWORK_PACK} == sources
    assert {p.stem for p in CASES.glob("*.yml")} == {Path(s).stem for s in sources}
    assert {Path(r.source).name for r in load_network_pack().rules} == {NETWORK_PACK}


def test_webdav_overflow_as_raw_bytes(tmp_path: Path) -> None:
    """Apache 1.3 wrote the worm's bytes unescaped; the reader turns them into \\xNN. (The
    log starts with ordinary lines: a file whose first 8 KB are mostly the worm's control
    bytes is refused as binary by wormsign.logs.source.looks_binary.)"""
    p = tmp_path / "raw.log"
    ordinary = (b'192.168.1.2 - - [11/Jan/2005:03:04:00 +0100] "GET /index.html HTTP/1.1" 200 338'
                b' "-" "Mozilla/4.0"\n') * 400
    line = (b'10.3.3.9 - - [11/Jan/2005:03:04:05 +0100] "SEARCH /\x90' + b"\x02\xb1" * 4000
            + b'" 414 338 "-" "-"\n')
    p.write_bytes(ordinary + line + b'10.3.3.9 - - [11/Jan/2005:03:04:06 +0100] "SEARCH / '
                  b'HTTP/1.1" 411 1 "-" "-"\n')
    report = scan_paths([str(p)], pack=builtin())
    assert [(a.rule_id, a.line) for a in report.alerts] == [("webdav-ntdll-overflow", 401)]
    assert report.alerts[0].family == "webdav-overflow"


def test_a_log_that_opens_with_the_raw_overflow_is_read(tmp_path: Path) -> None:
    """A file whose first 8 KB are the worm's raw bytes is still a log when it begins as a
    log line does; real binary data is still refused."""
    line = (b'10.3.3.9 - - [11/Jan/2005:03:04:05 +0100] "SEARCH /\x90' + b"\x02\xb1" * 8000
            + b'" 414 338 "-" "-"\n')
    p = tmp_path / "raw-first.log"
    p.write_bytes(line + b'192.168.1.2 - - [11/Jan/2005:03:04:06 +0100] "GET / HTTP/1.1" '
                  b'200 338 "-" "Mozilla/4.0"\n')
    report = scan_paths([str(p)], pack=builtin())
    assert not report.errors
    assert [(a.rule_id, a.line) for a in report.alerts] == [("webdav-ntdll-overflow", 1)]
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"\x02\xb1\x00\x01" * 4000)
    assert scan_paths([str(junk)], pack=builtin()).errors


def test_later_packs_add_nothing_on_the_synthetic_logs(tmp_path: Path) -> None:
    """The sample logs (ordinary traffic, the 2001 worms) and the worm-heavy storm log (with
    Nikto-style scanners) give the same alerts with every pack as with worms.yml alone."""
    from wormsign.logs.synth import write_sample, write_worm_heavy

    paths = [str(p) for p in write_sample(tmp_path / "sample", background=4000, seed=7)]
    write_worm_heavy(tmp_path / "storm.log", lines=20_000, seed=7)
    paths.append(str(tmp_path / "storm.log"))
    later = {r.id for r in builtin().rules if Path(r.source).name != FIRST_PACK}
    assert later
    for p in paths:
        report = scan_paths([p], pack=builtin())
        assert report.alerts, p  # the 2001 worms are there
        assert not {a.rule_id for a in report.alerts} & later, p
