from __future__ import annotations

from pathlib import Path

import pytest

from wormsign.fleet.assess import assess
from wormsign.fleet.audit import audit_text
from wormsign.fleet.inventory import read_csv_text
from wormsign.fleet.kb import load_kb
from wormsign.fleet.verdict import Judge, ProbeEvidence, Verdict, os_patches

from .conftest import era_kb


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge(load_kb())


def verdicts(judge: Judge, row: str, config: str | None = None,
             probe: ProbeEvidence | None = None) -> dict[str, Verdict]:
    inv = read_csv_text("host,software,version,os,patches\n" + row + "\n")
    assert inv.hosts, inv.skipped
    audit = audit_text(config, "cfg.txt") if config is not None else None
    return {v.id: v for v in judge.judge(inv.hosts[0], audit, probe)}


def test_sample_fleet_statuses(sample: Path) -> None:
    rep = assess(str(sample / "inventory.csv"), outbreak_source="closed-form", kb=era_kb())
    st = {h: {v.id: v.status for v in vs} for h, vs in rep.verdicts.items()}
    assert st["www1.example.test"] == {"MS00-078": "exploitable", "MS01-026": "exploitable",
                                       "MS01-033": "exploitable"}
    assert st["www2.example.test"] == {"MS00-078": "patched", "MS01-026": "exploitable",
                                       "MS01-033": "patched"}
    assert set(st["shop.example.test"].values()) == {"patched"}
    assert set(st["mail.example.test"].values()) == {"patched"}       # SP3 in os
    assert set(st["wiki.example.test"].values()) == {"patched"}       # Q319733 chain
    assert st["gate.example.test"]["MS01-033"] == "mitigated"         # URLScan
    assert st["intranet.example.test"] == {"MS00-078": "patched", "MS01-026": "mitigated",
                                           "MS01-033": "mitigated"}
    assert set(st["partner.example.test"].values()) == {"unknown"}    # patches "?"
    assert set(st["hr.example.test"].values()) == {"unknown"}         # no config
    for h in ("new.example.test", "portal.example.test", "www3.example.test",
              "static.example.test"):
        assert set(st[h].values()) == {"not-affected"}, h
    assert rep.exploitable


def test_patched_by_supersedence_names_the_chain(judge: Judge) -> None:
    v = verdicts(judge, "h,IIS,5.0,Windows 2000,Q319733")["MS01-033"]
    assert v.status == "patched" and v.by == "MS02-018"
    assert any("MS02-018" in e and "MS01-044" in e and "MS01-033" in e for e in v.evidence)
    assert v.fix == ""
    assert any("installed as Q319733" in e for e in v.evidence)


def test_service_pack_in_os_counts(judge: Judge) -> None:
    assert os_patches("Windows 2000 Advanced Server SP3") == ("WIN2000-SP3",)
    assert os_patches("Windows NT 4.0 SP6a") == ()
    v = verdicts(judge, "h,IIS,5.0,Windows 2000 Server SP2,")
    assert v["MS00-078"].status == "patched" and v["MS00-078"].by == "WIN2000-SP2"


def test_exploitable_needs_config_evidence(judge: Judge) -> None:
    mapped = '[/w3svc]\nScriptMaps : (LIST) (1 Items)\n  ".ida,C:\\idq.dll,7"\n'
    v = verdicts(judge, "h,IIS,5.0,Windows 2000,none", mapped)["MS01-033"]
    assert v.status == "exploitable"
    assert any("cfg.txt:3" in e and ".ida" in e for e in v.evidence)
    assert "MS01-033" in v.fix


def test_unmapped_is_mitigated_and_says_by_what(judge: Judge) -> None:
    cfg = '[/w3svc]\nScriptMaps : (LIST) (1 Items)\n  ".asp,C:\\asp.dll,5"\n'
    v = verdicts(judge, "h,IIS,5.0,Windows 2000,none", cfg)["MS01-033"]
    assert v.status == "mitigated" and v.by.startswith("unmap-ida-idq")
    assert v.evidence[-1].startswith("mitigated by unmap-ida-idq")
    assert v.fix  # still worth patching


def test_traversal_needs_executable_vdir(judge: Judge) -> None:
    cfg = "[/w3svc/1/root/scripts]\nAccessExecute : (BOOLEAN) True\n"
    v = verdicts(judge, "h,IIS,4.0,Windows NT 4.0,", cfg)
    assert v["MS01-026"].status == "exploitable" and v["MS00-078"].status == "exploitable"
    v2 = verdicts(judge, "h,IIS,4.0,Windows NT 4.0,", "[/w3svc/1/root]\nAccessFlags : "
                  "(INTEGER) 1\n")
    assert v2["MS01-026"].status == "mitigated"
    assert v2["MS01-026"].by.startswith("no-executable-vdirs")


def test_unknown_names_missing_evidence(judge: Judge) -> None:
    v = verdicts(judge, "h,IIS,5.0,Windows 2000,?")["MS01-033"]
    assert v.status == "unknown"
    missing = [e for e in v.evidence if e.startswith("missing:")]
    assert missing and "patch list" in missing[0] and "configuration" in missing[0]
    v = verdicts(judge, "h,IIS,,,")["MS01-033"]
    assert v.status == "unknown" and any("version" in e for e in v.evidence)


def test_not_affected(judge: Judge) -> None:
    assert verdicts(judge, "h,IIS,6.0,Windows 2003,")["MS01-033"].status == "not-affected"
    v = verdicts(judge, "h,Apache,1.3.20,Linux,")["MS01-033"]
    assert v.status == "not-affected" and "not an affected product" in v.evidence[0]


def test_assume_defaults_and_probe_evidence() -> None:
    kb = era_kb()
    inv = read_csv_text("host,software,version,patches\nh,IIS,5.0,none\n")
    h = inv.hosts[0]
    assert {v.status for v in Judge(kb).judge(h, None)} == {"unknown"}
    assert {v.status for v in Judge(kb, assume_defaults=True).judge(h, None)} == {"exploitable"}
    probe = ProbeEvidence(True, "Microsoft-IIS/5.0", "probe of http://h/")
    by = {v.id: v for v in Judge(kb).judge(h, None, probe)}
    assert by["MS01-033"].status == "exploitable"
    assert any("IDQ" in e for e in by["MS01-033"].evidence)
    assert by["MS01-026"].status == "unknown"   # .ida reachability says nothing about /scripts


def test_unreadable_config_is_reported_as_evidence(tmp_path: Path) -> None:
    p = tmp_path / "inv.csv"
    p.write_text("host,software,version,patches,config\nh,IIS,5.0,none,missing.txt\n")
    rep = assess(str(p), outbreak_source="closed-form", kb=era_kb())
    v = rep.verdicts["h"][0]
    assert v.status == "unknown"
    assert any("missing.txt" in e and "cannot read" in e for e in v.evidence)
