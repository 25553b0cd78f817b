"""What a monitor saw, as one record: :class:`Observations`.

Every input (``scan --json`` / ``--csv`` output, ``--alerts`` JSON Lines, an incident, a CSV
of a monitor's counts) becomes the same record: per interval, the number of sources seen for
the first time and the number of probes, plus the first-seen time of each source when known.
Times are seconds from the :class:`TimeBase` origin, so that a forecast can be written back
in the input's own time base (seconds in, seconds out; ISO 8601 in, ISO 8601 out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from wormsign.errors import ConfigError

F64 = npt.NDArray[np.float64]
SPACE = float(2**32)


@dataclass(frozen=True)
class TimeBase:
    """How the input wrote time: ``seconds`` (plain numbers, origin 0) or ``iso`` (ISO 8601
    UTC; ``origin`` is the Unix time of t = 0)."""

    kind: str = "seconds"
    origin: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("seconds", "iso"):
            raise ConfigError(f"time base must be seconds or iso, not {self.kind!r}")
        if not math.isfinite(self.origin):
            raise ConfigError("time base origin must be finite")

    def format(self, t: float) -> str | float | None:
        """``t`` (seconds from the origin) in the input's time base; None for NaN/inf."""
        if not math.isfinite(t):
            return None
        if self.kind == "seconds":
            return round(self.origin + t, 3)
        try:
            dt = datetime.fromtimestamp(self.origin + t, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")

    def parse(self, value: str | float) -> float:
        """A time in this base (ISO text or seconds) as seconds from the origin."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) - self.origin
        text = str(value).strip()
        try:
            num = float(text)
        except ValueError:
            num = math.nan
        if math.isfinite(num):
            return num - self.origin
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"bad time {text[:40]!r}: use seconds or ISO 8601 UTC") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp() - self.origin


@dataclass(frozen=True)
class Monitor:
    """What was watched: ``size`` addresses in canonical ``blocks`` (CIDRs; one address is a
    /32). A /8 telescope has 2^24 addresses, one web server 1."""

    size: int
    blocks: tuple[str, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.size <= 2**32:
            raise ConfigError(f"a monitor watches 1..2^32 addresses, not {self.size}")

    @property
    def share(self) -> float:
        """The monitor's share of IPv4: a uniform scanner's probe lands in it with this chance."""
        return self.size / SPACE


@dataclass(frozen=True, eq=False)
class Observations:
    """What one monitor saw of one family.

    ``edges`` (k + 1 increasing times, seconds from the time base origin) bound k intervals;
    ``new_sources[i]`` is the number of sources first seen in interval i (None when only
    probes were counted); ``probes[i]`` the probes received in it (None when unknown).
    ``first_seen`` holds each source's first-seen time, sorted, when the input had them.
    ``now`` is the end of the evidence (the last edge unless ``--at`` says otherwise).
    ``skipped`` counts input rows that were not used, with ``notes`` saying why.
    """

    monitor: Monitor
    timebase: TimeBase
    edges: F64
    new_sources: F64 | None
    probes: F64 | None
    first_seen: F64 | None = None
    family: str | None = None
    now: float = math.nan
    inputs: tuple[str, ...] = ()
    skipped: int = 0
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        e = np.asarray(self.edges, dtype=np.float64)
        if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
            raise ConfigError("observation intervals must be increasing finite times")
        for name in ("new_sources", "probes"):
            v = getattr(self, name)
            if v is None:
                continue
            a = np.asarray(v, dtype=np.float64)
            if a.shape != (e.size - 1,) or not np.all(np.isfinite(a)) or np.any(a < 0):
                raise ConfigError(f"{name}: one finite non-negative count per interval")
        if self.new_sources is None and self.probes is None:
            raise ConfigError("observations need new sources or probes per interval")

    @property
    def sources_total(self) -> int:
        """Distinct sources seen in all."""
        return 0 if self.new_sources is None else round(float(np.sum(self.new_sources)))

    @property
    def probes_total(self) -> int:
        """Probes seen in all (0 when not counted)."""
        return 0 if self.probes is None else round(float(np.sum(self.probes)))

    @property
    def end(self) -> float:
        """The time the evidence stops: ``now`` when set, else the last edge."""
        return float(self.now) if math.isfinite(self.now) else float(self.edges[-1])
