"""Network evidence: scanners (TRW), their rate and strategy, floods, our own hosts scanning.

``analyse_batches(batches, config)`` (or ``analyse_paths`` on Zeek conn.log, EVE flow and
pcap files) feeds :class:`~wormsign.logs.conn.ConnBatch` columns through

* :mod:`wormsign.detect.trw` — Threshold Random Walk per source over first contacts, each
  verdict with its evidence (successes, failures, the walk's value, when it crossed);
* :mod:`wormsign.detect.strategy` — probes per second and where targets land relative to
  the source (uniform, local preference with estimated shares against Code Red II's,
  sequential), with a confidence;
* :mod:`wormsign.detect.flood` — many sources to one target in a window;
* ``own`` networks (``--own CIDR``): an inside source found scanning is an infected host
  inside, with the time its scanning began;
* :mod:`wormsign.detect.nethits` — the network rule pack (Slammer, Witty, Blaster, Sasser,
  Mirai, and the user's network rules) on every batch, kept per source and rule: a source
  a worm rule matched carries that worm's family (unless its web requests named one) and
  has an alert per rule, whether or not TRW has decided about it.

The result is a :class:`NetworkReport`; its ``to_dict()`` is the ``scan --json`` contract
for connection inputs (docs/network.md), ``alerts()`` gives :class:`Alert` records in the one
schema, and ``scenario()`` the detected strategy and rate as a simulator scenario fragment.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.detect.alert import Alert
from wormsign.detect.flood import Flood, FloodParams, FloodTracker
from wormsign.detect.nethits import RuleHit, RuleHits, source_families
from wormsign.detect.netreport import report_alerts, report_dict, scenario_fragment
from wormsign.detect.netstate import SCANNER, VERDICTS, SourceState
from wormsign.detect.strategy import Cells, Strategy, classify_many, full_cells, view_cells
from wormsign.detect.trw import TRWParams
from wormsign.errors import ConfigError, InputError
from wormsign.logs.conn import OTHER, ConnBatch
from wormsign.logs.source import Limits
from wormsign.rules.netloader import NetPack, load_network_pack

SCANNER_FAMILY = "scanner"
#: A scanner's rate is measured over its probes after the verdict when it made this many
#: (an inside host's earlier, normal traffic would dilute it), else over its whole life.
MIN_POST_PROBES = 10
MAX_TIME = 253_402_300_800.0  # 10000-01-01: later times cannot be written as dates


@dataclass(frozen=True)
class NetworkConfig:
    """Everything the analysis can be told. ``own``: our networks, as CIDR text."""

    trw: TRWParams = field(default_factory=TRWParams)
    flood: FloodParams = field(default_factory=FloodParams)
    own: tuple[str, ...] = ()
    min_strategy_probes: int = 20
    view: tuple[str, ...] = ()  # what the sensor sees of outside sources' targets; () all

    def own_networks(self) -> list[ipaddress.IPv4Network]:
        return _networks(self.own, "--own")

    def view_networks(self) -> list[ipaddress.IPv4Network]:
        return list(ipaddress.collapse_addresses(_networks(self.view, "--sensor-view")))


def _networks(texts: tuple[str, ...], what: str) -> list[ipaddress.IPv4Network]:
    nets = []
    for text in texts:
        try:
            net = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ConfigError(f"{what}: not a network: {text!r}") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise ConfigError(f"{what}: only IPv4 networks are analysed: {text!r}")
        nets.append(net)
    return nets


@dataclass(frozen=True)
class Evidence:
    """Why TRW said what it said about one source."""

    successes: int  # first contacts that were answered, up to the verdict
    failures: int  # first contacts refused or unanswered, up to the verdict
    walk: float  # the walk's value at the verdict (or now, when none)
    crossed_at: float | None  # Unix s of the first contact that crossed the upper threshold
    crossed_path: str | None
    crossed_line: int | None
    crossed_format: str | None  # the reader of that file (zeek-conn, eve-flow, pcap-conn...)
    scan_started_at: float | None  # first probe of the run of evidence that crossed


@dataclass(frozen=True)
class SourceVerdict:
    """One source: TRW's verdict and evidence, its probes, rate and strategy."""

    ip: str
    verdict: str  # "scanner" | "benign" | "pending"
    family: str
    inside: bool
    evidence: Evidence
    probes: int
    outcomes: dict[str, int]
    first_seen: float | None
    last_seen: float | None
    rate: float | None  # probes per second over first..last seen
    strategy: Strategy
    rules: tuple[str, ...] = ()  # ids of the network rules its connections matched


@dataclass(frozen=True)
class RuleSource:
    """A source some network rule matched: its family (web-log family first, then the
    network rule's), TRW's verdict about it and what each rule matched."""

    ip: str
    family: str
    verdict: str  # "scanner" | "benign" | "pending"
    hits: tuple[RuleHit, ...]
    inside: bool = False  # in our networks (--own): an infected host inside


@dataclass(frozen=True)
class InputInfo:
    """What was read from one input (counts from the connection reader)."""

    path: str
    format: str
    records: int
    skipped: dict[str, int]
    error: str | None = None
    notes: dict[str, int] = field(default_factory=dict)  # kept but worth knowing: ipv6, ...


@dataclass(frozen=True)
class NetworkReport:
    """The analysis of connection inputs; ``to_dict()`` is the ``--json`` contract."""

    config: NetworkConfig
    inputs: list[InputInfo]
    connections: int
    sources: int
    verdict_counts: dict[str, int]
    scanners: list[SourceVerdict]
    floods: list[Flood]
    late_for_floods: int
    rule_counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # per rule id
    rule_sources: list[RuleSource] = field(default_factory=list)
    pairs_forgotten: int = 0  # TRW's (source, destination) pairs dropped at the caps

    @property
    def inside(self) -> list[SourceVerdict]:
        return [s for s in self.scanners if s.inside]

    def to_dict(self) -> dict[str, Any]:
        return report_dict(self)

    def alerts(self) -> list[Alert]:
        return report_alerts(self)

    def scenario(self) -> dict[str, Any] | None:
        return scenario_fragment(self)


class NetworkAnalysis:
    """Feed :class:`ConnBatch` es (roughly in time order); :meth:`report` at the end.
    ``pack``: the network rules run on every batch (default: the built-in network pack;
    ``NetPack(())`` for none)."""

    def __init__(self, config: NetworkConfig | None = None,
                 pack: NetPack | None = None) -> None:
        self.config = config or NetworkConfig()
        self.hits = RuleHits(load_network_pack() if pack is None else pack)
        self._nets = self.config.own_networks()
        self._view = self.config.view_networks()
        self.state = SourceState(params=self.config.trw)
        self.floods = FloodTracker(self.config.flood)
        self.connections = 0
        self.inputs: list[InputInfo] = []

    def feed(self, batch: ConnBatch) -> None:
        """Add one batch. Times that are not finite or not between 1970 and 9999 count as
        unknown; outcome codes other than the four known ones count as ``OTHER``."""
        self.connections += len(batch)
        bad_time = ~((batch.time >= 0) & (batch.time < MAX_TIME))
        bad_outcome = batch.outcome > OTHER
        if bad_time.any() or bad_outcome.any():
            batch = dataclasses.replace(
                batch, time=np.where(bad_time, np.nan, batch.time),
                outcome=np.where(bad_outcome, OTHER, batch.outcome).astype(np.uint8))
        self.state.feed(batch)
        self.floods.feed(batch.time, batch.src, batch.dst, batch.outcome)
        self.hits.feed(batch)

    def report(self, families: Mapping[str, str] | None = None) -> NetworkReport:
        """The report; ``families`` maps a source address to the worm family its requests
        matched elsewhere (web logs), which then names its alerts; else the family of the
        network rule it matched (of highest priority); else ``scanner``."""
        hits = self.hits.hits()
        fams = {**source_families(hits), **{k: v for k, v in (families or {}).items() if v}}
        rules_of: dict[str, tuple[str, ...]] = {}
        for h in hits:
            rules_of[h.ip] = (*rules_of.get(h.ip, ()), h.rule.id)
        c = self.state.col
        verdict = c["verdict"]
        counts = {name: int((verdict == i).sum()) for i, name in enumerate(VERDICTS)}
        idx = np.flatnonzero(verdict == SCANNER)
        idx = idx[np.argsort(c["crossed_time"][idx], kind="stable")]
        inside = self._inside(self.state.ip[idx])
        strategies = classify_many(c["probes"][idx], c["own8"][idx], c["own16"][idx],
                                   c["steps"][idx], c["small"][idx],
                                   self.config.min_strategy_probes,
                                   self._cells(self.state.ip[idx], inside))
        scanners = [self._verdict(int(i), bool(ins), st, fams, rules_of) for i, ins, st in
                    zip(idx.tolist(), inside.tolist(), strategies, strict=True)]
        return NetworkReport(self.config, list(self.inputs), self.connections,
                             len(self.state.ip), counts, scanners, self.floods.finish(),
                             self.floods.late, self.hits.counts(),
                             self._rule_sources(hits, fams), self.state.forgotten)

    def _rule_sources(self, hits: list[RuleHit], fams: Mapping[str, str],
                      ) -> list[RuleSource]:
        """The matched sources, by address, with TRW's verdict about each."""
        by_ip: dict[str, list[RuleHit]] = {}
        for h in hits:
            by_ip.setdefault(h.ip, []).append(h)
        ips = np.array([int(ipaddress.IPv4Address(ip)) for ip in by_ip], np.uint32)
        pos = np.minimum(np.searchsorted(self.state.ip, ips), max(len(self.state.ip) - 1, 0))
        known = (self.state.ip[pos] == ips) if len(self.state.ip) else np.zeros(len(ips), bool)
        verdicts = [VERDICTS[int(self.state.col["verdict"][p])] if k else VERDICTS[0]
                    for p, k in zip(pos.tolist(), known.tolist(), strict=True)]
        inside = self._inside(ips).tolist()
        return [RuleSource(ip, fams.get(ip) or SCANNER_FAMILY, v, tuple(hs), ins)
                for (ip, hs), v, ins in zip(by_ip.items(), verdicts, inside, strict=True)]

    def _cells(self, ips: npt.NDArray[np.uint32], inside: npt.NDArray[np.bool_]) -> Cells:
        """The view of each source's targets: the whole space, or for outside sources the
        sensor's view when one was given (inside hosts' outbound probes are all seen)."""
        full = full_cells(len(ips))
        if not self._view:
            return full
        seen = view_cells(ips, [(int(n.network_address), n.prefixlen) for n in self._view])
        c16, c8, c_e = (np.where(inside, f, v) for f, v in zip(full, seen, strict=True))
        return c16, c8, c_e

    def _inside(self, ips: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
        out = np.zeros(len(ips), bool)
        for net in self._nets:
            mask = np.uint32(int(net.netmask))
            out |= (ips & mask) == np.uint32(int(net.network_address))
        return out

    def _verdict(self, i: int, inside: bool, strat: Strategy, families: Mapping[str, str],
                 rules_of: Mapping[str, tuple[str, ...]]) -> SourceVerdict:
        c = self.state.col
        ip = str(ipaddress.IPv4Address(int(self.state.ip[i])))
        probes = int(c["probes"][i])
        first, last = _opt(c["first_time"][i]), _opt(c["last_time"][i])
        rate = _rate(probes - 1, first, last)
        crossed_at = _opt(c["crossed_time"][i])
        if int(c["post"][i]) >= MIN_POST_PROBES:  # after the verdict: the scan alone
            rate = _rate(int(c["post"][i]), crossed_at, last) or rate
        crossed_path = int(c["crossed_path"][i])
        ev = Evidence(int(c["succ"][i]), int(c["fail"][i]), float(c["walk"][i]),
                      _opt(c["crossed_time"][i]),
                      self.state.paths[crossed_path] if crossed_path >= 0 else None,
                      int(c["crossed_line"][i]) if crossed_path >= 0 else None,
                      self.state.formats[crossed_path] if crossed_path >= 0 else None,
                      _opt(c["scan_start"][i]))
        family = families.get(ip) or SCANNER_FAMILY
        outcomes = {"established": int(c["o_est"][i]), "refused": int(c["o_ref"][i]),
                    "unanswered": int(c["o_una"][i]), "other": int(c["o_oth"][i])}
        return SourceVerdict(ip, VERDICTS[int(c["verdict"][i])], family, inside, ev, probes,
                             outcomes, first, last, rate, strat, rules_of.get(ip, ()))


def _rate(probes: int, first: float | None, last: float | None) -> float | None:
    if first is None or last is None or last <= first or probes < 1:
        return None
    return probes / (last - first)


def _opt(v: float) -> float | None:
    return None if np.isnan(v) else float(v)


def analyse_batches(batches: Iterable[ConnBatch], config: NetworkConfig | None = None,
                    families: Mapping[str, str] | None = None,
                    pack: NetPack | None = None) -> NetworkReport:
    """The network analysis of connection batches (see the module docstring); ``pack``:
    the network rules (default: the built-in pack)."""
    a = NetworkAnalysis(config, pack)
    for b in batches:
        a.feed(b)
    return a.report(families)


def analyse_paths(paths: Iterable[str], config: NetworkConfig | None = None,
                  families: Mapping[str, str] | None = None,
                  limits: Limits | None = None, pack: NetPack | None = None) -> NetworkReport:
    """The network analysis of connection files (Zeek conn.log TSV/JSON, Suricata EVE flow,
    pcap/pcapng; see :mod:`wormsign.logs.connread`). A file that cannot be read is reported
    with its error in ``inputs`` and the others are still analysed."""
    from wormsign.logs.connread import read_connections, sniff_connections
    from wormsign.logs.connstats import ConnStats

    a = NetworkAnalysis(config, pack)
    for path in paths:
        stats = ConnStats()
        error = None
        fmt = sniff_connections(path) or ""
        try:
            for b in read_connections(path, format=fmt or None, limits=limits, stats=stats):
                a.feed(b)
        except InputError as exc:
            error = str(exc)
        a.inputs.append(InputInfo(path, fmt, stats.records, dict(sorted(stats.skipped.items())),
                                  error, notes={"ipv6": stats.ipv6,
                                                "out_of_order": stats.out_of_order,
                                                "bad_values": stats.bad_values,
                                                "overlong": stats.overlong,
                                                "late_answers": stats.late_answers,
                                                "flushed_early": stats.flushed_early}))
    return a.report(families)
