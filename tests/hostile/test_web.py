"""Hostile input against the dashboard (issue 10): uploads that are bombs or broken, weak
tokens, copied sessions, hostile query strings and feed formats.

Every upload must end as a finished job — ``done`` with its good lines stored and the bad
ones counted, or ``failed`` with a one-line error naming the upload — never an internal
error, a hang, or memory that grows with the decompressed size. ``serve`` itself runs in a
child process under the suite's memory cap and timeout (:func:`run_cli`).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostile.conftest import CORPUS, UNSAFE, assert_clean, run_cli
from web.helpers import LiveServer, csrf_of
from wormsign.incidents import Store
from wormsign.web import Settings, create_app

LIMIT = 1 << 20
CODE_RED = "/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801"


def line(src: str = "198.51.100.7", when: str = "19/Jul/2001:12:00:00 +0000") -> bytes:
    return f'{src} - - [{when}] "GET {CODE_RED} HTTP/1.0" 404 -\n'.encode()


def good(n: int) -> bytes:
    return b"".join(line(f"198.51.100.{i % 200 + 1}",
                         f"19/Jul/2001:12:{i % 60:02d}:{i // 60 % 60:02d} +0000")
                    for i in range(n))


def _ecs(src: object, **extra: object) -> bytes:
    rec = {"@timestamp": "2001-07-19T12:00:00Z", "source.ip": src, "rule.id": "code-red-1",
           "rule.name": "Code Red", "rule.category": "code-red", "url.original": CODE_RED,
           "log.file.path": "/var/log/a.log", "log.file.line": 1, **extra}
    return json.dumps(rec).encode() + b"\n"


#: name -> (file name, content maker, what must hold: "done" or "failed")
UPLOADS: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "gzip bomb": ("a.log.gz", lambda: gzip.compress(b"A" * (64 << 20)), "failed"),
    "bzip2 bomb": ("a.log.bz2", lambda: bz2.compress(b"A" * (64 << 20)), "failed"),
    "xz bomb": ("a.log.xz", lambda: lzma.compress(b"A" * (64 << 20)), "failed"),
    "nested gzip bomb": ("a.gz", lambda: gzip.compress(gzip.compress(b"\n" * (64 << 20))),
                         "failed"),
    "five layers": ("a.gz", lambda: _layers(good(10), 5), "failed"),
    "xz asking for a 4 GiB dictionary": ("a.log.xz", lambda: (
        CORPUS / "readers" / "huge_dictionary.log.xz").read_bytes(), "failed"),
    "corrupt gzip": ("a.log.gz", lambda: b"\x1f\x8b\x08\x00" + b"\xff" * 4000, "failed"),
    "truncated xz": ("a.log.xz", lambda: lzma.compress(good(3000))[:-200], "done"),
    "gzip with trailing junk": ("a.log.gz", lambda: gzip.compress(good(20)) + b"junk" * 9,
                                "done"),
    "one long line": ("a.log", lambda: good(10) + line(src="B" * 900_000) + good(10), "done"),
    "no known format": ("a.log", lambda: b"B" * 100_000, "failed"),
    "binary": ("a.log", lambda: bytes(range(256)) * 1000, "failed"),
    "empty": ("a.log", lambda: b"", "done"),
    "year one and 9999": ("a.log", lambda: good(50) + line(when="01/Jan/0001:00:30:00 +0100")
                          + line(when="31/Dec/9999:23:59:59 -0100") + good(5), "done"),
    "zone id source": ("a.log", lambda: good(5) + line(src="2a00:1450:4001::1%x}"), "done"),
    "alerts with injected newline": ("a.jsonl", lambda: _ecs("198.51.100.9")
                                     + _ecs("1.2.3.4\ntable inet pwn {}")
                                     + _ecs(1e999) + _ecs("198.51.100.10", **{
                                         "log.file.line": 10**30}), "done"),
    "NUL and bidi bytes": ("a.log", lambda: good(200) + b"\x00" * 500 + "\u202e".encode()
                           + line(), "done"),
}


def _layers(data: bytes, n: int) -> bytes:
    for _ in range(n):
        data = gzip.compress(data)
    return data


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    d = tmp_path_factory.mktemp("hostile-web")
    with Store.open(f"sqlite:///{d / 'web.db'}") as s:
        yield s


@pytest.fixture(scope="module")
def server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    app = create_app(Settings(upload_dir=str(tmp_path_factory.mktemp("uploads")),
                              max_upload_bytes=LIMIT), store=store)
    with LiveServer(app) as srv:
        yield srv


def upload(server: LiveServer, iid: int, name: str, body: bytes) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post(f"/api/incidents/{iid}/uploads", files={"file": (name, body)},
                   headers={"X-CSRF-Token": csrf_of(c)})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 30
        while True:
            job: dict[str, Any] = c.get(f"/api/jobs/{r.json()['id']}").json()
            if job["finished"]:
                return job
            assert time.monotonic() < deadline, f"upload still {job['phase']} after 30 s"
            time.sleep(0.05)


@pytest.mark.parametrize("case", sorted(UPLOADS))
def test_hostile_uploads_end_cleanly(server: LiveServer, store: Store, case: str) -> None:
    name, make, outcome = UPLOADS[case]
    body = make()
    assert len(body) <= LIMIT
    iid = store.create_incident(f"hostile: {case}")
    job = upload(server, iid, name, body)
    assert job["phase"] == outcome, job
    if outcome == "failed":
        err = job["error"]
        assert err and "\n" not in err and "internal error" not in err
        assert name.split(".")[0] in err  # names the upload
        assert store.list_alerts(iid, 1, 1).total == 0
    for text in (job["error"] or "", *job["warnings"]):
        assert not UNSAFE.search(text), text
    # Whatever was stored is exportable: only canonical addresses reach the blocklist.
    with httpx.Client(base_url=server.url) as c:
        feed = c.get(f"/api/incidents/{iid}/blocklist", params={"format": "nftables"})
        assert feed.status_code == 200
        assert "pwn" not in feed.text and "%" not in feed.text


@pytest.mark.parametrize("token", ["", " ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "password",
                                   "0123456789abcdef", "abcabcabcabcabcabcabcabc"])
def test_weak_tokens_are_one_line_errors(tmp_path: Path, token: str) -> None:
    r = run_cli(["serve", "--token", token, "--host", "0.0.0.0", "--db",
                 str(tmp_path / "s.db")])
    assert_clean(r)
    assert r.returncode == 2 and "token" in r.stderr
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("path", [
    "/api/incidents/1/blocklist?format=nftables%0atable%20inet%20pwn",
    "/api/incidents/1/blocklist?format=stix",
    "/api/incidents/1/alerts?q=%00%E2%80%AE&family=%0a",
    "/api/incidents/1/alerts?since=99999999999999999999",
    "/api/incidents/99999999999999999999999",
    "/api/incidents/1/alerts?page=1000000&per_page=1000",
    "/openapi.json",
    "/docs",
    "/taxii2/api/collections/%00%E2%80%AE/objects/?limit=-1&added_after=garbage"
    "&match[type]=%3Cscript%3E",
    "/taxii2/api/collections/00000000-0000-0000-0000-000000000000/objects/"
    "?limit=99999999999999999999&next=%0a%1b[2J",
    "/taxii2/api/collections/x/objects/indicator--%2e%2e%2f%2e%2e/",
    "/api/users/%E2%80%AE%0aadmin/disable",
    "/api/notify?limit=%00",
])
def test_hostile_queries_through_serve_get(tmp_path: Path, path: str) -> None:
    db = tmp_path / "s.db"
    r = run_cli(["serve", "--db", str(db), "--get", path])
    assert_clean(r)
    assert r.returncode in (0, 1)
    if path.startswith("/api/"):
        body = json.loads(r.stdout)
        if r.returncode == 1:
            assert set(body) == {"error"} and body["error"]["status"] in (400, 404, 405, 422)
