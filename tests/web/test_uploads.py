"""Uploads: the size limit holds for decompressed bytes too (gzip, bzip2, xz, nested), a
truncated archive keeps what it held, and one bad line is a counted skip, not a failed
upload."""

from __future__ import annotations

import bz2
import gzip
import lzma
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from web.helpers import LiveServer, csrf_of
from wormsign.errors import InputError
from wormsign.incidents import Store
from wormsign.incidents import schema as t
from wormsign.web import Settings, create_app
from wormsign.web.jobs import unpack

LIMIT = 256 * 1024
CODE_RED = "/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801"
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}


def log_line(i: int, when: str = "19/Jul/2001:12:00:00 +0000") -> str:
    return f'198.51.100.{i % 200 + 1} - - [{when}] "GET {CODE_RED} HTTP/1.0" 404 -\n'


def good_log(n: int) -> bytes:
    return "".join(log_line(i, f"19/Jul/2001:12:{i % 60:02d}:{i // 60:02d} +0000")
                   for i in range(n)).encode()


@pytest.fixture(scope="module")
def limited(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    app = create_app(Settings(upload_dir=str(tmp_path_factory.mktemp("limited")),
                              max_upload_bytes=LIMIT), store=store)
    with LiveServer(app) as srv:
        yield srv


def upload(server: LiveServer, iid: int, name: str, body: bytes) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post(f"/api/incidents/{iid}/uploads", files={"file": (name, body)},
                   headers={"X-CSRF-Token": csrf_of(c)})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while True:
            job: dict[str, Any] = c.get(f"/api/jobs/{r.json()['id']}").json()
            if job["finished"]:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_a_decompression_bomb_is_refused(limited: LiveServer, store: Store, kind: str) -> None:
    bomb = COMPRESSORS[kind](b"A" * 80 + b"\n" * 1 + b"B" * (8 * 1024 * 1024))
    assert len(bomb) < LIMIT // 4  # small on the wire, 8 MiB inflated
    iid = store.create_incident(f"bomb {kind}")
    job = upload(limited, iid, f"bomb.log.{kind}", bomb)
    assert job["phase"] == "failed", job
    assert "decompressed size passes the upload limit" in job["error"]
    assert "bomb.log" in job["error"] and "\n" not in job["error"]
    assert job["added"] == 0 and store.list_alerts(iid, 1, 1).total == 0


def test_a_nested_bomb_is_refused(limited: LiveServer, store: Store) -> None:
    inner = gzip.compress(b"C" * (16 * 1024 * 1024))
    bomb = gzip.compress(inner)
    iid = store.create_incident("nested bomb")
    job = upload(limited, iid, "nested.gz", bomb)
    assert job["phase"] == "failed" and "upload limit" in job["error"]


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_logs_under_the_limit_are_scanned(limited: LiveServer, store: Store,
                                                     kind: str) -> None:
    plain = good_log(300)
    assert len(plain) < LIMIT
    iid = store.create_incident(f"compressed {kind}")
    job = upload(limited, iid, f"access.log.{kind}", COMPRESSORS[kind](plain))
    assert job["phase"] == "done", job
    assert job["unpacked"] == len(plain) and job["percent"] == 100.0
    assert job["added"] == 300 and store.list_alerts(iid, 1, 1).total == 300


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_a_truncated_archive_keeps_what_it_held(server: LiveServer, store: Store,
                                                kind: str) -> None:
    plain = good_log(8000)
    # bzip2 decodes whole blocks only: small blocks (level 1), so some are whole before the cut.
    packed = bz2.compress(plain, 1) if kind == "bzip2" else COMPRESSORS[kind](plain)
    iid = store.create_incident(f"truncated {kind}")
    job = upload(server, iid, f"cut.log.{kind}", packed[: len(packed) * 2 // 3])
    assert job["phase"] == "done", job
    assert 0 < job["added"] < 8000
    assert any("cut short" in w for w in job["warnings"])


def test_one_bad_timestamp_is_a_counted_skip(client: httpx.Client, server: LiveServer,
                                             store: Store) -> None:
    lines = [log_line(i, f"19/Jul/2001:12:{i % 60:02d}:{i // 60:02d} +0000")
             for i in range(99)]
    lines.insert(40, log_line(7, "01/Jan/0001:00:30:00 +0100"))
    iid = store.create_incident("year one")
    job = upload(server, iid, "year1.log", "".join(lines).encode())
    assert job["phase"] == "done", job
    # The 99 good lines are in; the bad one is a counted skip or kept without its time.
    assert job["added"] + job["skipped"] == 100 and job["added"] >= 99
    with store.engine.connect() as conn:
        timed = conn.execute(sa.select(sa.func.count()).where(
            t.alerts.c.incident_id == iid, t.alerts.c.ts.is_not(None))).scalar_one()
    assert timed == 99


def test_unpack_streams_in_bounded_memory(tmp_path: Path) -> None:
    src = tmp_path / "big.gz"
    with gzip.open(src, "wb") as fh:
        for _ in range(64):
            fh.write(b"x" * (1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="upload limit"):
            unpack(src, "big.gz", 32 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.gz"]  # nothing left behind
    out = unpack(src, "big.gz", 128 << 20)
    assert out.stat().st_size == 64 << 20 and not src.exists()
