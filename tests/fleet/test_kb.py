from __future__ import annotations

import json
from pathlib import Path

import pytest

from wormsign.errors import ConfigError, ValidationError
from wormsign.fleet.kb import load_kb, validate_kb

from .conftest import ROOT


def test_builtin_kb_is_valid_osv() -> None:
    assert [p for p in validate_kb() if p.severity == "error"] == []
    kb = load_kb()
    for needed, cve in (("MS01-033", "CVE-2001-0500"), ("MS00-078", "CVE-2000-0884"),
                        ("MS01-026", "CVE-2001-0333")):
        adv = kb.advisories[needed]
        assert cve in adv.aliases
        assert adv.references and all(r.startswith("https://") for r in adv.references)
        assert adv.mitigations and adv.fix
    for f in (ROOT / "src" / "wormsign" / "fleet" / "kb").glob("*.json"):
        doc = json.loads(f.read_text())
        for key in ("id", "modified", "summary", "affected", "references"):
            assert key in doc, (f.name, key)       # OSV required/expected fields
        assert doc["id"] == f.stem


def test_supersedence_chains() -> None:
    kb = load_kb()
    assert kb.covering_chain(["MS01-033"], ["MS01-033"]) == ["MS01-033"]
    assert kb.covering_chain(["Q300972"], ["MS01-033"]) == ["MS01-033"]
    assert kb.covering_chain(["MS01-044"], ["MS01-033"]) == ["MS01-044", "MS01-033"]
    assert kb.covering_chain(["Q319733"], ["MS01-033"]) == ["MS02-018", "MS01-044", "MS01-033"]
    assert kb.covering_chain(["MS01-044"], ["MS00-078"]) == ["MS01-044", "MS01-026", "MS00-078"]
    assert kb.covering_chain(["MS01-033"], ["MS01-026"]) is None
    assert kb.covering_chain(["MS00-078"], ["MS01-033"]) is None
    assert kb.covering_chain(["WIN2000-SP2"], ["MS01-033"]) is None
    assert kb.covering_chain(["W2K-SP3"], ["MS01-033"]) is not None


def test_versions() -> None:
    kb = load_kb()
    adv = kb.advisories["MS01-033"]
    assert adv.affects("microsoft-iis", "5.0") and adv.affects("microsoft-iis", "4")
    assert adv.affects("microsoft-iis", "5.0.2195")
    assert not adv.affects("microsoft-iis", "6.0")
    assert not adv.affects("microsoft-iis", "5.1")
    assert not adv.affects("apache-httpd", "5.0")


def _advisory(**over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": "WS-TEST-1", "modified": "2026-01-01T00:00:00Z", "summary": "test hole",
        "aliases": ["CVE-2099-0001"],
        "affected": [{"package": {"ecosystem": "wormsign", "name": "Apache"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "1.3"}, {"fixed": "1.3.27"}]}]}],
        "database_specific": {"severity": "high", "fixed_by": ["WS-P1"],
                              "patches": [{"id": "WS-P1"}]},
    }
    doc.update(over)
    return doc


def test_kb_dir_extends_and_ranges_work(tmp_path: Path) -> None:
    (tmp_path / "WS-TEST-1.json").write_text(json.dumps(_advisory(), indent=2))
    kb = load_kb([str(tmp_path)])
    assert "MS01-033" in kb.advisories and "WS-TEST-1" in kb.advisories
    adv = kb.advisories["WS-TEST-1"]
    assert adv.affects("apache-httpd", "1.3.20")
    assert not adv.affects("apache-httpd", "1.3.27") and not adv.affects("apache-httpd", "1.2")


def test_every_problem_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{\n  "id": "X",\n  "summary": "s",\n  oops\n}\n')
    bad = _advisory(id="WS-BAD")
    bad["database_specific"] = {"severity": "apocalyptic", "fixed_by": [],
                                "mitigations": [{"kind": "prayer"}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad, indent=2))
    problems = validate_kb([str(tmp_path)])
    by_file: dict[str, list[str]] = {}
    for p in problems:
        by_file.setdefault(Path(p.path).name, []).append(p.message)
        assert p.line is None or p.line >= 1
    assert any("invalid JSON" in m for m in by_file["broken.json"])
    assert [p.line for p in problems if p.path.endswith("broken.json")] == [4]
    msgs = " ".join(by_file["bad.json"])
    assert "severity" in msgs and "fixed_by" in msgs and "mitigation kind" in msgs
    text = (tmp_path / "bad.json").read_text()
    sev_line = text[: text.index('"severity"')].count("\n") + 1
    assert any(p.line == sev_line for p in problems if "severity" in p.message)
    with pytest.raises(ConfigError) as exc:
        load_kb([str(tmp_path)])
    assert "broken.json" in str(exc.value) or "bad.json" in str(exc.value)


def test_missing_kb_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_kb([str(tmp_path / "absent")])


def test_kb_file_with_several_problems_reports_each_at_its_line(tmp_path: Path) -> None:
    lines = [
        '{',                                                         # 1
        '  "id": "WS-MANY",',                                        # 2
        '  "summary": "",',                                          # 3: empty summary
        '  "affected": [',                                           # 4
        '    {"package": {"name": "apache-httpd"},',                 # 5
        '     "ranges": [{"type": "ECOSYSTEM",',                     # 6
        '                 "events": [{"introduced": "0"},',          # 7
        '                            {"broken": "1.3.26"}]}]}',      # 8: unknown event
        '  ],',                                                      # 9
        '  "database_specific": {',                                  # 10
        '    "fixed_by": ["WS-P1"],',                                # 11
        '    "severity": "apocalyptic",',                            # 12: bad severity
        '    "mitigations": [',                                      # 13
        '      {"kind": "prayer"}',                                  # 14: bad kind
        '    ]',                                                     # 15
        '  }',                                                       # 16
        '}',                                                         # 17
    ]
    path = tmp_path / "many.json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError) as exc:
        load_kb([str(tmp_path)], builtin=False)
    got = sorted((p.line, p.message.split()[0]) for p in exc.value.problems)
    assert [line for line, _ in got] == [3, 8, 12, 14], got
    assert all(p.path == str(path) for p in exc.value.problems)
    text = str(exc.value)
    assert text.startswith("4 problems in knowledge base")
    assert f"{path}:8: error: affected[0]: unknown event 'broken'" in text
