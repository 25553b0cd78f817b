"""Which role each route needs, checked on every request before the route runs.

The rule is by method, so a new route is covered the day it is added: reading (``GET``,
``HEAD``) needs ``viewer``, anything that changes state needs ``analyst``. :data:`ADMIN`
lists the routes that manage people and notifications; :data:`PUBLIC` those that answer
everyone (the login form, and the blocklist feed, which checks its own feed tokens). The
check (:func:`enforce`) is an app-wide dependency: it finds the route FastAPI matched, asks
:func:`required_role`, and answers 401 (nobody logged in) or 403 (a role too low); it also
sets the actor every audit-trail entry of the request records. ``tests/web/test_roles*.py``
walks the app's route table and tries every route with every role.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request

from wormsign.incidents.actor import set_actor
from wormsign.incidents.users import role_at_least
from wormsign.web.security import Forbidden, Unauthorized, access_of

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: (method, path template) answered without a login.
PUBLIC: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"),
    ("GET", "/api/incidents/{iid}/blocklist"),
})

#: (method, path template) that need the admin role.
ADMIN: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/api/users"), ("POST", "/api/users"),
    ("POST", "/api/users/{name}/disable"), ("POST", "/api/users/{name}/enable"),
    ("POST", "/api/users/{name}/role"), ("POST", "/api/users/{name}/tokens"),
    ("GET", "/users"), ("POST", "/users"), ("POST", "/users/{name}/disable"),
    ("GET", "/api/notify"),
})


def required_role(method: str, path: str) -> str | None:
    """The role a request of ``method`` to the route ``path`` (its template, e.g.
    ``/api/incidents/{iid}``) needs; None for a public route."""
    method = method.upper()
    if method == "HEAD":
        method = "GET"
    if (method, path) in PUBLIC:
        return None
    if (method, path) in ADMIN:
        return "admin"
    return "viewer" if method in READ_METHODS else "analyst"


async def enforce(request: Request) -> None:
    """The app-wide dependency: 401 without a login, 403 below the route's role; sets the
    request's actor. (Async, so the actor it sets is seen by the route, whichever thread
    runs it.)"""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    need = required_role(request.method, path)
    if need is None:
        return
    who = access_of(request).principal(request)
    if who is None:
        raise Unauthorized()
    if not role_at_least(who.role, need):
        raise Forbidden(f"this needs the {need} role; {who.name} is a {who.role}")
    set_actor(who.name)


def route_table(routes: Iterable[Any]) -> list[tuple[str, str]]:
    """Every (method, path template) the routes answer, included routers walked (the role
    tests try each with each role; HEAD is left out, it is GET's)."""
    out: list[tuple[str, str]] = []
    for route in routes:
        nested = getattr(route, "effective_route_contexts", None)
        if callable(nested):
            out.extend(route_table(nested()))
            continue
        methods = getattr(route, "methods", None)
        if methods and isinstance(getattr(route, "path", None), str):
            out.extend((m, route.path) for m in sorted(methods) if m != "HEAD")
    return sorted(set(out))
