"""Sessions are revocable, the API description needs the token, tokens must be strong,
every 405 names the allowed methods."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from web.conftest import TOKEN
from web.helpers import LiveServer
from wormsign.cli.main import main
from wormsign.errors import ConfigError
from wormsign.incidents import Store
from wormsign.web import Settings, create_app
from wormsign.web.security import token_problem

SECRET = "a-fixed-secret-key-for-the-cookie-signature"


def form_csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def login(c: httpx.Client, token: str = TOKEN) -> None:
    csrf = form_csrf(c.get("/login").text)
    r = c.post("/login", data={"token": token, "csrf": csrf, "next": "/"})
    assert r.status_code == 303, r.text
    assert c.get("/api/incidents").status_code == 200


def app_for(store: Store, tmp: Path, token: str = TOKEN) -> object:
    return create_app(Settings(token=token, secret_key=SECRET, upload_dir=str(tmp / "up"),
                               allowed_hosts=("127.0.0.1",)), store=store)


@pytest.fixture
def live(store: Store, tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(app_for(store, tmp_path)) as srv:
        yield srv


def test_a_copied_cookie_dies_with_logout(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as c:
        login(c)
        stolen = dict(c.cookies.items())
        csrf = form_csrf(c.get("/").text)
        assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    with httpx.Client(base_url=live.url, cookies=stolen) as thief:
        r = thief.get("/api/incidents")
        assert r.status_code == 401 and r.json()["error"]["status"] == 401
        assert thief.get("/").status_code == 303  # back to the login form


def test_logout_ends_only_that_session(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as a, httpx.Client(base_url=live.url) as b:
        login(a)
        login(b)
        assert a.post("/logout", data={"csrf": form_csrf(a.get("/").text)}).status_code == 303
        assert a.get("/api/incidents").status_code == 401
        assert b.get("/api/incidents").status_code == 200


def test_a_copied_cookie_dies_when_the_token_changes(store: Store, tmp_path: Path) -> None:
    old = app_for(store, tmp_path / "a")
    with LiveServer(old) as srv, httpx.Client(base_url=srv.url) as c:
        login(c)
        stolen = dict(c.cookies.items())
        # Rotating the token in the running server ends every session.
        old.state.wormsign.access.rotate("another-strong-token-4711")  # type: ignore[attr-defined]
        assert c.get("/api/incidents").status_code == 401
    # A server restarted with a new token (same cookie key) refuses the old cookie.
    new = app_for(store, tmp_path / "b", token="a-brand-new-token-9f3k2")
    with LiveServer(new) as srv, httpx.Client(base_url=srv.url, cookies=stolen) as thief:
        assert thief.get("/api/incidents").status_code == 401


def test_a_forged_session_is_refused(store: Store, tmp_path: Path) -> None:
    """Even a cookie signed with the right key needs a session id the server issued."""
    import base64
    import json

    from itsdangerous import TimestampSigner

    app = app_for(store, tmp_path)
    gen = app.state.wormsign.access.generation  # type: ignore[attr-defined]
    data = base64.b64encode(json.dumps({"sid": "made-up", "gen": gen, "auth": True}).encode())
    cookie = TimestampSigner(SECRET).sign(data).decode()
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url,
                                               cookies={"wormsign_session": cookie}) as c:
        assert c.get("/api/incidents").status_code == 401


def test_the_api_description_needs_the_token(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as c:
        r = c.get("/openapi.json")
        assert r.status_code == 401 and r.json()["error"]["status"] == 401
        assert "paths" not in r.text
        assert c.get("/docs").status_code == 303  # the login form first
        auth = {"Authorization": f"Bearer {TOKEN}"}
        doc = c.get("/openapi.json", headers=auth).json()
        assert "/api/incidents" in doc["paths"]
        docs = c.get("/docs", headers=auth)
        assert docs.status_code == 200 and "/api/incidents/{iid}/alerts" in docs.text
        login(c)
        assert c.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("token", [
    "", "   ", "short-token", "aaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababababab",
    "abcabcabcabcabcabcabc", "abcdefghijklmnopqrstuvwxyz", "0123456789012345678",
    "1111111122222222", " leading-space-token-xyz"])
def test_weak_tokens_are_refused(token: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert token_problem(token) is not None
    rc = main(["serve", "--token", token, "--db", str(tmp_path / "s.db")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "token" in err[0]
    assert not (tmp_path / "s.db").exists()
    with pytest.raises(ConfigError):
        create_app(Settings(token=token, db=f"sqlite:///{tmp_path / 's.db'}"))


@pytest.mark.parametrize("token", [TOKEN, "Xq3v9-Lr7p2_KmZt8wB4", "process-test-token"])
def test_strong_tokens_pass(token: str) -> None:
    assert token_problem(token) is None


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/incidents", {"GET", "HEAD", "POST"}),
    ("POST", "/api/health", {"GET", "HEAD"}),
    ("PUT", "/api/incidents/1/tasks/2", {"PATCH"}),
    ("PUT", "/", {"GET", "HEAD"}),
    ("DELETE", "/logout", {"POST"}),
    ("POST", "/static/app.js", {"GET", "HEAD"}),
    ("PATCH", "/openapi.json", {"GET", "HEAD"}),
])
def test_405_names_the_allowed_methods(client: httpx.Client, method: str, path: str,
                                       allowed: set[str]) -> None:
    r = client.request(method, path)
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed
