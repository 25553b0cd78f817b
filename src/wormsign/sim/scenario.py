"""The :class:`Scenario` value object: every parameter of an outbreak, validated once.

A scenario is plain data (frozen, hashable, picklable) so that it can be shipped to worker
processes or a Dask cluster, written to YAML as a preset, and compared in tests. Rates given
"per hour" are converted to per second by the engine; schedules are piecewise constant.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from wormsign.errors import ConfigError, Problem, ValidationError
from wormsign.validation import key_line, line_of

STRATEGIES = (
    "uniform",
    "static-sequence",
    "local-preference",
    "hitlist",
    "permutation",
    "sequential",
)
MODELS = ("stochastic", "logistic", "two-factor")
PLACEMENTS = ("uniform", "clustered")
RATE_DISTS = ("constant", "exponential", "lognormal")
HITLIST_FALLBACKS = ("uniform", "permutation")
SEQUENTIAL_STARTS = ("own", "random")

MAX_HOURS = 24.0 * 400
MAX_SCHEDULE_RATE = 3600.0
MAX_SECONDS = MAX_HOURS * 3600.0
EARLIEST_START = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_START = datetime(2100, 1, 1, tzinfo=UTC)

RANGES: dict[str, tuple[float, float, bool]] = {
    # field: (low, high, low end excluded); None (where allowed) means "off" or "automatic"
    "address_bits": (8, 32, False),
    "vulnerable": (1, 1_000_000, False),
    "scan_rate": (0.0, 1e6, True),
    "scan_rate_sigma": (0.0, 3.0, True),
    "probe_cap": (0.0, 1e13, True),
    "initial": (1, 1_000_000, False),
    "hours": (0.0, MAX_HOURS, True),
    "hitlist_size": (1, 1_000_000, False),
    "infection_delay_s": (0.0, MAX_SECONDS, False),
    "blacklist_reaction_s": (0.0, MAX_SECONDS, False),
    "blacklist_coverage": (0.0, 1.0, False),
    "content_filter_reaction_s": (0.0, MAX_SECONDS, False),
    "content_filter_coverage": (0.0, 1.0, False),
    "flood_rate": (0.0, 1e6, False),
    "wake_jitter_hours": (0.0, MAX_HOURS, False),
    "step_s": (1e-3, MAX_SECONDS, False),
    "dt_s": (1e-6, MAX_SECONDS, False),
    "tf_eta": (0.0, 100.0, False),
    "tf_mu": (0.0, 1e6, False),
}
"""The accepted range of every numeric scenario parameter (documented in docs/sim.md)."""

INT_FIELDS = frozenset({"address_bits", "vulnerable", "initial", "hitlist_size"})

LIMITS: dict[str, float] = {
    "exclude": 64,
    "telescopes": 16,
    "schedule_points": 1000,
    "cells": 10_000_000,
    "work": 2e9,
    "events": 2e8,
    "runs": 10_000,
    "ensemble": 2e11,
    "workers": 256,
    "seed": 2**64 - 1,
}
"""Bounds on the size of one run (see :meth:`Scenario.work_estimate`) and of a Monte Carlo
ensemble, so that whatever is asked either finishes within minutes in bounded memory or is
refused up front."""


def check_runs(runs: int, workers: int | None = None, seed: int | None = None) -> None:
    """Refuse a Monte Carlo request outside :data:`LIMITS` (a :class:`ConfigError`)."""
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= LIMITS["runs"]:
        raise ConfigError(f"runs must be within 1..{int(LIMITS['runs']):,}, not {runs}")
    if workers is not None and not 1 <= workers <= LIMITS["workers"]:
        raise ConfigError(f"workers must be within 1..{int(LIMITS['workers'])}, not {workers}")
    check_seed(seed)


def check_ensemble(sc: Scenario, runs: int) -> None:
    """Refuse ``runs`` runs of ``sc`` whose estimated work together exceeds
    ``LIMITS["ensemble"]`` (a walker step counts as ten kernel operations)."""
    est = sc.work_estimate()
    total = runs * (est["work"] + 10.0 * est["events"] + est["cells"])
    if total > LIMITS["ensemble"]:
        raise ConfigError(f"{runs:,} runs of about {total / runs:.3g} operations each is more "
                          f"than the {LIMITS['ensemble']:.3g} allowed for one ensemble: use "
                          "fewer runs or a smaller scenario")


def check_seed(seed: int | None) -> None:
    """A seed is None (fresh entropy) or an integer within 0..2^64-1."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed <= LIMITS["seed"]):
        raise ConfigError(f"seed must be a non-negative integer below 2^64, not {seed}")

Schedule = tuple[tuple[float, float], ...]
"""Piecewise-constant rate: ``((from_hour, rate_per_hour), ...)`` sorted by hour."""


def parse_schedule(text: str) -> Schedule:
    """Parse ``"0.05"`` (constant) or ``"0:0,6:0.02,12:0.1"`` (hour:rate pairs, per hour)."""
    text = text.strip()
    if not text:
        return ()
    try:
        if ":" not in text:
            return ((0.0, float(text)),)
        out = []
        for part in text.split(","):
            hour, rate = part.split(":", 1)
            out.append((float(hour), float(rate)))
    except ValueError as exc:
        raise ConfigError(f"bad rate schedule {text!r}: use RATE or HOUR:RATE,HOUR:RATE") from exc
    return tuple(sorted(out))


def _schedule(value: Any, name: str) -> Schedule:
    if value is None:
        return ()
    if isinstance(value, str):
        return parse_schedule(value)
    if isinstance(value, int | float):
        return ((0.0, float(value)),)
    try:
        return tuple(sorted((float(h), float(r)) for h, r in value))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected a rate or a list of [hour, rate] pairs") from exc


_SCALARS = (str, int, float, bool, datetime, type(None))


class ScenarioError(ConfigError):
    """Invalid scenario parameters; ``messages`` holds each problem (see
    :meth:`Scenario.problems`)."""

    def __init__(self, name: str, messages: list[str]) -> None:
        super().__init__(f"scenario {name!r}: " + "; ".join(messages))
        self.messages = list(messages)


def _line_for(data: Mapping[str, Any], message: str) -> int | None:
    """The line of the parameter a problem message names first (else the mapping's)."""
    best: tuple[int, str] | None = None
    for key in data:
        m = re.search(rf"\b{re.escape(key)}\b", message) if isinstance(key, str) else None
        if m is not None and (best is None or m.start() < best[0]):
            best = (m.start(), key)
    return key_line(data, best[1]) if best is not None else line_of(data)


def _kwargs(data: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    """Scenario keyword arguments from plain data; a problem (at its key's line) for each
    unknown key and each value of the wrong shape."""
    known = {f.name for f in fields(Scenario)}
    kw: dict[str, Any] = {}
    for key, value in data.items():
        line = key_line(data, key)
        if key not in known:
            problems.append(Problem(where, line, f"unknown scenario key {key!r}"))
        elif not _plain(value):
            problems.append(Problem(where, line,
                                    f"{key}: expected a number, text or a short list of them"))
        else:
            try:
                kw[key] = _value(key, value)
            except ConfigError as exc:
                problems.append(Problem(where, line, exc.message))
    return kw


def _value(key: str, value: Any) -> Any:
    """One parameter as the dataclass holds it (tuples, schedules, ISO text)."""
    if key in ("patch_rate", "removal_rate", "reboot_rate"):
        return _schedule(value, key)
    if key in ("exclude", "telescopes", "sources") and value is not None:
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(x, str) for x in items):
            raise ConfigError(f"{key}: expected a list of text")
        return tuple(items)
    if key in ("name", "description", "model", "strategy", "density", "start"):
        if not isinstance(value, str | datetime | type(None)):
            raise ConfigError(f"{key}: expected text")
        return value.isoformat() if isinstance(value, datetime) else value
    if key in ("local_probs", "local_prefixes"):
        conv = float if key == "local_probs" else int
        try:
            return tuple(conv(x) for x in value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{key}: {exc}") from None
    return value


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is a scalar, or a list (of lists) of scalars of bounded size, as a
    scenario parameter must be (so that a YAML alias bomb is refused, not expanded)."""
    if isinstance(value, _SCALARS):
        return not isinstance(value, str) or len(value) <= 100_000
    if isinstance(value, list | tuple) and depth < 2 and len(value) <= 1000:
        return all(_plain(v, depth + 1) for v in value)
    return False


def parse_start(value: str | datetime | None) -> datetime | None:
    """A UTC date-time from ISO text (``2001-07-19T10:00:00Z``); naive times are UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(f"bad --start {value!r}: use an ISO date-time in UTC") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise ConfigError(f"bad --start {value!r}: out of range") from None


@dataclass(frozen=True)
class Scenario:
    """Every parameter of one simulated outbreak.

    Population: ``vulnerable`` hosts placed in ``2**address_bits`` addresses, ``uniform`` or
    ``clustered`` by prefix from a density file (``density``; the packaged 2001-like default
    when None). Spread: ``initial`` infected hosts, each probing ``scan_rate`` times per second
    (or a per-host rate drawn from ``scan_rate_dist`` with that mean), choosing targets by
    ``strategy``. Life cycle and defences are off unless set. Schedules are per hour.
    """

    name: str = "custom"
    model: str = "stochastic"
    address_bits: int = 32
    vulnerable: int = 360_000
    scan_rate: float = 10.0
    scan_rate_dist: str = "constant"
    scan_rate_sigma: float = 1.0
    probe_cap: float | None = None
    initial: int = 10
    hours: float = 8.0
    strategy: str = "uniform"
    # local preference: probabilities (anywhere, own prefix1, own prefix2) and the prefixes
    local_probs: tuple[float, float, float] = (0.125, 0.5, 0.375)
    local_prefixes: tuple[int, int] = (8, 16)
    exclude: tuple[str, ...] = ()
    hitlist_size: int = 10_000
    hitlist_then: str = "uniform"
    sequential_start: str = "own"
    placement: str = "uniform"
    density: str | None = None
    # life cycle (rates per hour, piecewise constant)
    infection_delay_s: float = 0.0
    patch_rate: Schedule = ()
    removal_rate: Schedule = ()
    reboot_rate: Schedule = ()
    # defences (Moore, Shannon, Voelker, Savage 2003)
    blacklist_reaction_s: float | None = None
    blacklist_coverage: float = 0.0
    content_filter_reaction_s: float | None = None
    content_filter_coverage: float = 0.0
    filter_block: str | None = None
    filter_ingress: bool = False
    filter_egress: bool = False
    # what monitors see
    telescopes: tuple[str, ...] = ()
    # the Code Red calendar
    calendar: bool = False
    start: str | None = None
    flood_target: str = "198.137.240.91"
    flood_rate: float = 1.0
    wake_jitter_hours: float = 4.0
    # time resolution: output interval and (if set) a fixed internal step, in seconds
    step_s: float | None = None
    dt_s: float | None = None
    # two-factor model (Zou, Gong, Towsley 2002)
    tf_eta: float = 3.0
    tf_mu: float = 0.0
    description: str = field(default="", compare=False)
    sources: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ScenarioError(self.name, problems)

    # ---------------------------------------------------------------- validation
    def problems(self) -> list[str]:
        """Every problem with the parameters (empty when valid); see :data:`RANGES` and
        :data:`LIMITS` for what is accepted."""
        p: list[str] = []

        def need(cond: bool, msg: str) -> None:
            if not cond:
                p.append(msg)

        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                p.append(f"{f.name} must be a finite number, not {value}")
        if p:
            return p
        for name, (lo, hi, lo_open) in RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                p.append(f"{name} must be a number, not {value!r}")
            elif name in INT_FIELDS and not isinstance(value, int):
                p.append(f"{name} must be a whole number, not {value!r}")
            elif (value <= lo if lo_open else value < lo) or value > hi:
                p.append(f"{name} must be within {'(' if lo_open else '['}{lo:g}, {hi:g}], "
                         f"not {value:g}")
        if p:
            return p
        need(self.model in MODELS, f"model must be one of {', '.join(MODELS)}")
        need(self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}")
        need(1 <= self.vulnerable <= self.space // 2,
             "vulnerable must be at most half the address space")
        need(1 <= self.initial <= self.vulnerable, "initial must be within 1..vulnerable")
        need(self.scan_rate_dist in RATE_DISTS, f"scan_rate_dist: one of {', '.join(RATE_DISTS)}")
        need(len(self.local_probs) == 3 and all(math.isfinite(x) and x >= 0
                                                for x in self.local_probs)
             and abs(sum(self.local_probs) - 1.0) < 1e-9,
             "local_probs must be 3 shares summing to 1")
        need(len(self.local_prefixes) == 2
             and all(isinstance(x, int) and 0 <= x <= 32 for x in self.local_prefixes)
             and (self.strategy != "local-preference"
                  or 0 < self.local_prefixes[0] < self.local_prefixes[1] < self.address_bits),
             "local_prefixes must be 0 < p1 < p2 < address_bits")
        need(self.hitlist_then in HITLIST_FALLBACKS, "hitlist_then: uniform or permutation")
        need(self.sequential_start in SEQUENTIAL_STARTS, "sequential_start: own or random")
        need(self.placement in PLACEMENTS, "placement: uniform or clustered")
        need(self.placement != "clustered" or self.address_bits >= 17,
             "clustered placement needs address_bits >= 17")
        for name in ("patch_rate", "removal_rate", "reboot_rate"):
            sched = getattr(self, name)
            need(len(sched) <= LIMITS["schedule_points"],
                 f"{name}: at most {LIMITS['schedule_points']:,} points")
            for hour, rate in sched:
                need(math.isfinite(hour) and 0 <= hour <= MAX_HOURS
                     and math.isfinite(rate) and 0 <= rate <= MAX_SCHEDULE_RATE,
                     f"{name}: hours must be within [0, {MAX_HOURS:g}] and rates within "
                     f"[0, {MAX_SCHEDULE_RATE:g}] per hour")
        for name in ("exclude", "telescopes"):
            need(len(getattr(self, name)) <= LIMITS[name],
                 f"at most {LIMITS[name]} {name} blocks")
        for cidr in (*self.exclude, *self.telescopes,
                     *((self.filter_block,) if self.filter_block else ())):
            try:
                self.block(cidr)
            except ConfigError as exc:
                p.append(str(exc))
        if p:
            return p
        free = self.space - self.excluded_size()
        need(self.vulnerable <= free // 2,
             f"the excluded blocks leave {free:,} addresses: {self.vulnerable:,} vulnerable "
             "hosts need at least twice as many")
        if self.step_s is not None and self.dt_s is not None:
            need(self.dt_s <= self.step_s, "dt_s must not exceed step_s")
        try:
            start = parse_start(self.start)
            need(not self.calendar or start is not None, "calendar needs a start date-time")
            need(start is None or EARLIEST_START <= start <= LATEST_START,
                 f"start must be within {EARLIEST_START:%Y}..{LATEST_START:%Y}")
        except ConfigError as exc:
            p.append(str(exc))
        try:
            ipaddress.IPv4Address(self.flood_target)
        except ValueError:
            p.append(f"flood_target must be an IPv4 address, not {self.flood_target!r}")
        if not p:
            p.extend(self.work_problems())
        return p

    def excluded_size(self) -> int:
        """Addresses covered by the excluded blocks (overlaps counted once)."""
        covered = 0
        end = 0
        for lo, hi in sorted(self.block(c) for c in self.exclude):
            lo = max(lo, end)
            if hi > lo:
                covered += hi - lo
                end = hi
        return covered

    def work_estimate(self) -> dict[str, float]:
        """Upper estimates of what a run costs: output ``cells`` (rows x columns kept in
        memory), ``steps`` x per-step ``work`` of the kernel, and sequence-walker ``events``.

        Used to refuse, before any work, a scenario that would not finish or not fit in
        memory (see :data:`LIMITS`); the presets stay well inside.
        """
        rows = math.ceil(self.duration_s / self.output_step() - 1e-9)
        cells = float(rows) * (9 + 2 * len(self.telescopes))
        if self.model != "stochastic":
            return {"cells": cells, "work": float(rows), "events": 0.0}
        if self.dt_s is not None:
            steps = self.duration_s / self.dt_s
        else:
            # adaptive: at most 256 sub-steps per output row, and about one per 1 % growth
            growth = self.duration_s * self.scan_rate * self.vulnerable / self.space / 0.01
            steps = rows + min(255.0 * rows, growth)
        per_step = 1.0 + len(self.telescopes) + sum(
            len(s) for s in (self.patch_rate, self.removal_rate, self.reboot_rate))
        if self.strategy == "local-preference":
            per_step += 2.0 * sum(self._groups(prefix) for prefix in self.local_prefixes)
        events = 0.0
        walks = self.strategy in ("static-sequence", "permutation", "sequential") or (
            self.strategy == "hitlist" and self.hitlist_then == "permutation")
        if walks:
            # every walker passes each vulnerable address it walks over
            events = (self.vulnerable * self.scan_rate * self.duration_s
                      * self.vulnerable / self.space)
            if self.strategy == "sequential" and self.telescopes:
                laps = self.scan_rate * self.duration_s / self.space
                events += self.vulnerable * len(self.telescopes) * (rows + laps)
        return {"cells": cells, "work": steps * per_step, "events": events}

    def _groups(self, prefix: int) -> float:
        """Expected number of prefix groups that hold vulnerable hosts (each costs the
        kernel a draw per step under local preference)."""
        n, k = float(self.vulnerable), float(2**prefix)
        if self.placement == "clustered" and prefix >= 16:
            from wormsign.sim.population import load_density

            d = load_density(self.density)
            k = float(sum(max(1, round(d.occupancy8.get(s8, d.occupancy) * 256))
                          for s8, share in d.slash8.items() if share > 0))
            k *= 2.0 ** (prefix - 16)
        return k * -math.expm1(-n / k)

    def work_problems(self) -> list[str]:
        """Why the run would be too big (empty when it fits :data:`LIMITS`)."""
        est = self.work_estimate()
        p = []
        if est["cells"] > LIMITS["cells"]:
            p.append(f"{est['cells']:.3g} output values (hours / step_s rows x columns) is "
                     f"more than the {LIMITS['cells']:.3g} allowed: use a larger step_s or "
                     "fewer hours")
        if est["work"] > LIMITS["work"]:
            p.append(f"about {est['work']:.3g} kernel operations is more than the "
                     f"{LIMITS['work']:.3g} allowed: use fewer hours, a larger step_s or "
                     "dt_s, or a lower scan_rate")
        if est["events"] > LIMITS["events"]:
            p.append(f"about {est['events']:.3g} sequence-walker steps is more than the "
                     f"{LIMITS['events']:.3g} allowed: use fewer hours, a lower scan_rate "
                     "or a sparser address space")
        return p

    # ---------------------------------------------------------------- derived values
    @property
    def space(self) -> int:
        """Size of the address space."""
        return int(2**self.address_bits)

    @property
    def duration_s(self) -> float:
        """Simulated time in seconds."""
        return float(self.hours) * 3600.0

    def block(self, cidr: str) -> tuple[int, int]:
        """``[lo, hi)`` of a CIDR block in this address space.

        With 32 bits this is the IPv4 block; in a smaller space the prefix length keeps its
        meaning from the top (``/8`` is 1/256 of the space) and the address is read as IPv4 and
        shifted down, so ``44.0.0.0/8`` stays the 45th of 256 blocks.
        """
        try:
            net = ipaddress.IPv4Network(cidr, strict=False)
        except ValueError as exc:
            raise ConfigError(f"bad address block {cidr!r}") from exc
        shift = 32 - self.address_bits
        lo = int(net.network_address) >> shift
        size = max(1, net.num_addresses >> shift)
        return lo, lo + size

    def start_datetime(self) -> datetime | None:
        """The UTC start instant, if any."""
        return parse_start(self.start)

    def output_step(self) -> float:
        """The output interval: ``step_s`` or a round value that keeps at most ~60,000 rows."""
        if self.step_s is not None:
            return float(self.step_s)
        for s in (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0):
            if self.duration_s / s <= 60_000:
                return s
        return 3600.0

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists instead of tuples), as written in a preset file."""
        d = asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, tuple):
                d[k] = [list(x) if isinstance(x, tuple) else x for x in v]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | None = None) -> Scenario:
        """Build from plain data (a preset file); raises one
        :class:`~wormsign.errors.ValidationError` with every problem, each with the file and
        the line of the parameter it is about (when ``data`` was read by
        :mod:`wormsign.validation`)."""
        where = path if path is not None else "<scenario>"
        problems: list[Problem] = []
        kw = _kwargs(data, where, problems)
        if not problems:
            try:
                return cls(**kw)
            except ScenarioError as exc:
                problems += [Problem(where, _line_for(data, m), m) for m in exc.messages]
            except ConfigError as exc:
                problems.append(Problem(where, line_of(data), exc.message))
            except TypeError as exc:
                problems.append(Problem(where, line_of(data), f"bad scenario values: {exc}"))
        raise ValidationError(problems, "scenario")
