"""The demo's steps, each a short function that returns a frozen record.

``simulate_outbreak`` → ``synthesise_logs`` → ``scan_logs`` → ``forecast_from_scan`` →
``assess_fleet`` → ``open_incident`` → ``write_report``. Everything they produce is
synthetic: the outbreak is simulated, the organisation is the sample fleet
(:mod:`wormsign.demo.fleet`), and its servers' logs are generated from the outbreak
(:func:`wormsign.logs.synth.write_outbreak_logs`).

The forecast, the forecast input of ``assess`` and the incident's stored forecasts come from
modules that an installation may lack; those steps say so in their record instead of failing.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from wormsign.errors import WormsignError
from wormsign.fleet.inventory import Inventory
from wormsign.forecast.observations import Monitor
from wormsign.logs import synth
from wormsign.logs.normalize import canonical_ip
from wormsign.units import parse_duration

if TYPE_CHECKING:
    from wormsign.forecast.result import Forecast
    from wormsign.incidents.store import Store

F64 = npt.NDArray[np.float64]
FAMILY = "code-red"
DEFAULT_START = datetime(2001, 7, 19, 10, 0, tzinfo=UTC)
"""Outbreak start when a preset has none (Code Red v2's morning)."""
INCIDENT_EXTRA = ("incident", ("sqlalchemy", "alembic", "jinja2"))
"""The extra the incident and report steps need, and the modules it provides."""


def missing_modules(modules: Sequence[str]) -> list[str]:
    """Which of ``modules`` cannot be imported (checked without importing them)."""
    out = []
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                out.append(name)
        except (ImportError, ValueError):
            out.append(name)
    return out


# ---------------------------------------------------------------------------- 1. simulate
@dataclass(frozen=True, eq=False)
class OutbreakTruth:
    """One simulated outbreak, the ground truth: per output step ``t`` (seconds from
    ``start``), the probe ``rate`` reaching one address (probes/s) and the hosts ``ever``
    infected; the times to 50 and 90 % of the vulnerable population (NaN when not
    reached), the final size, and what each telescope block saw (probes, distinct sources)."""

    preset: str
    seed: int
    start: datetime
    t: F64
    rate: F64
    ever: F64
    vulnerable: int
    t50_s: float
    t90_s: float
    final_size: int
    peak_new_per_min: float
    telescopes: tuple[tuple[str, int, int], ...]

    @property
    def seconds(self) -> float:
        """Length of the simulated outbreak."""
        return float(self.t[-1]) if self.t.size else 0.0


def simulate_outbreak(preset: str, seed: int, telescopes: Sequence[str] = ()) -> OutbreakTruth:
    """Run ``preset`` once with ``seed``, watching ``telescopes`` (CIDRs) too."""
    from wormsign.sim import load_preset, simulate

    sc = load_preset(preset)
    extra = tuple(c for c in telescopes if c not in sc.telescopes)
    sc = dataclasses.replace(sc, telescopes=(*sc.telescopes, *extra))
    r = simulate(sc, seed=seed)
    summary = r.summary()
    tel = tuple((block, round(float(p.sum())), round(float(s[-1]) if s.size else 0))
                for block, (p, s) in r.telescopes.items())
    return OutbreakTruth(
        preset=preset, seed=seed, start=sc.start_datetime() or DEFAULT_START,
        t=r.t, rate=r.probe_rate_per_address(), ever=r.ever_infected,
        vulnerable=sc.vulnerable, t50_s=r.threshold_times[1], t90_s=r.threshold_times[2],
        final_size=int(summary["final_infected"] or 0),
        peak_new_per_min=float(summary["peak_new_per_min"] or 0.0), telescopes=tel)


# ---------------------------------------------------------------------------- 2. logs
@dataclass(frozen=True)
class LogsStep:
    """The servers' synthetic logs: one file per server, the worm probes each received,
    how many were expected from the simulated rates, and the distinct senders."""

    paths: tuple[Path, ...]
    servers: tuple[synth.SyntheticServer, ...]
    probes: tuple[int, ...]
    expected_probes: float
    sources: int
    bytes: int


def sample_servers(inventory: Inventory) -> tuple[synth.SyntheticServer, ...]:
    """The organisation's internet-facing web servers: IIS ones write IIS W3C logs, the
    others (Apache, nginx) Apache combined."""
    out = []
    for h in inventory.hosts:
        if h.exposure != "internet" or not h.address:
            continue
        iis = "iis" in f"{h.software} {h.product}".lower()
        out.append(synth.SyntheticServer(h.host, h.address, "iis" if iis else "apache"))
    return tuple(out)


def org_blocks(addresses: Sequence[str]) -> tuple[str, ...]:
    """The /24 blocks of the organisation's IPv4 ``addresses`` (its telescope), sorted."""
    nets = set()
    for a in addresses:
        ip = canonical_ip(a)
        if ip is not None and ":" not in ip:
            nets.add(ipaddress.IPv4Network(f"{ip}/24", strict=False))
    return tuple(str(n) for n in sorted(nets))


def synthesise_logs(out_dir: Path, truth: OutbreakTruth,
                    servers: Sequence[synth.SyntheticServer], seed: int,
                    background: int = 1000) -> LogsStep:
    """Write each server's log: ``background`` ordinary requests plus the Code Red probes it
    receives at the simulated rate, from the infected hosts' stable synthetic addresses."""
    s_probes, s_addresses, s_logs = (int(x.generate_state(1)[0])
                                     for x in np.random.SeedSequence(seed).spawn(3))
    probes = synth.worm_probes(truth.t, truth.rate, truth.ever, len(servers), seed=s_probes)
    used = max((int(p.sources.max()) + 1 for p in probes if p.sources.size), default=0)
    addresses = synth.infection_addresses(used, seed=s_addresses)
    paths = synth.write_outbreak_logs(out_dir, servers, probes, addresses, truth.start,
                                      truth.seconds, background=background, seed=s_logs)
    step = np.diff(truth.t, prepend=0.0)
    senders = np.unique(np.concatenate([p.sources for p in probes] or [np.zeros(0, np.int64)]))
    return LogsStep(tuple(paths), tuple(servers), tuple(int(p.times.size) for p in probes),
                    float(np.sum(truth.rate * step)) * len(servers), int(senders.size),
                    sum(p.stat().st_size for p in paths))


# ---------------------------------------------------------------------------- 3. scan
@dataclass(frozen=True)
class ScanStep:
    """What ``wormsign scan --json --alerts`` would have written, and its headline."""

    json_path: Path
    alerts_path: Path
    lines: int
    alerts: int
    family_requests: int
    family_sources: int
    first_seen: str | None
    last_seen: str | None


def scan_logs(paths: Sequence[Path], out_dir: Path) -> ScanStep:
    """Scan the logs with the detection library; write ``scan.json`` and ``alerts.jsonl``."""
    from wormsign.detect import report as report_mod
    from wormsign.detect.scanner import scan_paths

    report = scan_paths([str(p) for p in paths], workers=1)
    json_path, alerts_path = out_dir / "scan.json", out_dir / "alerts.jsonl"
    with open(alerts_path, "wb") as fb:
        report_mod.write_alerts(report, fb)
    with open(json_path, "w", encoding="utf-8") as f:
        report_mod.write_json(report, f)
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    fam = doc["families"].get(FAMILY) or {}
    return ScanStep(json_path, alerts_path, int(doc["lines"]), int(doc["alerts"]),
                    int(fam.get("requests", 0)), int(fam.get("sources", 0)),
                    fam.get("first_seen"), fam.get("last_seen"))


# ---------------------------------------------------------------------------- 4. forecast
@dataclass(frozen=True, eq=False)
class ForecastStep:
    """The forecast made from the scan's alerts (``forecast`` None, with ``reason``, when
    this installation cannot forecast or the readers refused the evidence)."""

    path: Path | None
    forecast: Forecast | None
    doc: Mapping[str, Any] | None
    reason: str = ""


def server_monitor(servers: Sequence[synth.SyntheticServer]) -> Monitor:
    """The monitor the logs are: the addresses the servers answer on."""
    return Monitor(size=len(servers), blocks=tuple(f"{s.address}/32" for s in servers),
                   label=f"{len(servers)} web servers of the sample organisation (synthetic)")


def forecast_from_scan(alerts_path: Path, monitor: Monitor, out_dir: Path, *, preset: str,
                       seed: int, at: str | None = None) -> ForecastStep:
    """``wormsign.forecast.readers.load`` the alerts (cut at ``at``, ISO 8601, when given),
    then ``wormsign.forecast.api.forecast`` them; write ``forecast.json``.

    The simulation-based fit is used: the code-red-v2 preset takes infected hosts out of the
    outbreak during the day (removal and patching), which the closed form does not model, and
    a day of evidence from a few servers spans the whole outbreak (the closed form there put
    t50 three hours early; the simulation fit within half an hour)."""
    try:
        readers = importlib.import_module("wormsign.forecast.readers")
        api = importlib.import_module("wormsign.forecast.api")
    except ImportError as exc:
        return ForecastStep(None, None, None,
                            f"this installation cannot forecast ({exc.name} is missing)")
    try:
        obs = readers.load([str(alerts_path)], family=FAMILY, monitor=monitor, at=at)
        fc = cast("Forecast", api.forecast(obs, preset=preset, seed=seed, method="simulation"))
    except WormsignError as exc:  # e.g. too few sources to read: the demo goes on without
        return ForecastStep(None, None, None, str(exc))
    doc = fc.to_json()
    path = out_dir / "forecast.json"
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    return ForecastStep(path, fc, doc, "" if fc.ok else (fc.reason or fc.status))


def resolve_at(text: str | None, start: datetime) -> str | None:
    """``--at``: an ISO 8601 time (UTC when it names no zone), or a duration since the
    outbreak's ``start`` (``8h``, ``90m``); as ISO 8601 UTC text. None stays None."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        when = start + timedelta(seconds=parse_duration(text, default_unit="h", what="--at"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------- 5. assess
@dataclass(frozen=True)
class AssessStep:
    """The sample fleet assessed: its verdicts, the first wave and where urgency came from."""

    path: Path
    hosts: int
    exploitable: tuple[str, ...]
    first_wave: tuple[str, ...]
    first_reason: str
    used_forecast: bool
    note: str = ""


def assess_fleet(inventory: Inventory, forecast_doc: Mapping[str, Any] | None, out_dir: Path,
                 seed: int) -> AssessStep:
    """``assess`` the fleet with the forecast as its outbreak model when both exist; write
    ``assess.json``."""
    from wormsign.fleet.assess import AssessOptions, assess

    note = "" if forecast_doc is not None else "no forecast: urgency from the preset"
    report = assess(inventory, AssessOptions(seed=seed, forecast=forecast_doc))
    path = out_dir / "assess.json"
    with open(path, "w", encoding="utf-8") as f:
        report.write_json(f)
    exploitable = tuple(h.host for h in report.hosts
                        if any(v.status == "exploitable" for v in report.verdicts[h.host]))
    first = report.plan[0] if report.plan else None
    return AssessStep(path, len(report.hosts), exploitable, first.hosts if first else (),
                      first.reason if first else "", forecast_doc is not None, note)


# ---------------------------------------------------------------------------- 6. incident
@dataclass(frozen=True)
class IncidentStep:
    """The incident opened for the outbreak (``incident_id`` 0, with ``reason``, when the
    incident extra is missing)."""

    db: Path | None
    incident_id: int
    alerts_added: int
    findings_added: int
    families: tuple[str, ...]
    tasks: int
    started_task: str
    forecast_id: int | None
    reason: str = ""


def _skipped_incident(reason: str) -> IncidentStep:
    return IncidentStep(None, 0, 0, 0, (), 0, "", None, reason)


def extra_missing_reason(what: str, missing: Sequence[str] | None = None) -> str:
    """Why ``what`` is skipped when the incident extra is missing (empty when present);
    ``missing`` names the modules when already known."""
    extra, modules = INCIDENT_EXTRA
    missing = missing_modules(modules) if missing is None else missing
    if not missing:
        return ""
    return (f"{what} skipped: it needs the '{extra}' extra (pip install 'wormsign[{extra}]'; "
            f"missing: {', '.join(missing)})")


def open_incident(out_dir: Path, evidence: Sequence[Path], own: Sequence[str],
                  forecast_doc: Mapping[str, Any] | None, seed: int) -> IncidentStep:
    """Open an incident in a SQLite store under ``out_dir``, ingest the evidence (playbooks
    follow the families seen), start the first task of the Code Red playbook and attach the
    forecast."""
    reason = extra_missing_reason("incident")
    if reason:
        return _skipped_incident(reason)
    try:
        from wormsign.incidents import Store, ingest_paths
    except ModuleNotFoundError as exc:  # a part of the extra the check above does not name
        return _skipped_incident(extra_missing_reason("incident", [exc.name or "?"]))

    db = out_dir / "incident.db"
    for suffix in ("", "-wal", "-shm"):  # a fresh store on every run of the demo
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with Store.open(str(db)) as store:
        iid = store.create_incident(f"Code Red outbreak (SYNTHETIC wormsign demo, seed {seed})",
                                    own=own)
        result = ingest_paths(store, iid, [str(p) for p in evidence])
        tasks = store.list_tasks(iid)
        first = next((x for x in tasks if x.playbook == FAMILY), tasks[0] if tasks else None)
        started = ""
        if first is not None:
            store.update_task(iid, first.id, status="in-progress", owner="demo",
                              note="started by wormsign demo (synthetic outbreak)")
            started = f"{first.playbook}/{first.key}"
        fid, why = _attach(store, iid, forecast_doc)
    added = {kind: sum(f.added for f in result.files if f.kind == kind)
             for kind in ("alerts", "assess")}
    return IncidentStep(db, iid, added["alerts"], added["assess"], tuple(result.families),
                        len(tasks), started, fid, why)


def _attach(store: Store, iid: int, doc: Mapping[str, Any] | None,
            ) -> tuple[int | None, str]:
    """Store the forecast with the incident (``wormsign.incidents.forecasts.attach``)."""
    if doc is None:
        return None, "no forecast to attach"
    try:
        forecasts = importlib.import_module("wormsign.incidents.forecasts")
    except ImportError:
        return None, "this installation cannot store forecasts in incidents"
    attach = cast(Callable[["Store", int, Mapping[str, Any]], int], forecasts.attach)
    return int(attach(store, iid, doc)), ""


# ---------------------------------------------------------------------------- 7. report
@dataclass(frozen=True)
class ReportStep:
    """The HTML incident report (``path`` None, with ``reason``, when skipped)."""

    path: Path | None
    bytes: int = 0
    reason: str = ""


def write_report(incident: IncidentStep, out_dir: Path) -> ReportStep:
    """Render the incident's HTML report to ``report.html``."""
    if incident.db is None:
        return ReportStep(None, 0, extra_missing_reason("report") or "no incident to report")
    from wormsign.incidents import Store, render_html

    try:
        with Store.open(str(incident.db)) as store:
            html = render_html(store, incident.incident_id)
    except ModuleNotFoundError as exc:  # the report's chart needs a module the store does not
        return ReportStep(None, 0, extra_missing_reason("report", [exc.name or "?"]))
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return ReportStep(path, len(html.encode()))


__all__ = [
    "AssessStep", "ForecastStep", "IncidentStep", "LogsStep", "OutbreakTruth", "ReportStep",
    "ScanStep", "assess_fleet", "forecast_from_scan", "open_incident",
    "org_blocks", "sample_servers", "scan_logs", "server_monitor", "simulate_outbreak",
    "synthesise_logs", "write_report",
]
