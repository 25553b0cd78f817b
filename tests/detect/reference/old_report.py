"""Summaries of a scan: per family and per source, as JSON (a stable contract), CSV, text.

The ``--json`` contract::

    {"files": [{"path", "format", "lines", "parsed", "skipped", ...}],
     "lines", "parsed", "skipped", "alerts",
     "families": {family: {"requests", "sources", "first_seen", "last_seen", ...}},
     "sources": [{"ip", "family", "requests", "first_seen", "last_seen", ...}]}

``sources`` holds one entry per (source, family): a host that sent both Code Red and Nimda
appears twice. Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from detect.reference.old_scanner import ScanReport
from wormsign.detect.alert import SEVERITY_LEVELS, Alert
from wormsign.logs.text import csv_cell


@lru_cache(maxsize=65536)
def iso(ts: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z`` (None stays None)."""
    return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


_VARYING = ("@timestamp", "source.ip", "log.file.line")


def ecs_lines(alerts: Iterable[Alert]) -> Iterator[str]:
    """``Alert.to_ecs()`` as JSON lines, fast: alerts that differ only in time, source and
    line (a worm's requests) share the encoding of everything else."""
    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    memo: dict[tuple[object, ...], str] = {}
    for a in alerts:
        key = (a.rule_id, a.family, a.rule_family, a.url, a.method, a.status, a.user_agent,
               a.host, a.file_path, a.format, a.severity, a.rule_name)
        rest = memo.get(key)
        if rest is None:
            d = a.to_ecs()
            for k in _VARYING:
                del d[k]
            if len(memo) > 100_000:
                memo.clear()
            rest = memo[key] = encode(d)[1:-1]
        yield (f'{{"@timestamp":{encode(iso(a.timestamp))},"source.ip":{encode(a.source_ip)},'
               f'"log.file.line":{a.line},{rest}}}\n')


@dataclass
class Tally:
    """Requests, first and last seen, for a family or a (source, family)."""

    requests: int = 0
    first: datetime | None = None
    last: datetime | None = None
    rules: Counter[str] = field(default_factory=Counter)
    severity: str = "informational"

    def add(self, a: Alert) -> None:
        self.requests += 1
        self.rules[a.rule_id] += 1
        if SEVERITY_LEVELS.get(a.severity, 0) > SEVERITY_LEVELS.get(self.severity, 0):
            self.severity = a.severity
        if a.timestamp is not None:
            if self.first is None or a.timestamp < self.first:
                self.first = a.timestamp
            if self.last is None or a.timestamp > self.last:
                self.last = a.timestamp


@dataclass
class Summary:
    """Per-family and per-source tallies of a scan's alerts."""

    families: dict[str, Tally]
    family_sources: dict[str, set[str]]
    sources: dict[tuple[str, str], Tally]

    @classmethod
    def of(cls, alerts: list[Alert]) -> Summary:
        fams: dict[str, Tally] = {}
        fsrc: dict[str, set[str]] = {}
        srcs: dict[tuple[str, str], Tally] = {}
        for a in alerts:
            fams.setdefault(a.family, Tally()).add(a)
            fsrc.setdefault(a.family, set()).add(a.source_ip)
            srcs.setdefault((a.source_ip, a.family), Tally()).add(a)
        return cls(fams, fsrc, srcs)

    def ranked_sources(self) -> list[tuple[tuple[str, str], Tally]]:
        return sorted(self.sources.items(), key=lambda kv: (
            -SEVERITY_LEVELS.get(kv[1].severity, 0), -kv[1].requests, kv[0]))


def to_json(report: ScanReport) -> dict[str, Any]:
    """The ``scan --json`` document."""
    s = Summary.of(report.alerts)
    lines = sum(f.lines for f in report.files)
    skipped = sum(f.skipped for f in report.files)
    fam_order = sorted(s.families, key=lambda k: (-s.families[k].requests, k))
    return {
        "files": [f.to_dict() for f in report.files],
        "lines": lines,
        "parsed": lines - skipped,
        "skipped": skipped,
        "alerts": len(report.alerts),
        "errors": [{"path": f.path, "error": f.error} for f in report.errors],
        "families": {
            k: {
                "title": report.pack.families[k].title if k in report.pack.families else k,
                "worm": bool(report.pack.families[k].worm) if k in report.pack.families
                else False,
                "severity": s.families[k].severity,
                "requests": s.families[k].requests,
                "sources": len(s.family_sources[k]),
                "first_seen": iso(s.families[k].first),
                "last_seen": iso(s.families[k].last),
                "rules": dict(s.families[k].rules.most_common()),
            }
            for k in fam_order
        },
        "sources": [
            {"ip": ip, "family": fam, "severity": t.severity, "requests": t.requests,
             "first_seen": iso(t.first), "last_seen": iso(t.last),
             "rules": dict(t.rules.most_common())}
            for (ip, fam), t in s.ranked_sources()
        ],
    }


def to_csv(report: ScanReport) -> str:
    """One row per source: its families (most severe first), requests, first and last seen."""
    per_ip: dict[str, list[tuple[str, Tally]]] = {}
    for (ip, fam), t in Summary.of(report.alerts).ranked_sources():
        per_ip.setdefault(ip, []).append((fam, t))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["ip", "families", "severity", "requests", "first_seen", "last_seen", "rules"])
    for ip, fams in per_ip.items():
        total = Tally()
        for _, t in fams:
            total.requests += t.requests
            total.rules.update(t.rules)
            if SEVERITY_LEVELS.get(t.severity, 0) > SEVERITY_LEVELS.get(total.severity, 0):
                total.severity = t.severity
            for ts in (t.first, t.last):
                if ts is not None:
                    total.first = ts if total.first is None else min(total.first, ts)
                    total.last = ts if total.last is None else max(total.last, ts)
        w.writerow([csv_cell(v) for v in (
            ip, ";".join(f for f, _ in fams), total.severity, total.requests, iso(total.first),
            iso(total.last), ";".join(f"{r}={n}" for r, n in total.rules.most_common()))])
    return out.getvalue()
