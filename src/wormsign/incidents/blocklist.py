"""Blocklists with a lifecycle.

Every attacking source that is not internal, not allowlisted and a real address gets an
entry with an expiry: ``now + ttl`` when it is added, extended to ``now + ttl`` whenever a
refresh finds newer activity from it (its ``last_seen`` grew), and left to lapse otherwise.
Expired entries stay in the store (for the record) but are not exported. Allowlisted and own
networks are never blocked: a refresh removes entries that an allowlist now covers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from wormsign.incidents import schema as t
from wormsign.incidents.networks import parse_address, parse_duration
from wormsign.incidents.query import source_stats
from wormsign.incidents.store import Store, now_s

DEFAULT_TTL = 7 * 86400


@dataclass(frozen=True)
class Entry:
    """One blocklist entry."""

    address: str
    family: str
    events: int
    first_seen: int | None
    last_seen: int | None
    added_at: int
    expires_at: int

    @property
    def version(self) -> int:
        addr = parse_address(self.address)
        return 4 if addr is None else addr.version

    def active(self, now: int) -> bool:
        return self.expires_at > now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ttl_seconds(ttl: str | int | None) -> int:
    """A TTL given as seconds or as a duration string (``12h``, ``7d``); default 7 days."""
    if ttl is None:
        return DEFAULT_TTL
    if isinstance(ttl, int):
        if ttl <= 0:
            return parse_duration(str(ttl))
        return ttl
    return parse_duration(ttl)


def refresh(store: Store, incident_id: int, ttl: str | int | None = None,
            now: int | None = None) -> dict[str, int]:
    """Bring the blocklist up to date with the evidence; returns counts of what changed."""
    ttl_s = ttl_seconds(ttl)
    now = now_s() if now is None else now
    cls = store.classifier(incident_id)
    per_source: dict[str, dict[str, Any]] = {}
    for s in source_stats(store, incident_id):
        ip = s["source_ip"]
        if not cls.is_blockable(ip):
            continue
        cur = per_source.get(ip)
        if cur is None:
            per_source[ip] = dict(s)
            continue
        if s["alerts"] > cur["alerts"]:
            cur["family"] = s["family"]
        cur["alerts"] += s["alerts"]
        for k, fn in (("first_seen", min), ("last_seen", max)):
            if s[k] is not None:
                cur[k] = s[k] if cur[k] is None else fn(cur[k], s[k])
    bl = t.blocklist
    added = extended = removed = 0
    with store.begin() as conn:
        existing = {r.address: r for r in conn.execute(
            sa.select(bl).where(bl.c.incident_id == incident_id))}
        gone = [a for a in existing if not cls.is_blockable(a)]
        if gone:
            conn.execute(bl.delete().where(bl.c.incident_id == incident_id,
                                           bl.c.address.in_(gone)))
            removed = len(gone)
        new_rows = []
        for ip, s in per_source.items():
            old = existing.get(ip)
            if old is None:
                new_rows.append({"incident_id": incident_id, "address": ip,
                                 "family": s["family"], "events": s["alerts"],
                                 "first_seen": s["first_seen"], "last_seen": s["last_seen"],
                                 "added_at": now, "expires_at": now + ttl_s})
                continue
            newer = s["alerts"] > old.events or (
                s["last_seen"] is not None and (old.last_seen is None
                                                or s["last_seen"] > old.last_seen))
            if newer:
                conn.execute(bl.update().where(bl.c.id == old.id).values(
                    events=s["alerts"], family=s["family"], last_seen=s["last_seen"],
                    expires_at=max(old.expires_at, now + ttl_s)))
                extended += 1
        for i in range(0, len(new_rows), 5000):
            conn.execute(bl.insert(), new_rows[i:i + 5000])
        added = len(new_rows)
        if added or extended or removed:
            store.log_action(conn, incident_id, "blocklist",
                             f"{added} added, {extended} extended, {removed} removed "
                             f"(ttl {ttl_s}s)")
    return {"added": added, "extended": extended, "removed": removed}


def entries(store: Store, incident_id: int, *, now: int | None = None,
            include_expired: bool = False) -> list[Entry]:
    """The blocklist entries (active ones only unless ``include_expired``), by address."""
    now = now_s() if now is None else now
    bl = t.blocklist
    q = sa.select(bl.c.address, bl.c.family, bl.c.events, bl.c.first_seen, bl.c.last_seen,
                  bl.c.added_at, bl.c.expires_at).where(bl.c.incident_id == incident_id)
    if not include_expired:
        q = q.where(bl.c.expires_at > now)
    with store.engine.connect() as conn:
        out = [Entry(*r) for r in conn.execute(q)]

    def order(e: Entry) -> tuple[int, int, str]:
        addr = parse_address(e.address)
        return (4, 0, e.address) if addr is None else (addr.version, int(addr), "")

    out.sort(key=order)
    return out
