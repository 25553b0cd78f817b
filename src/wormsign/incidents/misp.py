"""MISP event JSON export of an incident (``incident export --format misp``).

One event per incident, in the format MISP imports (``{"Event": {...}}``, as PyMISP's
``MISPEvent.load`` reads it): an ``ip-src`` attribute per active blocklist entry
(``to_ids`` true, first and last seen, the events it sent, and its country and AS when an
enrichment database is configured), a ``pattern-in-traffic`` attribute per worm URL pattern
of the families seen (``to_ids`` true), a ``vulnerability`` attribute per CVE they exploit
(``to_ids`` false), and tags: the incident's TLP (``tlp:amber``...), one
``wormsign:family="..."`` tag per family, and the MITRE ATT&CK galaxy cluster that fits a
worm spreading through web servers (``Exploit Public-Facing Application - T1190``).
Suppressed sources are not in the event (the exporter context leaves them out). Attribute
and event ids are UUIDv5 of the incident and the value, so a re-export updates the same
MISP objects. Addresses are the canonical ``str()`` of parsed ``ipaddress`` objects; free
text (incident name, family) reaches JSON through ``json.dumps`` only.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from wormsign.incidents import schema as t
from wormsign.incidents.stix import tlp_of, uuid5, vuln_title, worm_info
from wormsign.logs.text import safe

if TYPE_CHECKING:
    from wormsign.incidents.blocklist import Entry
    from wormsign.incidents.exporters import ExportContext

#: The galaxy cluster of worms that enter through a web server's request handling.
ATTACK_T1190 = 'misp-galaxy:mitre-attack-pattern="Exploit Public-Facing Application - T1190"'
#: MISP threat levels: 1 high, 2 medium, 3 low, 4 undefined; analysis 1 ongoing, 2 complete.
THREAT_HIGH = "1"


def _date(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _uuid(ctx: ExportContext, key: str) -> str:
    return uuid5(f"{ctx.incident.id}/misp/{key}")


def _attribute(ctx: ExportContext, kind: str, category: str, value: str, *, to_ids: bool,
               comment: str, first: int | None = None,
               last: int | None = None) -> dict[str, Any]:
    a: dict[str, Any] = {"uuid": _uuid(ctx, f"{kind}/{value}"), "type": kind,
                         "category": category, "value": value, "to_ids": to_ids,
                         "comment": comment, "timestamp": str(ctx.now), "distribution": "5",
                         "disable_correlation": False}
    if first is not None:
        a["first_seen"] = _iso(first)
    if last is not None and (first is None or last >= first):
        a["last_seen"] = _iso(last)
    return a


def _entry(ctx: ExportContext, e: Entry, where: dict[str, str]) -> dict[str, Any]:
    extra = f"; {where[e.address]}" if e.address in where else ""
    return _attribute(ctx, "ip-src", "Network activity", e.address, to_ids=True,
                      comment=f"{safe(e.family)[:64]} worm source: {e.events} request(s); "
                              f"blocklisted until {_iso(e.expires_at)}{extra}",
                      first=e.first_seen, last=e.last_seen)


def _enrichment_notes(ctx: ExportContext) -> dict[str, str]:
    """``country CC, AS123 Org`` per address from the enrichment cache (empty without one)."""
    en = t.enrichment
    addrs = [e.address for e in ctx.entries]
    out: dict[str, str] = {}
    with ctx.store.engine.connect() as conn:
        for i in range(0, len(addrs), 500):
            for addr, cc, asn, org in conn.execute(sa.select(
                    en.c.address, en.c.country, en.c.asn, en.c.as_org)
                    .where(en.c.address.in_(addrs[i:i + 500]))):
                parts = [f"country {cc}" if cc else "",
                         f"AS{asn}" + (f" {safe(org)[:80]}" if org else "") if asn else ""]
                if any(parts):
                    out[addr] = ", ".join(p for p in parts if p)
    return out


def event(ctx: ExportContext) -> dict[str, Any]:
    """The MISP event of an export context as a JSON-ready dict."""
    tlp = tlp_of(ctx)
    where = _enrichment_notes(ctx)
    attrs = [_entry(ctx, e, where) for e in ctx.entries]
    cves: list[str] = []
    for fam in ctx.families:
        info = worm_info(fam)
        if info is None:
            continue
        for frag in info["urls"]:
            attrs.append(_attribute(ctx, "pattern-in-traffic", "Network activity", frag,
                                    to_ids=True, comment=f"{info['name']} request"))
        cves.extend(c for c in info["cves"] if c not in cves)
    attrs.extend(_attribute(ctx, "vulnerability", "External analysis", c, to_ids=False,
                            comment=vuln_title(c)) for c in cves)
    tags = [{"name": f"tlp:{tlp}"}]
    tags += [{"name": f'wormsign:family="{safe(f)[:64]}"'} for f in ctx.families]
    if any(worm_info(f) is not None for f in ctx.families):
        tags.append({"name": ATTACK_T1190})
    inc = ctx.incident
    return {"Event": {
        "uuid": _uuid(ctx, "event"),
        "info": f"wormsign incident {inc.id}: {safe(inc.name)}",
        "date": _date(inc.created_at),
        "timestamp": str(ctx.now),
        "published": False,
        "analysis": "2" if inc.status == "closed" else "1",
        "threat_level_id": THREAT_HIGH,
        "distribution": "0",
        "Attribute": attrs,
        "Tag": tags,
    }}


def export_misp(ctx: ExportContext) -> str:
    """The MISP event JSON text (``EXPORTERS["misp"]``)."""
    return json.dumps(event(ctx), ensure_ascii=False, indent=1) + "\n"
