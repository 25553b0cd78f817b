"""Synthetic evidence for the incident tests: alerts written with ``Alert.to_ecs``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from wormsign.detect.alert import Alert

T0 = datetime(2001, 7, 19, 12, 0, tzinfo=UTC)

URLS = {
    "code-red": ("/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801", "cr-ida"),
    "code-red-ii": ("/default.ida?" + "X" * 224 + "%u9090%u6858%ucbd3%u7801", "crii-ida"),
    "nimda": ("/scripts/..%255c../winnt/system32/cmd.exe?/c+dir", "nimda-traversal"),
}


def make_alert(i: int, source: str, family: str, *, ts: datetime | None = None,
               user_agent: str | None = "Mozilla/4.0", host: str | None = "www.example.org",
               file_path: str = "/var/log/apache2/access.log") -> Alert:
    url, rule = URLS[family]
    return Alert(timestamp=ts if ts is not None else T0 + timedelta(seconds=i),
                 source_ip=source, rule_id=rule, rule_name=f"{family} request", family=family,
                 rule_family=family, severity="high", url=url, method="GET", status=404,
                 user_agent=user_agent, host=host, file_path=file_path, line=i + 1,
                 format="apache-combined")


def synthetic_alerts(n: int, seed: int = 1, internal_share: float = 0.1) -> list[Alert]:
    """``n`` alerts from a few hundred sources of three families over a few hours."""
    rng = np.random.default_rng(seed)
    fams = list(URLS)
    out = []
    n_src = max(5, min(400, n // 10))
    fam_of = rng.integers(0, len(fams), n_src)
    internal = rng.random(n_src) < internal_share
    src = rng.integers(0, n_src, n)
    offs = np.sort(rng.integers(0, 6 * 3600, n))
    for i in range(n):
        s = int(src[i])
        ip = f"10.1.{s // 250}.{s % 250 + 1}" if internal[s] else f"198.51.{s // 250}.{s % 250 + 1}"
        out.append(make_alert(i, ip, fams[fam_of[s]], ts=T0 + timedelta(seconds=int(offs[i]))))
    return out


def write_jsonl(path: Path, alerts: list[Alert], extra_lines: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for a in alerts:
            fh.write(json.dumps(a.to_ecs()) + "\n")
        for line in extra_lines or []:
            fh.write(line + "\n")
    return path


def assess_doc() -> dict[str, Any]:
    """An ``assess --json`` document in the issue 4 contract."""
    return {
        "hosts": [
            {"host": "iis01", "exposure": "internet", "findings": [
                {"id": "MS01-033", "aliases": ["CVE-2001-0500"], "status": "exploitable",
                 "evidence": ["IIS 5.0", ".ida mapped"], "fix": "install MS01-033"}]},
            {"host": "iis02", "exposure": "internal", "findings": [
                {"id": "MS01-033", "aliases": ["CVE-2001-0500"], "status": "patched",
                 "evidence": ["MS01-044 supersedes MS01-033"], "fix": ""}]},
        ],
        "plan": [{"wave": 1, "hosts": ["iis01"], "reason": "internet-facing"}],
        "skipped_rows": [],
    }
