"""``watch --forecast FILE``: the forecast is refreshed as new sources arrive, written
atomically, and a failing forecast never stops the watch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from fakeforecast import fake_forecast
from wormsign.detect.alert import Alert
from wormsign.errors import ConfigError
from wormsign.forecast.observations import Observations
from wormsign.forecast.result import Forecast
from wormsign.watch import Watcher
from wormsign.watch.forecast import ForecastRefresher, write_atomic

from .lines import T0, code_red, combined

ROOT = Path(__file__).resolve().parents[2]


def _alert(i: int, family: str = "code-red", seconds: int | None = None,
           ip: str | None = None) -> Alert:
    return Alert(timestamp=T0 + timedelta(seconds=i * 30 if seconds is None else seconds),
                 source_ip=ip or f"203.0.{i // 250}.{i % 250 + 1}", rule_id=f"{family}-r",
                 rule_name=family, family=family, rule_family=family, severity="high",
                 url="/default.ida", method="GET", status=404, user_agent=None, host=None,
                 file_path="/var/log/access.log", line=i + 1, format="apache-combined")


class Recorder:
    """A fake fit that remembers the observations it was given."""

    def __init__(self, fail: int = 0) -> None:
        self.seen: list[Observations] = []
        self.fail = fail

    def __call__(self, obs: Observations) -> Forecast:
        self.seen.append(obs)
        if len(self.seen) <= self.fail:
            raise RuntimeError("fit\nexploded")
        return fake_forecast(obs)


def test_refreshes_after_every_n_new_sources(tmp_path: Path) -> None:
    out = tmp_path / "fc.json"
    fit = Recorder()
    r = ForecastRefresher(str(out), every=50, fit=fit)
    r.add([_alert(i) for i in range(49)] + [_alert(3, seconds=5000)])  # 49 sources
    r.wait()
    assert not out.exists() and fit.seen == []
    r.add([_alert(49)])
    r.wait()
    doc = json.loads(out.read_text())
    assert doc["status"] == "ok" and doc["family"] == "code-red"
    obs = fit.seen[0]
    assert obs.sources_total == 50 and obs.probes_total == 51
    assert obs.first_seen is not None and obs.first_seen[0] + obs.timebase.origin == \
        T0.timestamp()
    r.add([_alert(i) for i in range(50, 99)])
    r.wait()
    assert len(fit.seen) == 1                      # 49 new: not yet
    r.add([_alert(99)])
    r.wait()
    assert len(fit.seen) == 2 and fit.seen[1].sources_total == 100
    assert r.written == 2 and r.failed == 0
    assert [p.name for p in tmp_path.iterdir()] == ["fc.json"]   # no temporary files left


def test_family_choice(tmp_path: Path) -> None:
    fit = Recorder()
    r = ForecastRefresher(str(tmp_path / "f.json"), every=5, fit=fit)
    r.add([_alert(i, "scanner") for i in range(20)] + [_alert(i, "nimda") for i in range(6)])
    r.wait()
    assert fit.seen[0].family == "nimda"          # a worm, though fewer sources
    fit2 = Recorder()
    r2 = ForecastRefresher(str(tmp_path / "g.json"), every=5, family="scanner", fit=fit2)
    r2.add([_alert(i, "scanner") for i in range(5)] + [_alert(i, "nimda") for i in range(9)])
    r2.wait()
    assert [o.family for o in fit2.seen] == ["scanner"]


def test_a_failing_forecast_is_counted_and_the_next_one_works(tmp_path: Path) -> None:
    out = tmp_path / "fc.json"
    notes: list[str] = []
    fit = Recorder(fail=1)
    r = ForecastRefresher(str(out), every=10, fit=fit, note=notes.append)
    r.add([_alert(i) for i in range(10)])
    r.wait()
    assert r.failed == 1 and r.written == 0 and not out.exists()
    assert len(notes) == 1 and "\n" not in notes[0] and "RuntimeError" in notes[0]
    r.add([_alert(i) for i in range(10, 20)])
    r.wait()
    assert r.written == 1 and json.loads(out.read_text())["evidence"]["sources"] == 20


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "fc.json"
    out.write_text('{"old": true}\n')
    with pytest.raises(TypeError):
        write_atomic(str(out), object())  # type: ignore[arg-type]
    assert json.loads(out.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["fc.json"]
    write_atomic(str(out), '{"new": 1}')
    assert json.loads(out.read_text()) == {"new": 1}


def test_one_forecast_at_a_time(tmp_path: Path) -> None:
    gate = threading.Event()

    def slow(obs: Observations) -> Forecast:
        gate.wait(30)
        return fake_forecast(obs)

    r = ForecastRefresher(str(tmp_path / "fc.json"), every=5, fit=slow)
    r.add([_alert(i) for i in range(5)])
    assert r._thread is not None and r._thread.is_alive()
    r.add([_alert(i) for i in range(5, 20)])   # due, but one is running: the watch goes on
    assert not r.maybe_refresh()
    gate.set()
    r.wait()
    assert r.maybe_refresh()                   # now the 15 waiting sources get their turn
    r.wait()
    assert r.written == 2


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ForecastRefresher(str(tmp_path / "fc.json"), every=0)
    with pytest.raises(ConfigError, match="folder"):
        ForecastRefresher(str(tmp_path / "missing" / "fc.json"))


def test_watcher_feeds_the_refresher(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(code_red(i, 20 * i) for i in range(30)))
    fit = Recorder()
    r = ForecastRefresher(str(tmp_path / "fc.json"), every=25, fit=fit)
    w = Watcher([str(log)], on_alerts=r.add)
    w.step(final=True)
    r.wait()
    assert len(fit.seen) == 1 and fit.seen[0].sources_total == 30
    with open(log, "ab") as f:
        f.write(b"".join(code_red(i, 20 * i) for i in range(30, 60)))
        f.write(combined("203.0.0.1", "/index.html", 5, status=200))
    w.step(final=True)
    r.wait()
    assert len(fit.seen) == 2 and fit.seen[1].sources_total == 60
    w.follower.close()


def test_cli_watch_with_forecast_ends_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(code_red(i, 30 * i) for i in range(12)))
    out = tmp_path / "fc.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    errfile = tmp_path / "stderr.txt"
    with errfile.open("wb") as errfh:
        p = subprocess.Popen([sys.executable, "-m", "wormsign", "watch", "--plain", "-q",
                              "--poll-interval", "0.2", str(log), "--forecast", str(out),
                              "--forecast-every", "10"],
                             stdout=subprocess.DEVNULL, stderr=errfh, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not out.exists() \
                and b"forecast of" not in errfile.read_bytes():
            time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=120)
    text = errfile.read_text()
    assert p.returncode == 0 and "Traceback" not in text
    # a forecast was tried: written, or failed and said so in one line (the watch went on)
    assert ("1 forecast(s) written" in text and json.loads(out.read_text())["schema"]) or \
        ("forecast of code-red failed" in text and "1 failed" in text)
    bad = subprocess.run([sys.executable, "-m", "wormsign", "watch", str(log),
                          "--forecast-every", "5"], capture_output=True, env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.decode().count("\n") == 1
