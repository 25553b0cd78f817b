"""Accepted risks from a wormsign-ignore.yml in assess: covered verdicts become
``accepted``, keep their evidence, leave the plan, and come back after the expiry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from wormsign.detect.suppress import AcceptedRisk
from wormsign.fleet.assess import assess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet" / "inventory.csv"
HOST = "www1.example.test"


def statuses(report_hosts: dict[str, tuple[object, ...]], host: str) -> dict[str, str]:
    return {v.id: v.status for v in report_hosts[host]}  # type: ignore[attr-defined]


def test_accepted_risk_by_alias_leaves_the_plan() -> None:
    base = assess(str(EXAMPLE), outbreak_source="closed-form")
    before = statuses(base.verdicts, HOST)
    assert before["MS00-078"] == "exploitable"
    risk = AcceptedRisk(HOST, "cve-2000-0884", "isolated kiosk, replaced in March",
                        until=2_000_000_000)
    rep = assess(str(EXAMPLE), outbreak_source="closed-form", accepted=[risk],
                 now=1_900_000_000)
    after = statuses(rep.verdicts, HOST)
    assert after["MS00-078"] == "accepted"
    assert {k: v for k, v in after.items() if k != "MS00-078"} == {
        k: v for k, v in before.items() if k != "MS00-078"}
    ev = next(v for v in rep.verdicts[HOST] if v.id == "MS00-078").evidence
    assert "isolated kiosk" in ev[-1] and "was exploitable" in ev[-1]
    # after the expiry the evidence speaks again
    late = assess(str(EXAMPLE), outbreak_source="closed-form", accepted=[risk],
                  now=2_000_000_001)
    assert statuses(late.verdicts, HOST) == before


def test_assess_cli_ignore(tmp_path: Path) -> None:
    ign = tmp_path / "wormsign-ignore.yml"
    ign.write_text("accept:\n  - host: '*'\n    advisory: MS00-078\n    reason: accepted\n")
    r = subprocess.run([sys.executable, "-m", "wormsign", "assess", str(EXAMPLE), "--json",
                        "--outbreak-model", "closed-form", "--ignore", str(ign)],
                       capture_output=True, text=True, check=False)
    doc = json.loads(r.stdout)
    got = {f["status"] for h in doc["hosts"] for f in h["findings"] if f["id"] == "MS00-078"}
    assert "accepted" in got and "exploitable" not in got
