"""Blocklist exports for firewalls, proxies and IDS, plus CSV and STIX.

Formats are registered in :data:`EXPORTERS` (id -> function of an :class:`ExportContext`);
each output names the incident, carries every entry's expiry and is valid for its target:

- ``nftables``: a ruleset for ``nft -f`` with timeout sets (entries drop out by themselves);
- ``iptables``: an ``iptables-restore --noflush`` file with a ``WORMSIGN-<incident>`` chain;
- ``nginx``: ``deny`` lines to ``include``; ``apache``: a 2.4 ``<RequireAll>`` block;
- ``suricata``: drop rules per source and alert rules for the worm URL patterns;
- ``csv``: one row per entry, cells that a spreadsheet would run as formulas are quoted;
- ``stix``: a STIX 2.1 bundle (:mod:`wormsign.incidents.stix`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from wormsign.errors import StoreError
from wormsign.incidents.blocklist import Entry, entries, refresh
from wormsign.incidents.playbook import families_seen
from wormsign.incidents.query import iso
from wormsign.incidents.store import Incident, Store, now_s
from wormsign.logs.text import csv_cell

DEFAULT_SID_BASE = 9_500_000


def incident_sid_base(incident_id: int) -> int:
    """First Suricata sid of an incident's exports: 9,500,000 + 100,000 per incident."""
    return DEFAULT_SID_BASE + (incident_id % 40_000) * 100_000


@dataclass(frozen=True)
class ExportContext:
    """What an exporter gets: the incident, its active entries and the families seen."""

    store: Store
    incident: Incident
    entries: list[Entry]
    families: list[str]
    now: int
    sid_base: int = DEFAULT_SID_BASE
    options: dict[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"wormsign incident {self.incident.id}"


def _clean(text: str) -> str:
    """Text safe inside a comment or a quoted rule string of any target format."""
    return re.sub(r"[^A-Za-z0-9 ._:/()+-]", "_", text)[:120]


def _header(ctx: ExportContext, prefix: str = "#") -> str:
    lines = [f"{ctx.label}: {_clean(ctx.incident.name)}",
             f"generated {iso(ctx.now)}; {len(ctx.entries)} active entries; "
             "each expires as noted (re-export to refresh)"]
    return "".join(f"{prefix} {x}\n" for x in lines)


def _expiry(e: Entry) -> str:
    return f"{e.family} expires {iso(e.expires_at)}"


def export_nftables(ctx: ExportContext) -> str:
    table = f"wormsign_incident_{ctx.incident.id}"
    out = ["#!/usr/sbin/nft -f", _header(ctx).rstrip("\n"),
           f"add table inet {table}", f"delete table inet {table}", f"table inet {table} {{"]
    for ver, typ in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        elems = [f"{e.address} timeout {max(e.expires_at - ctx.now, 1)}s"
                 for e in ctx.entries if e.version == ver]
        out.append(f"    set blocklist{ver} {{")
        out.append(f"        type {typ}")
        out.append("        flags timeout")
        if elems:
            out.append("        elements = {")
            out.extend(f"            {x}," for x in elems[:-1])
            out.append(f"            {elems[-1]}")
            out.append("        }")
        out.append("    }")
    for chain, hook in (("input", "input"), ("forward", "forward")):
        out.append(f"    chain {chain} {{")
        out.append(f"        type filter hook {hook} priority filter - 10; policy accept;")
        out.append(f'        ip saddr @blocklist4 counter drop comment "{ctx.label}"')
        out.append(f'        ip6 saddr @blocklist6 counter drop comment "{ctx.label}"')
        out.append("    }")
    out.append("}")
    return "\n".join(out) + "\n"


def export_iptables(ctx: ExportContext) -> str:
    chain = f"WORMSIGN-{ctx.incident.id}"  # one chain per incident: loading one keeps others
    out = [_header(ctx).rstrip("\n"),
           f"# load: iptables-restore --noflush < FILE; hook: iptables -I INPUT -j {chain}",
           "*filter", f":{chain} - [0:0]", f"-F {chain}"]
    v6: list[str] = []
    for e in ctx.entries:
        rule = (f'-A {chain} -s {e.address} -m comment --comment '
                f'"{ctx.label} {_clean(_expiry(e))}" -j DROP')
        (out if e.version == 4 else v6).append(rule)
    out.append("COMMIT")
    if v6:
        out.append(f"# {len(v6)} IPv6 entries for ip6tables-restore --noflush:")
        out.extend(f"# {r}" for r in v6)
    return "\n".join(out) + "\n"


def export_nginx(ctx: ExportContext) -> str:
    out = [_header(ctx).rstrip("\n"), "# include in an http, server or location block"]
    out.extend(f"deny {e.address};  # {_clean(_expiry(e))}" for e in ctx.entries)
    return "\n".join(out) + "\n"


def export_apache(ctx: ExportContext) -> str:
    out = [_header(ctx).rstrip("\n"), "# Apache 2.4: include inside <Directory> or <Location>",
           "<RequireAll>", "    Require all granted"]
    for e in ctx.entries:
        out.append(f"    # {_clean(_expiry(e))}")
        out.append(f"    Require not ip {e.address}")
    out.append("</RequireAll>")
    return "\n".join(out) + "\n"


#: URL content rules per family: (message, [(content, nocase)], reference).
URL_RULES: dict[str, list[tuple[str, list[str], str]]] = {
    "code-red": [("Code Red .ida overflow request", ["/default.ida?", "NNNNNNNNNNNNNNNN"],
                  "cve,2001-0500")],
    "code-red-ii": [("Code Red II .ida overflow request", ["/default.ida?", "XXXXXXXXXXXXXXXX"],
                     "cve,2001-0500"),
                    ("Code Red II root.exe backdoor access", ["/root.exe"], "cve,2001-0500")],
    "nimda": [("Nimda cmd.exe traversal request", ["/winnt/system32/cmd.exe"], "cve,2000-0884"),
              ("Nimda root.exe backdoor probe", ["/root.exe?/c+dir"], "cve,2001-0500")],
}


def _rule_string(text: str) -> str:
    """Escape a Suricata quoted string (msg, content): ``"``, ``;`` and ``\\``."""
    return re.sub(r'([";\\])', r"\\\1", text)


def export_suricata(ctx: ExportContext) -> str:
    out = [_header(ctx).rstrip("\n")]
    sid = ctx.sid_base
    for fam in ctx.families:
        for msg, contents, ref in URL_RULES.get(fam, []):
            opts = [f'msg:"{_rule_string("wormsign " + msg)}"', "flow:established,to_server",
                    "http.uri"]
            opts += [f'content:"{_rule_string(c)}"; nocase' for c in contents]
            opts += [f"reference:{ref}", "classtype:web-application-attack",
                     f"sid:{sid}", "rev:1"]
            out.append(f"alert http any any -> $HOME_NET any ({'; '.join(opts)};)")
            sid += 1
    for e in ctx.entries:
        msg = _rule_string(f"{ctx.label} blocked source {e.address} ({_clean(_expiry(e))})")
        out.append(f'drop ip {e.address} any -> $HOME_NET any (msg:"{msg}"; '
                   f"classtype:misc-attack; sid:{sid}; rev:1;)")
        sid += 1
    return "\n".join(out) + "\n"


def export_csv(ctx: ExportContext) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["address", "family", "events", "first_seen", "last_seen", "added_at",
                "expires_at", "incident"])
    for e in ctx.entries:
        w.writerow([csv_cell(x) for x in (e.address, e.family, e.events, iso(e.first_seen),
                                          iso(e.last_seen), iso(e.added_at),
                                          iso(e.expires_at), ctx.incident.name)])
    return buf.getvalue()


def export_stix(ctx: ExportContext) -> str:
    from wormsign.incidents.stix import build_bundle
    # stix2's pretty printer sorts properties in quadratic time; indent the plain form instead.
    return json.dumps(json.loads(build_bundle(ctx).serialize()), indent=1) + "\n"


Exporter = Callable[[ExportContext], str]

EXPORTERS: dict[str, Exporter] = {
    "nftables": export_nftables,
    "iptables": export_iptables,
    "nginx": export_nginx,
    "apache": export_apache,
    "suricata": export_suricata,
    "csv": export_csv,
    "stix": export_stix,
}


def export(store: Store, incident_id: int, fmt: str, *, ttl: str | int | None = None,
           now: int | None = None, sid_base: int | None = None,
           refresh_first: bool = True) -> str:
    """Refresh the blocklist with ``ttl`` (unless ``refresh_first`` is False) and render the
    active entries in format ``fmt``; the export is recorded in the audit trail.

    Suricata rule ids start at ``sid_base``, by default a range of 100,000 ids of the
    incident's own (:func:`incident_sid_base`), so exports of two incidents load together."""
    if sid_base is None:
        sid_base = incident_sid_base(incident_id)
    if fmt not in EXPORTERS:
        raise StoreError(f"unknown export format {fmt!r}; one of {', '.join(EXPORTERS)}")
    inc = store.get_incident(incident_id)
    now = now_s() if now is None else now
    if refresh_first and inc.status == "open":
        refresh(store, incident_id, ttl, now=now)
    ctx = ExportContext(store, inc, entries(store, incident_id, now=now),
                        families_seen(store, incident_id), now, sid_base)
    text = EXPORTERS[fmt](ctx)
    store.record_action(incident_id, "export", f"{fmt}: {len(ctx.entries)} entries")
    return text
