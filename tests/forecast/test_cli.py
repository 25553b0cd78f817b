"""``wormsign forecast`` as a user runs it (through main(); the fits are fakes here)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from tests.forecast import obs_fakes

from wormsign.cli.main import main
from wormsign.forecast.observations import Monitor, Observations, TimeBase

GROWING = "time,new_sources,probes\n" + "".join(
    f"{600 * (i + 1)},{2 ** (i // 2)},{3 * 2 ** (i // 2)}\n" for i in range(12))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> obs_fakes.Calls:
    return obs_fakes.install(monkeypatch)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(["forecast", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _file(tmp_path: Path, text: str, name: str = "counts.csv") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_json_contract_seconds_in_seconds_out(calls: obs_fakes.Calls, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run([_file(tmp_path, GROWING), "--json", "--monitor", "44.0.0.0/8",
                        "--horizon", "2", "--seed", "9"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["status"] == "ok" and doc["time_base"] == "seconds" and doc["seed"] == 9
    assert doc["monitor"] == {"addresses": 2**24, "blocks": ["44.0.0.0/8"],
                              "label": "44.0.0.0/8"}
    assert isinstance(doc["t50"]["estimate"], float)
    assert doc["evidence"]["to"] == 7200.0
    assert calls.fits[-1][1]["horizon_s"] == 7200.0  # a bare --horizon is hours
    assert not any("1 address" in n for n in doc["notes"])


def test_intervals_option_reaches_the_fit(calls: obs_fakes.Calls, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rc, _out, err = run([_file(tmp_path, GROWING), "--json", "--intervals", "profile"], capsys)
    assert rc == 0, err
    assert calls.fits[-1][1]["intervals"] == "profile"
    rc, _out, err = run([_file(tmp_path, GROWING), "--json"], capsys)
    assert rc == 0, err
    assert calls.fits[-1][1]["intervals"] == "laplace"
    with pytest.raises(SystemExit):
        run([_file(tmp_path, GROWING), "--intervals", "jackknife"], capsys)


def test_human_output_alarm_and_hosts(calls: obs_fakes.Calls, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    inv = _file(tmp_path, "host,software,version,address\nweb\u202e1,IIS,5.0,192.0.2.10\n",
                "inv.csv")
    rc, out, _ = run([_file(tmp_path, GROWING), "--alarm", "--inventory", inv], capsys)
    assert rc == 0
    for text in ("infected_now", "t90", "final_size", "alarm: exponential growth",
                 "identifiable", "first probe median", "1 address"):
        assert text in out
    assert "\u202e" not in out and "\\u202e" in out


def test_plot_is_written(calls: obs_fakes.Calls, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "f.png"
    rc, _, err = run([_file(tmp_path, GROWING), "--plot", str(png)], capsys)
    assert rc == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png2 = tmp_path / "none.png"
    rc, _, _ = run([_file(tmp_path, "time,new_sources\n1,1\n2,1\n"), "--plot", str(png2)],
                   capsys)
    assert rc == 1 and png2.stat().st_size > 0


def test_not_enough_evidence_exits_1(calls: obs_fakes.Calls, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "time,new_sources\n1,1\n2,1\n")
    rc, out, _ = run([path], capsys)
    assert rc == 1 and out.startswith("not enough evidence:") and len(out.splitlines()) == 1
    rc, out, _ = run([path, "--json"], capsys)
    assert rc == 1 and json.loads(out)["status"] == "not-enough-evidence"
    assert calls.fits == []


@pytest.mark.parametrize(("args", "needle"), [
    ([], "OBS"),
    (["--monitor", "44.0.0.0/99"], "monitor"),
    (["--horizon", "soon"], "--horizon"),
    (["--workers", "0"], "--workers"),
    (["--runs", "0"], "--runs"),
    (["--scheduler", "not an address"], "scheduler"),
    (["--family", "code\u202ered"], "family"),
    (["--method", "magic"], "invalid choice"),
])
def test_errors_are_one_line(calls: obs_fakes.Calls, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str], args: list[str],
                             needle: str) -> None:
    files = [] if not args else [_file(tmp_path, GROWING)]
    with pytest.raises(SystemExit) if needle == "invalid choice" else _nothing():
        rc, out, err = run([*files, *args], capsys)
        assert rc == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and needle in err
        assert "\u202e" not in err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_bad_file_names_file_and_line(calls: obs_fakes.Calls, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "time,new_sources\n10,1\n5,2\n")
    rc, _, err = run([path], capsys)
    assert rc == 2 and f"{path}:3" in err and len(err.splitlines()) == 1


def test_incident_observations(calls: obs_fakes.Calls, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, object] = {}

    def observations_for(store: object, incident_id: int, *, family: str | None = None,
                         monitor: Monitor | None = None) -> Observations:
        seen.update(id=incident_id, family=family, monitor=monitor)
        edges = np.arange(11, dtype=np.float64) * 60.0
        return Observations(monitor=monitor or Monitor(1), timebase=TimeBase("iso", 9.9e8),
                            edges=edges, new_sources=np.arange(10, dtype=np.float64),
                            probes=None, family=family, now=600.0)

    mod = types.ModuleType("wormsign.incidents.forecasts")
    mod.observations_for = observations_for  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    import wormsign.incidents as inc

    monkeypatch.setattr(inc, "forecasts", mod, raising=False)
    rc, out, err = run(["--incident", "4", "--db", str(tmp_path / "w.db"), "--family",
                        "code-red", "--monitor", "192.0.2.1", "--json"], capsys)
    assert rc == 0, err
    assert seen["id"] == 4 and seen["family"] == "code-red"
    assert json.loads(out)["time_base"] == "iso"
    rc, _, err = run(["--incident", "4", _file(tmp_path, GROWING)], capsys)
    assert rc == 2 and "not both" in err
