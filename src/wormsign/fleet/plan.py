"""The patch plan: waves of hosts ordered by risk = exposure × severity × urgency.

Each host's risk is the largest, over its verdicts, of

    exposure weight   internet 1.0, unknown 0.6, internal 0.3
  × severity weight   critical 1.0, high 0.7, medium 0.4, low 0.2 (from the advisory)
  × certainty         exploitable 1.0, unknown 0.5, mitigated 0.15 (mitigations get undone)
  × urgency           1 / (1 + hours until the first probe), see :mod:`wormsign.fleet.urgency`
                    (from a forecast file when ``assess --forecast`` gives one)
  × criticality       0.5 + criticality / 10 (inventory, 0–10; medium = 5 → 1.0)

Hosts fall into tiers (internet/unknown-exposure exploitable, then internal exploitable,
then the unknowns, then the mitigated); inside a tier they are sorted by risk. A tier larger
than ``max_per_wave`` is split into several waves. With maintenance windows each wave is one
window, filled in window order with the riskiest eligible hosts (a window may name a role).
Hosts left over when the windows run out form final waves marked "no window left".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wormsign.errors import ConfigError
from wormsign.fleet.inventory import Host
from wormsign.fleet.kb import KnowledgeBase
from wormsign.fleet.urgency import Urgency, UrgencyModel, human
from wormsign.fleet.verdict import Verdict
from wormsign.units import parse_duration

EXPOSURE_WEIGHT = {"internet": 1.0, "unknown": 0.6, "internal": 0.3}
CERTAINTY = {"exploitable": 1.0, "unknown": 0.5, "mitigated": 0.15}
TIER_TEXT = {
    0: "internet-facing (or exposure unknown) and exploitable",
    1: "internal and exploitable",
    2: "affected, not known to be patched, evidence incomplete",
    3: "mitigated by configuration only: patch so that the mitigation cannot be undone",
}


@dataclass(frozen=True, slots=True)
class Window:
    """A maintenance window, optionally only for hosts of one role."""

    start: datetime
    end: datetime
    role: str = ""

    def label(self) -> str:
        role = f" (role {self.role})" if self.role else ""
        return (f"window {self.start:%Y-%m-%dT%H:%MZ}–{self.end:%Y-%m-%dT%H:%MZ}{role}")


def parse_window(spec: str) -> Window:
    """``[ROLE=]START/DURATION`` or ``[ROLE=]START/END``: ``web=2001-07-20T02:00/4h``."""
    role, _, rest = spec.rpartition("=") if "=" in spec.split("/", 1)[0] else ("", "", spec)
    start_s, sep, dur = rest.partition("/")
    if not sep:
        raise ConfigError(f"bad window {spec!r}: use [ROLE=]START/DURATION, e.g. "
                          "2001-07-20T02:00/4h")
    try:
        start = datetime.fromisoformat(start_s.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"bad window start {start_s!r}: use an ISO date-time") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    end = _window_end(start, dur)
    if end <= start:
        raise ConfigError(f"window {spec!r} ends before it starts")
    return Window(start.astimezone(UTC), end.astimezone(UTC), role.strip())


def _window_end(start: datetime, dur: str) -> datetime:
    """The end of a window: a duration with a unit (``4h``, ``90m``, ``1h30m``, read by
    :func:`wormsign.units.parse_duration`) after ``start``, or an ISO date-time."""
    try:
        return start + timedelta(seconds=parse_duration(dur, default_unit=None))
    except ConfigError:
        pass
    try:
        end = datetime.fromisoformat(dur.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"bad window end {dur!r}: use 4h, 90m or an ISO date-time") from None
    return end.replace(tzinfo=UTC) if end.tzinfo is None else end


@dataclass(frozen=True, slots=True)
class Wave:
    """One wave of the plan (the ``plan[]`` element of the ``--json`` contract)."""

    wave: int
    hosts: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"wave": self.wave, "hosts": list(self.hosts), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Ranked:
    host: Host
    score: float
    tier: int
    top: Verdict
    actions: tuple[Verdict, ...]


def rank(hosts: Sequence[Host], verdicts: Mapping[str, Sequence[Verdict]],
         kb: KnowledgeBase, urgency: UrgencyModel) -> list[Ranked]:
    """Hosts that need patching, riskiest first."""
    per_adv: dict[str, tuple[float, float, Urgency]] = {}
    for adv in kb.advisories.values():
        u = urgency.for_advisory(adv.id, adv.outbreak)
        per_adv[adv.id] = (adv.weight, 1.0 / (1.0 + u.wait_s / 3600.0), u)
    out = []
    for h in hosts:
        best: tuple[float, Verdict] | None = None
        for v in verdicts.get(h.host, ()):
            cert = CERTAINTY.get(v.status)
            if cert is None or v.id not in per_adv:
                continue
            sev, urg, _ = per_adv[v.id]
            score = (EXPOSURE_WEIGHT.get(h.exposure, 0.6) * sev * cert * urg
                     * (0.5 + h.criticality / 10.0))
            if best is None or score > best[0]:
                best = (score, v)
        if best is None:
            continue
        v = best[1]
        if v.status == "exploitable":
            tier = 1 if h.exposure == "internal" else 0
        else:
            tier = 2 if v.status == "unknown" else 3
        actions = tuple(x for x in verdicts.get(h.host, ()) if x.status in CERTAINTY)
        out.append(Ranked(h, best[0], tier, v, actions))
    out.sort(key=lambda r: (r.tier, -r.score, r.host.host))
    return out


def _reason(group: Sequence[Ranked], kb: KnowledgeBase, urgency: UrgencyModel,
            head: str) -> str:
    tiers = sorted({r.tier for r in group})
    ids = sorted({v.id for r in group for v in r.actions})
    worms = sorted({w for i in ids for w in kb.advisories[i].worms})
    exp = sorted({r.host.exposure for r in group})
    waits = [urgency.for_advisory(i, kb.advisories[i].outbreak) for i in ids]
    soonest = min(waits, key=lambda u: u.wait_s)
    parts = [head] if head else []
    parts.append("; ".join(TIER_TEXT[t] for t in tiers))
    parts.append(f"{', '.join(ids)}" + (f" ({', '.join(worms)})" if worms else ""))
    parts.append(f"exposure {'/'.join(exp)}")
    parts.append(f"expected time to the first worm probe of an internet-facing address "
                 f"{human(soonest.wait_s)} at outbreak state '{soonest.state}' "
                 f"({soonest.source})")
    others = {(u.source, u.state, u.wait_s) for u in waits if u.source != soonest.source}
    for src, state, wait in sorted(others):
        parts.append(f"{human(wait)} at outbreak state '{state}' ({src})")
    return "; ".join(parts)


def make_plan(ranked: Sequence[Ranked], kb: KnowledgeBase, urgency: UrgencyModel,
              max_per_wave: int | None = None, windows: Sequence[Window] = ()) -> list[Wave]:
    """Group ranked hosts into waves (see the module docstring)."""
    if max_per_wave is not None and max_per_wave < 1:
        raise ConfigError("--max-per-wave must be at least 1")
    waves: list[Wave] = []
    if windows:
        remaining = list(ranked)
        for w in sorted(windows, key=lambda x: x.start):
            if not remaining:
                break
            cap = max_per_wave or len(remaining)
            take = [r for r in remaining if not w.role or r.host.role == w.role][:cap]
            if not take:
                continue
            chosen = {id(r) for r in take}
            remaining = [r for r in remaining if id(r) not in chosen]
            waves.append(Wave(len(waves) + 1, tuple(r.host.host for r in take),
                              _reason(take, kb, urgency, w.label())))
        groups = _chunks(remaining, max_per_wave)
        for g in groups:
            waves.append(Wave(len(waves) + 1, tuple(r.host.host for r in g),
                              _reason(g, kb, urgency, "no maintenance window left: needs an "
                                      "emergency change")))
        return waves
    by_tier: dict[int, list[Ranked]] = {}
    for r in ranked:
        by_tier.setdefault(r.tier, []).append(r)
    for tier in sorted(by_tier):
        for g in _chunks(by_tier[tier], max_per_wave):
            waves.append(Wave(len(waves) + 1, tuple(r.host.host for r in g),
                              _reason(g, kb, urgency, "")))
    return waves


def _chunks(items: Sequence[Ranked], size: int | None) -> list[Sequence[Ranked]]:
    if not items:
        return []
    if size is None:
        return [items]
    return [items[i: i + size] for i in range(0, len(items), size)]
