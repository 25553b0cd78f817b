"""Offline enrichment from MaxMind-format databases written by the test writer: lookups,
the cache, the report, the MISP export, and "no enrichment configured" without a database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmdbwriter import write_mmdb
from wormsign.errors import ConfigError
from wormsign.incidents import Store
from wormsign.incidents.enrich import (
    Enricher,
    cached,
    configured,
    enrich_incident,
    labels,
    reverse_dns,
)
from wormsign.incidents.exporters import export
from wormsign.incidents.ingest import ingest_paths
from wormsign.incidents.report import render_html

from .helpers import make_alert, write_jsonl

SOURCES = ["198.51.100.7", "203.0.113.9", "2001:db8::5", "192.0.2.1", "10.9.8.7"]


@pytest.fixture
def dbs(tmp_path: Path) -> tuple[Path, Path]:
    country = write_mmdb(tmp_path / "country.mmdb", [
        ("198.51.100.0/24", {"country": {"iso_code": "NL", "names": {"en": "Netherlands"}}}),
        ("2001:db8::/32", {"country": {"iso_code": "DE"}}),
        ("203.0.113.0/24", {"registered_country": {"iso_code": "JP"}})])
    asn = write_mmdb(tmp_path / "asn.mmdb", [
        ("198.51.100.0/24", {"autonomous_system_number": 64500,
                             "autonomous_system_organization": "Example <b>BV</b>"}),
        ("203.0.113.0/24", {"autonomous_system_number": 4_200_000_000})])
    return country, asn


@pytest.fixture
def incident(store: Store, tmp_path: Path) -> int:
    iid = store.create_incident("enrich", own=["10.0.0.0/8"])
    alerts = [make_alert(i, SOURCES[i % 5], "code-red") for i in range(20)]
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts)])
    return iid


def test_lookup_country_and_as(dbs: tuple[Path, Path]) -> None:
    with Enricher(str(dbs[0]), str(dbs[1])) as en:
        got = {e.address: e for e in en.lookup(SOURCES)}
    assert got["198.51.100.7"].country == "NL" and got["198.51.100.7"].asn == 64500
    assert got["203.0.113.9"].country == "JP" and got["203.0.113.9"].asn == 4_200_000_000
    assert got["2001:db8::5"].country == "DE" and got["2001:db8::5"].asn is None
    assert got["192.0.2.1"].label() == ""


def test_cache_report_and_misp(store: Store, incident: int, dbs: tuple[Path, Path]) -> None:
    assert not configured(store)
    assert "no enrichment configured" in render_html(store, incident)
    with Enricher(str(dbs[0]), str(dbs[1])) as en:
        counts = enrich_incident(store, incident, en)
    assert counts == {"sources": 5, "country": 3, "asn": 2, "rdns": 0}
    got = cached(store, incident, SOURCES)
    assert got["10.9.8.7"].inside and not got["198.51.100.7"].inside
    assert labels(store, incident, ["198.51.100.7"]) == {
        "198.51.100.7": "NL, AS64500 Example <b>BV</b>"}
    html = render_html(store, incident)
    assert "AS64500 Example &lt;b&gt;BV&lt;/b&gt;" in html
    assert "no enrichment configured" not in html
    ev = json.loads(export(store, incident, "misp"))["Event"]
    comment = next(a["comment"] for a in ev["Attribute"] if a["value"] == "198.51.100.7")
    assert "country NL" in comment and "AS64500" in comment
    # a second run replaces the cache rows
    with Enricher(str(dbs[0])) as en:
        enrich_incident(store, incident, en)
    assert cached(store, incident, ["198.51.100.7"])["198.51.100.7"].asn is None


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "x.mmdb"
    bad.write_bytes(b"not a database")
    with pytest.raises(ConfigError):
        Enricher(str(bad))


def test_reverse_dns_is_bounded() -> None:
    # loopback only; a name or none, never a hang
    got = reverse_dns(["127.0.0.1"], timeout=2.0)
    assert set(got) <= {"127.0.0.1"}


def test_cli_without_database(store_url: str, incident: int) -> None:
    r = subprocess.run([sys.executable, "-m", "wormsign", "triage", "enrich", str(incident),
                        "--db", store_url, "--json"], capture_output=True, text=True,
                       check=False, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(
                           sys.path)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"configured": False,
                                    "message": "no enrichment configured"}
