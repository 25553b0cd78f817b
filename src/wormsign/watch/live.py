"""Attribution while the log is still being written.

A scan attributes a source after reading everything; a live view cannot wait for the end.
Requests that only plain rules match (Code Red, Code Red II, scanners, ...) become alerts at
once. Requests that a *burst* rule (Nimda) also matches are **held**: each time more of the
source's requests arrive, :func:`wormsign.detect.attribute.attribute` re-runs over the
source's recent requests (the last ``2 x within`` seconds of log time, at most
``per_source`` of them), and a held request is decided

- as soon as the burst fires for it (a real Nimda burst of 16 requests in a few seconds is
  decided when its 4th request arrives), or
- when the log has moved ``within`` seconds past it (log time), or it has been held
  ``hold`` seconds of wall-clock time (a quiet log), whichever comes first: then it becomes
  what its plain rules say (a lone traversal probe), or nothing when only the burst rule
  matched.

So a source's family is decided on what it sent *up to then*: a burst later diluted by other
traffic stays Nimda (a scan of the finished file might not call it so). Ambiguous rules
(Code Red vs Code Red II in an error log) take the single family already seen from the
source. Held requests are part of the checkpoint (:meth:`LiveAttributor.pending_records`), so
a restart decides them instead of losing them.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wormsign.detect.alert import Alert
from wormsign.detect.attribute import Hit, attribute
from wormsign.logs.record import Request
from wormsign.rules.model import Rule

PER_SOURCE = 256
MAX_PENDING = 20_000


@dataclass(slots=True)
class _Held:
    hit: Hit
    since: float


class LiveAttributor:
    """Turns matched requests into alerts as they arrive; see the module docstring."""

    def __init__(self, rules: Sequence[Rule], *, hold: float | None = None,
                 per_source: int = PER_SOURCE, max_pending: int = MAX_PENDING) -> None:
        self.by_id = {r.id: r for r in rules}
        self.within = max((r.burst.within for r in rules if r.burst is not None), default=0.0)
        self.hold = self.within if hold is None else hold
        self.per_source = per_source
        self.max_pending = max_pending
        self.recent: dict[str, deque[Hit]] = {}
        self.definite: dict[str, set[str]] = {}
        self.pending: list[_Held] = []
        self.watermark = -math.inf
        self._dirty: set[str] = set()
        self._last_sweep = 0.0

    # -- input -------------------------------------------------------------------------
    def add(self, hits: Iterable[Hit], now: float) -> list[Alert]:
        """Take matched requests; returns the alerts decided at once."""
        plain: list[Hit] = []
        for h in hits:
            ts = h.request.timestamp
            if ts is None:
                plain.append(h)
                continue
            t = ts.timestamp()
            if t > self.watermark:
                self.watermark = t
            src = h.request.source_ip
            dq = self.recent.get(src)
            if dq is None:
                dq = self.recent[src] = deque(maxlen=self.per_source)
            dq.append(h)
            if any(r.burst is not None for r in h.rules):
                self.pending.append(_Held(h, now))
                self._dirty.add(src)
            else:
                plain.append(h)
        return self._finish(attribute(plain)) if plain else []

    # -- decisions ---------------------------------------------------------------------
    def release(self, now: float, *, flush: bool = False) -> list[Alert]:
        """Alerts for held requests whose decision is due (all of them with ``flush``)."""
        if not self.pending:
            self._sweep(now)
            return []
        over = len(self.pending) - self.max_pending
        due_sources = set(self._dirty)
        for i, held in enumerate(self.pending):
            if flush or i < over or self._expired(held, now):
                due_sources.add(held.hit.request.source_ip)
        self._dirty.clear()
        if not due_sources:
            return []
        decided: dict[tuple[str, int], Alert | None] = {}
        for src in due_sources:
            window = list(self.recent.get(src, ()))
            mine = [hd.hit for hd in self.pending if hd.hit.request.source_ip == src]
            keep = {id(h) for h in window}
            window += [h for h in mine if id(h) not in keep]  # pushed out of a full window
            by_line = {(a.file_path, a.line): a for a in attribute(window)}
            for h in mine:
                decided[(h.request.path, h.request.line)] = by_line.get(
                    (h.request.path, h.request.line))
        out: list[Alert] = []
        still: list[_Held] = []
        for i, held in enumerate(self.pending):
            req = held.hit.request
            k = (req.path, req.line)
            if k not in decided:
                still.append(held)
                continue
            a = decided[k]
            fired = a is not None and self.by_id[a.rule_id].burst is not None
            if flush or fired or i < over or self._expired(held, now):
                if a is not None:
                    out.append(a)
            else:
                still.append(held)
        self.pending = still
        self._sweep(now)
        return self._finish(out)

    def _expired(self, held: _Held, now: float) -> bool:
        ts = held.hit.request.timestamp
        assert ts is not None
        return (self.watermark >= ts.timestamp() + self.within
                or now - held.since >= self.hold)

    def _finish(self, alerts: list[Alert]) -> list[Alert]:
        """Resolve ambiguous families from what each source is known to be; remember the
        definite ones."""
        out = []
        for a in alerts:
            rule = self.by_id.get(a.rule_id)
            if rule is not None and rule.ambiguous:
                if a.family == rule.family:
                    known = self.definite.get(a.source_ip, set()) & set(rule.ambiguous)
                    if len(known) == 1:
                        a = dataclasses.replace(a, family=next(iter(known)))
            else:
                self.definite.setdefault(a.source_ip, set()).add(a.family)
            out.append(a)
        return out

    def _sweep(self, now: float) -> None:
        """Forget the recent requests of sources quiet for ``2 x within`` of log time."""
        if now - self._last_sweep < 10:
            return
        self._last_sweep = now
        horizon = self.watermark - 2 * self.within
        held = {hd.hit.request.source_ip for hd in self.pending}
        for src in [s for s, dq in self.recent.items()
                    if s not in held and dq and dq[-1].request.timestamp is not None
                    and dq[-1].request.timestamp.timestamp() < horizon]:
            del self.recent[src]

    # -- checkpoints -------------------------------------------------------------------
    def pending_records(self) -> list[dict[str, Any]]:
        """The held requests as JSON-able records (for the checkpoint)."""
        out = []
        for held in self.pending:
            r = held.hit.request
            d = {f.name: getattr(r, f.name) for f in dataclasses.fields(Request)}
            d["timestamp"] = r.timestamp.isoformat() if r.timestamp is not None else None
            d["rules"] = [x.id for x in held.hit.rules]
            out.append(d)
        return out

    def restore(self, records: Iterable[dict[str, Any]], now: float) -> list[Alert]:
        """Hold again the requests of :meth:`pending_records` (rules no longer loaded are
        dropped from them)."""
        hits = []
        for d in records:
            rules = tuple(self.by_id[x] for x in d.get("rules", ()) if x in self.by_id)
            fields = {k: v for k, v in d.items() if k != "rules"}
            ts = fields.get("timestamp")
            fields["timestamp"] = datetime.fromisoformat(ts) if ts else None
            if rules:
                hits.append(Hit(Request(**fields), rules))
        return self.add(hits, now) if hits else []
