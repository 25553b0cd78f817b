"""``wormsign notify``: webhooks and apprise URLs told about new families, infected internal
hosts and due playbook tasks, through a retry queue in the store. A thin skin over
:mod:`wormsign.incidents.notify`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from wormsign.cli._store import dump, usage, with_store
from wormsign.errors import ConfigError

Action = Callable[[Any, argparse.Namespace], int]
EVENTS = ("new-family", "inside-infected", "task-due")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "notify", help="notifications: webhooks and apprise URLs, with a retry queue",
        description="Tell people when an open incident gets a new worm family, an internal "
        "host starts attacking (infected), or a playbook task is due. Targets are webhooks "
        "(http/https, a JSON POST, HMAC-signed with a secret) or apprise URLs (mailto://, "
        "slack://, ...; needs pip install 'wormsign[notify]'). `wormsign serve` sends them "
        "every 30 s; `notify run` does it without the dashboard.")
    db_help = "store: SQLite path or database URL (default $WORMSIGN_DB or the per-user file)"
    p.add_argument("--db", help=db_help)
    p.set_defaults(func=usage(p))
    cmds = p.add_subparsers(dest="action", metavar="ACTION")

    def add(name: str, fn: Action, help_: str) -> argparse.ArgumentParser:
        sp = cmds.add_parser(name, help=help_, description=help_)
        sp.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
        sp.set_defaults(func=with_store(fn))
        return sp

    sp = add("add", _add, "add a target (webhook or apprise URL)")
    sp.add_argument("url")
    sp.add_argument("--event", action="append", choices=EVENTS, dest="events",
                    help="event to send (repeatable; default all)")
    sp.add_argument("--secret-env", metavar="VAR",
                    help="sign webhook bodies with the HMAC key in this environment variable")
    sp = add("list", _list, "list the targets (URLs shown without their secret parts)")
    sp.add_argument("--json", action="store_true")
    sp = add("remove", _remove, "stop notifying a target")
    sp.add_argument("target_id", type=int)
    sp = add("run", _run, "queue what is new and deliver what is due (retries with backoff)")
    sp.add_argument("--once", action="store_true", help="one pass, then exit")
    sp.add_argument("--interval", type=float, default=30.0, help="seconds between passes")
    sp.add_argument("--json", action="store_true", help="(with --once) the pass as JSON")
    sp = add("queue", _queue, "the queue: counts by status and the newest entries")
    sp.add_argument("--status", choices=("pending", "delivered", "failed"))
    sp.add_argument("--json", action="store_true")
    add("retry", _retry, "put failed notifications back in the queue")


def _add(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.notify import add_target
    secret = None
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            raise ConfigError(f"--secret-env: ${args.secret_env} is not set")
    tg = add_target(store, args.url, args.events or EVENTS, secret)
    print(f"target #{tg.id}: {tg.shown_url} ({', '.join(tg.events)})")
    return 0


def _list(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.notify import list_targets
    targets = list_targets(store)
    if args.json:
        dump({"items": [x.to_dict() for x in targets]})
        return 0
    for x in targets:
        state = "active" if x.active else "removed"
        print(f"#{x.id:<4} {state:<8} {x.shown_url}  {', '.join(x.events)}")
    return 0


def _remove(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.notify import remove_target
    tg = remove_target(store, args.target_id)
    print(f"target #{tg.id} removed")
    return 0


def _run(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.notify import run_once
    if not args.interval > 0:
        raise ConfigError("--interval must be positive")
    while True:
        queued, result = run_once(store)
        if args.once and args.json:
            dump({"queued": queued, **result.to_dict()})
        else:
            print(f"queued {queued}, delivered {result.delivered}, retrying "
                  f"{result.retried}, failed {result.failed}", file=sys.stderr)
        if args.once:
            return 0
        time.sleep(args.interval)


def _queue(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.notify import list_queue, queue_counts
    counts, items = queue_counts(store), list_queue(store, args.status)
    if args.json:
        dump({"counts": counts, "items": items})
        return 0
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    for x in items:
        err = f"  ({x['last_error']})" if x["last_error"] else ""
        print(f"#{x['id']:<5} {x['status']:<9} incident {x['incident_id']} {x['event']} "
              f"{x['key']}  attempts {x['attempts']}{err}")
    return 0


def _retry(store: Any, _args: argparse.Namespace) -> int:
    from wormsign.incidents.notify import retry_failed
    print(f"{retry_failed(store)} notification(s) back in the queue")
    return 0
