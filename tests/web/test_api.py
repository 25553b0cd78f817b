"""The JSON API: data, pagination and filters, CSRF and token, error shape, uploads."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from web.conftest import TOKEN
from web.helpers import LiveServer, csrf_of, mixed_alerts, write_alerts
from wormsign.incidents import Store
from wormsign.web import Settings, create_app


def assert_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def wait_job(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["finished"] or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_health_and_openapi(client: httpx.Client) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for p in ("/api/incidents", "/api/incidents/{iid}", "/api/incidents/{iid}/alerts",
              "/api/incidents/{iid}/tasks", "/api/incidents/{iid}/tasks/{task_id}"):
        assert p in paths
    # The documented error responses use the one error shape.
    err = paths["/api/incidents/{iid}"]["get"]["responses"]["404"]
    assert err["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert not any(p.startswith("/incidents") for p in paths)  # pages are not API


def test_incident_list_and_detail_match_the_store(client: httpx.Client, store: Store,
                                                  evidence: int) -> None:
    rows = client.get("/api/incidents").json()["items"]
    row = next(r for r in rows if r["id"] == evidence)
    summary = store.get_incident_summary(evidence)
    assert row["alerts"] == summary["totals"]["alerts"] == 601
    assert row["sources"] == summary["totals"]["sources"]
    detail = client.get(f"/api/incidents/{evidence}").json()
    assert detail["totals"]["alerts"] == 601
    assert detail["totals"]["victims"] == summary["totals"]["victims"]
    assert {f["family"]: f["alerts"] for f in detail["families"]} == {
        f["family"]: f["alerts"] for f in summary["families"]}
    assert sum(p["alerts"] for p in detail["timeline"]["series"]) == 601
    top = detail["top_sources"]
    assert [s["alerts"] for s in top] == sorted((s["alerts"] for s in top), reverse=True)
    assert all(s["internal"] for s in detail["victims"])


def test_alert_pages_and_filters(client: httpx.Client, evidence: int) -> None:
    r = client.get(f"/api/incidents/{evidence}/alerts", params={"per_page": 100, "page": 2})
    page = r.json()
    assert page["total"] == 601 and page["pages"] == 7 and len(page["items"]) == 100
    last = client.get(f"/api/incidents/{evidence}/alerts",
                      params={"per_page": 100, "page": 7}).json()
    assert len(last["items"]) == 1
    nimda = client.get(f"/api/incidents/{evidence}/alerts",
                       params={"family": "nimda", "per_page": 1000}).json()
    assert nimda["total"] > 0 and {a["family"] for a in nimda["items"]} == {"nimda"}
    internal = client.get(f"/api/incidents/{evidence}/alerts",
                          params={"internal": "true", "per_page": 1000}).json()
    assert internal["total"] > 0
    assert all(a["source_ip"].startswith("10.") for a in internal["items"])
    times = [a["timestamp"] for a in page["items"]]
    assert times == sorted(times)


def test_error_shape(client: httpx.Client, evidence: int) -> None:
    assert_error(client.get("/api/incidents/999999"), 404)
    assert_error(client.get("/api/incidents/999999/alerts"), 404)
    assert_error(client.get(f"/api/incidents/{evidence}/alerts", params={"per_page": 0}), 422)
    assert_error(client.get("/api/incidents/not-a-number"), 422)
    assert_error(client.get("/api/nothing-here"), 404)
    assert_error(client.delete("/api/incidents"), 405)
    assert_error(client.get("/api/jobs/" + "0" * 32), 404)


@pytest.mark.parametrize("params", [{"page": 0}, {"page": 1_000_001}, {"per_page": 1001},
                                    {"family": "f" * 65}, {"source_ip": "1" * 65},
                                    {"rule_id": "r" * 129}, {"q": "q" * 201},
                                    {"since": -1}, {"until": 2**40 + 1}, {"internal": "maybe"}])
def test_alert_query_limits(client: httpx.Client, evidence: int, params: dict[str, object]) -> None:
    """Each query-string bound of the alert list answers 422 (the query model keeps them)."""
    assert_error(client.get(f"/api/incidents/{evidence}/alerts", params=params), 422)


def test_alert_query_at_the_limits(client: httpx.Client, evidence: int) -> None:
    r = client.get(f"/api/incidents/{evidence}/alerts",
                   params={"page": 1, "per_page": 1000, "q": "q" * 200, "since": 0,
                           "until": 2**40, "family": "", "unknown": "ignored"})
    assert r.status_code == 200 and r.json()["items"] == []


def test_state_changes_need_csrf(client: httpx.Client, store: Store) -> None:
    assert_error(client.post("/api/incidents", json={"name": "x"}), 403)
    assert_error(client.post("/api/incidents", json={"name": "x"},
                             headers={"X-CSRF-Token": "forged-token-value"}), 403)
    csrf = csrf_of(client)
    r = client.post("/api/incidents", json={"name": "api incident"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert store.get_incident(r.json()["id"]).name == "api incident"
    assert_error(client.post("/api/incidents", json={"name": "  "},
                             headers={"X-CSRF-Token": csrf}), 422)


def test_task_update(client: httpx.Client, store: Store, evidence: int) -> None:
    tasks = client.get(f"/api/incidents/{evidence}/tasks").json()["items"]
    assert tasks, "the playbooks of the families seen are applied"
    tid = tasks[0]["id"]
    url = f"/api/incidents/{evidence}/tasks/{tid}"
    assert_error(client.patch(url, json={"status": "done"}), 403)
    csrf = csrf_of(client)
    r = client.patch(url, json={"status": "done", "owner": "ana", "note": "blocked at edge"},
                     headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    task = store.find_task(evidence, tid)
    assert (task.status, task.owner) == ("done", "ana") and "blocked at edge" in task.notes
    assert_error(client.patch(url, json={"status": "finished"},
                              headers={"X-CSRF-Token": csrf}), 422)
    assert_error(client.patch(f"/api/incidents/{evidence}/tasks/99999999",
                              json={"status": "done"}, headers={"X-CSRF-Token": csrf}), 404)


def test_upload_is_scanned_in_the_background(client: httpx.Client, store: Store,
                                             sample_dir: Path) -> None:
    iid = store.create_incident("upload via api")
    csrf = csrf_of(client)
    log = sample_dir / "synthetic-access.log"
    url = f"/api/incidents/{iid}/uploads"
    with log.open("rb") as fh:
        assert_error(client.post(url, files={"file": ("access.log", fh)}), 403)
    with log.open("rb") as fh:
        r = client.post(url, files={"file": ("../../access.log", fh)},
                        headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202, r.text
    assert r.json()["filename"] == "access.log"
    job = wait_job(client, r.json()["id"])
    assert job["phase"] == "done", job
    assert job["percent"] == 100.0 and job["bytes_done"] == log.stat().st_size
    assert job["added"] > 0 and job["added"] == job["alerts"]
    assert store.list_alerts(iid, 1, 1).total == job["added"]
    assert job["families"]
    # The same file again adds nothing.
    with log.open("rb") as fh:
        r = client.post(url, files={"file": ("access.log", fh)}, headers={"X-CSRF-Token": csrf})
    again = wait_job(client, r.json()["id"])
    assert again["phase"] == "done" and again["added"] == 0
    assert again["duplicates"] == job["added"]
    # ... and so does the same content under another name.
    with log.open("rb") as fh:
        r = client.post(url, files={"file": ("renamed.log", fh)},
                        headers={"X-CSRF-Token": csrf})
    renamed = wait_job(client, r.json()["id"])
    assert renamed["phase"] == "done" and renamed["added"] == 0


def test_upload_of_alerts_json_lines(client: httpx.Client, store: Store,
                                     tmp_path: Path) -> None:
    iid = store.create_incident("alerts upload")
    path = write_alerts(tmp_path / "a.jsonl", mixed_alerts(50))
    with path.open("rb") as fh:
        r = client.post(f"/api/incidents/{iid}/uploads", files={"file": ("a.jsonl", fh)},
                        headers={"X-CSRF-Token": csrf_of(client)})
    job = wait_job(client, r.json()["id"])
    assert (job["kind"], job["phase"], job["added"]) == ("alerts", "done", 50)


def test_upload_into_closed_incident_conflicts(client: httpx.Client, store: Store) -> None:
    iid = store.create_incident("closed one")
    store.close_incident(iid)
    r = client.post(f"/api/incidents/{iid}/uploads", files={"file": ("a.log", b"x\n")},
                    headers={"X-CSRF-Token": csrf_of(client)})
    assert_error(r, 409)


@pytest.fixture(scope="module")
def small_server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose upload limit (64 KiB) fits in the loopback socket buffers, so a test can
    send a whole over-limit body before it reads the answer."""
    app = create_app(Settings(upload_dir=str(tmp_path_factory.mktemp("small")),
                              max_upload_bytes=64 * 1024), store=store)
    with LiveServer(app) as srv:
        yield srv


def raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def test_upload_size_limit(small_server: LiveServer, store: Store) -> None:
    iid = store.create_incident("too big")
    with httpx.Client(base_url=small_server.url) as c:
        csrf = csrf_of(c)
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        ok = c.post(f"/api/incidents/{iid}/uploads", files={"file": ("s.log", b"x\n" * 100)},
                    headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 202
    base = (f"POST /api/incidents/{iid}/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n"
            "Content-Type: multipart/form-data; boundary=zzz\r\nConnection: close\r\n")
    # A declared length above the limit is refused before any of the body is read.
    status, body = raw_request(small_server.port, base + "Content-Length: 70000\r\n\r\n")
    assert status == 413 and body["error"]["status"] == 413
    # Without a length (chunked), the bytes are counted as they arrive.
    part = (b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="big.log"\r\n'
            b"Content-Type: text/plain\r\n\r\n" + b"y" * 80_000 + b"\r\n--zzz--\r\n")
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part[i:i + 8192]), part[i:i + 8192])
                       for i in range(0, len(part), 8192)) + b"0\r\n\r\n"
    status, body = raw_request(small_server.port, base + "Transfer-Encoding: chunked\r\n\r\n",
                               chunked)
    assert status == 413 and body == {"error": {"status": 413, "message":
                                                "request body larger than the limit of "
                                                "65536 bytes"}}


def test_security_headers(client: httpx.Client) -> None:
    for path in ("/", "/api/health", "/api/incidents/999999", "/static/app.js"):
        h = client.get(path).headers
        csp = h["content-security-policy"]
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
        assert "frame-ancestors 'none'" in csp
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"


def test_foreign_host_header_is_refused(client: httpx.Client) -> None:
    r = client.get("/api/health", headers={"Host": "attacker.example"})
    assert r.status_code == 400


@pytest.fixture
def tclient(token_server: LiveServer) -> Any:
    with httpx.Client(base_url=token_server.url, timeout=30) as c:
        yield c


def test_token_is_required(tclient: httpx.Client, evidence: int) -> None:
    r = tclient.get("/api/incidents")
    assert_error(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    assert_error(tclient.get("/api/incidents", headers={"Authorization": "Bearer wrong"}), 401)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert tclient.get("/api/incidents", headers=auth).status_code == 200
    # Bearer-authenticated calls need no CSRF header (browsers never send it by themselves).
    tid = tclient.get(f"/api/incidents/{evidence}/tasks", headers=auth).json()["items"][1]["id"]
    r = tclient.patch(f"/api/incidents/{evidence}/tasks/{tid}", json={"owner": "bob"},
                      headers=auth)
    assert r.status_code == 200 and r.json()["owner"] == "bob"
    # Pages redirect to the login form.
    r = tclient.get(f"/incidents/{evidence}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_foreign_host_header_gets_the_json_error_shape(client: httpx.Client) -> None:
    r = client.get("/api/incidents", headers={"Host": "evil.example"})
    assert_error(r, 400)
    page = client.get("/", headers={"Host": "evil.example"})
    assert page.status_code == 400 and "invalid host header" in page.text
    ok = client.get("/api/health", headers={"Host": "localhost:8080"})
    assert ok.status_code == 200
