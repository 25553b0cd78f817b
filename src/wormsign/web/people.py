"""People in the dashboard: who am I (``/api/me``), and for admins the users, their roles and
tokens (``/api/users``, the ``/users`` page), and the notification queue (``/api/notify``).

Library calls of :mod:`wormsign.incidents.users` and :mod:`wormsign.incidents.notify`; roles
are checked by :mod:`wormsign.web.roles` before any of these runs. Disabling a user here also
forgets their sessions in this process at once (the store's epoch ends them everywhere).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from wormsign.incidents import users as people
from wormsign.web.api import _errors
from wormsign.web.pages import render
from wormsign.web.security import (
    Unauthorized,
    access_of,
    check_api_csrf,
    check_form_csrf,
    principal_of,
)
from wormsign.web.state import state_of

Role = Literal["viewer", "analyst", "admin"]
UserName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]


def _csrf(request: Request) -> None:
    check_api_csrf(request)


router = APIRouter(tags=["people"], responses=_errors(400, 401, 403, 404, 409, 422))
changes = [Depends(_csrf)]


class Me(BaseModel):
    name: str
    role: Role
    via: str


class UserModel(BaseModel):
    id: int
    name: str
    role: Role
    created_at: int
    disabled_at: int | None
    has_password: bool
    active: bool


class UserList(BaseModel):
    items: list[UserModel]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=people.NAME_RE.pattern)
    role: Role
    password: str | None = Field(default=None, min_length=people.MIN_PASSWORD,
                                 max_length=people.MAX_PASSWORD)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="", max_length=200, pattern="^[ -~]*$",
                       description="who or what uses it (printable ASCII)")


class TokenCreated(BaseModel):
    token: str = Field(description="shown once; only its SHA-256 is stored")


class NotifyTarget(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool


class NotifyState(BaseModel):
    targets: list[NotifyTarget]
    queue: dict[str, int]


@router.get("/api/me", response_model=Me, summary="Who this request acts for")
def me(request: Request) -> dict[str, Any]:
    who = principal_of(request)
    if who is None:
        raise Unauthorized()
    return {"name": who.name, "role": who.role, "via": who.via}


@router.get("/api/users", response_model=UserList, summary="Users (admin)")
def list_users(request: Request) -> dict[str, Any]:
    return {"items": [u.to_dict() for u in people.list_users(state_of(request).store)]}


@router.post("/api/users", response_model=UserModel, status_code=201, dependencies=changes,
             summary="Add a user (admin)")
def add_user(request: Request, body: NewUser) -> dict[str, Any]:
    return people.add_user(state_of(request).store, body.name, body.role,
                           body.password).to_dict()


def _ended(request: Request, user: people.User) -> dict[str, Any]:
    access_of(request).end_sessions_of(user.id)
    return user.to_dict()


@router.post("/api/users/{name}/disable", response_model=UserModel, dependencies=changes,
             summary="Disable a user: tokens stop, sessions end at once (admin)")
def disable_user(request: Request, name: UserName) -> dict[str, Any]:
    return _ended(request, people.disable_user(state_of(request).store, name))


@router.post("/api/users/{name}/enable", response_model=UserModel, dependencies=changes,
             summary="Enable a disabled user (admin)")
def enable_user(request: Request, name: UserName) -> dict[str, Any]:
    return people.enable_user(state_of(request).store, name).to_dict()


@router.post("/api/users/{name}/role", response_model=UserModel, dependencies=changes,
             summary="Change a user's role (admin)")
def set_role(request: Request, name: UserName, body: RoleChange) -> dict[str, Any]:
    return people.set_role(state_of(request).store, name, body.role).to_dict()


@router.post("/api/users/{name}/tokens", response_model=TokenCreated, status_code=201,
             dependencies=changes, summary="A new API token for a user, shown once (admin)")
def new_token(request: Request, name: UserName, body: NewToken) -> dict[str, Any]:
    return {"token": people.create_token(state_of(request).store, name, body.label)}


@router.get("/api/notify", response_model=NotifyState,
            summary="Notification targets and the queue by status (admin)")
def notify_state(request: Request) -> dict[str, Any]:
    from wormsign.incidents import notify

    store = state_of(request).store
    return {"targets": [{"id": x.id, "url": x.shown_url, "events": list(x.events),
                         "active": x.active} for x in notify.list_targets(store)],
            "queue": notify.queue_counts(store)}


@router.get("/users", include_in_schema=False)
def users_page(request: Request) -> HTMLResponse:
    return render(request, "users.html", users=people.list_users(state_of(request).store),
                  roles=people.ROLES)


@router.post("/users", include_in_schema=False)
def users_add(request: Request, name: Annotated[str, Form(max_length=64)] = "",
              role: Annotated[str, Form(max_length=16)] = "viewer",
              password: Annotated[str, Form(max_length=people.MAX_PASSWORD)] = "",
              csrf: Annotated[str, Form()] = "") -> Response:
    check_form_csrf(request, csrf)
    people.add_user(state_of(request).store, name.strip(), role, password or None)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{name}/disable", include_in_schema=False)
def users_disable(request: Request, name: UserName,
                  csrf: Annotated[str, Form()] = "") -> Response:
    check_form_csrf(request, csrf)
    _ended(request, people.disable_user(state_of(request).store, name))
    return RedirectResponse("/users", status_code=303)
