"""The network report's outputs: the ``--json`` contract, alerts, a scenario, the terminal.

The contract is documented in docs/network.md; times are ISO 8601 UTC with a ``Z``.
Addresses are canonical dotted quads built from integers, never text from a log; file paths
and errors go through :func:`wormsign.logs.text.safe` (in JSON and on the terminal), as in
the request scan's report. The ``--alerts`` lines keep the path as given (data for machines).
"""

from __future__ import annotations

import ipaddress
import statistics
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from wormsign.detect.alert import Alert
from wormsign.logs.text import safe
from wormsign.rules.refs import cves, rule_reference

if TYPE_CHECKING:
    from wormsign.detect.flood import Flood
    from wormsign.detect.nethits import RuleHit
    from wormsign.detect.network import NetworkReport, RuleSource, SourceVerdict

SCHEMA = "wormsign.network/1"


def when(t: float | None) -> datetime | None:
    """Unix seconds as an aware UTC datetime (None stays None)."""
    return None if t is None else datetime.fromtimestamp(t, UTC)


def iso(t: float | None) -> str | None:
    ts = when(t)
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def source_dict(s: SourceVerdict) -> dict[str, Any]:
    e = s.evidence
    return {
        "ip": s.ip, "verdict": s.verdict, "family": s.family, "inside": s.inside,
        "evidence": {"successes": e.successes, "failures": e.failures,
                     "walk": round(e.walk, 6), "crossed_at": iso(e.crossed_at),
                     "crossed_path": None if e.crossed_path is None else safe(e.crossed_path),
                     "crossed_line": e.crossed_line, "crossed_format": e.crossed_format,
                     "scan_started_at": iso(e.scan_started_at)},
        "probes": s.probes, "outcomes": s.outcomes,
        "first_seen": iso(s.first_seen), "last_seen": iso(s.last_seen),
        "rate_per_s": None if s.rate is None else round(s.rate, 6),
        "strategy": s.strategy.to_dict(),
        "rules": list(s.rules),
    }


def hit_dict(h: RuleHit) -> dict[str, Any]:
    return {"rule": h.rule.id, "rule_family": h.rule.family, "severity": h.rule.severity,
            "connections": h.connections, "first": iso(h.first_time),
            "last": iso(h.last_time), "path": safe(h.path), "line": h.line,
            "format": h.format, "destinations": list(h.destinations)}


def rule_source_dict(s: RuleSource) -> dict[str, Any]:
    return {"ip": s.ip, "family": s.family, "verdict": s.verdict, "inside": s.inside,
            "rules": [hit_dict(h) for h in s.hits]}




def flood_dict(f: Flood) -> dict[str, Any]:
    return {"target": str(ipaddress.IPv4Address(f.target)), "start": iso(f.start),
            "end": iso(f.end), "windows": f.windows, "peak_sources": f.peak_sources,
            "sources": len(f.members),
            "connections": f.connections, "answered": f.answered}


def report_dict(r: NetworkReport) -> dict[str, Any]:
    """The ``scan --json`` document for connection inputs."""
    return {
        "schema": SCHEMA,
        "inputs": [{"path": safe(i.path), "format": i.format, "records": i.records,
                    "skipped": i.skipped, "error": None if i.error is None else safe(i.error),
                    **i.notes} for i in r.inputs],
        "connections": r.connections,
        "sources": r.sources,
        "verdicts": r.verdict_counts,
        "parameters": {"trw": r.config.trw.to_dict(), "flood": r.config.flood.to_dict(),
                       "own": list(r.config.own), "view": list(r.config.view),
                       "min_strategy_probes": r.config.min_strategy_probes},
        "scanners": [source_dict(s) for s in r.scanners],
        "inside_infected": [{"ip": s.ip, "first_probe": iso(s.evidence.scan_started_at),
                             "detected_at": iso(s.evidence.crossed_at),
                             "probes": s.probes} for s in r.inside],
        "floods": [flood_dict(f) for f in r.floods],
        "floods_late_records": r.late_for_floods,
        "trw_pairs_forgotten": r.pairs_forgotten,
        "rules": r.rule_counts,
        "rule_matches": [rule_source_dict(s) for s in r.rule_sources],
        "alerts": len(report_alerts(r)),
        "scenario": scenario_fragment(r),
    }


def _scanner_alert(s: SourceVerdict) -> Alert:
    e = s.evidence
    strat = s.strategy
    if s.inside:
        rule, name, sev = ("net-inside-scanner", "inside host scanning out (infected): "
                           f"{strat.name}, {s.probes} probes", "critical")
    else:
        rule, name, sev = ("net-trw-scanner", f"TRW scanner: {e.failures} failed / "
                           f"{e.successes} answered first contacts, {strat.name}", "medium")
    return Alert(timestamp=when(e.scan_started_at if s.inside else e.crossed_at),
                 source_ip=s.ip, rule_id=rule, rule_name=name, family=s.family,
                 rule_family="scanner", severity=sev, url="", method=None, status=None,
                 user_agent=None, host=None, file_path=e.crossed_path or "",
                 line=e.crossed_line or 0, format=e.crossed_format or "conn")


def _flood_alerts(f: Flood) -> list[Alert]:
    """One alert per source taking part in the flood (``destination.domain``: the target)."""
    target = str(ipaddress.IPv4Address(f.target))
    name = f"flood of {target}: {f.peak_sources} sources in one window, {f.connections} attempts"
    return [Alert(timestamp=when(f.start), source_ip=str(ipaddress.IPv4Address(src)),
                  rule_id="net-flood", rule_name=name, family="flood", rule_family="flood",
                  severity="high", url="", method=None, status=None, user_agent=None,
                  host=target, file_path="", line=0, format="conn") for src in f.members]


def _rule_alert(s: RuleSource, h: RuleHit) -> Alert:
    """One alert per source and network rule: at its first matched connection (the first
    destination is its ``host``)."""
    rule = h.rule
    return Alert(timestamp=when(h.first_time), source_ip=s.ip, rule_id=rule.id,
                 rule_name=f"{rule.title}: {h.connections} connections",
                 family=s.family, rule_family=rule.family, severity=rule.severity, url="",
                 method=None, status=None, user_agent=None,
                 host=h.destinations[0] if h.destinations else None, file_path=h.path,
                 line=h.line, format=h.format or "conn", cves=tuple(cves(rule.references)),
                 rule_reference=rule_reference(rule.references))


def report_alerts(r: NetworkReport) -> list[Alert]:
    """One alert per scanner (critical for an inside host), one per source and network
    rule it matched (scanner or not), and one per source taking part in a flood (the
    flooded target is its ``host``, never its source)."""
    return [_scanner_alert(s) for s in r.scanners] + [
        _rule_alert(s, h) for s in r.rule_sources for h in s.hits] + [
        a for f in r.floods for a in _flood_alerts(f)]


def scenario_fragment(r: NetworkReport) -> dict[str, Any] | None:
    """The detected strategy and rate as :class:`wormsign.sim.Scenario` fields: the strategy
    most scanners with a known strategy used, their median rate, and for local preference
    the median estimated shares. None when no scanner had a known strategy and a rate."""
    known = [s for s in r.scanners if s.strategy.name != "unknown"]
    rates = [s.rate for s in known if s.rate is not None]
    if not known or not rates:
        return None
    name = Counter(s.strategy.name for s in known).most_common(1)[0][0]
    same = [s for s in known if s.strategy.name == name]
    out: dict[str, Any] = {"strategy": name,
                           "scan_rate": round(statistics.median(
                               [s.rate for s in same if s.rate is not None] or rates), 6)}
    known_shares = [s.strategy.shares for s in same if s.strategy.shares is not None]
    if name == "local-preference" and known_shares:
        shares = [statistics.median(x[k] for x in known_shares) for k in range(3)]
        total = sum(shares) or 1.0
        probs = [round(x / total, 6) for x in shares]
        probs[0] = round(1.0 - probs[1] - probs[2], 6)
        out["local_probs"] = probs
        out["local_prefixes"] = [8, 16]
    out["basis"] = {"scanners": len(known), "with_strategy": len(same)}
    return out


def print_network(r: NetworkReport, out: TextIO, top: int = 10) -> None:
    """The terminal summary."""
    v = r.verdict_counts
    out.write(f"{r.connections:,} connections from {r.sources:,} sources: "
              f"{v['scanner']:,} scanners, {v['benign']:,} benign, {v['pending']:,} "
              "undecided (TRW)\n")
    for i in r.inputs:
        skipped = sum(i.skipped.values())
        out.write(f"  {safe(i.path)}: {i.format}, {i.records:,} records"
                  + (f", {skipped:,} skipped" if skipped else "")
                  + (f", error: {safe(i.error)}" if i.error else "") + "\n")
    for s in r.inside:
        out.write(f"INSIDE HOST SCANNING: {s.ip} from {iso(s.evidence.scan_started_at)}, "
                  f"{s.probes:,} probes ({s.strategy.name})\n")
    for f in r.floods:
        d = flood_dict(f)
        out.write(f"flood: {d['target']} {d['start']} .. {d['end']}, up to "
                  f"{f.peak_sources:,} sources per window\n")
    for rid, n in r.rule_counts.items():
        if n["sources"]:
            out.write(f"network rule {safe(rid)} ({safe(n['family'])}): "
                      f"{n['connections']:,} connections from {n['sources']:,} sources\n")
    shown = sorted(r.scanners, key=lambda s: -s.probes)[:top]
    for s in shown:
        rate = "?" if s.rate is None else f"{s.rate:.3g}/s"
        out.write(f"  {s.ip:15} {safe(s.family):16} {s.probes:>9,} probes {rate:>10} "
                  f"{s.strategy.name} ({s.strategy.confidence:.2f})\n")
    frag = scenario_fragment(r)
    if frag:
        out.write(f"scenario: {frag['strategy']} at {frag['scan_rate']:g} probes/s"
                  + (f", shares {frag['local_probs']}" if "local_probs" in frag else "")
                  + "\n")
