"""``wormsign simulate``: run a worm outbreak scenario (a thin skin over ``wormsign.sim``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

from wormsign.errors import ConfigError
from wormsign.logs.text import safe

if TYPE_CHECKING:
    from wormsign.sim import Scenario

DESCRIPTION = """\
Simulate an Internet worm outbreak: vulnerable hosts in a 2^bits address space, infected
hosts probing at a given rate with the worm's own target selection, host life cycle,
defences, the Code Red calendar and network telescopes. Start from a --preset (code-red-v2,
code-red-v1, code-red-ii, slammer, warhol, or a YAML file) and override any parameter with a
flag, or give every parameter as flags. --runs N gives 5/50/95 %% bands over N seeded runs.
"""


def _floats(n: int) -> Any:
    def parse(text: str) -> tuple[float, ...]:
        try:
            vals = tuple(float(x) for x in text.split(","))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected {n} comma-separated numbers") from exc
        if len(vals) != n:
            raise argparse.ArgumentTypeError(f"expected {n} comma-separated numbers")
        return vals

    return parse


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError("expected true or false")


# flag -> (Scenario field, type, help)
FLAGS: list[tuple[str, str, Any, str]] = [
    ("--model", "model", str, "stochastic (default), logistic (Random Constant Spread) "
     "or two-factor (Zou-Gong-Towsley ODEs)"),
    ("--address-bits", "address_bits", int, "size of the address space, 2^BITS (default 32)"),
    ("--vulnerable", "vulnerable", int, "number of vulnerable hosts (default 360000)"),
    ("--scan-rate", "scan_rate", float, "probes per second per infected host (mean)"),
    ("--scan-rate-dist", "scan_rate_dist", str, "constant, exponential or lognormal per host"),
    ("--scan-rate-sigma", "scan_rate_sigma", float, "sigma of the lognormal scan rates"),
    ("--probe-cap", "probe_cap", float, "network limit on all probes per second (congestion)"),
    ("--initial", "initial", int, "hosts infected at t=0"),
    ("--hours", "hours", float, "simulated time in hours"),
    ("--strategy", "strategy", str, "uniform, static-sequence, local-preference, hitlist, "
     "permutation or sequential"),
    ("--local-probs", "local_probs", _floats(3), "local preference: P(anywhere),P(own "
     "prefix 1),P(own prefix 2), e.g. 0.125,0.5,0.375"),
    ("--local-prefixes", "local_prefixes", _floats(2), "local preference prefixes, e.g. 8,16"),
    ("--hitlist-size", "hitlist_size", int, "entries on the hit list"),
    ("--hitlist-then", "hitlist_then", str, "after the hit list: uniform or permutation"),
    ("--sequential-start", "sequential_start", str, "sequential scanning starts at the "
     "host's own address (own) or a random one"),
    ("--placement", "placement", str, "uniform or clustered (by the density file)"),
    ("--density", "density", str, "density YAML file for clustered placement"),
    ("--infection-delay", "infection_delay_s", float, "seconds from infection to scanning"),
    ("--patch-rate", "patch_rate", str, "susceptible hosts patched per hour: RATE or "
     "HOUR:RATE,HOUR:RATE"),
    ("--removal-rate", "removal_rate", str, "infected hosts patched/cleaned/switched off "
     "per hour: RATE or HOUR:RATE,..."),
    ("--reboot-rate", "reboot_rate", str, "infected hosts rebooted (back to susceptible, "
     "memory-resident worms) per hour: RATE or HOUR:RATE,..."),
    ("--blacklist-reaction", "blacklist_reaction_s", float, "address blacklisting: seconds "
     "from a host's infection until its probes are blocked"),
    ("--blacklist-coverage", "blacklist_coverage", float, "share of probe paths blacklisted"),
    ("--content-filter-reaction", "content_filter_reaction_s", float, "content filtering: "
     "seconds from the start until worm probes are blocked"),
    ("--content-filter-coverage", "content_filter_coverage", float,
     "share of probe paths content-filtered"),
    ("--filter-block", "filter_block", str, "a block (CIDR) with ingress/egress filtering"),
    ("--ingress", "filter_ingress", _bool, "drop probes entering --filter-block (true/false)"),
    ("--egress", "filter_egress", _bool, "drop probes leaving --filter-block (true/false)"),
    ("--calendar", "calendar", _bool, "follow the Code Red calendar (true/false)"),
    ("--start", "start", str, "UTC start date-time, e.g. 2001-07-19T10:00:00Z"),
    ("--flood-target", "flood_target", str, "address flooded on days 20-27"),
    ("--flood-rate", "flood_rate", float, "flood packets per second per infected host"),
    ("--wake-jitter", "wake_jitter_hours", float, "hours of per-host jitter at wake-up"),
    ("--step", "step_s", float, "output interval in seconds (default: automatic)"),
    ("--dt", "dt_s", float, "fixed internal time step in seconds (default: adaptive)"),
    ("--tf-eta", "tf_eta", float, "two-factor model: congestion exponent eta"),
    ("--tf-mu", "tf_mu", float, "two-factor model: countermeasure rate mu x N per hour"),
]


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand."""
    p = subparsers.add_parser(
        "simulate", help="simulate an Internet worm outbreak",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", help="preset name or scenario YAML file to start from")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    for flag, dest, typ, text in FLAGS:
        p.add_argument(flag, dest=dest, type=typ, default=None, help=text,
                       metavar=flag[2:].upper().replace("-", "_"))
    p.add_argument("--exclude", action="append", default=None, metavar="CIDR",
                   help="never target this block (repeatable), e.g. 224.0.0.0/3")
    p.add_argument("--telescope", dest="telescopes", action="append", default=None,
                   metavar="CIDR", help="monitor probes and sources arriving at this block "
                   "(repeatable): a /8 as CAIDA's, a /24, or one address /32")
    p.add_argument("--seed", type=int, default=None, help="random seed (reproducible runs)")
    p.add_argument("--runs", type=int, default=1, help="Monte Carlo runs (default 1)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes for --runs (default: all cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on the Dask cluster at ADDRESS, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the time series: CSV, or Parquet for .parquet")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="write a plot")
    p.add_argument("--json", action="store_true", help="print the JSON summary on stdout")
    p.set_defaults(func=run)


def build_scenario(args: argparse.Namespace) -> Scenario:
    """The scenario: the preset (or defaults) with every given flag applied."""
    from wormsign.sim import Scenario, load_preset
    from wormsign.sim.scenario import parse_schedule

    base = load_preset(args.preset) if args.preset else Scenario()
    changes: dict[str, Any] = {}
    for _flag, dest, _typ, _text in FLAGS:
        value = getattr(args, dest)
        if value is None:
            continue
        if dest in ("patch_rate", "removal_rate", "reboot_rate"):
            value = parse_schedule(value)
        if dest == "local_prefixes":
            value = tuple(int(x) for x in value)
        changes[dest] = value
    for dest in ("exclude", "telescopes"):
        if getattr(args, dest) is not None:
            changes[dest] = tuple(getattr(args, dest))
    if args.start is not None and args.calendar is None and base.name == "custom":
        changes["calendar"] = True
    if changes and args.preset:
        changes.setdefault("name", f"{base.name} (modified)")
    return dataclasses.replace(base, **changes) if changes else base


def check_request(args: argparse.Namespace) -> None:
    """Everything about the run that is not the scenario, checked before any work: the Monte
    Carlo size, the seed, the scheduler address, and the extras the outputs need."""
    from wormsign.cli.main import require_extra
    from wormsign.cluster import check_scheduler_address
    from wormsign.sim.scenario import check_runs

    try:
        check_runs(args.runs, args.workers, args.seed)
    except ConfigError as exc:
        raise ConfigError(f"--{exc.message}") from None
    if args.scheduler:
        check_scheduler_address(args.scheduler)
        require_extra("dask", "--scheduler")
    if args.plot:
        require_extra("plot", "--plot")
    if args.out and args.out.lower().endswith((".parquet", ".pq")):
        require_extra("parquet", "Parquet output")


def compile_notice() -> None:
    """Say on stderr that the first run compiles the simulator, when numba's cache is cold."""
    from wormsign.sim.engine import compile_cache_cold

    if compile_cache_cold():
        print("wormsign: compiling the simulator (first run only, about a minute)",
              file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the scenario; print the summary (JSON with --json) and write --out / --plot."""
    from wormsign.sim import list_presets
    from wormsign.sim.presets import published_figures

    if args.list_presets:
        from wormsign.sim import load_preset

        for name in list_presets():
            sc = load_preset(name)
            print(f"{name:14} {sc.strategy:17} {sc.vulnerable:>9,} vulnerable  "
                  f"{sc.scan_rate:g} probes/s  {sc.hours:g} h")
        return 0
    check_request(args)
    sc = build_scenario(args)
    if args.runs > 1 or args.scheduler:
        from wormsign.sim.scenario import check_ensemble

        check_ensemble(sc, args.runs)
    if sc.model == "stochastic":
        compile_notice()
    result: Any
    if args.runs == 1 and not args.scheduler:
        from wormsign.sim import simulate

        result = simulate(sc, args.seed)
        summary = result.summary()
    else:
        from wormsign.sim.montecarlo import run_many

        result = run_many(sc, args.runs, seed=args.seed, workers=args.workers,
                          scheduler=args.scheduler)
        summary = result.summary()
    if args.out or args.plot:
        from wormsign.sim import output

        if args.out:
            output.write_table(args.out, result.columns(), start=sc.start_datetime())
        if args.plot:
            pub = published_figures(args.preset) if args.preset else {}
            output.plot(args.plot, result, published=pub)
    if args.json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_human(sc, summary, args.runs)
    return 0


def _print_human(sc: Any, summary: dict[str, Any], runs: int) -> None:
    print(f"{safe(sc.name)}: {sc.model}, {sc.strategy}, {sc.vulnerable:,} vulnerable in "
          f"2^{sc.address_bits}, {sc.scan_rate:g} probes/s, {sc.hours:g} h, {runs} run(s)")
    for key in ("t10_s", "t50_s", "t90_s", "final_infected", "peak_new_per_min",
                "peak_time_s", "probes"):
        v = summary[key]
        if isinstance(v, dict):
            parts = ", ".join(f"{k} {_h(x)}" for k, x in v.items())
            print(f"  {key:17} {parts}")
        else:
            print(f"  {key:17} {_h(v)}")


def _h(v: Any) -> str:
    if v is None:
        return "not reached"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)
