"""``wormsign triage``: mark alerts, sources and rules; suppression rules with reasons and
expiries (typed, or read from a ``wormsign-ignore.yml`` kept in git)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from wormsign.cli._store import Command, StoreAction, usage, with_store
from wormsign.errors import ConfigError
from wormsign.logs.text import safe

if TYPE_CHECKING:
    from wormsign.incidents.store import Store

VERDICTS = ("false-positive", "benign-scanner", "confirmed", "note")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "triage", help="mark alerts, sources and rules; suppress with a reason and expiry",
        description="Triage an incident's evidence. A false-positive or benign-scanner mark, "
        "or a suppression rule, keeps what it covers in the store but shows it as "
        "suppressed and leaves it out of blocklist exports until its expiry. Rules kept in "
        "git go in wormsign-ignore.yml (docs/triage.md).")
    p.add_argument("--db", help="store: SQLite path or database URL")
    p.set_defaults(func=usage(p))
    cmds = p.add_subparsers(dest="action", metavar="ACTION")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = cmds.add_parser(name, help=help_, description=help_)
        sp.add_argument("--db", default=argparse.SUPPRESS, help="store: SQLite path or URL")
        sp.add_argument("id", type=int, help="incident id")
        return sp

    sp = add("mark", "mark an alert, a source or a rule")
    what = sp.add_mutually_exclusive_group(required=True)
    what.add_argument("--alert", metavar="N", help="alert number (incident alerts)")
    what.add_argument("--source", metavar="IP")
    what.add_argument("--rule", metavar="RULE_ID")
    sp.add_argument("--verdict", required=True, choices=VERDICTS)
    sp.add_argument("--note", default="")
    sp.add_argument("--until", help="the mark lapses then (date, ISO time, or 30d, 12h)")
    sp.add_argument("--actor", help="who marks (default $WORMSIGN_ACTOR or the login name)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=_run(_mark))

    sp = add("suppress", "add a suppression rule (every condition given must hold)")
    sp.add_argument("--reason", required=True)
    sp.add_argument("--source", metavar="CIDR")
    sp.add_argument("--rule", metavar="RULE_ID")
    sp.add_argument("--family")
    sp.add_argument("--path", metavar="GLOB", help="glob on the logged URL (* and ?)")
    sp.add_argument("--until", help="the rule lapses then (date, ISO time, or 30d, 12h)")
    sp.add_argument("--name", dest="key", help="the rule's id (default: derived)")
    sp.add_argument("--actor")
    sp.set_defaults(func=_run(_suppress))

    sp = add("unsuppress", "remove a suppression rule typed with suppress")
    sp.add_argument("key", metavar="RULE")
    sp.add_argument("--actor")
    sp.set_defaults(func=_run(_unsuppress))

    sp = add("sync", "make the incident's file rules those of a wormsign-ignore.yml")
    sp.add_argument("file")
    sp.add_argument("--actor")
    sp.set_defaults(func=_run(_sync))

    sp = add("tlp", "show or choose the TLP 2.0 level of the incident's shared exports "
             "(STIX markings, MISP tags, TAXII)")
    sp.add_argument("level", nargs="?", help="clear, green, amber, amber+strict or red")
    sp.add_argument("--actor")
    sp.set_defaults(func=_run(_tlp))

    sp = add("enrich", "country and AS of the incident's sources from MaxMind-format "
             "databases you provide (offline; cached in the store)")
    sp.add_argument("--country-db", metavar="MMDB", help="country database (default "
                    "$WORMSIGN_GEOIP_COUNTRY, e.g. GeoLite2-Country.mmdb)")
    sp.add_argument("--asn-db", metavar="MMDB", help="AS database (default "
                    "$WORMSIGN_GEOIP_ASN, e.g. GeoLite2-ASN.mmdb)")
    sp.add_argument("--rdns", action="store_true", help="also reverse DNS (off by default)")
    sp.add_argument("--rdns-timeout", type=float, default=1.0, metavar="S",
                    help="seconds per reverse lookup (default 1)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=_run(_enrich))

    sp = add("show", "what is suppressed now: rules, marks, the alerts they cover")
    sp.add_argument("--all", action="store_true", help="every mark, not only the newest")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=_run(_show))


def _run(fn: StoreAction) -> Command:
    def act(store: Any, args: argparse.Namespace) -> int:
        _actor(args)
        return fn(store, args)
    return with_store(act)


def _actor(args: argparse.Namespace) -> None:
    """A store with users records the person whose token ran the command (``--actor`` may
    only repeat that name); without users ``--actor``, ``$WORMSIGN_ACTOR`` or the login."""
    from wormsign.cli.access import AccessDenied
    from wormsign.incidents.actor import current_actor

    who = current_actor() or "cli:"  # set by with_store's role check
    if not hasattr(args, "actor") or who.startswith("cli:"):
        return
    if args.actor not in (None, who):
        raise AccessDenied(f"--actor {args.actor!r}: this store has users, and triage marks "
                           f"are recorded as the token's owner ({who})")
    args.actor = who


def parse_when(text: str | None) -> int | None:
    """An expiry given on the command line: a date, an ISO time, or a duration from now."""
    if text is None:
        return None
    from wormsign.detect.suppress import parse_until
    from wormsign.incidents.networks import parse_duration
    from wormsign.incidents.store import now_s
    try:
        return parse_until(text)
    except ValueError:
        pass
    try:
        return now_s() + parse_duration(text)
    except ConfigError:
        raise ConfigError(f"--until: not a date, time or duration: {text!r}") from None


def _mark(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.triage import mark
    kind, target = next((k, v) for k, v in (("alert", args.alert), ("source", args.source),
                                            ("rule", args.rule)) if v is not None)
    m = mark(store, args.id, kind, target, args.verdict, note=args.note, actor=args.actor,
             until=parse_when(args.until))
    if args.json:
        print(json.dumps(m.to_dict(), ensure_ascii=False))
    else:
        print(f"marked {kind} {safe(target)} {m.verdict} (mark {m.id}, by {safe(m.actor)})")
    return 0


def _suppress(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.suppress import add_rule
    s = add_rule(store, args.id, reason=args.reason, source=args.source, rule=args.rule,
                 family=args.family, path=args.path, until=parse_when(args.until),
                 key=args.key, actor=args.actor)
    print(f"suppression {safe(s.id)} added")
    return 0


def _unsuppress(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.suppress import remove_rule
    remove_rule(store, args.id, args.key, actor=args.actor)
    print(f"suppression {safe(args.key)} removed")
    return 0


def _sync(store: Store, args: argparse.Namespace) -> int:
    from wormsign.detect.suppress import load_ignore_file
    from wormsign.incidents.suppress import sync_file
    n = sync_file(store, args.id, load_ignore_file(args.file), actor=args.actor)
    print(f"incident {args.id}: {n} suppression rule(s) from {safe(args.file)}")
    return 0


def _tlp(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.tlp import get_tlp, set_tlp
    from wormsign.incidents.triage import default_actor
    if args.level:
        level = set_tlp(store, args.id, args.level, actor=args.actor or default_actor())
    else:
        store.get_incident(args.id)
        level = get_tlp(store, args.id)
    print(f"TLP:{level.upper()}")
    return 0


def _enrich(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.enrich import NOT_CONFIGURED, Enricher, enrich_incident
    with Enricher(args.country_db, args.asn_db) as en:
        if not en.configured:
            store.get_incident(args.id)
            doc: dict[str, Any] = {"configured": False, "message": NOT_CONFIGURED}
        else:
            doc = {"configured": True, **enrich_incident(
                store, args.id, en, rdns=args.rdns, rdns_timeout=args.rdns_timeout)}
    if args.json:
        print(json.dumps(doc))
    elif not doc["configured"]:
        print(f"{NOT_CONFIGURED} (--country-db / --asn-db or $WORMSIGN_GEOIP_COUNTRY / "
              "$WORMSIGN_GEOIP_ASN)")
    else:
        print(f"{doc['sources']:,} source(s): {doc['country']:,} with a country, "
              f"{doc['asn']:,} with an AS, {doc['rdns']:,} with a reverse name")
    return 0


def print_state(doc: dict[str, Any]) -> None:
    """The suppression state for people (also used by ``incident show``)."""
    print(f"Suppressed: {doc['alerts']:,} alert(s); {doc['sources_fully_suppressed']:,} "
          "source(s) wholly suppressed (not exported)")
    for r in doc["rules"]:
        cond = ", ".join(f"{k}={safe(str(r[k]))}" for k in ("source", "rule", "family", "path")
                         if r[k] is not None)
        state = "" if r["active"] else " [expired: no longer applied]"
        until = f" until {r['until']}" if r["until"] else ""
        print(f"  rule {safe(r['id'])} ({r['origin']}; {cond}){until}: {r['alerts']:,} "
              f"alert(s): {safe(r['reason'])}{state}")
    for m in doc["marks"]:
        state = "" if m["active"] else " [expired: no longer applied]"
        until = f" until {m['expires_at']}" if m["expires_at"] else ""
        name = f"alert {m['alert_id']}" if m["target_kind"] == "alert" else (
            f"{m['target_kind']} {safe(m['target'])}")
        covers = f": {m['alerts']:,} alert(s) suppressed" if m["suppresses"] else ""
        print(f"  mark {m['id']}: {name} {m['verdict']} by {safe(m['actor'])}{until}{covers}"
              + (f": {safe(m['note'])}" if m["note"] else "") + state)


def _show(store: Store, args: argparse.Namespace) -> int:
    from wormsign.incidents.suppress import state
    from wormsign.incidents.triage import list_marks
    doc = state(store, args.id)
    if args.all:
        doc["history"] = [m.to_dict() for m in list_marks(store, args.id, latest=False)]
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print_state(doc)
    for m in doc.get("history", []):
        print(f"  history: mark {m['id']} {m['created_at']} {m['target_kind']} "
              f"{safe(m['target'])} {m['verdict']} by {safe(m['actor'])}"
              + (f": {safe(m['note'])}" if m["note"] else ""))
    return 0
