"""Helpers for the dashboard tests: a live uvicorn server in a thread, synthetic alerts."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from wormsign.detect.alert import Alert

T0 = datetime(2001, 7, 19, 12, 0, tzinfo=UTC)
XSS = "<script>window.__pwned = 1; alert(1)</script>"
URLS = {
    "code-red": "/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801",
    "code-red-ii": "/default.ida?" + "X" * 224 + "%u9090%u6858%ucbd3%u7801",
    "nimda": "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir",
}


def alert(i: int, source: str, family: str, *, user_agent: str | None = "Mozilla/4.0",
          host: str | None = "www.example.org", seconds: int | None = None) -> Alert:
    return Alert(timestamp=T0 + timedelta(seconds=i if seconds is None else seconds),
                 source_ip=source, rule_id=f"{family}-rule", rule_name=f"{family} request",
                 family=family, rule_family=family, severity="high", url=URLS[family],
                 method="GET", status=404, user_agent=user_agent, host=host,
                 file_path="/var/log/access.log", line=i + 1, format="apache-combined")


def write_alerts(path: Path, alerts: list[Alert]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for a in alerts:
            fh.write(json.dumps(a.to_ecs()) + "\n")
    return path


def mixed_alerts(n: int) -> list[Alert]:
    """``n`` alerts: three families, some internal sources, over a few hours."""
    fams = list(URLS)
    out = []
    for i in range(n):
        s = (i * 7919) % 37
        ip = f"10.0.0.{s + 1}" if s % 9 == 0 else f"198.51.100.{s + 1}"
        out.append(alert(i, ip, fams[s % 3], seconds=(i * 97) % 14400,
                         host=f"www{s % 4}.example.org"))
    return out


class LiveServer:
    """A uvicorn server for ``app`` on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()


def csrf_of(client: httpx.Client) -> str:
    """Open a session and return its CSRF token."""
    r = client.get("/api/session")
    r.raise_for_status()
    token: str = r.json()["csrf_token"]
    return token
