"""Suppression in the incident store: rules (typed or from a ``wormsign-ignore.yml``) and
suppressing triage marks, applied whenever evidence is read.

Nothing is deleted or hidden: stored alerts stay as they are, and every reader asks this
module which of them are suppressed *now* (:func:`state`). So a rule or a mark applies at
once to evidence already stored and to evidence ingested later (a re-ingest keeps each
alert's evidence key, and marks name alerts by it), and an expired rule or mark stops
applying by itself, bringing back what it covered. Exports leave out sources whose every
alert is suppressed and say how many they left out; the incident summary, the report and the
dashboard list each rule with its reason, expiry and the alerts it covers.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from wormsign.detect.suppress import IgnoreFile, Suppression, glob_like, glob_sqlite, iso_time
from wormsign.errors import InvalidError, NotFoundError
from wormsign.incidents import schema as t
from wormsign.incidents.networks import canonical
from wormsign.incidents.store import Store, now_s
from wormsign.incidents.triage import Mark, default_actor, list_marks, suppressing_marks

ORIGINS = ("store", "file")


def _rule(r: Any) -> Suppression:
    return Suppression(id=r.key, reason=r.reason, source=r.source, rule=r.rule_id,
                       family=r.family, path=r.path, until=r.expires_at, origin=r.origin,
                       actor=r.actor or None)


def list_rules(store: Store, incident_id: int) -> list[Suppression]:
    """The incident's stored suppression rules (typed and from files), oldest first."""
    s = t.suppressions
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(s).where(s.c.incident_id == incident_id)
                            .order_by(s.c.id)).all()
    return [_rule(r) for r in rows]


def _row(incident_id: int, s: Suppression, actor: str, stamp: int) -> dict[str, Any]:
    return {"incident_id": incident_id, "key": s.id, "origin": s.origin, "source": s.source,
            "rule_id": s.rule, "family": s.family, "path": s.path, "reason": s.reason,
            "expires_at": s.until, "created_at": stamp, "actor": actor}


class RuleMatch(TypedDict, total=False):
    """What a suppression rule covers (:func:`add_rule`'s keywords): a ``source`` address
    or CIDR, a ``rule`` id, a ``family``, a ``path`` pattern."""

    source: str | None
    rule: str | None
    family: str | None
    path: str | None


def add_rule(store: Store, incident_id: int, *, reason: str, until: int | None = None,
             key: str | None = None, actor: str | None = None,
             **match: Unpack[RuleMatch]) -> Suppression:
    """Store a suppression rule typed by a person (``origin`` ``store``) covering ``match``
    (``source=``, ``rule=``, ``family=``, ``path=``); returns it."""
    from wormsign.detect.suppress import derived_id
    store.get_incident(incident_id)
    source, rule = match.get("source"), match.get("rule")
    family, path = match.get("family"), match.get("path")
    fields = {"source": source, "rule": rule, "family": family, "path": path}
    try:
        s = Suppression(id=key or derived_id(fields), reason=reason, until=until,
                        origin="store", source=source, rule=rule, family=family, path=path)
    except ValueError as exc:
        raise InvalidError(str(exc)) from exc
    who = actor if actor is not None else default_actor()
    st = t.suppressions
    with store.begin() as conn:
        if conn.execute(sa.select(st.c.id).where(st.c.incident_id == incident_id,
                                                 st.c.key == s.id)).first() is not None:
            raise InvalidError(f"incident {incident_id} already has a suppression {s.id!r}")
        conn.execute(st.insert().values(**_row(incident_id, s, who, now_s())))
        store.bump_version(conn, incident_id)
        store.log_action(conn, incident_id, "suppress",
                         f"rule {s.id} added by {who}: {s.reason}")
    return s


def remove_rule(store: Store, incident_id: int, key: str, *, actor: str | None = None) -> None:
    """Delete a stored suppression rule (what it covered comes back at once)."""
    st = t.suppressions
    who = actor if actor is not None else default_actor()
    with store.begin() as conn:
        n = conn.execute(st.delete().where(st.c.incident_id == incident_id,
                                           st.c.key == key)).rowcount
        if not n:
            raise NotFoundError(f"incident {incident_id} has no suppression {key!r}")
        store.bump_version(conn, incident_id)
        store.log_action(conn, incident_id, "suppress", f"rule {key} removed by {who}")


def sync_file(store: Store, incident_id: int, ignore: IgnoreFile, *,
              actor: str | None = None) -> int:
    """Make the incident's file rules those of ``ignore`` (rules no longer in the file go,
    so the file in git stays the truth); returns how many rules the file has."""
    store.get_incident(incident_id)
    st = t.suppressions
    who = actor if actor is not None else default_actor()
    stamp = now_s()
    with store.begin() as conn:
        typed = set(conn.execute(sa.select(st.c.key).where(
            st.c.incident_id == incident_id, st.c.origin == "store")).scalars())
        clash = [s.id for s in ignore.suppress if s.id in typed]
        if clash:
            raise InvalidError(f"{ignore.path}: id(s) already used by typed suppressions: "
                               + ", ".join(clash))
        conn.execute(st.delete().where(st.c.incident_id == incident_id,
                                       st.c.origin == "file"))
        if ignore.suppress:
            conn.execute(st.insert(), [_row(incident_id, s, who, stamp)
                                       for s in ignore.suppress])
        store.bump_version(conn, incident_id)
        store.log_action(conn, incident_id, "suppress",
                         f"{len(ignore.suppress)} rule(s) read from {ignore.path} by {who}")
    return len(ignore.suppress)


# -- evaluation ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """Every suppression of an incident at ``now``: stored rules and suppressing marks, with
    which of them apply (``active``)."""

    now: int
    rules: tuple[Suppression, ...]
    marks: tuple[Mark, ...]

    @property
    def all(self) -> list[Suppression]:
        return [*self.rules, *(m.to_suppression() for m in self.marks)]

    @property
    def active(self) -> list[Suppression]:
        return [s for s in self.all if s.active(self.now)]

    def key(self) -> str:
        """Changes whenever what is suppressed may change (a cache key for feeds)."""
        raw = repr([(s.id, s.to_dict()) for s in self.active])
        return hashlib.sha256(raw.encode("utf-8", "backslashreplace")).hexdigest()[:16]


def load_rules(store: Store, incident_id: int, now: int | None = None) -> Rules:
    """The incident's suppressions at ``now`` (default: the current time)."""
    return Rules(now_s() if now is None else now, tuple(list_rules(store, incident_id)),
                 tuple(suppressing_marks(store, incident_id)))


def _sources_in(store: Store, incident_id: int, s: Suppression) -> list[str]:
    sf = t.source_families
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(sf.c.source_ip).where(
            sf.c.incident_id == incident_id).distinct()).scalars().all()
    return [x for x in stored if s.covers_source(x)]


def _literal_list(values: list[str]) -> sa.BindParameter[Any]:
    """A list rendered into the SQL text (no limit on the number of bound parameters)."""
    return sa.bindparam(None, value=values, expanding=True, literal_execute=True,
                        type_=sa.String())


def clause(store: Store, incident_id: int, s: Suppression) -> ColumnElement[bool]:
    """The SQL condition on ``alerts`` of one rule (within the incident)."""
    a = t.alerts
    conds: list[ColumnElement[bool]] = [a.c.incident_id == incident_id]
    if s.alert_key is not None:
        conds.append(a.c.akey == s.alert_key)
    if s.rule is not None:
        conds.append(a.c.rule_id == s.rule)
    if s.family is not None:
        conds.append(sa.or_(a.c.family == s.family, a.c.rule_family == s.family))
    if s.path is not None:  # case-sensitive on both, as on a scan
        conds.append(a.c.url.op("GLOB")(glob_sqlite(s.path)) if store.dialect == "sqlite"
                     else a.c.url.like(glob_like(s.path), escape="\\"))
    net = s.network
    if net is not None:
        if net.num_addresses == 1:
            conds.append(a.c.source_ip == str(net.network_address))
        else:
            inside = _sources_in(store, incident_id, s)
            conds.append(a.c.source_ip.in_(_literal_list(inside)) if inside else sa.false())
    return sa.and_(*conds)


def predicate(store: Store, incident_id: int, rules: Rules) -> ColumnElement[bool] | None:
    """One SQL condition true for the incident's suppressed alerts (None: none are)."""
    parts = [clause(store, incident_id, s) for s in rules.active]
    return sa.or_(*parts) if parts else None


#: Answers per (store, incident, data version, suppression key, question): pages, feeds and
#: exports ask again and again while nothing changed; any change of the evidence, the rules or
#: the marks (a new version), or a lapse (a new key), asks the database again.
_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_SIZE = 64


def _cached(store: Store, incident_id: int, rules: Rules, what: str,
            compute: Callable[[], Any]) -> Any:
    key = (store.url, incident_id, store.incident_version(incident_id), rules.key(), what)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = compute()
    _CACHE[key] = value
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def suppressed_sources(store: Store, incident_id: int, rules: Rules | None = None,
                       ) -> set[str]:
    """Canonical sources whose every alert is suppressed: left out of exports."""
    rules = load_rules(store, incident_id) if rules is None else rules
    if not rules.active:
        return set()
    return set(_cached(store, incident_id, rules, "sources",
                       lambda: frozenset(_suppressed_sources(store, incident_id, rules))))


def _suppressed_sources(store: Store, incident_id: int, rules: Rules) -> set[str]:
    pred = predicate(store, incident_id, rules)
    if pred is None:
        return set()
    a = t.alerts
    with store.engine.connect() as conn:
        hit = set(conn.execute(sa.select(a.c.source_ip).where(pred).distinct()).scalars())
        if not hit:
            return set()
        kept = set(conn.execute(sa.select(a.c.source_ip).where(
            a.c.incident_id == incident_id, sa.not_(pred),
            a.c.source_ip.in_(_literal_list(sorted(hit)))).distinct()).scalars())
    return {c for c in (canonical(x) for x in hit - kept) if c is not None}


def state(store: Store, incident_id: int, now: int | None = None) -> dict[str, Any]:
    """What is suppressed in an incident now, for people: each rule and mark (active or
    expired) with its reason, expiry and the alerts and sources it covers, and the totals.
    The ``suppressed`` object of ``incident show --json`` and ``triage show --json``."""
    rules = load_rules(store, incident_id, now)
    doc = dict(_cached(store, incident_id, rules, "state",
                       lambda: _state(store, incident_id, rules)))
    doc["now"] = iso_time(rules.now)
    return doc


def _state(store: Store, incident_id: int, rules: Rules) -> dict[str, Any]:
    a = t.alerts
    out_rules = []
    with store.engine.connect() as conn:
        for s in rules.all:
            c = clause(store, incident_id, s)
            n, srcs = conn.execute(sa.select(sa.func.count(),
                                             sa.func.count(sa.distinct(a.c.source_ip)))
                                   .where(c)).one()
            out_rules.append({**s.to_dict(), "active": s.active(rules.now),
                              "alerts": int(n), "sources": int(srcs)})
        pred = predicate(store, incident_id, rules)
        total = 0 if pred is None else int(conn.execute(
            sa.select(sa.func.count()).where(pred)).scalar() or 0)
    hidden = suppressed_sources(store, incident_id, rules) if total else set()
    counts = {r["id"]: r for r in out_rules if r["origin"] == "mark"}
    marks = []
    for m in list_marks(store, incident_id):
        hit = counts.get(f"mark-{m.id}", {"alerts": 0, "sources": 0})
        marks.append({**m.to_dict(), "active": m.active(rules.now),
                      "suppresses": m.suppresses(rules.now),
                      "alerts": hit["alerts"], "sources": hit["sources"]})
    return {"now": iso_time(rules.now), "alerts": total,
            "sources_fully_suppressed": len(hidden),
            "rules": [r for r in out_rules if r["origin"] != "mark"], "marks": marks}
