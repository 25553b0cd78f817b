from __future__ import annotations

import json
from pathlib import Path

import pytest

from wormsign.cli.main import main

from .conftest import CODE_RED_ERA


def test_assess_sample_exit_1_and_outputs(sample: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    csv_out, sarif_out = tmp_path / "out.csv", tmp_path / "out.sarif"
    rc = main(["assess", str(sample / "inventory.csv"), "--json", "--csv", str(csv_out),
               "--sarif", str(sarif_out), "--max-per-wave", "2",
               "--outbreak-model", "closed-form"])
    assert rc == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["plan"] and all(len(w["hosts"]) <= 2 for w in doc["plan"])
    assert csv_out.read_text().startswith("host,exposure,")
    assert json.loads(sarif_out.read_text())["version"] == "2.1.0"


def test_assess_table_output(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", str(sample / "inventory.csv"), "--outbreak-model",
                 "closed-form", "--window", "2001-07-20T02:00/4h"]) == 1
    out = capsys.readouterr().out
    assert "www1.example.test" in out and "Wave 1" in out and "skipped line" in out
    assert "2001-07-20T02:00Z" in out


def test_assess_exit_0_when_nothing_exploitable(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "inv.csv"
    p.write_text("host,software,version,patches\na,IIS,5.0,MS02-062;MS03-007\nb,Apache,2.4.62,\n")
    assert main(["assess", str(p), "--outbreak-model", "closed-form"]) == 0
    assert "No host needs patching" in capsys.readouterr().out


def test_assess_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", str(tmp_path / "absent.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.csv" in err
    p = tmp_path / "inv.csv"
    p.write_text("host,software,version\na,IIS,5.0\n")
    assert main(["assess", str(p), "--window", "someday"]) == 2
    assert main(["assess"]) == 2


def test_check_kb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", "--check-kb"]) == 0
    assert "knowledge base ok" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text('{\n  "id": "X",\n  "summary": 3\n}\n')
    assert main(["assess", "--check-kb", "--kb", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bad.json:3" in err and "bad.json" in err and "affected" in err


def test_extra_kb_changes_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "WS-APACHE-1.json").write_text(json.dumps({
        "id": "WS-APACHE-1", "modified": "2026-01-01T00:00:00Z", "summary": "test advisory",
        "affected": [{"package": {"ecosystem": "wormsign", "name": "apache-httpd"},
                      "versions": ["1.3.20"]}],
        "database_specific": {"severity": "high", "fixed_by": ["WS-P"],
                              "patches": [{"id": "WS-P"}]}}))
    inv = tmp_path / "inv.csv"
    inv.write_text("host,software,version,patches,config\nw,Apache,1.3.20,none,h.conf\n")
    (tmp_path / "h.conf").write_text("Listen 80\n")
    assert main(["assess", str(inv), "--kb", str(kb), "--json",
                 "--outbreak-model", "closed-form"]) == 1
    doc = json.loads(capsys.readouterr().out)
    st = {f["id"]: f["status"] for f in doc["hosts"][0]["findings"]}
    assert st["WS-APACHE-1"] == "exploitable" and st["MS01-033"] == "not-affected"


def test_nmap_inventory_via_cli(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a scan says nothing about patches: IIS 5.0 stays "unknown" (patch list missing)
    assert main(["assess", str(sample / "nmap-scan.xml"), "--exposure", "internet",
                 "--assume-defaults", "--json", "--outbreak-model", "closed-form"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {h["host"]: h["exposure"] for h in doc["hosts"]} == {
        "www1.example.test": "internet", "192.0.2.11": "internet"}
    st = {h["host"]: {f["status"] for f in h["findings"] if f["id"] in CODE_RED_ERA}
          for h in doc["hosts"]}
    assert st == {"www1.example.test": {"unknown"}, "192.0.2.11": {"not-affected"}}
    assert doc["plan"][0]["hosts"] == ["www1.example.test"]


def test_help_mentions_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("assess", "probe"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "Exit status" in out and "2 error" in out
