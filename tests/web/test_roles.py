"""Role checks on every route: a matrix of role × route × method, generated from the app's
route table (a new route is tried the day it is added), plus per-person logins, sessions
that end when a person is disabled, and who did what on the incident page."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from web.helpers import LiveServer, mixed_alerts, write_alerts
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents import users as u
from wormsign.incidents.store import resolve_url
from wormsign.web import Settings, create_app
from wormsign.web.roles import ADMIN, PUBLIC, required_role, route_table

PASSWORD = "a long enough password"
ROLES = ("viewer", "analyst", "admin")
RANKS = (None, *ROLES)


class World:
    """A store with an incident, one token per role, and a live server over it."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.store = Store.open(url)
        self.iid = self.store.create_incident("roles")
        ingest_paths(self.store, self.iid, [write_alerts(tmp / "a.jsonl", mixed_alerts(40))])
        self.task_id = self.store.list_tasks(self.iid)[0].id
        self.tokens: dict[str, str] = {}
        for role in ("admin", "analyst", "viewer"):
            u.add_user(self.store, role, role, PASSWORD)
            self.tokens[role] = u.create_token(self.store, role)
        u.add_user(self.store, "target", "viewer")
        self.app: Any = create_app(Settings(upload_dir=str(tmp / "up"),
                                            allowed_hosts=("127.0.0.1",),
                                            notify_interval=None), store=self.store)


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The world on SQLite, and on PostgreSQL (a schema of its own) when
    WORMSIGN_TEST_PG_URL is set."""
    tmp = tmp_path_factory.mktemp("roles")
    if request.param == "sqlite":
        w = World(tmp, f"sqlite:///{tmp / 'roles.db'}")
        yield w
        w.store.close()
        return
    base = os.environ.get("WORMSIGN_TEST_PG_URL")
    if not base:
        pytest.skip("WORMSIGN_TEST_PG_URL is not set")
    base = resolve_url(base)
    schema = "ws_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in base else "?"
        w = World(tmp, f"{base}{sep}options=-csearch_path%3D{schema}")
        yield w
        w.store.close()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def live(world: World) -> Iterator[LiveServer]:
    with LiveServer(world.app) as srv:
        yield srv


def _fill(path: str, world: World) -> str:
    from wormsign.web.taxii import collection_id

    values = {"iid": str(world.iid), "task_id": str(world.task_id), "job_id": "0" * 32,
              "name": "target", "cid": collection_id(world.iid),
              "object_id": "indicator--00000000-0000-4000-8000-000000000000"}
    params = re.findall(r"{(\w+)}", path)
    unknown = [p for p in params if p not in values]
    assert not unknown, f"teach the role test a value for {unknown} ({path})"
    for p in params:
        path = path.replace("{" + p + "}", values[p])
    return path


def _denied_for_role(r: httpx.Response) -> bool:
    return r.status_code == 403 and "role" in r.text and "needs the" in r.text


def _unauthenticated(r: httpx.Response) -> bool:
    return r.status_code == 401 or (r.status_code == 303
                                    and r.headers["location"].startswith("/login"))


def test_the_policy_names_only_routes_that_exist(world: World) -> None:
    table = set(route_table(world.app.routes))
    assert len(table) > 30
    assert table >= (ADMIN | PUBLIC)
    assert {required_role(m, p) for m, p in table} == {None, "viewer", "analyst", "admin"}


def test_every_route_checks_the_role(world: World, live: LiveServer) -> None:
    tried = 0
    with httpx.Client(base_url=live.url, timeout=30, follow_redirects=False) as c:
        for method, path in route_table(world.app.routes):
            need = required_role(method, path)
            url = _fill(path, world)
            for role in RANKS:
                headers = {"Authorization": f"Bearer {world.tokens[role]}"} if role else {}
                r = c.request(method, url, headers=headers)
                tried += 1
                where = f"{role or 'nobody'} {method} {path}: {r.status_code} {r.text[:200]}"
                if need is None:  # public, or a check of its own (the feed's tokens)
                    assert not _denied_for_role(r), where
                    assert r.status_code < 500, where
                elif role is None:
                    assert _unauthenticated(r), where
                elif u.role_at_least(role, need):
                    assert not _denied_for_role(r) and not _unauthenticated(r), where
                    assert r.status_code < 500, where
                else:
                    assert _denied_for_role(r), where
    assert tried >= 4 * 30


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


def _login(c: httpx.Client, name: str, secret: str) -> httpx.Response:
    return c.post("/login", data={"user": name, "token": secret, "next": "/",
                                  "csrf": _csrf(c.get("/login").text)})


def test_people_log_in_by_name_and_are_who_they_say(world: World, live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        assert _login(c, "analyst", PASSWORD + "x").status_code == 401
        assert _login(c, "nobody", PASSWORD).status_code == 401
        assert _login(c, "analyst", PASSWORD).status_code == 303
        assert c.get("/api/me").json() == {"name": "analyst", "role": "analyst",
                                           "via": "session"}
        page = c.get("/")
        assert "analyst (analyst)" in page.text and 'href="/users"' not in page.text
        assert c.get("/users").status_code == 403
    with httpx.Client(base_url=live.url, timeout=30) as c:  # a personal token, no name
        assert _login(c, "", world.tokens["viewer"]).status_code == 303
        assert c.get("/api/me").json()["name"] == "viewer"


def test_disabling_a_person_ends_their_sessions_at_once(world: World, live: LiveServer,
                                                        ) -> None:
    u.add_user(world.store, "dora", "analyst", PASSWORD)
    token = u.create_token(world.store, "dora")
    with httpx.Client(base_url=live.url, timeout=30) as c, \
            httpx.Client(base_url=live.url, timeout=30) as other:
        assert _login(c, "dora", PASSWORD).status_code == 303
        assert _login(other, "dora", PASSWORD).status_code == 303
        assert c.get("/api/incidents").status_code == 200
        # Disabled through the store, as `wormsign user disable` in another process does.
        u.disable_user(world.store, "dora")
        assert c.get("/api/incidents").status_code == 401
        assert other.get("/").status_code == 303
        assert httpx.get(f"{live.url}/api/incidents",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 401
        u.enable_user(world.store, "dora")
        assert c.get("/api/incidents").status_code == 401  # a new login is needed
        assert _login(c, "dora", PASSWORD).status_code == 303


def test_revoking_a_token_ends_that_persons_sessions(world: World, live: LiveServer) -> None:
    u.add_user(world.store, "eve", "viewer", PASSWORD)
    token = u.create_token(world.store, "eve")
    with httpx.Client(base_url=live.url, timeout=30) as c:
        assert _login(c, "eve", PASSWORD).status_code == 303
        (listed,) = u.list_tokens(world.store, "eve")
        u.revoke_token(world.store, "eve", listed.id)
        assert c.get("/api/me").status_code == 401
        assert _login(c, "", token).status_code == 401


def test_admins_manage_people_in_the_api(world: World, live: LiveServer) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    with httpx.Client(base_url=live.url, timeout=30, headers=admin) as c:
        r = c.post("/api/users", json={"name": "finn", "role": "analyst"})
        assert r.status_code == 201 and r.json()["role"] == "analyst"
        assert c.post("/api/users", json={"name": "finn", "role": "viewer"}).status_code == 409
        tok = c.post("/api/users/finn/tokens", json={"label": "ci"}).json()["token"]
        me = httpx.get(f"{live.url}/api/me", headers={"Authorization": f"Bearer {tok}"})
        assert me.json() == {"name": "finn", "role": "analyst", "via": "bearer"}
        assert c.post("/api/users/finn/role", json={"role": "viewer"}).json()["role"] == "viewer"
        assert c.post("/api/users/finn/disable").json()["active"] is False
        assert httpx.get(f"{live.url}/api/me",
                         headers={"Authorization": f"Bearer {tok}"}).status_code == 401
        names = {x["name"] for x in c.get("/api/users").json()["items"]}
        assert {"admin", "analyst", "viewer", "finn"} <= names


def test_the_timeline_says_who_did_what(world: World, live: LiveServer) -> None:
    analyst = {"Authorization": f"Bearer {world.tokens['analyst']}"}
    r = httpx.patch(f"{live.url}/api/incidents/{world.iid}/tasks/{world.task_id}",
                    json={"note": "blocked at the edge"}, headers=analyst)
    assert r.status_code == 200
    actions = world.store.list_actions(world.iid)
    assert actions[-1].kind == "task" and actions[-1].actor == "analyst"
    detail = httpx.get(f"{live.url}/api/incidents/{world.iid}", headers=analyst).json()
    assert detail["actions"][0]["actor"] == "analyst"
    page = httpx.get(f"{live.url}/incidents/{world.iid}", headers=analyst).text
    assert "by analyst" in page


def test_single_token_mode_is_an_admin(tmp_path: Path) -> None:
    token = "a-single-shared-token-4711"
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        app = create_app(Settings(token=token, upload_dir=str(tmp_path / "up"),
                                  allowed_hosts=("127.0.0.1",), notify_interval=None),
                         store=store)
        with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
            assert c.get("/api/me").status_code == 401
            auth = {"Authorization": f"Bearer {token}"}
            assert c.get("/api/me", headers=auth).json() == {"name": "token", "role": "admin",
                                                             "via": "bearer"}
            r = c.post("/api/incidents", json={"name": "solo"}, headers=auth)
            assert r.status_code == 201
        assert store.list_actions(r.json()["id"])[0].actor == "token"


def test_an_upload_scanned_in_the_background_names_the_uploader(world: World,
                                                                live: LiveServer) -> None:
    analyst = {"Authorization": f"Bearer {world.tokens['analyst']}"}
    body = write_alerts(Path(world.app.state.wormsign.settings.upload_dir).parent / "up.jsonl",
                        mixed_alerts(5)).read_bytes()
    r = httpx.post(f"{live.url}/api/incidents/{world.iid}/uploads", headers=analyst,
                   files={"file": ("more.jsonl", body)}, timeout=30)
    assert r.status_code == 202, r.text
    world.app.state.wormsign.jobs.wait(timeout=60)
    ingests = [a for a in world.store.list_actions(world.iid) if a.kind == "ingest"]
    assert ingests and ingests[-1].actor == "analyst"


def test_password_guessing_is_throttled_per_name(world: World, live: LiveServer) -> None:
    u.add_user(world.store, "gus", "viewer", PASSWORD)
    with httpx.Client(base_url=live.url, timeout=60) as c:
        for _ in range(10):
            assert _login(c, "gus", "wrong password!").status_code == 401
        r = _login(c, "gus", PASSWORD)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert _login(c, "analyst", PASSWORD).status_code == 303  # other names are not
