"""Notifications: events found in the store, a queue with retries, delivery to a loopback
webhook receiver (and through apprise's json:// where apprise is installed)."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from incidents.helpers import make_alert, write_jsonl
from wormsign.errors import InvalidError
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents import notify as n

SECRET = "a-webhook-secret-of-some-length"


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each POST with the next status of
    ``statuses`` (then 200) and keeps what it got."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-part"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _incident(store: Store, tmp_path: Path) -> int:
    iid = store.create_incident("farm", own=["192.0.2.0/24"])
    alerts = [make_alert(0, "198.51.100.7", "code-red"), make_alert(1, "198.51.100.8", "nimda"),
              make_alert(2, "192.0.2.15", "nimda"), make_alert(3, "192.0.2.15", "nimda")]
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts)])
    return iid


def _by_event(payloads: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in payloads:
        out.setdefault(p["event"], set()).add(p["key"])
    return out


def test_new_families_and_inside_hosts_are_sent_once(store: Store, tmp_path: Path,
                                                     receiver: Receiver) -> None:
    iid = _incident(store, tmp_path)
    n.add_target(store, receiver.url, ["new-family", "inside-infected"], SECRET)
    queued, result = n.run_once(store)
    assert queued == 3 and result.delivered == 3
    got = _by_event(receiver.payloads())
    assert got == {"new-family": {"code-red", "nimda"}, "inside-infected": {"192.0.2.15"}}
    inside = next(p for p in receiver.payloads() if p["event"] == "inside-infected")
    assert inside["incident"] == {"id": iid, "name": "farm"}
    assert inside["detail"]["families"] == ["nimda"] and inside["detail"]["alerts"] == 2
    for headers, body in receiver.got:  # signed with the target's secret
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-wormsign-signature"] == f"sha256={mac}"
        assert headers["content-type"] == "application/json"
    # Nothing new: nothing sent again. A new family later: only that one.
    assert n.run_once(store)[0] == 0 and len(receiver.got) == 3
    ingest_paths(store, iid, [write_jsonl(tmp_path / "b.jsonl",
                                          [make_alert(9, "198.51.100.9", "code-red-ii")])])
    n.run_once(store)
    assert [p["key"] for p in receiver.payloads()[3:]] == ["code-red-ii"]
    assert n.queue_counts(store) == {"pending": 0, "delivered": 4, "failed": 0}


def test_failures_are_retried_with_backoff_then_fail(store: Store, tmp_path: Path) -> None:
    _incident(store, tmp_path)
    with Receiver([500, 503]) as rx:
        n.add_target(store, rx.url, ["new-family"])
        now = 1_000_000_000
        queued, first = n.run_once(store, now=now)
        # Two families: the first two answers are errors, so both wait for a retry.
        assert queued == 2 and first.retried == 2 and first.delivered == 0
        assert n.deliver(store, now=now + n.backoff(1) - 1).delivered == 0  # not yet due
        again = n.deliver(store, now=now + n.backoff(1))
        assert again.delivered == 2 and len(rx.got) == 4
    rows = n.list_queue(store)
    assert all(r["status"] == "delivered" and r["attempts"] == 2 for r in rows)
    with Receiver([500] * 100) as bad:
        n.add_target(store, bad.url, ["new-family"])
        t = now
        n.enqueue(store, now=t)
        for attempt in range(1, n.MAX_ATTEMPTS + 1):
            result = n.deliver(store, now=t)
            t += n.backoff(attempt)
        assert result.failed == 2 and len(bad.got) == 2 * n.MAX_ATTEMPTS
    failed = n.list_queue(store, "failed")
    assert len(failed) == 2 and failed[0]["last_error"] == "HTTP 500"
    assert n.retry_failed(store) == 2 and n.queue_counts(store)["pending"] == 2


def test_unreachable_webhooks_and_redirects_are_failures(store: Store, tmp_path: Path) -> None:
    _incident(store, tmp_path)
    with Receiver([302, 302]) as rx:
        n.add_target(store, rx.url, ["new-family"])
        assert n.run_once(store, now=10)[1].retried == 2
    assert {r["last_error"] for r in n.list_queue(store)} == {"HTTP 302"}
    # The receiver is gone now: the port is closed.
    assert n.deliver(store, now=10 + n.backoff(1)).retried == 2
    errors = {r["last_error"] for r in n.list_queue(store)}
    assert len(errors) == 1 and errors.pop().startswith("cannot reach the webhook")
    assert {r["attempts"] for r in n.list_queue(store)} == {2}


def test_due_tasks_by_phase(store: Store, tmp_path: Path) -> None:
    iid = _incident(store, tmp_path)  # nimda and code-red: their playbooks' tasks
    created = store.get_incident(iid).created_at
    tasks = store.list_tasks(iid)
    assert tasks, "the playbooks gave the incident tasks"
    early = n.detect_events(store, iid, now=created + 60)
    assert not [e for e in early if e.event == "task-due"]
    later = [e for e in n.detect_events(store, iid, now=created + n.DUE_AFTER["contain"])
             if e.event == "task-due"]
    contain = {f"{x.playbook}/{x.key}" for x in tasks if x.phase == "contain"}
    assert {e.key for e in later} == contain
    store.update_task(iid, sorted(contain)[0], status="done")
    after = {e.key for e in n.detect_events(store, iid, now=created + n.DUE_AFTER["contain"])
             if e.event == "task-due"}
    assert after == contain - {sorted(contain)[0]}


def test_closed_incidents_and_removed_targets_send_nothing(store: Store, tmp_path: Path,
                                                          receiver: Receiver) -> None:
    iid = _incident(store, tmp_path)
    tg = n.add_target(store, receiver.url)
    store.close_incident(iid)
    assert n.run_once(store) == (0, n.DeliveryResult())
    store.create_incident("other")
    n.remove_target(store, tg.id)
    assert n.enqueue(store) == 0 and not receiver.got


def test_targets_are_checked_and_shown_without_secrets(store: Store) -> None:
    with pytest.raises(InvalidError):
        n.add_target(store, "http:///nohost")
    with pytest.raises(InvalidError):
        n.add_target(store, "http://127.0.0.1/x", ["everything"])
    with pytest.raises(InvalidError):
        n.add_target(store, "no-scheme")
    tg = n.add_target(store, "https://hooks.example.org/services/T000/B000/XXXX")
    assert tg.shown_url == "https://hooks.example.org/…" and "XXXX" not in str(tg.to_dict())


@pytest.mark.skipif(importlib.util.find_spec("apprise") is None, reason="apprise missing")
def test_apprise_urls_deliver(store: Store, tmp_path: Path, receiver: Receiver) -> None:
    _incident(store, tmp_path)
    port = receiver.server.server_address[1]
    n.add_target(store, f"json://127.0.0.1:{port}/apprise", ["inside-infected"])
    queued, result = n.run_once(store)
    assert queued == 1 and result.delivered == 1
    body = json.loads(receiver.got[0][1])
    assert "192.0.2.15" in body["message"] and "inside-infected" in body["title"]
