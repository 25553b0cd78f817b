"""``wormsign user``: people of the incident store (add, list, disable, enable, role,
password, token, whoami). A thin skin over :mod:`wormsign.incidents.users`."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from wormsign.cli._store import dump, usage, with_store
from wormsign.errors import ConfigError

ROLES = ("viewer", "analyst", "admin")
Action = Callable[[Any, argparse.Namespace], int]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "user", help="people of the incident store: users, roles, API tokens",
        description="Manage the people who work incidents: roles viewer (read), analyst "
        "(change incidents), admin (also people and notifications); passwords (argon2) for "
        "the dashboard and personal API tokens (stored hashed, shown once). Once a store "
        "has users, store commands need WORMSIGN_USER_TOKEN. The first user must be an "
        "admin.")
    db_help = "store: SQLite path or database URL (default $WORMSIGN_DB or the per-user file)"
    p.add_argument("--db", help=db_help)
    p.set_defaults(func=usage(p))
    cmds = p.add_subparsers(dest="action", metavar="ACTION")

    def add(name: str, fn: Action, help_: str) -> argparse.ArgumentParser:
        sp = cmds.add_parser(name, help=help_, description=help_)
        sp.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
        sp.set_defaults(func=with_store(fn))
        return sp

    sp = add("add", _add, "add a user (with --password-stdin, or a password prompt with "
             "--password; else token-only)")
    sp.add_argument("name")
    sp.add_argument("--role", choices=ROLES, required=True)
    _password_options(sp)
    sp = add("list", _list, "list the users")
    sp.add_argument("--json", action="store_true")
    sp = add("disable", _disable, "disable a user: tokens stop and sessions end at once")
    sp.add_argument("name")
    sp = add("enable", _enable, "enable a disabled user again")
    sp.add_argument("name")
    sp = add("role", _role, "change a user's role")
    sp.add_argument("name")
    sp.add_argument("role", choices=ROLES)
    sp = add("password", _password, "set or remove a user's password (sessions end)")
    sp.add_argument("name")
    _password_options(sp)
    sp.add_argument("--remove", action="store_true", help="remove it (token-only login)")
    sp = add("token", _token, "create (default), list or revoke a user's API tokens")
    sp.add_argument("name")
    sp.add_argument("--label", default="", help="what uses the new token")
    sp.add_argument("--list", action="store_true", help="list the tokens (never the secrets)")
    sp.add_argument("--revoke", type=int, metavar="TOKEN_ID", help="revoke this token")
    sp.add_argument("--json", action="store_true")
    add("whoami", _whoami, "who WORMSIGN_USER_TOKEN is (or cli:<login> without users)")
    sp = add("log", _log, "changes of people, each with who made it")
    sp.add_argument("--json", action="store_true")


def _password_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--password", action="store_true", help="prompt for a password")
    sp.add_argument("--password-stdin", action="store_true",
                    help="read the password from the first line of stdin")


def _read_password(args: argparse.Namespace) -> str | None:
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ConfigError("--password-stdin: no password on stdin")
        return line
    if getattr(args, "password", False):
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ConfigError("the passwords differ")
        return first
    return None


def _say(user: Any, what: str) -> int:
    print(f"{user.name}: {what} ({user.role}, {'active' if user.active else 'disabled'})")
    return 0


def _add(store: Any, args: argparse.Namespace) -> int:
    """Add a user; the store's first user (an admin) also gets a first API token, since
    from then on every store command needs one."""
    from wormsign.incidents.users import add_user, create_token, has_users
    first = not has_users(store)
    user = add_user(store, args.name, args.role, _read_password(args))
    _say(user, "added")
    if first:
        print(create_token(store, user.name, "first token"))
        print("(the store's first user: this is their API token, shown once; from now on "
              "store commands need it as WORMSIGN_USER_TOKEN)", file=sys.stderr)
    return 0


def _list(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.users import list_users
    users = list_users(store)
    if args.json:
        dump({"items": [u.to_dict() for u in users]})
        return 0
    for u in users:
        login = "password+token" if u.has_password else "token only"
        print(f"{u.name:<24} {u.role:<8} {'active' if u.active else 'disabled':<9} {login}")
    return 0


def _disable(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.users import disable_user
    return _say(disable_user(store, args.name), "disabled; sessions ended")


def _enable(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.users import enable_user
    return _say(enable_user(store, args.name), "enabled")


def _role(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.users import set_role
    return _say(set_role(store, args.name, args.role), "role changed")


def _password(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.users import set_password
    password = None if args.remove else _read_password(args)
    if password is None and not args.remove:
        raise ConfigError("give --password, --password-stdin or --remove")
    return _say(set_password(store, args.name, password), "password "
                + ("removed" if args.remove else "set") + "; sessions ended")


def _token(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.users import create_token, list_tokens, revoke_token
    if args.list:
        tokens = list_tokens(store, args.name)
        if args.json:
            dump({"items": [x.to_dict() for x in tokens]})
        for x in tokens if not args.json else []:
            print(f"#{x.id:<5} {'active' if x.active else 'revoked':<8} {x.label}")
        return 0
    if args.revoke is not None:
        x = revoke_token(store, args.name, args.revoke)
        print(f"{args.name}: token #{x.id} revoked; sessions ended")
        return 0
    token = create_token(store, args.name, args.label)
    if args.json:
        dump({"user": args.name, "token": token})
    else:
        print(token)
        print("(shown once: store it now, e.g. as WORMSIGN_USER_TOKEN)", file=sys.stderr)
    return 0


def _whoami(store: Any, _args: argparse.Namespace) -> int:
    from wormsign.incidents.actor import current_actor
    print(current_actor() or "unknown")
    return 0


def _log(store: Any, args: argparse.Namespace) -> int:
    from wormsign.incidents.query import iso
    from wormsign.incidents.users import user_events
    events = user_events(store)
    if args.json:
        dump({"items": [{**e.to_dict(), "at": iso(e.at)} for e in events]})
        return 0
    for e in events:
        detail = f" {e.detail}" if e.detail else ""
        print(f"{iso(e.at)}  {e.actor or '-':<20} {e.kind:<14} {e.user}{detail}")
    return 0
