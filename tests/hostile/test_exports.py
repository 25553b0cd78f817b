"""Hostile input against the blocklist exports: only canonical addresses ever come out.

The corpus (``corpus/exports/sources.jsonl``, one JSON string a line) holds source values an
attacker can get into the store (X-Forwarded-For with a zone id, an eve.json ``src_ip`` with a
newline and a ruleset behind it, text, networks written as a source, look-alike digits,
formula starts). Every exporter runs over a store holding them beside real sources, and
hypothesis throws generated text at the address parser and at the exporters.
Self-contained: makes its own SQLite stores.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wormsign.cli.main import main
from wormsign.errors import ConfigError
from wormsign.incidents import Store
from wormsign.incidents import schema as t
from wormsign.incidents.blocklist import refresh
from wormsign.incidents.exporters import EXPORTERS, export, render_blocklist
from wormsign.incidents.networks import canonical, parse_ip, parse_network

CORPUS = Path(__file__).parent / "corpus" / "exports" / "sources.jsonl"
HOSTILE: list[str] = [json.loads(x) for x in CORPUS.read_text().splitlines() if x]
GOOD = ["198.51.100.20", "203.0.113.7", "2001:DB8::7", "::ffff:192.0.2.5", "2001:db8:0:0::8"]
NOW = 1_000_000_000
#: What an address or CIDR looks like in an export, once canonical.
TOKEN = re.compile(r"(?<![\w:.])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]*:[0-9a-f:.]*)(?:/\d+)?")


def _expected(values: list[str]) -> set[str]:
    out = set()
    for v in values:
        a = ipaddress.ip_address(v)
        if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
            a = a.ipv4_mapped
        out.add(str(a))
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        yield s
    finally:
        s.close()


def _fill(store: Store, sources: list[str], name: str = "hostile") -> int:
    iid = store.create_incident(name)
    if not sources:
        return iid
    with store.begin() as conn:
        conn.execute(sa.insert(t.source_families), [
            {"incident_id": iid, "source_ip": s, "family": "nimda", "internal": 0,
             "alerts": 1, "first_seen": NOW - 10, "last_seen": NOW - 5} for s in sources])
    return iid


def _addresses_in(text: str) -> set[str]:
    """Every token of ``text`` that reads as an address or network."""
    out = set()
    for m in TOKEN.finditer(text):
        try:
            ipaddress.ip_network(m.group())
        except ValueError:
            continue
        out.add(m.group())
    return out


def test_corpus_values_are_refused_one_by_one() -> None:
    for v in HOSTILE:
        got = parse_ip(v, networks=False)
        assert got is None, v
        assert canonical(v) is None, v


def test_every_exporter_writes_only_the_real_sources(store: Store) -> None:
    iid = _fill(store, GOOD + HOSTILE)
    assert refresh(store, iid, "7d", now=NOW)["refused"] == len(set(HOSTILE))
    want = _expected(GOOD)
    for fmt in EXPORTERS:
        text = export(store, iid, fmt, now=NOW, refresh_first=False)
        assert "pwn" not in text and ("%" not in text or fmt == "stix")  # STIX: LIKE '%/x%'
        assert "\u202e" not in text and "\x00" not in text and "\r" not in text
        if fmt == "stix":
            pats = re.findall(r"-addr:value = '([^']*)'", text)
            assert set(pats) == want, fmt
            continue
        assert _addresses_in(text) == want, fmt
    plain = render_blocklist(store, iid, "plain", now=NOW)
    assert set(plain.text.split()) == want and plain.refused == len(set(HOSTILE))


@pytest.mark.parametrize("value", ["2a00::1%x}", "fe80::1%eth0", "10.0.0.0/8\nx",
                                   "198.51.100.0/24 # x", "evil.example", ""])
def test_own_and_allow_refuse_zone_ids_and_text(value: str, store: Store,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_network(value)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError):
        store.create_incident("x", own=[value])
    rc = main(["incident", "--db", store.url, "new", "x", "--own", value])
    out, errtext = capsys.readouterr()
    assert rc == 2 and out == ""
    assert errtext.startswith("wormsign: error: not a network or address")
    assert errtext.count("\n") == 1 and "Traceback" not in errtext
    if "%" in value:
        assert "zone id" in errtext


def test_own_networks_are_canonical() -> None:
    assert str(parse_network(" 2001:DB8::/32 ")) == "2001:db8::/32"
    assert str(parse_network("::ffff:10.0.0.0/104")) == "10.0.0.0/8"
    assert str(parse_network("192.0.2.7/24")) == "192.0.2.0/24"


ADDRESSISH = st.text(alphabet="0123456789abcdefABCDEF:./%x} \n\t", max_size=45)


@settings(max_examples=400, deadline=None)
@given(st.one_of(ADDRESSISH, st.text(max_size=60), st.ip_addresses().map(str)))
def test_parse_ip_is_strict_and_canonical(text: str) -> None:
    got = parse_ip(text, networks=True)
    c = canonical(text, networks=True)
    if got is None:
        assert c is None
        return
    assert c == str(got)
    assert not re.search(r"[%\s]", c) and c.isascii()
    again = parse_ip(c, networks=True)
    assert again == got and str(again) == c
    if "/" not in text:
        ref = ipaddress.ip_address(text)  # what ipaddress itself reads there
        if isinstance(ref, ipaddress.IPv6Address) and ref.ipv4_mapped is not None:
            ref = ref.ipv4_mapped
        assert ref == got


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path_factory.mktemp('fz') / 'f.db'}")
    try:
        yield s
    finally:
        s.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(good=st.lists(st.ip_addresses(v=4, network=ipaddress.IPv4Network("198.18.0.0/15")),
                     max_size=12, unique=True),
       bad=st.lists(st.one_of(ADDRESSISH, st.sampled_from(HOSTILE)), max_size=8),
       name=st.text(max_size=40), fmt=st.sampled_from(sorted(EXPORTERS)),
       aggregated=st.booleans())
def test_fuzzed_stores_export_only_their_addresses(shared_store: Store,
                                                   good: list[ipaddress.IPv4Address],
                                                   bad: list[str], name: str, fmt: str,
                                                   aggregated: bool) -> None:
    store = shared_store  # a new incident per example
    sources = [str(g) for g in good] + [b for b in bad if canonical(b) is None]
    iid = _fill(store, list(dict.fromkeys(sources)), name if name.strip() else "n")
    refresh(store, iid, "7d", now=NOW)
    text = export(store, iid, fmt, now=NOW, refresh_first=False, aggregated=aggregated)
    want = {str(g) for g in good}
    if fmt == "stix":
        found = set(re.findall(r"-addr:value = '([^']*)'", text))
        nets = [ipaddress.ip_network(f) for f in found]
        assert {str(a) for n in nets for a in (n if n.num_addresses <= 2 else
                                               [*n.hosts(), n.network_address,
                                                n.broadcast_address])} == want
        json.loads(text)
        return
    lines = text.splitlines()
    assert all("\r" not in x and "\x00" not in x for x in lines)
    covered: set[str] = set()
    for tok in _addresses_in(text):
        covered.update(str(a) for a in ipaddress.ip_network(tok))
    assert covered == want
