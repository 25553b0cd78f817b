"""Events (first-seen times, probe times) into :class:`Observations` on round intervals.

Used where observations are built from events kept elsewhere: an incident's alerts
(:mod:`wormsign.incidents.forecasts`) and what ``wormsign watch`` has seen so far. Intervals
have a round width (1 s ... 1 d), the smallest giving at most :data:`MAX_INTERVALS`; they
start at a multiple of the width and the last one ends one second after the last event, so
the evidence ends where it does. Times are ISO 8601 (the origin is the first interval's
start).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from wormsign.forecast.observations import F64, Monitor, Observations, TimeBase

MAX_INTERVALS = 200
WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
          43200, 86400)
"""Round interval widths in seconds."""
ASSUMED_MONITOR = Monitor(size=1, blocks=(), label="1 address (assumed)")
ASSUMED_NOTE = ("monitor assumed to be 1 address (one server); say what was watched with "
                "--monitor CIDR|ADDRESSES")


def width_for(span: float) -> int:
    """The smallest round interval width giving at most :data:`MAX_INTERVALS` intervals."""
    for w in WIDTHS:
        if span / w <= MAX_INTERVALS:
            return w
    return WIDTHS[-1] * math.ceil(span / WIDTHS[-1] / MAX_INTERVALS)  # whole days


def round_edges(first: float, last: float, end: float | None = None) -> F64:
    """Interval edges (unix s): round starts from before ``first``, the last edge one second
    after ``last`` or at ``end`` when given (so every interval but the last is one width
    long)."""
    if end is None:
        end = math.floor(last) + 1.0
    w = width_for(end - first)
    start = math.floor(first / w) * w
    edges = np.arange(start, end, w, dtype=np.float64)
    if edges[-1] < end:
        edges = np.append(edges, end)
    return edges


@dataclass(frozen=True)
class ObservationInfo:
    """What :func:`observations` are of and where they come from: the worm ``family``, the
    ``monitor`` that watched (None: one address, assumed and noted), the ``inputs`` read,
    ``notes`` and the number of events ``skipped``."""

    family: str | None = None
    monitor: Monitor | None = None
    inputs: Sequence[str] = ()
    notes: Sequence[str] = ()
    skipped: int = 0


def observations(first_seen: F64, *, edges: F64 | None = None, probes: F64 | None = None,
                 probe_times: F64 | None = None, probe_counts: F64 | None = None,
                 info: ObservationInfo = ObservationInfo()) -> Observations:
    """Observations from first-seen times (unix s, at least one) and probes, given either
    per interval of ``edges`` (``probes``) or as events (``probe_times`` with
    ``probe_counts``, default one each), described by ``info``. ``edges`` default to
    :func:`round_edges` over all the events."""
    first = np.sort(np.asarray(first_seen, dtype=np.float64))
    ptimes = None if probe_times is None else np.asarray(probe_times, dtype=np.float64)
    if edges is None:
        last = float(first[-1])
        if ptimes is not None and ptimes.size:
            last = max(last, float(ptimes.max()))
        edges = round_edges(float(first[0]), last)
    new, _ = np.histogram(first, bins=edges)
    if probes is None and ptimes is not None:
        weights = (np.ones_like(ptimes) if probe_counts is None
                   else np.asarray(probe_counts, dtype=np.float64))
        probes = np.histogram(np.clip(ptimes, edges[0], edges[-1]), bins=edges,
                              weights=weights)[0].astype(np.float64)
    all_notes = list(info.notes)
    monitor = info.monitor
    if monitor is None:
        monitor = ASSUMED_MONITOR
        all_notes.append(ASSUMED_NOTE)
    start = float(edges[0])
    return Observations(
        monitor=monitor, timebase=TimeBase("iso", origin=start), edges=edges - start,
        new_sources=new.astype(np.float64), probes=probes, first_seen=first - start,
        family=info.family, now=float(edges[-1] - start), inputs=tuple(info.inputs),
        skipped=info.skipped, notes=tuple(all_notes))


@lru_cache(maxsize=1)
def worm_families() -> frozenset[str]:
    """The built-in rule pack's worm families (``code-red``, ``nimda``, ...)."""
    from wormsign.rules.loader import load_pack

    return frozenset(k for k, v in load_pack([], builtin=True).families.items() if v.worm)


def main_family(sources: Mapping[str, int]) -> str | None:
    """The family to forecast when none is named: the worm family with the most sources
    (any family when no worm was seen; ties by name); None when there is none."""
    if not sources:
        return None
    worms = {f: n for f, n in sources.items() if f in worm_families()} or dict(sources)
    return max(sorted(worms), key=lambda f: worms[f])
