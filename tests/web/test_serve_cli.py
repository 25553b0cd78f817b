"""``wormsign serve``: safe binding, ``--get``, and a real server process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from wormsign.cli.main import main
from wormsign.cli.serve import check_bind, is_loopback
from wormsign.errors import ConfigError


def test_refuses_public_address_without_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORMSIGN_TOKEN", raising=False)
    for host in ("0.0.0.0", "192.0.2.10", "::", "example.org"):
        rc = main(["serve", "--host", host, "--db", str(tmp_path / "s.db")])
        err = capsys.readouterr().err
        assert rc == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "without an access token" in lines[0] and host in lines[0]
    assert not (tmp_path / "s.db").exists()  # refused before opening anything


def test_short_token_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["serve", "--host", "0.0.0.0", "--token", "abc", "--db", str(tmp_path / "s.db")])
    assert rc == 2 and "at least" in capsys.readouterr().err


def test_bind_rules() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
        check_bind(host, None)
    check_bind("0.0.0.0", "a-long-enough-token")
    with pytest.raises(ConfigError):
        check_bind("10.0.0.1", None)


def test_get_runs_a_request_without_a_port(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    assert main(["serve", "--db", db, "--get", "/api/incidents"]) == 0
    assert json.loads(capsys.readouterr().out) == {"items": []}
    assert main(["serve", "--db", db, "--get", "/api/incidents/7"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["status"] == 404


def test_server_process(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "WORMSIGN_TOKEN": "process-test-token"}
    proc = subprocess.Popen([sys.executable, "-m", "wormsign", "serve", "--db",
                             str(tmp_path / "p.db"), "--port", str(port), "--log-level",
                             "warning"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(base + "/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert r.status_code == 401  # the token from the environment is enforced
        r = httpx.get(base + "/api/health", headers={"Authorization":
                                                     "Bearer process-test-token"})
        assert r.json()["status"] == "ok"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert b"dashboard on http://127.0.0.1:" in err


def test_missing_web_extra_is_a_one_line_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "uvicorn" else real(name, *a))
    rc = main(["serve", "--db", str(tmp_path / "s.db")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "pip install 'wormsign[web]'" in err[0] and "uvicorn" in err[0]
    assert not (tmp_path / "s.db").exists()
