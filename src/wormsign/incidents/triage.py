"""Triage marks: an analyst's verdict on an alert, a source or a rule, with a note and who.

A mark is one appended row (newest per target wins; older ones stay as the history). The
verdicts ``false-positive`` and ``benign-scanner`` suppress what they name (see
:mod:`wormsign.incidents.suppress`) until the mark's expiry, if it has one; ``confirmed``
lifts an earlier suppressing mark of the same target; ``note`` only adds a note. Marks on an
alert name it by its evidence key, which the same request keeps across re-ingest, so a false
positive marked once stays marked. Every mark is also written to the audit trail.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from wormsign.detect.suppress import Suppression, iso_time
from wormsign.errors import InvalidError, NotFoundError
from wormsign.incidents import schema as t
from wormsign.incidents.networks import canonical
from wormsign.incidents.store import Store, now_s

VERDICTS = ("false-positive", "benign-scanner", "confirmed", "note")
#: Verdicts that suppress what they name.
SUPPRESSING = frozenset({"false-positive", "benign-scanner"})
TARGET_KINDS = ("alert", "source", "rule")
MAX_NOTE = 2000
MAX_ACTOR = 128


def default_actor() -> str:
    """Who acts when nobody says: ``$WORMSIGN_ACTOR``, else the login name."""
    env = os.environ.get("WORMSIGN_ACTOR", "").strip()
    if env:
        return env[:MAX_ACTOR]
    try:
        return getpass.getuser()[:MAX_ACTOR]
    except (OSError, KeyError):
        return "unknown"


@dataclass(frozen=True)
class Mark:
    """One triage mark. ``target`` is the evidence key (alert), address or rule id;
    ``alert_id`` is the stored alert's row id when the target is an alert still stored."""

    id: int
    incident_id: int
    target_kind: str
    target: str
    verdict: str
    note: str
    actor: str
    created_at: int
    expires_at: int | None
    alert_id: int | None = None

    def active(self, now: int) -> bool:
        return self.expires_at is None or self.expires_at > now

    def suppresses(self, now: int) -> bool:
        return self.verdict in SUPPRESSING and self.active(now)

    def to_suppression(self) -> Suppression:
        """The suppression rule this mark amounts to (only for suppressing verdicts)."""
        why = self.verdict + (f": {self.note}" if self.note else "")
        kw: dict[str, Any] = {"source": self.target} if self.target_kind == "source" else (
            {"rule": self.target} if self.target_kind == "rule"
            else {"alert_key": int(self.target)})
        return Suppression(id=f"mark-{self.id}", reason=why, until=self.expires_at,
                           origin="mark", actor=self.actor, **kw)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = iso_time(self.created_at)
        d["expires_at"] = iso_time(self.expires_at)
        return d


def _clean_text(text: str | None, limit: int, what: str) -> str:
    s = (text or "").strip()
    if len(s) > limit or any(not c.isprintable() for c in s):
        raise InvalidError(f"a {what} is at most {limit} printable characters")
    return s


def _target(store: Store, incident_id: int, kind: str, target: str) -> tuple[str, int | None]:
    """The stored form of a target: an alert by its row id becomes its evidence key."""
    if kind == "source":
        ip = canonical(target)
        if ip is None:
            raise InvalidError(f"not an address: {target!r}")
        return ip, None
    if kind == "rule":
        return _clean_text(target, 128, "rule id") or "-", None
    if kind != "alert":
        raise InvalidError(f"a mark targets one of {', '.join(TARGET_KINDS)}")
    if not str(target).isdigit():
        raise InvalidError(f"an alert is named by its number, not {target!r}")
    a = t.alerts
    with store.engine.connect() as conn:
        key = conn.execute(sa.select(a.c.akey).where(
            a.c.incident_id == incident_id, a.c.id == int(target))).scalar()
    if key is None:
        raise NotFoundError(f"incident {incident_id} has no alert {target}")
    return str(int(key)), int(target)


def mark(store: Store, incident_id: int, kind: str, target: str, verdict: str, *,
         note: str = "", actor: str | None = None, until: int | None = None) -> Mark:
    """Record a triage mark (and an audit-trail entry naming the actor); returns it."""
    if verdict not in VERDICTS:
        raise InvalidError(f"a verdict is one of {', '.join(VERDICTS)}")
    store.get_incident(incident_id)
    stored, _ = _target(store, incident_id, kind, target)
    text = _clean_text(note, MAX_NOTE, "note")
    who = _clean_text(actor if actor is not None else default_actor(), MAX_ACTOR, "actor")
    stamp = now_s()
    m = t.triage_marks
    with store.begin() as conn:
        mid = int(conn.execute(m.insert().values(
            incident_id=incident_id, target_kind=kind, target=stored, verdict=verdict,
            note=text, actor=who, created_at=stamp, expires_at=until).returning(m.c.id)
        ).scalar_one())
        store.bump_version(conn, incident_id)
        until_s = f" until {iso_time(until)}" if until is not None else ""
        store.log_action(conn, incident_id, "triage",
                         f"{kind} {target}: {verdict}{until_s} by {who or '-'}"
                         + (f": {text}" if text else ""))
    return Mark(mid, incident_id, kind, stored, verdict, text, who, stamp, until)


def list_marks(store: Store, incident_id: int, *, latest: bool = True) -> list[Mark]:
    """The incident's marks: the newest verdict per target (``latest``; a ``note`` mark
    never replaces a verdict), else every mark, oldest first."""
    m, a = t.triage_marks, t.alerts
    q = sa.select(m.c.id, m.c.incident_id, m.c.target_kind, m.c.target, m.c.verdict,
                  m.c.note, m.c.actor, m.c.created_at, m.c.expires_at
                  ).where(m.c.incident_id == incident_id).order_by(m.c.id)
    with store.engine.connect() as conn:
        rows = [Mark(*r) for r in conn.execute(q)]
        keys = [int(x.target) for x in rows if x.target_kind == "alert"]
        ids: dict[str, int] = {}
        for i in range(0, len(keys), 500):
            for rid, key in conn.execute(sa.select(a.c.id, a.c.akey).where(
                    a.c.incident_id == incident_id, a.c.akey.in_(keys[i:i + 500]))):
                ids[str(int(key))] = int(rid)
    rows = [Mark(**{**asdict(x), "alert_id": ids.get(x.target)})
            if x.target_kind == "alert" else x for x in rows]
    if not latest:
        return rows
    newest: dict[tuple[str, str], Mark] = {}
    for x in rows:
        if x.verdict != "note" or (x.target_kind, x.target) not in newest:
            newest[(x.target_kind, x.target)] = x
    return sorted(newest.values(), key=lambda x: x.id)


def suppressing_marks(store: Store, incident_id: int) -> list[Mark]:
    """The newest verdicts that suppress (expired ones included: they show as expired)."""
    return [x for x in list_marks(store, incident_id) if x.verdict in SUPPRESSING]
