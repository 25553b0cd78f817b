"""``wormsign scan`` on connection inputs (Zeek conn.log, EVE flow, pcap): options and output.

The analysis is :mod:`wormsign.detect.network`; this module only parses the options, splits
the inputs into connection logs and request logs, and writes what was asked for.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from wormsign.detect.netparams import FloodParams, TRWParams
from wormsign.errors import ConfigError, InputError
from wormsign.logs.pcap import is_pcap
from wormsign.logs.source import Input, Limits, expand, open_input, read_chunks

if TYPE_CHECKING:  # the analysis (and scipy) is imported only when a connection log is given
    from wormsign.detect.network import NetworkConfig, NetworkReport
    from wormsign.rules.netloader import NetPack


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the network analysis (used only when an input is a connection log)."""
    g = p.add_argument_group("connection logs (Zeek conn.log, Suricata EVE flow, pcap)")
    g.add_argument("--own", action="append", default=[], metavar="CIDR",
                   help="our network (repeatable): a host inside found scanning is an "
                   "infected host inside (critical)")
    g.add_argument("--sensor-view", action="append", default=[], metavar="CIDR",
                   help="the destinations this sensor sees outside sources probe (at a site "
                   "border: the site's networks; repeatable). Strategy shares of outside "
                   "sources are judged against it (default: every address)")
    d = TRWParams()
    for name, default, text in (
            ("theta0", d.theta0, "P(first contact answered | benign)"),
            ("theta1", d.theta1, "P(first contact answered | scanner)"),
            ("alpha", d.alpha, "false-positive probability aimed at"),
            ("beta", d.beta, "detection probability aimed at")):
        g.add_argument(f"--trw-{name}", dest=f"trw_{name}", type=float, default=default,
                       metavar="P", help=f"Threshold Random Walk: {text} (default %(default)g)")
    f = FloodParams()
    g.add_argument("--flood-window", type=float, default=f.window_s, metavar="S",
                   help="flood window in seconds (default %(default)g)")
    g.add_argument("--flood-sources", type=int, default=f.min_sources, metavar="N",
                   help="distinct sources to one target in a window that make a flood "
                   "(default %(default)s)")
    g.add_argument("--flood-connections", type=int, default=f.min_connections, metavar="N",
                   help="and attempts in that window (default %(default)s)")
    g.add_argument("--scenario", metavar="FILE.yaml",
                   help="write the detected strategy and scan rate as a scenario file for "
                   "simulate --preset FILE.yaml / forecast --preset FILE.yaml")
    g.add_argument("--scenario-base", metavar="PRESET",
                   help="the preset the --scenario file starts from (default: the "
                   "simulator's defaults)")


def config_from(args: argparse.Namespace) -> NetworkConfig:
    from wormsign.detect.network import NetworkConfig

    trw = TRWParams(theta0=args.trw_theta0, theta1=args.trw_theta1, alpha=args.trw_alpha,
                    beta=args.trw_beta)
    flood = FloodParams(window_s=args.flood_window, min_sources=args.flood_sources,
                        min_connections=args.flood_connections)
    config = NetworkConfig(trw=trw, flood=flood, own=tuple(args.own),
                           view=tuple(args.sensor_view))
    config.own_networks()  # a bad --own or --sensor-view is an error before any work
    config.view_networks()
    return config


#: Connection formats whose files can hold requests too (EVE http events, HTTP in a capture):
#: such a file is also scanned for requests. (Ids of wormsign.logs.connread, written out so
#: that parsing the command line does not import the compiled readers.)
ALSO_REQUESTS = ("eve-flow", "pcap-conn")
#: Text every connection log the readers recognise has near its start; a file without any
#: is not sniffed (sniffing imports the connection readers, about 20 ms that a web-log scan
#: should not pay).
_MARKERS = (b"id.orig_h", b"conn_state", b'"flow"', b'"conn"', b"#path")
_PEEK = 1 << 20


def _may_hold_connections(inp: Input) -> bool:
    try:
        with open_input(inp) as stream:
            if is_pcap(stream.peek(4)):
                return True
            chunks = read_chunks(inp, chunk_size=_PEEK, stream=stream)
            try:
                sample = next(chunks, b"")
            finally:
                chunks.close()  # type: ignore[attr-defined]
    except (InputError, OSError):
        return False
    return any(m in sample for m in _MARKERS)


def split_inputs(paths: list[str]) -> tuple[list[str], list[str]]:
    """(connection logs, request logs). Directories are walked; standard input is never a
    connection log (it cannot be sniffed without being consumed). EVE files and captures
    are in both lists."""
    conn: list[str] = []
    other: list[str] = []
    for inp in expand(paths):
        fmt = None
        if not inp.is_stdin and Path(inp.name).is_file() and _may_hold_connections(inp):
            from wormsign.logs.connread import sniff_connections

            fmt = sniff_connections(inp.name)
        if fmt is not None:
            conn.append(inp.name)
        if fmt is None or fmt in ALSO_REQUESTS:
            other.append(inp.name)
    return conn, other


def analyse(paths: list[str], args: argparse.Namespace, limits: Limits,
            families: Mapping[str, str] | None, pack: NetPack) -> NetworkReport:
    """The analysis of the connection logs with the network rules ``pack``."""
    from wormsign.detect.network import analyse_paths

    return analyse_paths(paths, config_from(args), families=families, limits=limits,
                         pack=pack)


def write_outputs(report: NetworkReport, args: argparse.Namespace, out: TextIO,
                  alerts_mode: str = "wb") -> None:
    """Alerts (appended to a web scan's when both ran), the scenario file, and, unless the
    caller writes JSON itself, the terminal summary."""
    if args.alerts:
        try:
            with open(args.alerts, alerts_mode) as f:
                write_alert_lines(report, f)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", path=args.alerts) from None
    if args.scenario:
        write_scenario(report, args.scenario, args.scenario_base)


def write_alert_lines(report: NetworkReport, f: IO[bytes]) -> None:
    for a in report.alerts():
        f.write(json.dumps(a.to_ecs(), ensure_ascii=False).encode("utf-8") + b"\n")


def write_scenario(report: NetworkReport, path: str, base: str | None) -> None:
    """The detected strategy and rate over ``base`` (a preset) as a scenario YAML file."""
    import yaml

    from wormsign.sim import Scenario, load_preset

    frag = report.scenario()
    if frag is None:
        raise ConfigError("--scenario: no scanner with a known strategy and rate was found")
    sc = load_preset(base) if base else Scenario()
    fields: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                              for k, v in frag.items()
                              if k in ("strategy", "scan_rate", "local_probs", "local_prefixes")}
    sc = dataclasses.replace(sc, name="detected by wormsign scan", **fields)
    data = sc.to_dict()
    data["description"] = (f"strategy and scan rate measured by wormsign scan over "
                           f"{frag['basis']['scanners']} scanners; other parameters from "
                           f"{base or 'the simulator defaults'}")
    data.pop("sources", None)
    try:
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(data, f, sort_keys=False)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None


def print_json(report: NetworkReport, out: TextIO) -> None:
    json.dump(report.to_dict(), out, ensure_ascii=False, separators=(",", ":"))
    out.write("\n")


def print_network(report: NetworkReport, out: TextIO, top: int) -> None:
    from wormsign.detect.netreport import print_network as show

    show(report, out, top)


__all__ = ["add_arguments", "analyse", "config_from", "print_json", "print_network",
           "split_inputs", "write_outputs"]
