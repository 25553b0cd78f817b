"""The :class:`Scenario` value object: every parameter of an outbreak, validated once.

A scenario is plain data (frozen, hashable, picklable) so that it can be shipped to worker
processes or a Dask cluster, written to YAML as a preset, and compared in tests. Rates given
"per hour" are converted to per second by the engine; schedules are piecewise constant.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from wormsign.errors import ConfigError

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
    return dt.astimezone(UTC)


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
            raise ConfigError(f"scenario {self.name!r}: " + "; ".join(problems))

    # ---------------------------------------------------------------- validation
    def problems(self) -> list[str]:
        """Every problem with the parameters (empty when valid)."""
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
        need(self.model in MODELS, f"model must be one of {', '.join(MODELS)}")
        need(self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}")
        need(8 <= self.address_bits <= 32, "address_bits must be within 8..32")
        space = 2**self.address_bits
        need(1 <= self.vulnerable <= min(space // 2, 10_000_000),
             "vulnerable must be within 1..10,000,000 and at most half the address space")
        need(1 <= self.initial <= self.vulnerable, "initial must be within 1..vulnerable")
        need(self.scan_rate > 0, "scan_rate must be > 0")
        need(self.scan_rate_dist in RATE_DISTS, f"scan_rate_dist: one of {', '.join(RATE_DISTS)}")
        need(self.scan_rate_sigma > 0, "scan_rate_sigma must be > 0")
        need(self.probe_cap is None or self.probe_cap > 0, "probe_cap must be > 0")
        need(0 < self.hours <= 24 * 400, "hours must be within (0, 9600]")
        need(len(self.local_probs) == 3 and all(x >= 0 for x in self.local_probs)
             and abs(sum(self.local_probs) - 1.0) < 1e-9,
             "local_probs must be 3 shares summing to 1")
        need(len(self.local_prefixes) == 2
             and (self.strategy != "local-preference"
                  or 0 < self.local_prefixes[0] < self.local_prefixes[1] < self.address_bits),
             "local_prefixes must be 0 < p1 < p2 < address_bits")
        need(self.hitlist_size >= 1, "hitlist_size must be >= 1")
        need(self.hitlist_then in HITLIST_FALLBACKS, "hitlist_then: uniform or permutation")
        need(self.sequential_start in SEQUENTIAL_STARTS, "sequential_start: own or random")
        need(self.placement in PLACEMENTS, "placement: uniform or clustered")
        need(self.placement != "clustered" or self.address_bits >= 17,
             "clustered placement needs address_bits >= 17")
        need(self.infection_delay_s >= 0, "infection_delay_s must be >= 0")
        for name in ("patch_rate", "removal_rate", "reboot_rate"):
            for hour, rate in getattr(self, name):
                need(hour >= 0 and rate >= 0, f"{name}: hours and rates must be >= 0")
        for name in ("blacklist_coverage", "content_filter_coverage"):
            need(0.0 <= getattr(self, name) <= 1.0, f"{name} must be within [0, 1]")
        for name in ("blacklist_reaction_s", "content_filter_reaction_s"):
            v = getattr(self, name)
            need(v is None or v >= 0, f"{name} must be >= 0")
        for cidr in (*self.exclude, *self.telescopes,
                     *((self.filter_block,) if self.filter_block else ())):
            try:
                self.block(cidr)
            except ConfigError as exc:
                p.append(str(exc))
        need(self.flood_rate >= 0 and self.wake_jitter_hours >= 0,
             "flood_rate and wake_jitter_hours must be >= 0")
        need(self.step_s is None or self.step_s > 0, "step_s must be > 0")
        need(self.dt_s is None or self.dt_s > 0, "dt_s must be > 0")
        if self.step_s is not None and self.dt_s is not None:
            need(self.dt_s <= self.step_s, "dt_s must not exceed step_s")
        if self.calendar:
            try:
                need(parse_start(self.start) is not None, "calendar needs a start date-time")
            except ConfigError as exc:
                p.append(str(exc))
        need(self.tf_eta >= 0 and self.tf_mu >= 0, "tf_eta and tf_mu must be >= 0")
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
        """Build from plain data (a preset file); unknown keys are an error naming the file."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown scenario keys: {', '.join(unknown)}", path=path)
        kw: dict[str, Any] = dict(data)
        for k in ("patch_rate", "removal_rate", "reboot_rate"):
            if k in kw:
                kw[k] = _schedule(kw[k], k)
        for k in ("exclude", "telescopes", "sources"):
            if k in kw and kw[k] is not None:
                kw[k] = tuple(str(x) for x in kw[k])
        if "local_probs" in kw:
            kw["local_probs"] = tuple(float(x) for x in kw["local_probs"])
        if "local_prefixes" in kw:
            kw["local_prefixes"] = tuple(int(x) for x in kw["local_prefixes"])
        if isinstance(kw.get("start"), datetime):
            kw["start"] = kw["start"].isoformat()
        try:
            return cls(**kw)
        except ConfigError as exc:
            raise ConfigError(exc.message, path=path) from None
        except TypeError as exc:
            raise ConfigError(f"bad scenario values: {exc}", path=path) from exc
