"""Renderings of an assessment: terminal table (rich), CSV, SARIF 2.1.0 (JSON is
:meth:`AssessReport.to_json`).

All text that comes from inventories, configuration files or the network is made safe before
it reaches a terminal (control and bidi-override characters become ``\\xNN`` / ``\\uNNNN``),
and CSV cells that a spreadsheet would run as a formula are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
from typing import IO, Any
from urllib.parse import quote

from wormsign import __version__
from wormsign.fleet.assess import AssessReport
from wormsign.fleet.audit import RULE_TEXT
from wormsign.logs.text import csv_cell, safe

STATUS_STYLE = {"exploitable": "bold red", "unknown": "yellow", "mitigated": "cyan",
                "patched": "green", "not-affected": "dim", "accepted": "magenta"}
SARIF_LEVEL = {"exploitable": "error", "unknown": "warning", "mitigated": "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


# --------------------------------------------------------------------------- CSV

CSV_COLUMNS = ("host", "exposure", "software", "version", "id", "aliases", "status",
               "evidence", "fix", "wave")


def to_csv(report: AssessReport) -> str:
    """One row per host and advisory."""
    wave_of = {h: w.wave for w in report.plan for h in w.hosts}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for h in report.hosts:
        for v in report.verdicts[h.host]:
            row = [h.host, h.exposure, h.software, h.version, v.id, ";".join(v.aliases),
                   v.status, " | ".join(v.evidence), v.fix, str(wave_of.get(h.host, ""))]
            w.writerow([csv_cell(safe(c)) for c in row])
    return buf.getvalue()


# --------------------------------------------------------------------------- SARIF


def _uri(path: str) -> str:
    return quote(path.replace("\\", "/"), safe="/:._-~")


def _location(path: str, line: int) -> dict[str, Any]:
    loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": _uri(path)}}}
    if line >= 1:
        loc["physicalLocation"]["region"] = {"startLine": line}
    return loc


def to_sarif(report: AssessReport) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one result per non-clean verdict (located at the host's inventory
    row) and one per configuration finding (located at its file and line)."""
    rules: list[dict[str, Any]] = []
    for adv in sorted(report.kb.advisories.values(), key=lambda a: a.id):
        rule: dict[str, Any] = {
            "id": adv.id, "name": adv.id.replace("-", ""),
            "shortDescription": {"text": adv.summary[:200]},
            "fullDescription": {"text": adv.summary},
            "help": {"text": adv.fix or adv.summary},
            "properties": {"tags": ["security", *adv.aliases], "severity": adv.severity},
        }
        if adv.references:
            rule["helpUri"] = adv.references[0]
        rules.append(rule)
    for rid, text in RULE_TEXT.items():
        rules.append({"id": f"config/{rid}", "shortDescription": {"text": text},
                      "properties": {"tags": ["security", "configuration"]}})
    index = {r["id"]: i for i, r in enumerate(rules)}
    results: list[dict[str, Any]] = []
    src = report.inventory.source
    for h in report.hosts:
        for v in report.verdicts[h.host]:
            level = SARIF_LEVEL.get(v.status)
            if level is None:
                continue
            msg = f"{h.host}: {v.status}: {v.id} ({', '.join(v.aliases)}). " + \
                "; ".join(v.evidence) + (f". Fix: {v.fix}" if v.fix else "")
            results.append({
                "ruleId": v.id, "ruleIndex": index[v.id], "level": level,
                "message": {"text": msg}, "locations": [_location(src, h.line)],
                "properties": {"host": h.host, "status": v.status, "exposure": h.exposure},
            })
    for path, audit in sorted(report.audits.items()):
        for f in audit.findings:
            rid = f"config/{f.rule}"
            results.append({
                "ruleId": rid, "ruleIndex": index[rid],
                "level": {"error": "error", "warning": "warning"}.get(f.severity, "note"),
                "message": {"text": f.message}, "locations": [_location(path, f.line)],
            })
    return {
        "$schema": SARIF_SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "wormsign", "version": __version__,
                                "informationUri": "https://github.com/wormsign/wormsign",
                                "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


# --------------------------------------------------------------------------- terminal


def short_evidence(evidence: tuple[str, ...]) -> str:
    """The configuration, probe and missing-evidence lines, with file names shortened."""
    out = []
    for e in evidence:
        if e.startswith("config: "):
            body = e[len("config: "):]
            head, sep, rest = body.partition(": ")
            out.append(f"{head.replace(chr(92), '/').rsplit('/', 1)[-1]}{sep}{rest}")
        elif e.startswith(("probe: ", "missing: ")):
            out.append(e)
    return "; ".join(out) or (evidence[-1] if evidence else "")


def print_table(report: AssessReport, out: IO[str], top: int = 25, color: bool = False) -> None:
    """The readable summary: counts, the riskiest hosts with their verdicts, the plan."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    con = Console(file=out, force_terminal=color, no_color=not color, width=120,
                  highlight=False, emoji=False)
    inv = report.inventory
    counts = report.counts()
    con.print(Text(f"{safe(inv.source)} ({inv.format}): {len(inv.hosts):,} hosts, "
                   f"{len(inv.skipped):,} rows skipped, {len(report.audits):,} configuration "
                   "files audited"))
    if report.urgency.forecast is not None:
        con.print(Text(safe("Urgency: " + report.urgency.describe_source())))
    con.print(Text("Verdicts: " + ", ".join(f"{s} {counts.get(s, 0):,}" for s in STATUS_STYLE)))
    for s in inv.skipped[:10]:
        con.print(Text(f"  skipped line {s.line}: {safe(s.error)}"))
    if len(inv.skipped) > 10:
        con.print(Text(f"  ... and {len(inv.skipped) - 10:,} more skipped rows"))
    for path, a in sorted(report.audits.items()):
        if a.error:
            con.print(Text(f"  config {safe(path)}: {safe(a.error)}"))
    table = Table(title=f"Hosts needing action (riskiest {top} of {len(report.ranked):,})",
                  show_lines=False)
    for col in ("host", "exposure", "software", "patches", "advisory", "status", "why"):
        table.add_column(col, overflow="fold")
    for r in report.ranked[:top]:
        h = r.host
        patches = "not reported" if h.patches is None else (";".join(h.patches) or "none")
        for v in report.verdicts[h.host]:
            if v.status in ("patched", "not-affected"):
                continue
            table.add_row(Text(safe(h.host)), h.exposure,
                          Text(safe(f"{h.software} {h.version}".strip())), Text(safe(patches)),
                          v.id, Text(v.status, style=STATUS_STYLE[v.status]),
                          Text(safe(short_evidence(v.evidence))))
    if report.ranked:
        con.print(table)
    else:
        con.print(Text("No host needs patching."))
    for w in report.plan:
        shown = ", ".join(w.hosts[:8]) + (f", ... ({len(w.hosts)} hosts)"
                                         if len(w.hosts) > 8 else "")
        con.print(Text(f"Wave {w.wave}: {safe(shown)}", style="bold"))
        con.print(Text(f"  {safe(w.reason)}"))
