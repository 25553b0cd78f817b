from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from wormsign.fleet.assess import AssessOptions, assess
from wormsign.fleet.output import csv_cell, print_table, safe, to_csv, to_sarif

from .conftest import era_kb, line_of

SARIF_LEVELS = {"none", "note", "warning", "error"}


def _report(sample: Path) -> Any:
    return assess(str(sample / "inventory.csv"), outbreak_source="closed-form", kb=era_kb())


def test_options_object_and_keywords_give_the_same_report(sample: Path) -> None:
    """``assess(inv, AssessOptions(...), **overrides)``: the keywords win over the object."""
    inv = str(sample / "inventory.csv")
    by_kw = assess(inv, outbreak_source="closed-form", kb=era_kb(), max_per_wave=1).to_json()
    opts = AssessOptions(outbreak_source="closed-form", kb=era_kb(), max_per_wave=3)
    assert assess(inv, opts, max_per_wave=1).to_json() == by_kw
    assert assess(inv, opts).to_json() != by_kw  # max_per_wave counts
    with pytest.raises(TypeError):
        assess(inv, max_wave=1)  # type: ignore[call-arg]


def test_json_contract_exact_shape(sample: Path) -> None:
    doc = json.loads(json.dumps(_report(sample).to_json()))
    assert set(doc) == {"hosts", "plan", "skipped_rows"}
    for h in doc["hosts"]:
        assert set(h) == {"host", "exposure", "findings"}
        assert isinstance(h["host"], str) and isinstance(h["exposure"], str)
        for f in h["findings"]:
            assert set(f) == {"id", "aliases", "status", "evidence", "fix"}
            assert isinstance(f["id"], str) and isinstance(f["fix"], str)
            assert all(isinstance(a, str) for a in f["aliases"])
            assert all(isinstance(e, str) for e in f["evidence"]) and f["evidence"]
            assert f["status"] in {"exploitable", "mitigated", "patched", "not-affected",
                                   "unknown"}
    for w in doc["plan"]:
        assert set(w) == {"wave", "hosts", "reason"}
        assert isinstance(w["wave"], int) and w["hosts"] and isinstance(w["reason"], str)
    text = (sample / "inventory.csv").read_text()
    assert {"line": line_of(text, "broken.example.test"),
            "error": "expected 10 cells, found 4"} in doc["skipped_rows"]
    assert all(set(s) == {"line", "error"} for s in doc["skipped_rows"])


def test_csv_output_and_formula_injection(tmp_path: Path) -> None:
    assert csv_cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    for c in ("+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(c).startswith("'")
    assert csv_cell("www1") == "www1"
    p = tmp_path / "inv.csv"
    p.write_text('host,software,version,patches\n"=HYPERLINK(""http://x"")",IIS,5.0,none\n'
                 "@evil,IIS,5.0,none\n")
    rows = list(csv.reader(io.StringIO(to_csv(assess(str(p), outbreak_source="closed-form")))))
    assert rows[0][:7] == ["host", "exposure", "software", "version", "id", "aliases", "status"]
    hosts = {r[0] for r in rows[1:]}
    assert hosts == {"'=HYPERLINK(\"http://x\")", "'@evil"}
    for r in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in r)


def _check_sarif(doc: dict[str, Any]) -> None:
    """The parts of the SARIF 2.1.0 schema that consumers rely on."""
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(doc["runs"], list) and doc["runs"]
    for run in doc["runs"]:
        driver = run["tool"]["driver"]
        assert isinstance(driver["name"], str) and driver["name"]
        ids = [r["id"] for r in driver["rules"]]
        assert len(ids) == len(set(ids))
        for r in driver["rules"]:
            assert isinstance(r["shortDescription"]["text"], str)
        for res in run["results"]:
            assert isinstance(res["message"]["text"], str) and res["message"]["text"]
            assert res["level"] in SARIF_LEVELS
            assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
            for loc in res["locations"]:
                phys = loc["physicalLocation"]
                assert isinstance(phys["artifactLocation"]["uri"], str)
                if "region" in phys:
                    assert isinstance(phys["region"]["startLine"], int)
                    assert phys["region"]["startLine"] >= 1


def test_sarif(sample: Path) -> None:
    doc = json.loads(json.dumps(to_sarif(_report(sample))))
    _check_sarif(doc)
    results = doc["runs"][0]["results"]
    text = (sample / "inventory.csv").read_text()
    www1 = [r for r in results if r.get("properties", {}).get("host") == "www1.example.test"]
    assert {r["ruleId"] for r in www1} == {"MS00-078", "MS01-026", "MS01-033"}
    assert all(r["level"] == "error" for r in www1)
    assert www1[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == line_of(
        text, "www1.example.test")
    cfg = [r for r in results if r["ruleId"] == "config/mapping-ida"]
    assert cfg and cfg[0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"].endswith("iis5-default.txt")
    assert not any(r.get("properties", {}).get("status") == "patched" for r in results)


def test_table_escapes_control_characters(tmp_path: Path) -> None:
    assert safe("a\x1b[31mb\u202ec") == "a\\x1b[31mb\\u202ec"
    p = tmp_path / "inv.csv"
    p.write_text("host,software,version,patches\n\"ev\x1b[2Jil\u202e\",IIS,5.0,none\n"
                 "x\x07,IIS,5.0,none,extra\n", encoding="utf-8")
    rep = assess(str(p), outbreak_source="closed-form", assume_defaults=True)
    out = io.StringIO()
    print_table(rep, out)
    text = out.getvalue()
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b[2J" in text and "Wave 1" in text
    out2 = io.StringIO()
    print_table(rep, out2, color=True)
    assert "\x1b[2J" not in out2.getvalue() and "\\x1b[2J" in out2.getvalue()


def test_write_json_is_the_same_document(sample: Path) -> None:
    rep = _report(sample)
    buf = io.StringIO()
    rep.write_json(buf)
    assert json.loads(buf.getvalue()) == json.loads(json.dumps(rep.to_json()))
    lines = buf.getvalue().splitlines()
    assert sum(1 for ln in lines if ln.lstrip().startswith('{"host"')) == len(rep.hosts)
