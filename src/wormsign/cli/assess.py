"""``wormsign assess``: verdicts and a patch plan for a fleet inventory."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from wormsign.cli._files import write_text
from wormsign.errors import ConfigError
from wormsign.fleet.assess import assess
from wormsign.fleet.inventory import READERS, load_inventory
from wormsign.fleet.kb import validate_kb
from wormsign.fleet.output import print_table, to_csv, to_sarif
from wormsign.fleet.plan import parse_window
from wormsign.fleet.probe import load_probe_evidence
from wormsign.fleet.urgency import read_forecast
from wormsign.logs.text import safe

if TYPE_CHECKING:
    from wormsign.detect.suppress import AcceptedRisk


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "assess", help="which servers are exposed to Code Red/Nimda, why, and the patch order",
        description="Join inventory (CSV, JSON, YAML, nmap -sV XML), patch and configuration "
        "evidence into a verdict per host and vulnerability (exploitable, mitigated, patched, "
        "not-affected, unknown) and a patch plan in waves ordered by exposure x severity x "
        "urgency. Exit status: 0 nothing exploitable, 1 something is, 2 error.",
    )
    p.add_argument("inventory", nargs="?", metavar="INVENTORY",
                   help="inventory file (.csv, .json, .yaml, nmap .xml)")
    p.add_argument("--format", choices=sorted(READERS), help="force the inventory format")
    p.add_argument("--kb", action="append", default=[], metavar="DIR",
                   help="extra OSV advisories (directory or file; repeatable)")
    p.add_argument("--check-kb", action="store_true",
                   help="validate the knowledge base (with --kb) and list every problem")
    p.add_argument("--exposure", choices=("internet", "internal"),
                   help="exposure of hosts whose inventory does not say (e.g. nmap scans)")
    p.add_argument("--assume-defaults", action="store_true",
                   help="treat a host without configuration export as an IIS default install")
    p.add_argument("--outbreak-state", default=None, metavar="STATE",
                   help="outbreak state for urgency: now (a forecast's evidence end), peak, "
                   "NN%% of the peak rate, or a time since the start (4h) (default: now with "
                   "--forecast, else peak)")
    p.add_argument("--forecast", metavar="FILE",
                   help="urgency from a forecast (`wormsign forecast --json` output) instead "
                   "of the preset, for the advisories of its family")
    p.add_argument("--outbreak-model", choices=("auto", "sim", "closed-form"), default="auto",
                   help="I(t) from the simulator (sim), the closed-form logistic, or the "
                   "simulator when available (auto, default)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    p.add_argument("--max-per-wave", type=int, metavar="N", help="at most N hosts per wave")
    p.add_argument("--window", action="append", default=[], metavar="[ROLE=]START/DURATION",
                   help="maintenance window, e.g. 2001-07-20T02:00/4h or web=...; repeatable")
    p.add_argument("--probe-results", metavar="FILE",
                   help="JSON written by `wormsign probe --json`, used as evidence")
    p.add_argument("--config-root", metavar="DIR",
                   help="configuration files named by the inventory may lie anywhere inside "
                   "DIR (default: only inside the inventory's folder)")
    p.add_argument("--ignore", metavar="FILE", help="accepted risks: the accept list of a "
                   "wormsign-ignore.yml (host, advisory, reason, until); covered verdicts "
                   "become 'accepted' and leave the plan until the expiry")
    p.add_argument("--vex", action="append", default=[], metavar="FILE",
                   help="OpenVEX document(s): not_affected / fixed statements about a host "
                   "and advisory settle its verdict (repeatable)")
    p.add_argument("--vex-out", metavar="FILE", help="write the verdicts as an OpenVEX "
                   "document")
    p.add_argument("--json", action="store_true", help="the JSON contract on stdout")
    p.add_argument("--csv", metavar="FILE", help="write one CSV row per host and advisory")
    p.add_argument("--sarif", metavar="FILE", help="write a SARIF 2.1.0 log")
    p.add_argument("--top", type=int, default=25, help="hosts shown in the table")
    p.set_defaults(func=run)


def _compile_notice() -> None:
    """The simulator gives the outbreak curve: say so when its first compilation is due."""
    try:
        from wormsign.cli.simulate import compile_notice
    except ImportError:  # pragma: no cover - numba missing: the closed form is used
        return
    compile_notice()


def run(args: argparse.Namespace) -> int:
    if args.check_kb:
        problems = validate_kb(args.kb)
        for prob in problems:
            print(safe(str(prob)), file=sys.stderr)
        errors = [p for p in problems if p.severity == "error"]
        if not errors:
            print(f"knowledge base ok ({len(problems)} warning(s))")
        return 2 if errors else 0
    if not args.inventory:
        raise ConfigError("an INVENTORY file is required (or --check-kb)")
    windows = [parse_window(w) for w in args.window]
    probes = load_probe_evidence(args.probe_results) if args.probe_results else None
    forecast = read_forecast(args.forecast) if args.forecast else None
    # read the inventory first: a bad one is a one-line error, with no notice before it
    inventory = load_inventory(args.inventory, fmt=args.format, exposure=args.exposure)
    accepted: tuple[AcceptedRisk, ...] = ()
    if args.ignore:
        from wormsign.detect.suppress import load_ignore_file
        accepted = load_ignore_file(args.ignore).accept
    vex = []
    if args.vex:
        from wormsign.fleet.vex import load_vex
        vex = [s for f in args.vex for s in load_vex(f)]
    if args.outbreak_model != "closed-form":
        _compile_notice()
    report = assess(inventory, kb_dirs=args.kb, assume_defaults=args.assume_defaults,
                    outbreak_state=args.outbreak_state, outbreak_source=args.outbreak_model,
                    seed=args.seed, max_per_wave=args.max_per_wave, windows=windows,
                    probes=probes, config_root=args.config_root, forecast=forecast,
                    forecast_name=args.forecast or "forecast", accepted=accepted,
                    vex=vex)
    if args.csv:
        write_text(args.csv, to_csv(report))
    if args.vex_out:
        from wormsign.fleet.vex import to_openvex
        write_text(args.vex_out, json.dumps(to_openvex(report), indent=2, ensure_ascii=True)
                   + "\n")
    if args.sarif:
        write_text(args.sarif, json.dumps(to_sarif(report), indent=2, ensure_ascii=True) + "\n")
    if args.json:
        report.write_json(sys.stdout)
    else:
        print_table(report, sys.stdout, top=args.top, color=sys.stdout.isatty())
    return 1 if report.exploitable else 0
