"""``wormsign demo`` on the command line."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
from tests.demo.conftest import Calls

from wormsign.cli.main import main

STEPS = ["simulate", "logs", "scan", "forecast", "assess", "incident", "report"]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


FORECAST_MODULES = ("wormsign.forecast.readers", "wormsign.forecast.api")
MISSING = [m for m in FORECAST_MODULES if not _importable(m)]


def test_json_on_stdout_progress_on_stderr(fakes: Calls, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "d"), "--seed", "5", "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["seed"] == 5 and doc["synthetic"] is True
    assert doc["forecast"]["status"] == "ok"
    assert [c["quantity"] for c in doc["truth_vs_forecast"]["checks"]] == [
        "t50", "t90", "final_size"]
    lines = [x for x in err.splitlines() if not x.startswith("wormsign: compiling")]
    assert [x.split()[0] for x in lines] == STEPS
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "word"), [(["--seed", "-3"], "seed"),
                                            (["--at", "tomorrow"], "--at")])
def test_bad_options_are_one_line(args: list[str], word: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wormsign: error:") and word in err and len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(bool(MISSING), reason="the whole demo needs the forecast modules, "
                    f"not in this installation: {', '.join(MISSING)}")
def test_the_whole_demo_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real thing: no fakes. Prints the figures (timing is reported, not asserted)."""
    t0 = time.perf_counter()
    assert main(["demo", "--out", str(tmp_path / "d"), "--json", "-q"]) == 0
    took = time.perf_counter() - t0
    doc = json.loads(capsys.readouterr().out)
    assert doc["forecast"]["path"] and Path(doc["forecast"]["path"]).is_file()
    assert doc["forecast"]["status"] in ("ok", "not-enough-evidence")
    assert doc["assess"]["used_forecast"] in (True, False)
    checks = doc["truth_vs_forecast"]["checks"]
    # t90 of the vulnerable population is never reached by the fitted code-red-v2 preset
    # (patching and removal stop it near 83 %): t50 and the final size always are
    truth = {c["quantity"]: c["truth"] for c in checks}
    assert truth["t50"] is not None and truth["final_size"] is not None
    if doc["forecast"]["status"] == "ok":
        assert all(c["estimate"] is not None for c in checks if c["quantity"] != "t90")
    with capsys.disabled():
        print(f"\nwormsign demo: {took:.1f} s; truth vs forecast: {json.dumps(checks)}")
