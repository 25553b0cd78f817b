"""Accepted risks in ``assess``: a verdict a team has decided to live with for a while.

The ``accept`` list of a ``wormsign-ignore.yml`` (see :mod:`wormsign.detect.suppress`)
names a host (``*``: every host), an advisory (its id or any alias), a reason and an
optional expiry. A matching verdict that would need work (exploitable, unknown, mitigated)
becomes ``accepted``: it keeps its evidence, gains the reason, and leaves the patch plan.
After the expiry the verdict is what the evidence says again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from wormsign.detect.suppress import AcceptedRisk, iso_time
from wormsign.fleet.verdict import Verdict

#: Verdicts an accepted risk can cover (patched / not-affected need nothing).
COVERABLE = frozenset({"exploitable", "unknown", "mitigated"})


def apply_accepted(verdicts: Mapping[str, tuple[Verdict, ...]],
                   risks: Sequence[AcceptedRisk], now: int,
                   ) -> dict[str, tuple[Verdict, ...]]:
    """The verdicts with every active accepted risk applied (a new mapping)."""
    active = [r for r in risks if r.active(now)]
    if not active:
        return dict(verdicts)
    out: dict[str, tuple[Verdict, ...]] = {}
    for host, vs in verdicts.items():
        out[host] = tuple(_apply(host, v, active) for v in vs)
    return out


def _apply(host: str, v: Verdict, risks: Sequence[AcceptedRisk]) -> Verdict:
    if v.status not in COVERABLE:
        return v
    for r in risks:
        if r.covers(host, (v.id, *v.aliases)):
            until = f" until {iso_time(r.until)}" if r.until is not None else ""
            note = f"risk accepted{until} (was {v.status}): {r.reason}"
            return replace(v, status="accepted", evidence=(*v.evidence, note))
    return v
