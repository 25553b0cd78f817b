"""``wormsign demo``: simulate → synthetic logs → scan → forecast → assess → incident →
report, on built-in synthetic data, and how close the forecast came to the truth."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TextIO

from wormsign.demo import DemoConfig, DemoResult, run_demo
from wormsign.demo.compare import Check, iso
from wormsign.logs.text import safe


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo", help="the whole toolkit on a synthetic Code Red outbreak with known truth",
        description="Simulate a Code Red outbreak (code-red-v2, seeded), write what the sample "
        "organisation's web servers would log (synthetic: background traffic plus the worm's "
        "probes at the simulated rates, IIS W3C and Apache combined), scan the logs, forecast "
        "the outbreak from the scan, assess the sample fleet with that forecast, open an "
        "incident with its playbook and write the HTML report; then say where everything is "
        "and how close the forecast came to the simulation's truth. Everything is labelled "
        "synthetic. Without the 'incident' extra the incident and report steps are skipped.",
    )
    p.add_argument("--out", default="wormsign-demo", metavar="DIR",
                   help="folder for everything the demo writes (default: %(default)s)")
    p.add_argument("--seed", type=int, default=2001, help="seed of the whole run "
                   "(default: %(default)s)")
    p.add_argument("--at", metavar="TIME", help="make the forecast as of TIME (ISO 8601 UTC, "
                   "or a duration since the outbreak's start such as 8h; default: from all "
                   "the evidence, at the end of the logs)")
    p.add_argument("--json", action="store_true", help="the result as one JSON document")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def _progress(line: str) -> None:
    print(safe(line), file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from wormsign.cli.simulate import compile_notice

    config = DemoConfig(out=Path(args.out), seed=args.seed, at=args.at)
    compile_notice()
    result = run_demo(config, None if args.quiet else _progress)
    if args.json:
        json.dump(result.to_json(), sys.stdout, ensure_ascii=True, indent=1)
        sys.stdout.write("\n")
    else:
        print_result(result, sys.stdout)
    return 0


def _where(label: str, what: str, out: TextIO) -> None:
    out.write(f"  {label:<11} {safe(what)}\n")


def print_result(r: DemoResult, out: TextIO) -> None:
    """Where everything is, then truth against forecast."""
    d = r.to_json()
    o, lg, sc, fc, a = d["outbreak"], d["logs"], d["scan"], d["forecast"], d["assess"]
    out.write(f"wormsign demo: a SYNTHETIC Code Red outbreak ({r.config.preset}, seed "
              f"{r.config.seed}); nothing here is real traffic.\n\n")
    _where("outbreak", f"simulated {o['start']} .. {o['end']}: {o['final_size']:,} of "
           f"{o['vulnerable']:,} hosts infected", out)
    own = [x for x in o["telescopes"] if x["block"] in r.org_blocks]
    if own:
        _where("telescope", "; ".join(f"{x['block']}: {x['probes']:,} probes from "
                                      f"{x['sources']:,} sources" for x in own), out)
    _where("fleet", f"{a['inventory']} (the sample organisation)", out)
    kinds = sorted({s["format"] for s in lg["servers"]})
    _where("logs", f"{r.config.out / 'logs'}/ ({len(lg['servers'])} servers, "
           f"{' and '.join(kinds)}; {lg['probes']} Code Red probes from {lg['sources']} "
           "sources)", out)
    _where("scan", f"{sc['json']}, {sc['alerts_file']} ({sc['alerts']} alerts, "
           f"{sc['sources']} {sc['family']} sources)", out)
    _where("forecast", f"{fc['path']} ({fc['status']}, {fc['method']}, as of {fc['as_of']})"
           if fc["path"]
           else f"skipped: {fc['reason']}", out)
    _where("assessment", f"{a['json']} ({len(a['exploitable'])} exploitable; wave 1: "
           f"{', '.join(a['first_wave']) or '-'}; urgency from "
           f"{'the forecast' if a['used_forecast'] else 'the preset'})", out)
    inc = d["incident"]
    _where("incident", inc["skipped"] if inc["db"] is None else
           f"{inc['db']}, incident {inc['id']} ({inc['alerts_added']} alerts, "
           f"{inc['tasks']} playbook tasks, {inc['started_task']} in progress; see "
           f"wormsign incident show {inc['id']} --db {inc['db']})", out)
    rep = d["report"]
    _where("report", rep["html"] or rep["skipped"], out)
    out.write("\nHow close the forecast came (truth: the simulation; forecast: from the "
              "servers' logs alone):\n")
    out.write(f"  {'':<11} {'TRUTH':<21} {'FORECAST':<21} {'90 % INTERVAL':<46} INSIDE\n")
    for c in r.comparison.checks:
        out.write(_check_row(c))
    if r.comparison.reason:
        out.write(f"  (no forecast numbers: {safe(r.comparison.reason)})\n")


def _show(c: Check, x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return (iso(x) or "-") if c.is_time else f"{x:,.0f}"


def _check_row(c: Check) -> str:
    label = "final size" if c.quantity == "final_size" else c.quantity
    interval = "-" if not math.isfinite(c.p5) else f"{_show(c, c.p5)} .. {_show(c, c.p95)}"
    inside = {True: "yes", False: "no", None: "-"}[c.inside]
    return (f"  {label:<11} {_show(c, c.truth):<21} {_show(c, c.estimate):<21} "
            f"{interval:<46} {inside}\n")
