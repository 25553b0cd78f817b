"""``run_demo``: the steps joined, timed, and the result as one record with a ``--json``
document (``schema`` ``wormsign.demo/1``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wormsign.demo import fleet, steps
from wormsign.demo.compare import Comparison, compare, iso
from wormsign.errors import ConfigError
from wormsign.fleet.inventory import load_inventory
from wormsign.logs.synth import LABEL

SCHEMA = "wormsign.demo/1"
T = TypeVar("T")


@dataclass(frozen=True)
class DemoConfig:
    """What to run: where to write, the seed, the outbreak preset, how many ordinary
    requests each server logs besides the worm's, and when the forecast is made (``at``: ISO
    8601, or a duration since the outbreak's start such as ``8h``; None: from all the
    evidence, at the end of the logs)."""

    out: Path = Path("wormsign-demo")
    seed: int = 2001
    preset: str = "code-red-v2"
    background: int = 1000
    at: str | None = None

    def __post_init__(self) -> None:
        steps.resolve_at(self.at, steps.DEFAULT_START)  # a bad --at fails before any work
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be within 0..2^32-1, not {self.seed}")
        if not 0 <= self.background <= 100_000:
            raise ConfigError(f"background must be within 0..100,000, not {self.background}")


@dataclass(frozen=True, eq=False)
class DemoResult:
    """Every step's record, the comparison with the truth and the seconds each step took;
    ``org_blocks`` are the organisation's internet-facing /24s, watched as a telescope."""

    config: DemoConfig
    truth: steps.OutbreakTruth
    logs: steps.LogsStep
    scan: steps.ScanStep
    forecast: steps.ForecastStep
    assess: steps.AssessStep
    incident: steps.IncidentStep
    report: steps.ReportStep
    comparison: Comparison
    fleet_dir: Path
    org_blocks: tuple[str, ...]
    timings: tuple[tuple[str, float], ...]

    def to_json(self) -> dict[str, Any]:
        """The ``wormsign demo --json`` document."""
        return {
            "schema": SCHEMA, "synthetic": True, "label": LABEL,
            "seed": self.config.seed, "preset": self.config.preset,
            "out": str(self.config.out),
            "outbreak": {**_truth_json(self.truth),
                         "organisation_blocks": list(self.org_blocks)},
            "logs": _logs_json(self.logs),
            "scan": {"json": str(self.scan.json_path), "alerts_file": str(self.scan.alerts_path),
                     "lines": self.scan.lines, "alerts": self.scan.alerts,
                     "family": steps.FAMILY, "requests": self.scan.family_requests,
                     "sources": self.scan.family_sources, "first_seen": self.scan.first_seen,
                     "last_seen": self.scan.last_seen},
            "forecast": _forecast_json(self.forecast),
            "assess": {"inventory": str(self.fleet_dir / "inventory.csv"),
                       "json": str(self.assess.path), "hosts": self.assess.hosts,
                       "exploitable": list(self.assess.exploitable),
                       "first_wave": list(self.assess.first_wave),
                       "first_wave_reason": self.assess.first_reason,
                       "used_forecast": self.assess.used_forecast,
                       "note": self.assess.note or None},
            "incident": _incident_json(self.incident),
            "report": {"html": None if self.report.path is None else str(self.report.path),
                       "bytes": self.report.bytes, "skipped": self.report.reason or None},
            "truth_vs_forecast": self.comparison.to_json(),
            "timings_s": {k: round(v, 3) for k, v in self.timings},
            "total_s": round(sum(v for _, v in self.timings), 3),
        }


def _truth_json(t: steps.OutbreakTruth) -> dict[str, Any]:
    t0 = t.start.timestamp()
    return {"start": iso(t0), "end": iso(t0 + t.seconds), "vulnerable": t.vulnerable,
            "t50": iso(t0 + t.t50_s), "t90": iso(t0 + t.t90_s), "final_size": t.final_size,
            "peak_new_per_min": t.peak_new_per_min,
            "telescopes": [{"block": b, "probes": p, "sources": s} for b, p, s in t.telescopes]}


def _logs_json(lg: steps.LogsStep) -> dict[str, Any]:
    return {"servers": [{"host": s.name, "address": s.address,
                         "format": "iis-w3c" if s.kind == "iis" else "combined",
                         "probes": n, "path": str(p)}
                        for s, n, p in zip(lg.servers, lg.probes, lg.paths, strict=True)],
            "probes": sum(lg.probes), "expected_probes": round(lg.expected_probes, 2),
            "sources": lg.sources, "bytes": lg.bytes}


def _forecast_json(f: steps.ForecastStep) -> dict[str, Any]:
    fc = f.forecast
    made = None
    if fc is not None:
        obs = fc.observations
        made = iso(obs.timebase.origin + obs.end)
    return {"path": None if f.path is None else str(f.path), "as_of": made,
            "status": "skipped" if fc is None else fc.status,
            "method": None if fc is None else fc.method, "reason": f.reason or None}


def _incident_json(i: steps.IncidentStep) -> dict[str, Any]:
    if i.db is None:
        return {"db": None, "skipped": i.reason}
    return {"db": str(i.db), "id": i.incident_id, "alerts_added": i.alerts_added,
            "findings_added": i.findings_added, "families": list(i.families),
            "tasks": i.tasks, "started_task": i.started_task,
            "forecast_id": i.forecast_id, "note": i.reason or None}


def run_demo(config: DemoConfig, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Run every step into ``config.out``; ``progress`` receives one line per finished step."""
    out = config.out
    logs_dir = out / "logs"
    out.mkdir(parents=True, exist_ok=True)
    (out / "SYNTHETIC.txt").write_text(
        f"{LABEL}.\nEverything under this folder was made by `wormsign demo --seed "
        f"{config.seed}`: a simulated outbreak, the synthetic logs of the sample fleet's "
        "servers, and what wormsign made of them.\n", encoding="utf-8")
    timings: list[tuple[str, float]] = []

    def step(name: str, fn: Callable[[], T], line: Callable[[T], str]) -> T:
        t0 = time.perf_counter()
        value = fn()
        timings.append((name, time.perf_counter() - t0))
        if progress is not None:
            progress(f"{name:<9} {line(value)} ({timings[-1][1]:.1f} s)")
        return value

    fleet_dir = out / "fleet"
    fleet.write(fleet_dir)
    inventory = load_inventory(str(fleet_dir / "inventory.csv"))
    servers = steps.sample_servers(inventory)
    blocks = steps.org_blocks([s.address for s in servers])
    own = steps.org_blocks([h.address for h in inventory.hosts if h.address])
    truth = step("simulate", lambda: steps.simulate_outbreak(config.preset, config.seed, blocks),
                 _simulate_line)
    logs = step("logs", lambda: steps.synthesise_logs(logs_dir, truth, servers, config.seed,
                                                      config.background), _logs_line)
    scan = step("scan", lambda: steps.scan_logs(logs.paths, out), _scan_line)
    at = steps.resolve_at(config.at, truth.start)
    fc = step("forecast", lambda: steps.forecast_from_scan(
        scan.alerts_path, steps.server_monitor(servers), out, preset=config.preset,
        seed=config.seed, at=at), _forecast_line)
    assessed = step("assess", lambda: steps.assess_fleet(inventory, fc.doc, out, config.seed),
                    _assess_line)
    incident = step("incident", lambda: steps.open_incident(
        out, [scan.alerts_path, assessed.path], own, fc.doc, config.seed), _incident_line)
    report = step("report", lambda: steps.write_report(incident, out), _report_line)
    comparison = compare(truth, fc.forecast, fc.reason)
    return DemoResult(config, truth, logs, scan, fc, assessed, incident, report, comparison,
                      fleet_dir, blocks, tuple(timings))


def _simulate_line(t: steps.OutbreakTruth) -> str:
    return (f"{t.preset} (seed {t.seed}): {t.final_size:,} of {t.vulnerable:,} hosts infected "
            f"in {t.seconds / 3600:.0f} h")


def _logs_line(lg: steps.LogsStep) -> str:
    return (f"{len(lg.paths)} servers, {sum(lg.probes)} Code Red probes "
            f"(expected {lg.expected_probes:.1f}) from {lg.sources} sources, "
            f"{lg.bytes / 1e6:.1f} MB")


def _scan_line(s: steps.ScanStep) -> str:
    return f"{s.lines:,} lines, {s.alerts} alerts, {s.family_sources} {steps.FAMILY} sources"


def _forecast_line(f: steps.ForecastStep) -> str:
    if f.forecast is None:
        return f"skipped: {f.reason}"
    return f"{f.forecast.status} ({f.forecast.method})" + (f": {f.reason}" if f.reason else "")


def _assess_line(a: steps.AssessStep) -> str:
    src = "the forecast" if a.used_forecast else "the preset"
    return f"{a.hosts} hosts, {len(a.exploitable)} exploitable; urgency from {src}"


def _incident_line(i: steps.IncidentStep) -> str:
    if i.db is None:
        return i.reason
    return (f"incident {i.incident_id}: {i.alerts_added} alerts, {i.findings_added} "
            f"assessment findings, {i.tasks} playbook tasks")


def _report_line(r: steps.ReportStep) -> str:
    return r.reason if r.path is None else f"{r.bytes / 1e3:.0f} kB"
