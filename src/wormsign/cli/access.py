"""Which role each CLI command needs, and who runs it.

A store without users is one person's: every command runs, and the audit trail names the
actor ``cli:<login>``. Once the store has users (``wormsign user add``), a command that uses
the store needs ``$WORMSIGN_USER_TOKEN``, one of the caller's personal API tokens, and the
role :data:`CLI_ROLES` names; the audit trail then names that user. (Whoever can write the
database file or holds its PostgreSQL password can bypass any check: the CLI's check keeps
the record of who did what honest and stops mistakes; the dashboard is the boundary for
everyone else.) Commands that never open the store need no role (None).
"""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING

from wormsign.errors import WormsignError

if TYPE_CHECKING:
    from wormsign.incidents import Store

TOKEN_ENV = "WORMSIGN_USER_TOKEN"  # noqa: S105 (a variable name)

#: "command" or "command action" -> role needed (None: the command never opens the store).
#: An action without an entry needs what its command needs (:func:`role_for`).
CLI_ROLES: dict[str, str | None] = {
    "scan": None, "rules": None, "simulate": None, "assess": None, "probe": None,
    "demo": None,
    "forecast": "viewer",  # with --incident it reads the store
    "watch": "analyst",  # with --incident it writes alerts
    "serve": "admin",  # opens the store to everyone the dashboard lets in
    "incident": "analyst",  # an action without an entry of its own
    "incident new": "analyst", "incident ingest": "analyst", "incident list": "viewer",
    "incident show": "viewer", "incident close": "analyst", "incident networks": "analyst",
    "incident tasks": "viewer", "incident task": "analyst", "incident blocklist": "analyst",
    "incident export": "analyst", "incident report": "analyst", "incident forecast": "analyst",
    "incident feed-token": "admin", "incident alerts": "viewer",
    "user": "admin", "user add": "admin", "user list": "admin", "user disable": "admin",
    "user enable": "admin", "user role": "admin", "user password": "admin",
    "user token": "admin", "user whoami": "viewer", "user log": "admin",
    "notify": "admin", "notify add": "admin", "notify list": "viewer",
    "notify remove": "admin", "notify run": "analyst", "notify queue": "viewer",
    "notify retry": "admin",
    "triage": "analyst", "triage mark": "analyst", "triage suppress": "analyst",
    "triage unsuppress": "analyst", "triage sync": "analyst", "triage show": "viewer",
    "triage tlp": "analyst", "triage enrich": "analyst",
}


def role_for(command: str) -> str | None:
    """The role ``command`` needs: its own entry, else its parent command's (``rules list``
    has none of its own: ``rules`` never opens the store). KeyError for an unknown command."""
    if command in CLI_ROLES:
        return CLI_ROLES[command]
    parent = command.rsplit(" ", 1)[0]
    if parent == command:
        raise KeyError(command)
    return role_for(parent)


class AccessDenied(WormsignError):
    """The caller's token is missing, unknown, or of a role too low for the command."""


def local_actor() -> str:
    """``cli:<login>`` for a store without users."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError, ImportError):
        login = "unknown"
    return f"cli:{login}"


def authorize(store: Store, command: str) -> str:
    """Check that the caller may run ``command`` on ``store``; sets and returns the actor
    the audit trail records. :class:`AccessDenied` (exit 2, one line) when not."""
    from wormsign.incidents.actor import set_actor
    from wormsign.incidents.users import has_users, role_at_least, user_for_token

    need = role_for(command)
    if need is None or not has_users(store):
        actor = local_actor()
        set_actor(actor)
        return actor
    token = os.environ.get(TOKEN_ENV, "").strip()
    user = user_for_token(store, token) if token else None
    if user is None:
        why = "is not set" if not token else "is not an active token of an active user"
        raise AccessDenied(f"this store has users: `wormsign {command}` needs {TOKEN_ENV} "
                           f"(a personal API token; `wormsign user token NAME` makes one), "
                           f"and it {why}")
    if not role_at_least(user.role, need):
        raise AccessDenied(f"`wormsign {command}` needs the {need} role; {user.name} is a "
                           f"{user.role}")
    set_actor(user.name)
    return user.name


def command_key(args: object) -> str:
    """The :data:`CLI_ROLES` key of parsed arguments (``incident show``, ``serve``)."""
    command = str(getattr(args, "command", "") or "")
    action = getattr(args, "action", None)
    return f"{command} {action}" if action else command
