"""``wormsign incident``: manage a worm incident from evidence to report.

A thin skin over :mod:`wormsign.incidents`; ``--json`` outputs are stable contracts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from wormsign.cli._store import dump, usage, with_store
from wormsign.errors import InputError, InvalidError
from wormsign.logs.text import safe

if TYPE_CHECKING:
    from wormsign.incidents.store import Store
    from wormsign.incidents.tasks import Progress

ActionFn = Callable[["Store", argparse.Namespace], int]

FORMATS = ("plain", "nftables", "iptables", "nginx", "apache", "suricata", "csv", "stix",
           "misp")
TASK_STATUSES = ("open", "in-progress", "done", "skipped")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "incident", help="manage an incident: evidence, playbook tasks, blocklists, reports",
        description="Turn scan alerts, raw logs and assessments into a managed incident: "
        "timeline and assets, playbook tasks, blocklists (nftables, iptables, nginx, apache, "
        "suricata, csv, STIX 2.1) and HTML/PDF reports. The store is a SQLite file (--db PATH, "
        "$WORMSIGN_DB, default ~/.local/share/wormsign/wormsign.db) or PostgreSQL "
        "(--db postgresql://user:pw@host/db).",
    )
    db_help = "store: SQLite path or database URL (default $WORMSIGN_DB or the per-user file)"
    p.add_argument("--db", help=db_help)
    p.set_defaults(func=usage(p))
    cmds = p.add_subparsers(dest="action", metavar="ACTION")

    def add(name: str, fn: ActionFn, help_: str) -> argparse.ArgumentParser:
        sp = cmds.add_parser(name, help=help_, description=help_)
        sp.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
        sp.set_defaults(func=with_store(fn))
        return sp

    sp = add("new", _new, "open a new incident and print its id")
    sp.add_argument("name")
    sp.add_argument("--own", action="append", default=[], metavar="CIDR",
                    help="own network: internal like RFC 1918, never blocked (repeatable)")
    sp.add_argument("--allow", action="append", default=[], metavar="CIDR",
                    help="allowlisted network (partners), never blocked (repeatable)")

    sp = add("ingest", _ingest, "add evidence: scan --alerts JSON Lines, raw logs, "
             "assess --json output (detected per file)")
    sp.add_argument("id", type=int)
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--batch-size", type=int, default=50_000, help="alerts per transaction")
    sp.add_argument("--reread", action="store_true",
                    help="read files again even when an earlier ingest finished them unchanged")
    sp.add_argument("--sensor", metavar="NAME",
                    help="name of the sensor (server) these files come from; by default the "
                    "log format's family (httpd, iis, ...), so a copy, the alerts JSON Lines "
                    "and the raw log of the same requests are stored once")
    sp.add_argument("--ignore", metavar="FILE",
                    help="suppression rules (wormsign-ignore.yml) made the incident's file "
                    "rules before reading; the result says how many alerts are suppressed")
    sp.add_argument("--json", action="store_true", help="JSON result on stdout")

    sp = add("list", _list, "list incidents")
    sp.add_argument("--open", action="store_true", help="only open incidents")
    sp.add_argument("--json", action="store_true")

    sp = add("show", _show, "show an incident: totals, families, sources, victims, tasks")
    sp.add_argument("id", type=int)
    sp.add_argument("--json", action="store_true", help="the full summary as JSON")
    sp.add_argument("--top", type=int, default=10, help="sources listed")

    sp = add("close", _close, "close an incident (it accepts no more evidence)")
    sp.add_argument("id", type=int)

    sp = add("networks", _networks, "add own or allowlisted networks to an incident")
    sp.add_argument("id", type=int)
    sp.add_argument("cidrs", nargs="+", metavar="CIDR")
    sp.add_argument("--own", action="store_true", help="own networks (default: allowlist)")

    sp = add("tasks", _tasks, "list the playbook tasks and progress")
    sp.add_argument("id", type=int)
    sp.add_argument("--json", action="store_true")

    sp = add("task", _task, "update a task: status, owner, note")
    sp.add_argument("id", type=int)
    sp.add_argument("task", help="task number or key (e.g. contain.block-sources or "
                    "nimda/contain.block-sources)")
    sp.add_argument("--status", choices=TASK_STATUSES)
    sp.add_argument("--owner")
    sp.add_argument("--note")
    _register_outputs(add)


def _register_outputs(add: Callable[[str, ActionFn, str], argparse.ArgumentParser]) -> None:
    """The actions that put an incident out: blocklists, exports, reports, forecasts, the
    feed's tokens and the alert pages."""
    sp = add("blocklist", _blocklist, "refresh and list the blocklist with expiries")
    sp.add_argument("id", type=int)
    sp.add_argument("--ttl", help="lifetime of new or re-seen entries (e.g. 12h, 7d; "
                    "default 7d)")
    sp.add_argument("--all", action="store_true", help="include expired entries")
    sp.add_argument("--json", action="store_true")

    sp = add("export", _export, "export the blocklist for a firewall, proxy or IDS")
    sp.add_argument("id", type=int)
    sp.add_argument("--format", required=True, choices=FORMATS)
    sp.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    sp.add_argument("--ttl", help="lifetime of new or re-seen entries (default 7d)")
    sp.add_argument("--aggregate", action="store_true",
                    help="collapse addresses into CIDR blocks (ipaddress.collapse_addresses)")
    sp.add_argument("--tlp", help="TLP 2.0 level of a stix or misp export (clear, green, "
                    "amber, amber+strict, red; default: the incident's, set with wormsign "
                    "triage tlp)")

    sp = add("report", _report, "write the incident report as HTML and/or PDF")
    sp.add_argument("id", type=int)
    sp.add_argument("--html", metavar="FILE")
    sp.add_argument("--pdf", metavar="FILE")

    sp = add("forecast", _forecast, "forecast the incident's outbreak from its alerts (first "
             "time each source of the family was seen) and store it for reports and the "
             "dashboard")
    sp.add_argument("id", type=int)
    sp.add_argument("--family", help="worm family (default: the one with the most sources)")
    sp.add_argument("--preset", help="simulator preset for the priors (default: the "
                    "family's)")
    sp.add_argument("--monitor", metavar="CIDR|ADDRESSES",
                    help="what the incident's logs watched (default: one address)")
    sp.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    sp.add_argument("--json", action="store_true", help="the forecast JSON document")

    sp = add("feed-token", _feed_token,
             "create, list or revoke read-only tokens for the blocklist feed "
             "(GET /api/incidents/ID/blocklist with 'Authorization: Bearer TOKEN')")
    sp.add_argument("id", type=int)
    sp.add_argument("--label", default="", help="who uses the new token (e.g. edge-fw-1)")
    sp.add_argument("--revoke", metavar="TOKEN_ID_OR_LABEL",
                    help="revoke the token with this number, or every token with this label")
    sp.add_argument("--list", action="store_true", help="list the tokens (never the secrets)")
    sp.add_argument("--json", action="store_true")

    sp = add("alerts", _alerts, "list an incident's alerts, a page at a time")
    sp.add_argument("id", type=int)
    sp.add_argument("--page", type=int, default=1)
    sp.add_argument("--per-page", type=int, default=50)
    sp.add_argument("--family")
    sp.add_argument("--source", dest="source_ip")
    sp.add_argument("--json", action="store_true")


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            yield fh
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None


# -- actions -----------------------------------------------------------------------------
def _new(store: Store, args: argparse.Namespace) -> int:
    print(store.create_incident(args.name, own=args.own, allow=args.allow))
    return 0


def _ingest(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents import ingest_paths

    quiet = args.json or not sys.stderr.isatty()

    def progress(path: str, pos: int, added: int) -> None:
        if not quiet:
            print(f"\r{safe(path)}: {pos:,} records read, {added:,} added", end="",
                  file=sys.stderr, flush=True)

    if args.ignore:
        from wormsign.detect.suppress import load_ignore_file
        from wormsign.incidents.suppress import sync_file
        sync_file(store, args.id, load_ignore_file(args.ignore))
    res = ingest_paths(store, args.id, args.paths, batch_size=args.batch_size,
                       progress=progress, reread=args.reread, sensor=args.sensor)
    if not quiet:
        print(file=sys.stderr)
    for f in res.failed:
        print(f"wormsign: error: {safe(f.error or '')}", file=sys.stderr)
    status = 2 if res.failed else 0
    from wormsign.incidents.suppress import state
    suppressed = state(store, args.id)
    if args.json:
        dump({**res.to_dict(), "suppressed": suppressed})
        return status
    for f in res.files:
        if f.error is not None:
            continue
        if f.unchanged:
            print(f"{safe(f.path)} ({f.kind}): unchanged since its last ingest, skipped "
                  "(--reread to read it again)")
            continue
        print(f"{safe(f.path)} ({f.kind}): {f.added:,} added, {f.duplicates:,} already "
              f"present, {f.skipped:,} skipped"
              + (f", resumed at record {f.resumed_from:,}" if f.resumed_from else ""))
        for e in f.errors:
            print(f"  skipped: {safe(e)}", file=sys.stderr)
    fams = ", ".join(res.families) or "none"
    print(f"incident {args.id}: families {fams}; {res.tasks_added} playbook task(s) added")
    if suppressed["rules"] or suppressed["marks"]:
        from wormsign.cli.triage import print_state
        print_state(suppressed)
    return status


def _list(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.query import iso
    incs = store.list_incidents(include_closed=not args.open)
    if args.json:
        dump([{**i.to_dict(), "created_at": iso(i.created_at), "closed_at": iso(i.closed_at)}
               for i in incs])
        return 0
    if not incs:
        print("no incidents")
    for i in incs:
        print(f"{i.id:>5}  {i.status:<6}  {iso(i.created_at)}  {safe(i.name)}")
    return 0


def _show(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.suppress import state
    s = store.get_incident_summary(args.id, top=args.top)
    suppressed = state(store, args.id)
    if args.json:
        dump({**s, "suppressed": suppressed})
        return 0
    inc, tot = s["incident"], s["totals"]
    print(f"Incident {inc['id']}: {safe(inc['name'])} [{inc['status']}], opened "
          f"{inc['created_at']}")
    print(f"{tot['alerts']:,} alerts from {tot['sources']:,} sources, {tot['victims']} "
          f"infected internal host(s); {tot['first_seen'] or '-'} .. {tot['last_seen'] or '-'}")
    for f in s["families"]:
        print(f"  {f['family']:<14} {f['alerts']:>10,} alerts {f['sources']:>8,} sources")
    if s["sources"]:
        print("Top sources:")
        for x in s["sources"]:
            tag = "  INTERNAL" if x["internal"] else ""
            print(f"  {safe(x['source_ip']):<40} {x['family']:<14} {x['alerts']:>8,}{tag}")
    if s["victims"]:
        print("Infected internal hosts (isolate and clean):")
        for v in s["victims"][:args.top]:
            print(f"  {safe(v['host']):<40} {', '.join(v['families'])}  {v['alerts']:,} alerts")
        if len(s["victims"]) > args.top:
            print(f"  ... and {len(s['victims']) - args.top} more (--top, --json)")
    if s["assets"]:
        bad = [h["host"] for h in s["assets"]
               if any(f["status"] == "exploitable" for f in h["findings"])]
        print(f"Assessment: {len(s['assets'])} host(s), {len(bad)} exploitable"
              + (f": {', '.join(map(safe, bad[:10]))}" if bad else ""))
    _print_progress(s["tasks"]["progress"])
    bl = s["blocklist"]
    print(f"Blocklist: {bl['active']} active, {bl['expired']} expired entries")
    if suppressed["rules"] or suppressed["marks"]:
        from wormsign.cli.triage import print_state
        print_state(suppressed)
    return 0


def _print_progress(prog: Progress) -> None:
    if not prog["total"]:
        print("Tasks: none yet (playbooks apply when the evidence shows a family)")
        return
    print(f"Tasks: {prog['percent']} % done of {prog['total']}")
    for pb, p in prog["playbooks"].items():
        bar = "#" * int(p["percent"] // 5)
        print(f"  {pb:<14} [{bar:<20}] {p['percent']:>5} %  "
              + ", ".join(f"{k} {v}" for k, v in sorted(p["by_status"].items())))


def _close(store: Store, args: argparse.Namespace) -> int:
    inc = store.close_incident(args.id)
    print(f"incident {inc.id} closed")
    return 0


def _networks(store: Store, args: argparse.Namespace) -> int:
    store.add_networks(args.id, args.cidrs, "own" if args.own else "allow")
    nets = store.networks(args.id)
    print(f"own: {', '.join(nets['own']) or '-'}; allow: {', '.join(nets['allow']) or '-'}")
    return 0


def _tasks(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.playbook import progress
    store.get_incident(args.id)
    tasks = store.list_tasks(args.id)
    if args.json:
        dump({"progress": progress(tasks), "items": [x.to_dict() for x in tasks]})
        return 0
    _print_progress(progress(tasks))
    for x in tasks:
        owner = f" ({safe(x.owner)})" if x.owner else ""
        print(f"  #{x.id:<4} {x.status:<11} {x.playbook}/{x.key}{owner}: {x.title}")
        for line in x.notes.splitlines():
            print(f"        {safe(line)}")
    return 0


def _task(store: Store, args: argparse.Namespace) -> int:
    if args.status is None and args.owner is None and args.note is None:
        raise InvalidError("nothing to change: give --status, --owner or --note")
    x = store.update_task(args.id, args.task, status=args.status, owner=args.owner,
                          note=args.note)
    print(f"#{x.id} {x.playbook}/{x.key}: {x.status}" + (f", owner {safe(x.owner)}"
                                                          if x.owner else ""))
    return 0


def _blocklist(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.blocklist import entries, refresh
    from wormsign.incidents.query import iso
    if store.get_incident(args.id).status == "open":
        refresh(store, args.id, args.ttl)
    from wormsign.incidents.suppress import suppressed_sources
    items = entries(store, args.id, include_expired=args.all)
    hidden = suppressed_sources(store, args.id)  # kept, but left out of every export
    if args.json:
        dump([{**e.to_dict(), **{k: iso(getattr(e, k)) for k in
                                  ("first_seen", "last_seen", "added_at", "expires_at")},
                "suppressed": e.address in hidden} for e in items])
        return 0
    for e in items:
        tag = "  SUPPRESSED (not exported)" if e.address in hidden else ""
        print(f"{e.address:<40} {e.family:<14} {e.events:>8,}  expires {iso(e.expires_at)}"
              + tag)
    print(f"{len(items)} entr{'y' if len(items) == 1 else 'ies'}", file=sys.stderr)
    return 0


def _export(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.exporters import stream
    pieces = stream(store, args.id, args.format, ttl=args.ttl, aggregated=args.aggregate,
                    tlp=args.tlp)
    with _output(args.out) as fh:
        for piece in pieces:  # a STIX bundle of a large blocklist is never held whole
            fh.write(piece)
    return 0


def _report(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents import render_html, render_pdf
    if not args.html and not args.pdf:
        raise InvalidError("give --html FILE and/or --pdf FILE")
    if args.html:
        html = render_html(store, args.id)
        with _output(args.html) as fh:
            fh.write(html)
        print(f"wrote {args.html}")
    if args.pdf:
        res = render_pdf(store, args.id, args.pdf)
        for w in res.warnings:
            print(f"wormsign: warning: PDF: {w}", file=sys.stderr)
        print(f"wrote {args.pdf} ({res.pages} pages)")
    store.record_action(args.id, "report", "report written"
                        + (" (HTML)" if args.html else "") + (" (PDF)" if args.pdf else ""))
    return 0


def _forecast(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents import forecasts
    monitor = forecasts.parse_monitor(args.monitor)
    fid, doc = forecasts.compute(store, args.id, family=args.family, preset=args.preset,
                                 monitor=monitor, seed=args.seed)
    if args.json:
        dump(doc)
        return 0
    print(safe(forecasts.headline(doc)))
    for what, est, p5, p95 in forecasts.estimate_rows(doc):
        print(f"  {what:<24} {safe(est):>22}   90 % interval {safe(p5)} .. {safe(p95)}")
    for note in doc.get("notes") or []:
        print(safe(f"  note: {note}"))
    print(f"stored as forecast #{fid} of incident {args.id}", file=sys.stderr)
    return 0


def _alerts(store: Store, args: argparse.Namespace) -> int:
    filters = {"family": args.family, "source_ip": args.source_ip}
    page = store.list_alerts(args.id, args.page, args.per_page, filters)
    if args.json:
        dump(page.to_dict())
        return 0
    for a in page.items:  # the number first: wormsign triage mark ID --alert N
        print(f"{a['id']:>8} {a['timestamp'] or '-':<21} {safe(a['source_ip']):<18} "
              f"{a['family']:<12} "
              f"{safe(a['method'] or '')} {safe(a['url'][:100])}")
    print(f"page {page.page}/{page.pages}, {page.total:,} alerts", file=sys.stderr)
    return 0


def _feed_token(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.query import iso
    if args.revoke is not None:
        gone = store.revoke_feed_token(args.id, args.revoke)
        if args.json:
            dump([x.to_dict() for x in gone])
        else:
            for x in gone:
                print(f"revoked feed token #{x.id} {safe(x.label)}".rstrip())
        return 0
    if args.list:
        items = store.list_feed_tokens(args.id)
        if args.json:
            dump([{**x.to_dict(), "created_at": iso(x.created_at),
                    "revoked_at": iso(x.revoked_at)} for x in items])
            return 0
        for x in items:
            state = f"revoked {iso(x.revoked_at)}" if x.revoked_at else "active"
            print(f"#{x.id:<4} {state:<28} created {iso(x.created_at)}  {safe(x.label)}")
        if not items:
            print("no feed tokens", file=sys.stderr)
        return 0
    token = store.create_feed_token(args.id, args.label)
    if args.json:
        dump({"incident": args.id, "label": args.label, "token": token})
        return 0
    print(token)
    print("the token is shown once; the store keeps only its hash. Use it as "
          f"'Authorization: Bearer TOKEN' on /api/incidents/{args.id}/blocklist",
          file=sys.stderr)
    return 0
