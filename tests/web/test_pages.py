"""Server-rendered pages over HTTP: escaping, CSRF on every form, downloads, login."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from systemparts import pdf_unavailable
from web.conftest import TOKEN
from web.helpers import XSS, LiveServer
from wormsign.incidents import Store


def form_csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "every form carries the CSRF token"
    return m.group(1)


def test_pages_render(client: httpx.Client, evidence: int) -> None:
    for path in ("/", "/?all=true", f"/incidents/{evidence}", f"/incidents/{evidence}/alerts",
                 f"/incidents/{evidence}/alerts?family=nimda&page=2", "/upload",
                 f"/upload?incident={evidence}"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert "<script>" not in r.text  # only <script src=...> is used


def test_log_derived_text_is_escaped(client: httpx.Client, evidence: int) -> None:
    html = client.get(f"/incidents/{evidence}/alerts", params={"source_ip": "203.0.113.66"}).text
    assert XSS not in html
    assert "&lt;script&gt;window.__pwned = 1; alert(1)&lt;/script&gt;" in html
    page = client.get(f"/incidents/{evidence}").text
    assert "<b>outbreak</b>" not in page and "&lt;b&gt;outbreak&lt;/b&gt;" in page


def test_every_form_has_a_csrf_token(client: httpx.Client, evidence: int) -> None:
    html = client.get(f"/incidents/{evidence}").text
    forms = re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S)
    assert len(forms) > 10
    assert all('name="csrf"' in f for f in forms)


def test_forms_refuse_a_missing_or_wrong_token(client: httpx.Client, store: Store,
                                               evidence: int) -> None:
    before = len(store.list_incidents())
    assert client.post("/incidents", data={"name": "forged"}).status_code == 403
    r = client.post("/incidents", data={"name": "forged", "csrf": "x" * 43})
    assert r.status_code == 403 and "CSRF" in r.text
    assert len(store.list_incidents()) == before
    tid = store.list_tasks(evidence)[2].id
    r = client.post(f"/incidents/{evidence}/tasks/{tid}", data={"status": "done"})
    assert r.status_code == 403 and store.find_task(evidence, tid).status == "open"


def test_forms_work_with_the_token(client: httpx.Client, store: Store, evidence: int) -> None:
    csrf = form_csrf(client.get("/").text)
    r = client.post("/incidents", data={"name": "from the form", "own": "192.0.2.0/24",
                                        "csrf": csrf})
    assert r.status_code == 303
    iid = int(r.headers["location"].rsplit("/", 1)[-1])
    assert store.get_incident(iid).name == "from the form"
    assert store.networks(iid)["own"] == ["192.0.2.0/24"]
    tid = store.list_tasks(evidence)[3].id
    r = client.post(f"/incidents/{evidence}/tasks/{tid}",
                    data={"status": "in-progress", "owner": "eve", "note": XSS, "csrf": csrf})
    assert r.status_code == 303
    task = store.find_task(evidence, tid)
    assert (task.status, task.owner) == ("in-progress", "eve") and XSS in task.notes
    assert XSS not in client.get(f"/incidents/{evidence}").text  # notes are escaped too
    r = client.post(f"/incidents/{iid}/close", data={"csrf": csrf})
    assert r.status_code == 303 and store.get_incident(iid).status == "closed"
    bad = client.post("/incidents", data={"name": "bad", "own": "not-a-net", "csrf": csrf})
    assert bad.status_code == 400 and "not-a-net" in bad.text


@pytest.mark.parametrize("what,marker", [("report-html", b"<html"), ("report-pdf", b"%pdf-"),
                                         ("nftables", b"table"),
                                         ("csv", b","), ("stix", b"bundle")])
def test_downloads(client: httpx.Client, evidence: int, what: str, marker: bytes) -> None:
    if what == "report-pdf" and pdf_unavailable() is not None:
        pytest.skip(pdf_unavailable() or "")
    csrf = form_csrf(client.get(f"/incidents/{evidence}").text)
    assert client.post(f"/incidents/{evidence}/download", data={"what": what}).status_code == 403
    r = client.post(f"/incidents/{evidence}/download", data={"what": what, "csrf": csrf})
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment; filename=\"incident-")
    assert "sandbox" in r.headers["content-security-policy"]
    assert marker in r.content.lower()
    assert XSS.encode() not in r.content or what in ("csv", "stix", "nftables")


def test_unknown_download_and_missing_pages(client: httpx.Client, evidence: int) -> None:
    csrf = form_csrf(client.get("/").text)
    r = client.post(f"/incidents/{evidence}/download", data={"what": "../etc", "csrf": csrf})
    assert r.status_code == 400 and "../etc" in r.text and "<h1>Error 400</h1>" in r.text
    for path in ("/incidents/999999", "/incidents/abc", "/upload/jobs/nope", "/nothing"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


@pytest.fixture
def tclient(token_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=token_server.url, timeout=30) as c:
        yield c


def test_login_with_the_token(tclient: httpx.Client, evidence: int) -> None:
    r = tclient.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    form = tclient.get("/login", params={"next": f"/incidents/{evidence}"}).text
    csrf = form_csrf(form)
    bad = tclient.post("/login", data={"token": "wrong", "csrf": csrf, "next": "/"})
    assert bad.status_code == 401 and "Wrong token" in bad.text
    r = tclient.post("/login", data={"token": TOKEN, "csrf": csrf,
                                     "next": "//evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    assert tclient.get(f"/incidents/{evidence}").status_code == 200
    assert tclient.get("/api/incidents").status_code == 200  # the session works for the API
    csrf = form_csrf(tclient.get("/").text)
    assert tclient.post("/logout", data={"csrf": csrf}).status_code == 303
    assert tclient.get("/").status_code == 303


def test_session_cookie_flags(client: httpx.Client) -> None:
    r = client.get("/")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
