"""Blocklists with a lifecycle.

Every attacking source that is not internal, not allowlisted and a real address gets an
entry with an expiry: ``now + ttl`` when it is added, extended to ``now + ttl`` whenever a
refresh finds newer activity from it (its ``last_seen`` grew), and left to lapse otherwise.
Expired entries stay in the store (for the record) but are not exported. Allowlisted and own
networks are never blocked: a refresh removes entries that an allowlist now covers.

Stored sources are attacker-written text. Only what :func:`~.networks.parse_ip` turns into an
address reaches the blocklist, under its canonical form (``str()`` of the parsed object; an
IPv4-mapped IPv6 source is its IPv4 address); anything else (a zone id ``%eth0``, a newline,
text) stays in the evidence, is never exported, and is counted as ``refused``.
:func:`aggregate` collapses entries into CIDR blocks per address family.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections import Counter
from dataclasses import dataclass, fields, replace
from typing import Any

import sqlalchemy as sa

from wormsign.incidents import schema as t
from wormsign.incidents.networks import (
    IPAddress,
    IPNetwork,
    canonical,
    parse_duration,
    parse_ip,
)
from wormsign.incidents.store import Store, now_s

DEFAULT_TTL = 7 * 86400


@dataclass(frozen=True)
class Entry:
    """One blocklist entry; ``address`` is canonical (see :func:`.networks.canonical`)."""

    address: str
    family: str
    events: int
    first_seen: int | None
    last_seen: int | None
    added_at: int
    expires_at: int

    @functools.cached_property
    def ip(self) -> IPAddress | IPNetwork:
        """The parsed address or network."""
        got = parse_ip(self.address, networks=True)
        if got is None:
            raise ValueError(f"not a canonical address: {self.address!r}")
        return got

    @property
    def version(self) -> int:
        return 6 if ":" in self.address else 4

    def active(self, now: int) -> bool:
        return self.expires_at > now

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
    """Bring the blocklist up to date with the evidence; returns counts of what changed
    (``added``, ``extended``, ``removed``) and of the stored sources ``refused`` because they
    are not addresses."""
    ttl_s = ttl_seconds(ttl)
    now = now_s() if now is None else now
    cls = store.classifier(incident_id)
    per_source, refused = _blockable_sources(store, incident_id, cls)
    bl = t.blocklist
    added = extended = removed = 0
    with store.begin() as conn:
        existing = {r.address: r for r in conn.execute(
            sa.select(bl).where(bl.c.incident_id == incident_id)).all()}
        # Rows written before addresses were canonical (``2a00::1%x}``) go too.
        # (every key of per_source is canonical and blockable: only the others need a look)
        gone = [a for a in existing if a not in per_source
                and (canonical(a) != a or not cls.is_blockable(a))]
        for i in range(0, len(gone), 5000):
            conn.execute(bl.delete().where(bl.c.incident_id == incident_id,
                                           bl.c.address.in_(gone[i:i + 5000])))
        removed = len(gone)
        for a in gone:
            del existing[a]
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
        if added or extended or removed or refused:
            store.log_action(conn, incident_id, "blocklist",
                             f"{added} added, {extended} extended, {removed} removed, "
                             f"{refused} refused (not addresses) (ttl {ttl_s}s)")
    return {"added": added, "extended": extended, "removed": removed, "refused": refused}


def _blockable_sources(store: Store, incident_id: int, cls: Any
                       ) -> tuple[dict[str, dict[str, Any]], int]:
    """Per canonical address, the merged stats of the sources to block (read as tuples from
    the per-source rollup: a dict per row costs seconds at 150,000 sources), and the number
    of distinct stored sources refused as not addresses. An address seen under several
    families (or spellings) gets the family with the most alerts."""
    s = t.source_families
    q = sa.select(s.c.source_ip, s.c.family, s.c.alerts, s.c.first_seen,
                  s.c.last_seen).where(s.c.incident_id == incident_id)
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    per_source: dict[str, dict[str, Any]] = {}
    best: dict[str, tuple[int, str]] = {}
    refused: set[str] = set()
    for raw, family, alerts, first, last in rows:
        ip = canonical(raw)
        if ip is None:
            refused.add(raw)
            continue
        if not cls.is_blockable(ip):
            continue
        alerts = int(alerts)
        cur = per_source.get(ip)
        if cur is None:
            per_source[ip] = {"family": family, "alerts": alerts, "first_seen": first,
                              "last_seen": last}
            best[ip] = (alerts, family)
            continue
        if (alerts, family) > best[ip]:
            best[ip] = (alerts, family)
            cur["family"] = family
        cur["alerts"] += alerts
        if first is not None:
            cur["first_seen"] = first if cur["first_seen"] is None else min(cur["first_seen"],
                                                                            first)
        if last is not None:
            cur["last_seen"] = last if cur["last_seen"] is None else max(cur["last_seen"], last)
    return per_source, len(refused)


def refused_sources(store: Store, incident_id: int) -> int:
    """How many distinct stored sources of an incident are not addresses (kept as evidence,
    never exported)."""
    s = t.source_families
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(s.c.source_ip).where(s.c.incident_id == incident_id)
                            .distinct()).scalars().all()
    return sum(1 for r in rows if canonical(r) is None)


def entries(store: Store, incident_id: int, *, now: int | None = None,
            include_expired: bool = False) -> list[Entry]:
    """The blocklist entries (active ones only unless ``include_expired``), by address."""
    return load(store, incident_id, now=now, include_expired=include_expired)[0]


def load(store: Store, incident_id: int, *, now: int | None = None,
         include_expired: bool = False) -> tuple[list[Entry], int]:
    """The entries (as :func:`entries`) and the number of stored rows refused because their
    address is not one (such rows are never exported; a refresh removes them)."""
    now = now_s() if now is None else now
    bl = t.blocklist
    q = sa.select(bl.c.address, bl.c.family, bl.c.events, bl.c.first_seen, bl.c.last_seen,
                  bl.c.added_at, bl.c.expires_at).where(bl.c.incident_id == incident_id)
    if not include_expired:
        q = q.where(bl.c.expires_at > now)
    out: list[Entry] = []
    refused = 0
    with store.engine.connect() as conn:
        for r in conn.execute(q).all():
            address = canonical(r[0], networks=True)
            if address is None:
                refused += 1
                continue
            out.append(Entry(address, *r[1:]))
    out.sort(key=_order)
    return _dedupe(out), refused


def _order(e: Entry) -> tuple[int, bytes, int]:
    """IPv4 first, then by address (packed bytes compare as numbers), then prefix length."""
    host, _, plen = e.address.partition("/")
    v6 = ":" in host
    packed = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, host)
    return (6 if v6 else 4, packed, int(plen) if plen else (128 if v6 else 32))


def _dedupe(items: list[Entry]) -> list[Entry]:
    """One entry per canonical address (two stored spellings of one address would make a
    firewall refuse the set); the later expiry wins."""
    out: list[Entry] = []
    for e in items:
        if out and out[-1].address == e.address:
            if e.expires_at > out[-1].expires_at:
                out[-1] = e
            continue
        out.append(e)
    return out


def aggregate(items: list[Entry]) -> list[Entry]:
    """Entries collapsed into the fewest CIDR blocks per address family (what
    :func:`ipaddress.collapse_addresses` gives); a block covers exactly its members' addresses.

    A block's family is its members' most frequent one, its events their sum, its times the
    earliest first seen and added, the latest last seen, and the *earliest* expiry, so no
    address stays blocked past its own expiry (re-export or poll the feed to renew).
    Members are merged as integer ranges and only runs of adjacent addresses are cut into
    blocks by :func:`ipaddress.summarize_address_range`: ``collapse_addresses`` on 150,000
    objects takes minutes."""
    out: list[Entry] = []
    for version, cls in ((4, ipaddress.IPv4Address), (6, ipaddress.IPv6Address)):
        members = sorted((_span(e) for e in items if e.version == version),
                         key=lambda m: (m[0], -m[1]))
        i = 0
        while i < len(members):
            lo, hi = members[i][0], members[i][1]
            j = i + 1
            while j < len(members) and members[j][0] <= hi + 1:
                hi = max(hi, members[j][1])
                j += 1
            if j == i + 1:
                out.append(members[i][2])  # alone: already an address or a CIDR
            else:
                run, k = members[i:j], 0
                for block in ipaddress.summarize_address_range(cls(lo), cls(hi)):
                    last, group = int(block.broadcast_address), []
                    while k < len(run) and run[k][1] <= last:
                        group.append(run[k][2])
                        k += 1
                    if group:
                        out.append(_merge(block, group))
            i = j
    return out


def _span(e: Entry) -> tuple[int, int, Entry]:
    """The first and last address of an entry as integers."""
    host, _, plen = e.address.partition("/")
    v6 = ":" in host
    lo = int.from_bytes(socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, host))
    size = 1 << ((128 if v6 else 32) - int(plen)) if plen else 1
    return lo, lo + size - 1, e


def _merge(block: IPNetwork, group: list[Entry]) -> Entry:
    ip: IPAddress | IPNetwork = (block.network_address
                                 if block.prefixlen == block.max_prefixlen else block)
    if len(group) == 1 and group[0].address == str(ip):
        return group[0]
    fam = Counter(e.family for e in group).most_common(1)[0][0]
    firsts = [e.first_seen for e in group if e.first_seen is not None]
    lasts = [e.last_seen for e in group if e.last_seen is not None]
    return replace(group[0], address=str(ip), family=fam,
                   events=sum(e.events for e in group),
                   first_seen=min(firsts) if firsts else None,
                   last_seen=max(lasts) if lasts else None,
                   added_at=min(e.added_at for e in group),
                   expires_at=min(e.expires_at for e in group))
