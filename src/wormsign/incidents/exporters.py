"""Blocklist exports for firewalls, proxies and IDS, plus CSV and STIX.

Formats are registered in :data:`EXPORTERS` (id -> function of an :class:`ExportContext`);
each output names the incident, carries every entry's expiry and is valid for its target
(checked by the target's own tool in the tests: ``nft -c``, ``iptables-restore --test``,
``nginx -t``, ``apache2 -t``, ``suricata -T``). Addresses are written from their parsed
``ipaddress`` objects only (:mod:`.blocklist` refuses and counts anything else, and the count is
a comment in every format that has comments); other stored text (incident name, family) is
reduced to a safe alphabet in comments and rule strings, escaped in CSV and JSON.

- ``plain``: one address or CIDR per line, nothing else (for feeds);

- ``nftables``: a ruleset for ``nft -f`` with timeout sets (entries drop out by themselves);
- ``iptables``: an ``iptables-restore --noflush`` file with a ``WORMSIGN-<incident>`` chain;
- ``nginx``: ``deny`` lines to ``include``; ``apache``: a 2.4 ``<RequireAll>`` block;
- ``suricata``: drop rules per source and alert rules for the worm URL patterns;
- ``csv``: one row per entry, cells that a spreadsheet would run as formulas are quoted;
- ``stix``: a STIX 2.1 bundle with the incident's TLP 2.0 marking (:mod:`wormsign.incidents.stix`);
- ``misp``: a MISP event JSON (:mod:`wormsign.incidents.misp`).
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import hashlib
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import sqlalchemy as sa

from wormsign.errors import StoreError
from wormsign.incidents import schema as t
from wormsign.incidents.blocklist import Entry, aggregate, load, refresh, refused_sources
from wormsign.incidents.playbook import families_seen
from wormsign.incidents.query import iso
from wormsign.incidents.store import Incident, Store, now_s
from wormsign.incidents.suppress import load_rules, suppressed_sources
from wormsign.logs.text import csv_cell, safe

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
    #: Stored values refused on the way (sources or rows that are not addresses).
    refused: int = 0
    #: Entries left out because every alert of their source is suppressed (triage marks,
    #: suppression rules; see :mod:`wormsign.incidents.suppress`).
    suppressed: int = 0

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
    if ctx.refused:
        lines.append(f"{ctx.refused} stored source value(s) refused: not an address "
                     "(kept as evidence, never exported)")
    if ctx.suppressed:
        lines.append(f"{ctx.suppressed} source(s) suppressed (triage marks or suppression "
                     "rules; see wormsign triage show) and not exported")
    return "".join(f"{prefix} {x}\n" for x in lines)


def _expiry(e: Entry) -> str:
    return f"{e.family} expires {iso(e.expires_at)}"


def export_plain(ctx: ExportContext) -> str:
    """One canonical address or CIDR per line and nothing else: the simplest feed."""
    return "".join(f"{e.address}\n" for e in ctx.entries)


def export_nftables(ctx: ExportContext) -> str:
    table = f"wormsign_incident_{ctx.incident.id}"
    out = ["#!/usr/sbin/nft -f", _header(ctx).rstrip("\n"),
           f"add table inet {table}", f"delete table inet {table}", f"table inet {table} {{"]
    for ver, typ in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        elems = [f"{e.address} timeout {max(e.expires_at - ctx.now, 1)}s"
                 for e in ctx.entries if e.version == ver]
        # a CIDR block (an aggregated export) needs an interval set
        nets = any(e.version == ver and "/" in e.address for e in ctx.entries)
        out.append(f"    set blocklist{ver} {{")
        out.append(f"        type {typ}")
        out.append("        flags interval,timeout" if nets else "        flags timeout")
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
    if v6:  # a whole ip6tables-restore file behind a prefix iptables-restore reads as comment
        out.append(f"# {len(v6)} IPv6 entries; load: "
                   f"sed -n 's/^#6 //p' FILE | ip6tables-restore --noflush")
        out.extend(f"#6 {r}" for r in ["*filter", f":{chain} - [0:0]", f"-F {chain}", *v6,
                                       "COMMIT"])
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
    name = csv_cell(safe(ctx.incident.name))
    for e in ctx.entries:
        w.writerow([e.address, csv_cell(safe(e.family)), e.events, iso(e.first_seen),
                    iso(e.last_seen), iso(e.added_at), iso(e.expires_at), name])
    return buf.getvalue()


def export_stix(ctx: ExportContext) -> str:
    """The STIX 2.1 bundle as one string; :func:`stream` writes it piece by piece."""
    from wormsign.incidents.stix import stream_bundle
    return "".join(stream_bundle(ctx))


def export_misp(ctx: ExportContext) -> str:
    """A MISP event (:mod:`wormsign.incidents.misp`)."""
    from wormsign.incidents.misp import export_misp as misp
    return misp(ctx)


Exporter = Callable[[ExportContext], str]

EXPORTERS: dict[str, Exporter] = {
    "plain": export_plain,
    "nftables": export_nftables,
    "iptables": export_iptables,
    "nginx": export_nginx,
    "apache": export_apache,
    "suricata": export_suricata,
    "csv": export_csv,
    "stix": export_stix,
    "misp": export_misp,
}


def context(store: Store, incident_id: int, *, now: int | None = None,
            sid_base: int | None = None, aggregated: bool = False,
            refused_sources_known: int | None = None, tlp: str | None = None,
            ) -> ExportContext:
    """What every exporter renders: the active entries (collapsed into CIDR blocks when
    ``aggregated``), the families seen, and how many stored values were refused (sources
    that are not addresses, counted again unless a refresh just counted them)."""
    inc = store.get_incident(incident_id)
    now = now_s() if now is None else now
    items, bad_rows = load(store, incident_id, now=now)
    hidden = suppressed_sources(store, incident_id, load_rules(store, incident_id, now))
    kept = [e for e in items if e.address not in hidden]
    if aggregated:
        kept = aggregate(kept)
    return ExportContext(store, inc, kept, families_seen(store, incident_id), now,
                         incident_sid_base(incident_id) if sid_base is None else sid_base,
                         {"aggregate": aggregated, "tlp": tlp},
                         bad_rows + (refused_sources(store, incident_id)
                                     if refused_sources_known is None
                                     else refused_sources_known),
                         len(items) - len([e for e in items if e.address not in hidden]))


def _check_format(fmt: str) -> None:
    if fmt not in EXPORTERS:
        raise StoreError(f"unknown export format {fmt!r}; one of {', '.join(EXPORTERS)}")


@dataclass(frozen=True)
class ExportOptions:
    """How :func:`export` and :func:`stream` refresh and render (see :func:`export`)."""

    ttl: str | int | None = None
    now: int | None = None
    sid_base: int | None = None
    refresh_first: bool = True
    aggregated: bool = False
    tlp: str | None = None


class ExportKw(TypedDict, total=False):
    """:class:`ExportOptions` as keyword arguments of :func:`export` and :func:`stream`."""

    ttl: str | int | None
    now: int | None
    sid_base: int | None
    refresh_first: bool
    aggregated: bool
    tlp: str | None


def export(store: Store, incident_id: int, fmt: str, options: ExportOptions | None = None,
           **overrides: Unpack[ExportKw]) -> str:
    """Refresh the blocklist with ``ttl`` (unless ``refresh_first`` is False) and render the
    active entries in format ``fmt``; the export is recorded in the audit trail. ``options``
    (:class:`ExportOptions`) and the keyword ``overrides`` of its fields say how.

    Suricata rule ids start at ``sid_base``, by default a range of 100,000 ids of the
    incident's own (:func:`incident_sid_base`), so exports of two incidents load together.
    With ``aggregated`` the entries are collapsed into CIDR blocks; ``tlp`` marks a STIX
    export."""
    return "".join(stream(store, incident_id, fmt, options, **overrides))


def stream(store: Store, incident_id: int, fmt: str, options: ExportOptions | None = None,
           **overrides: Unpack[ExportKw]) -> Iterator[str]:
    """:func:`export` as pieces of text to write one after the other: a STIX bundle of a
    large blocklist is never held whole in memory. The work (refresh, loading, the audit
    record) is done before the first piece is returned."""
    opts = dataclasses.replace(options or ExportOptions(), **overrides)
    _check_format(fmt)
    inc = store.get_incident(incident_id)
    now = now_s() if opts.now is None else opts.now
    known = None
    if opts.refresh_first and inc.status == "open":
        known = refresh(store, incident_id, opts.ttl, now=now)["refused"]
    ctx = context(store, incident_id, now=now, sid_base=opts.sid_base,
                  aggregated=opts.aggregated, refused_sources_known=known, tlp=opts.tlp)
    refused = f", {ctx.refused} refused (not addresses)" if ctx.refused else ""
    if ctx.suppressed:
        refused += f", {ctx.suppressed} suppressed"
    store.record_action(incident_id, "export", f"{fmt}: {len(ctx.entries)} entries{refused}")
    if fmt == "stix":
        from wormsign.incidents.stix import stream_bundle
        return stream_bundle(ctx)
    return iter([EXPORTERS[fmt](ctx)])


# --- the blocklist feed: polled every few seconds by firewalls ------------------------------

#: Formats a firewall can poll (the STIX bundle is a document, not a feed).
FEED_FORMATS = ("plain", "nftables", "iptables", "nginx", "apache", "suricata", "csv")


@dataclass(frozen=True)
class RenderedBlocklist:
    """A rendered feed: the text, its ETag, how many entries it holds and how many stored
    values were refused (not addresses: kept as evidence, never exported)."""

    text: str
    etag: str
    entries: int
    refused: int


@dataclass
class _Snapshot:
    fingerprint: tuple[object, ...]
    digest: str  # SHA-256 of every stored row of the incident's blocklist
    expiries: list[int]  # of every stored row, sorted: which rows are active at ``now``
    taken: float  # monotonic time of the digest
    #: per (format, aggregated, sid base): the newest rendering and when it was made
    rendered: dict[tuple[str, bool, int], tuple[int, RenderedBlocklist]] = field(
        default_factory=dict)


_SNAPSHOTS: dict[tuple[str, int], _Snapshot] = {}
_SNAPSHOT_LIMIT = 32
#: A cached rendering is served for at most this long (its relative nftables timeouts and
#: "generated" line age with it), and the rows' digest is taken afresh at least this often.
RENDER_MAX_AGE = 60
_clock = time.monotonic


def _fingerprint(store: Store, incident_id: int) -> tuple[object, ...]:
    """Changes whenever a refresh changes the blocklist (new rows get new ids, removed ones
    lower the count, extended ones a growing expiry, count or last seen), the incident, or
    its set of (source, family) pairs: a few aggregates the database reads in one pass."""
    bl, sf, inc = t.blocklist, t.source_families, t.incidents
    func = sa.func
    agg = sa.select(func.count(), func.coalesce(func.sum(bl.c.id), 0), func.max(bl.c.id),
                    func.coalesce(func.sum(bl.c.expires_at), 0),
                    func.coalesce(func.sum(bl.c.events), 0),
                    func.coalesce(func.sum(bl.c.last_seen), 0),
                    func.coalesce(func.sum(func.length(bl.c.address)), 0),
                    func.coalesce(func.sum(func.length(bl.c.family)), 0),
                    ).where(bl.c.incident_id == incident_id)
    with store.engine.connect() as conn:
        rows = tuple(conn.execute(agg).one())
        sources = conn.execute(sa.select(func.count()).select_from(sf)
                               .where(sf.c.incident_id == incident_id)).scalar()
        head = conn.execute(sa.select(inc.c.name, inc.c.status)
                            .where(inc.c.id == incident_id)).one_or_none()
    if head is None:
        store.get_incident(incident_id)  # raises the store's not-found error
    return (*(int(x) if x is not None else None for x in rows), sources, *(head or ()),
            load_rules(store, incident_id).key())


def _snapshot(store: Store, incident_id: int) -> _Snapshot:
    """The incident's blocklist digest, taken again when the fingerprint changed or
    :data:`RENDER_MAX_AGE` passed (so even an edit the fingerprint misses shows)."""
    key = (store.url, incident_id)
    fp = _fingerprint(store, incident_id)
    snap = _SNAPSHOTS.get(key)
    if snap is None or snap.fingerprint != fp or _clock() - snap.taken > RENDER_MAX_AGE:
        bl = t.blocklist
        h = hashlib.sha256()
        expiries = []
        q = (sa.select(bl.c.address, bl.c.family, bl.c.events, bl.c.first_seen,
                       bl.c.last_seen, bl.c.added_at, bl.c.expires_at)
             .where(bl.c.incident_id == incident_id).order_by(bl.c.id))
        with store.engine.connect() as conn:
            for r in conn.execute(q):
                h.update(repr(tuple(r)).encode("utf-8", "backslashreplace"))
                expiries.append(r[6])
        expiries.sort()
        digest = h.hexdigest()
        old = snap.rendered if snap is not None and snap.digest == digest else {}
        snap = _Snapshot(fp, digest, expiries, _clock(), old)
        _SNAPSHOTS.pop(key, None)
        if len(_SNAPSHOTS) >= _SNAPSHOT_LIMIT:
            _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))
        _SNAPSHOTS[key] = snap
    return snap


def blocklist_etag(store: Store, incident_id: int, fmt: str = "plain", *,
                   aggregated: bool = False, sid_base: int | None = None,
                   now: int | None = None) -> str:
    """The strong ETag of the feed :func:`render_blocklist` would serve now, without rendering
    it: a SHA-256 of what the content is made of (a digest of the stored rows, which of them
    are active, the incident, its sources, the format and options). The rows' digest is
    cached while a cheap fingerprint of the rows stays the same (at most
    :data:`RENDER_MAX_AGE` seconds), so a poll costs a few aggregate queries. Two renderings
    with one ETag differ only in the "generated" line and in nftables' relative timeouts,
    which name the same expiry times."""
    _check_feed_format(fmt)
    now = now_s() if now is None else now
    return _etag(_snapshot(store, incident_id), incident_id, fmt, aggregated, sid_base, now)


def _check_feed_format(fmt: str) -> None:
    if fmt not in FEED_FORMATS:
        raise StoreError(f"unknown feed format {fmt!r}; one of {', '.join(FEED_FORMATS)}"
                         + (" (a STIX bundle is an export: use stream())" if fmt == "stix"
                            else ""))


def _etag(snap: _Snapshot, incident_id: int, fmt: str, aggregated: bool,
          sid_base: int | None, now: int) -> str:
    expired = bisect.bisect_right(snap.expiries, now)
    base = incident_sid_base(incident_id) if sid_base is None else sid_base
    raw = repr((snap.digest, snap.fingerprint, expired, fmt, aggregated, base)).encode()
    return '"' + hashlib.sha256(raw).hexdigest()[:40] + '"'


def render_blocklist(store: Store, incident_id: int, fmt: str = "plain", *,
                     aggregated: bool = False, sid_base: int | None = None,
                     now: int | None = None) -> RenderedBlocklist:
    """The incident's active blocklist in ``fmt`` with its ETag, for a feed: read-only (no
    refresh, no audit record; ingests and ``export`` refresh the blocklist). Renderings are
    cached per ETag for :data:`RENDER_MAX_AGE` seconds, so polling costs a few aggregate
    queries when nothing changed (answer ``If-None-Match`` with :func:`blocklist_etag`, which
    costs the same, to send nothing either). Formats: :data:`FEED_FORMATS`."""
    _check_feed_format(fmt)
    now = now_s() if now is None else now
    snap = _snapshot(store, incident_id)
    etag = _etag(snap, incident_id, fmt, aggregated, sid_base, now)
    key = (fmt, aggregated, -1 if sid_base is None else sid_base)
    hit = snap.rendered.get(key)
    if hit is not None and hit[1].etag == etag and 0 <= now - hit[0] <= RENDER_MAX_AGE:
        return hit[1]
    ctx = context(store, incident_id, now=now, sid_base=sid_base, aggregated=aggregated)
    out = RenderedBlocklist(EXPORTERS[fmt](ctx), etag, len(ctx.entries), ctx.refused)
    snap.rendered[key] = (now, out)
    return out
