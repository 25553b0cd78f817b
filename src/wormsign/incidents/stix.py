"""STIX 2.1 export of an incident (built with the ``stix2`` library).

The bundle holds: an identity (the responder's system), one malware object per worm family
seen, the vulnerabilities they exploit (CVE-2001-0500 for Code Red and Code Red II;
CVE-2000-0884 and CVE-2001-0333 for Nimda) with ``exploits`` relationships, one indicator
per active blocklist entry (``[ipv4-addr:value = '…']``, valid until the entry expires) and
per worm URL pattern (``[url:value LIKE '%/default.ida?NNNN%']``), ``indicates``
relationships to the malware, and a sighting per indicator with its count and first/last
times. Object ids are UUIDv5 of the incident and the object's key, so re-exports are stable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import stix2

from wormsign.incidents import schema as t

if TYPE_CHECKING:
    from wormsign.incidents.exporters import ExportContext

NAMESPACE = uuid.UUID("8a4c1f0e-5b1d-4c8e-9a57-2f1c6d0b9e31")

WORMS: dict[str, dict[str, Any]] = {
    "code-red": {
        "name": "Code Red", "aliases": ["CodeRed", "CRv1", "CRv2"],
        "description": "IIS worm of July 2001 exploiting the Indexing Service ISAPI "
                       "(.ida) overflow; memory-resident.",
        "cves": ["CVE-2001-0500"],
        "urls": ["/default.ida?NNNNNNNN"],
    },
    "code-red-ii": {
        "name": "Code Red II", "aliases": ["CodeRedII"],
        "description": "IIS worm of August 2001 using the same .ida overflow; installs a "
                       "root.exe backdoor and a trojan explorer.exe that survive reboots.",
        "cves": ["CVE-2001-0500"],
        "urls": ["/default.ida?XXXXXXXX"],
    },
    "nimda": {
        "name": "Nimda", "aliases": ["W32/Nimda"],
        "description": "Multi-vector worm of September 2001: IIS Unicode and double-decode "
                       "traversal, Code Red II backdoors, e-mail, open shares, web pages.",
        "cves": ["CVE-2000-0884", "CVE-2001-0333"],
        "urls": ["/winnt/system32/cmd.exe", "/root.exe?/c+dir"],
    },
}

VULNS = {
    "CVE-2001-0500": ("MS01-033: IIS Index Server ISAPI extension (.ida) buffer overflow"),
    "CVE-2000-0884": ("MS00-078: IIS Web Server Folder Traversal (Unicode)"),
    "CVE-2001-0333": ("MS01-026: IIS superfluous decoding (double decode) traversal"),
}


def _ts(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _like(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("'", "\\'")
    return f"[url:value LIKE '%{escaped}%']"


def build_bundle(ctx: ExportContext) -> stix2.Bundle:
    """The STIX 2.1 bundle of an incident's evidence and active blocklist."""
    iid = ctx.incident.id

    def sid(kind: str, key: str) -> str:
        return f"{kind}--{uuid.uuid5(NAMESPACE, f'{iid}/{kind}/{key}')}"

    # Ids are stable across exports, so `created` must be too (STIX 2.1 versioning): the
    # incident's opening; `modified` is this export, a newer version of the same objects.
    created = _ts(min(ctx.incident.created_at, ctx.now))
    common = {"created": created, "modified": _ts(ctx.now)}
    me = stix2.Identity(id=sid("identity", "wormsign"), name="wormsign incident response",
                        identity_class="system", **common)
    objs: list[Any] = [me]
    malware: dict[str, Any] = {}
    for fam in ctx.families:
        info = WORMS.get(fam)
        if info is None:
            continue
        mw = stix2.Malware(id=sid("malware", fam), name=info["name"], is_family=True,
                           malware_types=["worm"], aliases=info["aliases"],
                           description=info["description"], created_by_ref=me.id, **common)
        malware[fam] = mw
        objs.append(mw)
        for cve in info["cves"]:
            vid = sid("vulnerability", cve)
            if not any(o.id == vid for o in objs):
                objs.append(stix2.Vulnerability(
                    id=vid, name=cve, description=VULNS[cve], created_by_ref=me.id,
                    external_references=[{"source_name": "cve", "external_id": cve}], **common))
            objs.append(stix2.Relationship(id=sid("relationship", f"{fam}/exploits/{cve}"),
                                           relationship_type="exploits", source_ref=mw.id,
                                           target_ref=vid, **common))

    def indicate(ind: Any, fam: str, key: str, count: int, first: int | None,
                 last: int | None) -> None:
        objs.append(ind)
        if fam in malware:
            objs.append(stix2.Relationship(id=sid("relationship", f"{key}/indicates"),
                                           relationship_type="indicates", source_ref=ind.id,
                                           target_ref=malware[fam].id, **common))
        extra: dict[str, Any] = {}
        if first is not None and last is not None:
            extra = {"first_seen": _ts(first), "last_seen": _ts(max(last, first))}
        objs.append(stix2.Sighting(id=sid("sighting", key), sighting_of_ref=ind.id,
                                   count=min(max(count, 0), 999_999_999),
                                   where_sighted_refs=[me.id], created_by_ref=me.id,
                                   **extra, **common))

    for e in ctx.entries:
        kind = "ipv6-addr" if e.version == 6 else "ipv4-addr"
        start = e.first_seen if e.first_seen is not None else e.added_at
        until = max(e.expires_at, start + 1)
        ind = stix2.Indicator(
            id=sid("indicator", f"src/{e.address}"), name=f"Worm source {e.address}",
            description=f"Sent {e.events} {e.family} requests; blocklisted until "
                        f"{_ts(e.expires_at).isoformat()}",
            indicator_types=["malicious-activity"], pattern=f"[{kind}:value = '{e.address}']",
            pattern_type="stix", valid_from=_ts(start), valid_until=_ts(until),
            created_by_ref=me.id, **common)
        indicate(ind, e.family, f"src/{e.address}", e.events, e.first_seen, e.last_seen)

    a = t.alerts
    with ctx.store.engine.connect() as conn:
        fam_stats = {r[0]: (int(r[1]), r[2], r[3]) for r in conn.execute(
            sa.select(a.c.family, sa.func.count(), sa.func.min(a.c.ts), sa.func.max(a.c.ts))
            .where(a.c.incident_id == iid).group_by(a.c.family))}
    for fam, mw in malware.items():
        count, first, last = fam_stats.get(fam, (0, None, None))
        for frag in WORMS[fam]["urls"]:
            ind = stix2.Indicator(
                id=sid("indicator", f"url/{fam}/{frag}"), name=f"{mw.name} request {frag}",
                indicator_types=["malicious-activity"], pattern=_like(frag),
                pattern_type="stix", valid_from=_ts(first) if first is not None else created,
                created_by_ref=me.id, **common)
            indicate(ind, fam, f"url/{fam}/{frag}", count, first, last)
    return stix2.Bundle(objects=objs, id=sid("bundle", str(ctx.now)))
