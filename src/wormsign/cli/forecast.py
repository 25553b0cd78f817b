"""``wormsign forecast``: how big the outbreak gets and when it reaches you, from your logs.

A thin skin over :mod:`wormsign.forecast` (readers → api → plot). Exit status: 0 a forecast
was made, 1 not enough evidence (said in one line, or in the JSON ``status``), 2 error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from wormsign.errors import ConfigError
from wormsign.logs.text import safe

DESCRIPTION = """\
Forecast a worm outbreak from what your monitor saw: scan --json or --csv output, scan
--alerts JSON Lines, an incident (--incident ID), or a CSV of counts (time,new_sources |
time,sources | time,probes; time as seconds or ISO 8601 UTC). Say what was watched with
--monitor (a /8 telescope 44.0.0.0/8, a /24, addresses a.b.c.d,e.f.g.h; default for logs: one
address). From one monitor only scan rate x infected count is identifiable: the family's
preset supplies the scan rate unless --scan-rate / --vulnerable say otherwise. Times come out
in the input's time base (seconds in, seconds out; ISO in, ISO out). Exit status: 0 forecast
made, 1 not enough evidence, 2 error.
"""

EXIT_NOT_ENOUGH = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``forecast`` subcommand."""
    p = sub.add_parser("forecast", help="forecast an outbreak from your own observations",
                       description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("obs", nargs="*", metavar="OBS",
                   help="scan --json/--csv output, --alerts JSON Lines or a counts CSV")
    p.add_argument("--family", help="the worm family (needed when the input holds several)")
    p.add_argument("--monitor", metavar="CIDR|ADDRESSES",
                   help="what was watched: 44.0.0.0/8, a.b.c.d,e.f.g.h, 2^24 or a file of "
                   "addresses (default: 1 address)")
    p.add_argument("--incident", type=int, metavar="ID",
                   help="forecast from an incident's evidence (the incident extra)")
    p.add_argument("--db", "--store", dest="db", metavar="URL",
                   help="incident store: SQLite path or database URL (default $WORMSIGN_DB)")
    p.add_argument("--preset", help="simulator preset giving the prior (default: the family's)")
    p.add_argument("--scan-rate", type=float, metavar="R",
                   help="probes per second per infected host (overrides the preset)")
    p.add_argument("--vulnerable", type=int, metavar="N",
                   help="vulnerable population (overrides the preset)")
    p.add_argument("--method", default="auto", choices=("auto", "closed-form", "simulation"),
                   help="closed-form (uniform scanning, no removal), simulation (any "
                   "strategy) or auto (default)")
    p.add_argument("--intervals", default="laplace", choices=("laplace", "bootstrap", "profile"),
                   help="how the closed form makes its 90 %% intervals: laplace (default, "
                   "fastest), bootstrap (parametric bootstrap refits, slower) or profile "
                   "(profile likelihood for the parameters)")
    p.add_argument("--at", metavar="TIME",
                   help="forecast as of TIME (seconds or ISO 8601): later evidence is ignored")
    p.add_argument("--horizon", metavar="H",
                   help="how far ahead to forecast, e.g. 12h, 2d (a bare number is hours)")
    p.add_argument("--json", action="store_true", help="the JSON document on stdout")
    p.add_argument("--plot", metavar="FILE", help="write a chart (PNG, SVG or PDF)")
    p.add_argument("--runs", type=int, metavar="N",
                   help="simulations of the simulation method (default 150)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes for simulations (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="simulate on the Dask cluster at ADDRESS, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--inventory", metavar="FILE",
                   help="fleet inventory: when each host can expect its first probe")
    p.add_argument("--alarm", action="store_true",
                   help="say when the observations first showed exponential growth")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> float | None:
    """Checks before any work; returns the horizon in seconds."""
    from wormsign.cli.main import require_extra
    from wormsign.cluster import check_scheduler_address
    from wormsign.units import parse_duration

    if args.incident is None and not args.obs:
        raise ConfigError("give observation files (OBS...) or --incident ID")
    if args.incident is not None and args.obs:
        raise ConfigError("give observation files or --incident ID, not both")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {args.workers})")
    if args.runs is not None and args.runs < 1:
        raise ConfigError(f"--runs must be at least 1 (got {args.runs})")
    if args.scheduler:
        check_scheduler_address(args.scheduler)
        require_extra("dask", "--scheduler")
    if args.plot:
        require_extra("plot", "--plot")
    if args.incident is not None:
        require_extra("incident", "--incident")
    if args.horizon is None:
        return None
    h = parse_duration(args.horizon, default_unit="h", what="--horizon")
    if h <= 0:
        raise ConfigError("--horizon must be longer than 0")
    return h


def _observations(args: argparse.Namespace) -> Any:
    from wormsign.forecast import readers

    monitor = readers.parse_monitor(args.monitor)
    if args.incident is None:
        return readers.load(args.obs, family=args.family, monitor=monitor, at=args.at)
    from wormsign.incidents import Store
    from wormsign.incidents.forecasts import observations_for

    if args.at is not None:
        raise ConfigError("--at works with observation files, not --incident")
    from wormsign.cli.access import authorize

    with Store.open(args.db) as store:
        authorize(store, "forecast")
        return observations_for(store, args.incident, family=args.family, monitor=monitor)


def run(args: argparse.Namespace) -> int:
    """Read, forecast, print (JSON with --json), plot."""
    from wormsign.forecast.api import forecast

    horizon = _check(args)
    obs = _observations(args)
    fc = forecast(obs, method=args.method, preset=args.preset, scan_rate=args.scan_rate,
                  vulnerable=args.vulnerable, horizon_s=horizon, runs=args.runs,
                  seed=args.seed, scheduler=args.scheduler, workers=args.workers,
                  inventory=args.inventory, intervals=args.intervals)
    if args.plot:
        from wormsign.forecast.plot import plot

        plot(fc, args.plot)
    if args.json:
        json.dump(fc.to_json(), sys.stdout, ensure_ascii=False, allow_nan=False)
        sys.stdout.write("\n")
    elif not fc.ok:
        print(f"not enough evidence: {safe(fc.reason)}")
    else:
        print_human(fc, args.alarm)
    return 0 if fc.ok else EXIT_NOT_ENOUGH


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return safe(str(v))


def print_human(fc: Any, alarm: bool) -> None:
    """The short table: evidence, estimates with 90 % intervals, hosts, notes."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    doc = fc.to_json()
    con = Console(highlight=False, soft_wrap=True,
                  width=None if sys.stdout.isatty() else 120)
    ev = doc["evidence"]
    con.print(Text(f"{safe(doc['family'] or 'worm')}: {ev['sources']:,} source(s), "
                   f"{ev['probes']:,} probe(s) in {ev['intervals']} intervals, "
                   f"{_fmt(ev['from'])} -> {_fmt(ev['to'])}; monitor "
                   f"{safe(doc['monitor']['label'])} ({doc['monitor']['addresses']:,} "
                   f"addresses); {doc['method']}, preset {safe(str(doc['preset']))}"))
    table = Table(show_header=True, header_style="bold")
    for col in ("estimate", "value", "5 %", "95 %"):
        table.add_column(col, justify="left" if col == "estimate" else "right")
    rows = [(k, doc[k]) for k in ("infected_now", "t50", "t90", "peak_time", "final_size",
                                  "peak_new_per_min") if k in doc]
    rows += [(f"param {k}", v) for k, v in doc.get("params", {}).items()]
    for name, iv in rows:
        table.add_row(*(Text(_fmt(x)) for x in (safe(name), iv["estimate"], iv["p5"],
                                                 iv["p95"])))
    con.print(table)
    for h in doc.get("hosts", []):
        con.print(Text(f"host {safe(h['host'])} ({safe(h['address'])}): first probe median "
                       f"{_fmt(h['first_probe_median'])}, 5 % {_fmt(h['first_probe_p5'])}"))
    if alarm:
        a = doc.get("alarm")
        if a is None or a["time"] is None:
            con.print(Text("alarm: no exponential growth shown yet"))
        else:
            con.print(Text(f"alarm: exponential growth from {_fmt(a['time'])} with "
                           f"{a['sources']:,} source(s) seen ({safe(a['method'])})"))
    for note in doc["notes"]:
        con.print(Text(f"note: {safe(note)}"))
