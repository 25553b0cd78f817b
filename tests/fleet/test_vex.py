"""OpenVEX out of and into ``assess``: every verdict a statement with the right status, and
not_affected / fixed statements of others settling verdicts, with the problems of a bad
document reported with their lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wormsign.errors import ValidationError
from wormsign.fleet.assess import assess
from wormsign.fleet.vex import CONTEXT, host_iri, load_vex, to_openvex

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet" / "inventory.csv"
HOST = "www1.example.test"
EXPECTED = {"exploitable": "affected", "unknown": "under_investigation",
            "mitigated": "not_affected", "not-affected": "not_affected", "patched": "fixed"}


def test_every_verdict_becomes_a_statement() -> None:
    rep = assess(str(EXAMPLE), outbreak_source="closed-form")
    doc = to_openvex(rep, now=1_900_000_000)
    assert doc["@context"] == CONTEXT and doc["version"] == 1
    pairs = [(h.host, v) for h in rep.hosts for v in rep.verdicts[h.host]]
    assert len(doc["statements"]) == len(pairs)
    for st, (host, v) in zip(doc["statements"], pairs, strict=True):
        assert st["products"][0]["@id"] == host_iri(host)
        assert st["vulnerability"]["name"] == v.id
        assert st["status"] == EXPECTED[v.status]
        if st["status"] == "affected":
            assert st["action_statement"]
        if st["status"] == "not_affected":
            assert st["justification"] in ("inline_mitigations_already_exist",
                                           "vulnerable_code_not_present")


def test_statements_settle_verdicts(tmp_path: Path) -> None:
    base = assess(str(EXAMPLE), outbreak_source="closed-form")
    assert {v.id: v.status for v in base.verdicts[HOST]}["MS00-078"] == "exploitable"
    vex = tmp_path / "vendor.vex.json"
    vex.write_text(json.dumps({"@context": CONTEXT, "@id": "https://example.org/vex/1",
                               "author": "Acme PSIRT", "timestamp": "2027-01-01T00:00:00Z",
                               "version": 1, "statements": [
        {"vulnerability": {"name": "CVE-2000-0884"}, "products": [{"@id": HOST}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path",
         "impact_statement": "scripts directory removed"},
        {"vulnerability": {"name": "MS01-033"}, "products": [{"@id": host_iri(HOST)}],
         "status": "affected", "action_statement": "patch"}]}))
    rep = assess(str(EXAMPLE), outbreak_source="closed-form", vex=load_vex(vex))
    got = {v.id: v for v in rep.verdicts[HOST]}
    assert got["MS00-078"].status == "not-affected"
    assert "Acme PSIRT" in got["MS00-078"].evidence[-1]
    assert got["MS01-033"].status == {v.id: v.status for v in base.verdicts[HOST]}["MS01-033"]
    # our own output read back changes nothing
    out = tmp_path / "ours.json"
    r = subprocess.run([sys.executable, "-m", "wormsign", "assess", str(EXAMPLE),
                        "--outbreak-model", "closed-form", "--vex-out", str(out), "--json"],
                       capture_output=True, text=True, check=False)
    assert out.exists(), r.stderr
    again = assess(str(EXAMPLE), outbreak_source="closed-form", vex=load_vex(out))
    assert {h: [v.status for v in vs] for h, vs in again.verdicts.items()} == {
        h: [v.status for v in vs] for h, vs in base.verdicts.items()}


def test_bad_document_lines(tmp_path: Path) -> None:
    vex = tmp_path / "bad.json"
    vex.write_text('{"statements": [\n {"status": "maybe", "products": [], '
                   '"vulnerability": "x"},\n {"status": "fixed"}\n]}\n')
    with pytest.raises(ValidationError) as ei:
        load_vex(vex)
    text = str(ei.value)
    assert f"{vex}:2" in text and "status" in text
    assert f"{vex}:3" in text and "products" in text
