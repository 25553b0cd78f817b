"""The blocklist feed: bearer tokens (the dashboard's or a feed token of that incident only),
ETag / If-None-Match without rendering, new evidence changes the ETag, formats checked."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from web.conftest import TOKEN
from web.helpers import LiveServer, alert, mixed_alerts, write_alerts
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents.blocklist import refresh
from wormsign.web import feed as feed_module

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def assert_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    assert body["error"]["message"]
    return body


@pytest.fixture(scope="module")
def fed(store: Store, tmp_path_factory: pytest.TempPathFactory) -> int:
    """An incident with a refreshed blocklist: external sources blocked, 10.x internal."""
    d = tmp_path_factory.mktemp("fed")
    iid = store.create_incident("feed", own=["10.0.0.0/8"])
    ingest_paths(store, iid, [write_alerts(d / "a.jsonl", mixed_alerts(200))])
    refresh(store, iid)
    return iid


@pytest.fixture
def c(token_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=token_server.url, timeout=30) as client:
        yield client


def url(iid: int) -> str:
    return f"/api/incidents/{iid}/blocklist"


def test_feed_with_the_dashboard_token(c: httpx.Client, fed: int) -> None:
    r = c.get(url(fed), headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    lines = [ln for ln in r.text.splitlines() if ln and not ln.startswith("#")]
    addrs = {ipaddress.ip_address(ln) for ln in lines}
    assert ipaddress.ip_address("198.51.100.2") in addrs
    assert not any(a in ipaddress.ip_network("10.0.0.0/8") for a in addrs)  # own networks
    assert int(r.headers["x-blocklist-entries"]) == len(addrs)


def test_repeat_poll_is_304_without_rendering(c: httpx.Client, fed: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first = c.get(url(fed), params={"format": "nftables"}, headers=AUTH)
    assert first.status_code == 200 and "table" in first.text
    renders: list[object] = []
    real = feed_module.render_blocklist

    def counting(*args: Any, **kw: Any) -> Any:
        renders.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(feed_module, "render_blocklist", counting)
    etag = first.headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = c.get(url(fed), params={"format": "nftables"},
                      headers={**AUTH, "If-None-Match": header})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    assert renders == []
    # Another format or the aggregated list is another ETag.
    other = c.get(url(fed), params={"format": "nftables", "aggregate": "1"},
                  headers={**AUTH, "If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    assert len(renders) == 1


def test_new_evidence_changes_the_etag(c: httpx.Client, store: Store, tmp_path: Path) -> None:
    iid = store.create_incident("growing")
    ingest_paths(store, iid, [write_alerts(tmp_path / "a.jsonl", mixed_alerts(30))])
    refresh(store, iid)
    first = c.get(url(iid), headers=AUTH)
    etag = first.headers["etag"]
    assert "203.0.113.77" not in first.text
    # A dashboard upload of new evidence updates the blocklist behind the feed.
    body = write_alerts(tmp_path / "b.jsonl", [alert(9000, "203.0.113.77", "code-red")])
    r = c.post(f"/api/incidents/{iid}/uploads", files={"file": ("b.jsonl", body.read_bytes())},
               headers=AUTH)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while not (job := c.get(f"/api/jobs/{r.json()['id']}", headers=AUTH).json())["finished"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["phase"] == "done" and job["added"] == 1
    second = c.get(url(iid), headers={**AUTH, "If-None-Match": etag})
    assert second.status_code == 200 and second.headers["etag"] != etag
    assert "203.0.113.77" in second.text


def test_tokens(c: httpx.Client, store: Store, fed: int) -> None:
    assert_error(c.get(url(fed)), 401)
    assert_error(c.get(url(fed), headers={"Authorization": "Bearer wrong-token"}), 401)
    token = store.create_feed_token(fed, label="edge-fw-1")
    feed_auth = {"Authorization": f"Bearer {token}"}
    ok = c.get(url(fed), headers=feed_auth)
    assert ok.status_code == 200 and "198.51.100.2" in ok.text
    # A feed token opens that feed only.
    other = store.create_incident("other feed")
    assert_error(c.get(url(other), headers=feed_auth), 401)
    for path in ("/api/incidents", f"/api/incidents/{fed}", f"/api/incidents/{fed}/alerts",
                 f"/api/incidents/{fed}/tasks", "/api/session", "/openapi.json"):
        assert_error(c.get(path, headers=feed_auth), 401)
    assert c.get(f"/incidents/{fed}", headers=feed_auth).status_code == 303  # login form
    r = c.post("/api/incidents", json={"name": "x"}, headers=feed_auth)
    assert r.status_code in (401, 403)
    # Revoked, it opens nothing.
    store.revoke_feed_token(fed, "edge-fw-1")
    assert_error(c.get(url(fed), headers=feed_auth), 401)


def test_formats(c: httpx.Client, fed: int) -> None:
    for fmt in ("plain", "nftables", "iptables", "nginx", "apache", "suricata", "csv"):
        r = c.get(url(fed), params={"format": fmt}, headers=AUTH)
        assert r.status_code == 200 and r.text, fmt
    assert c.get(url(fed), params={"format": "csv"},
                 headers=AUTH).headers["content-type"].startswith("text/csv")
    for bad in ("stix", "NFTABLES", "../etc", "x" * 16):
        body = assert_error(c.get(url(fed), params={"format": bad}, headers=AUTH), 400)
        assert "plain" in body["error"]["message"]
    assert_error(c.get(url(999_999), headers=AUTH), 404)


def test_aggregated_plain_is_networks(c: httpx.Client, fed: int) -> None:
    flat = c.get(url(fed), headers=AUTH).text
    agg = c.get(url(fed), params={"aggregate": "1"}, headers=AUTH).text
    nets = [ipaddress.ip_network(ln) for ln in agg.splitlines() if ln and ln[0] != "#"]
    addrs = [ipaddress.ip_address(ln) for ln in flat.splitlines() if ln and ln[0] != "#"]
    assert len(nets) < len(addrs)
    assert sum(n.num_addresses for n in nets) == len(addrs)
    assert all(any(a in n for n in nets) for a in addrs)
