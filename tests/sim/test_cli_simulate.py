"""``wormsign simulate`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wormsign.cli.main import main
from wormsign.sim import SUMMARY_KEYS

SMALL = ["simulate", "--address-bits", "20", "--vulnerable", "2000", "--scan-rate", "20",
         "--initial", "5", "--hours", "1", "--strategy", "uniform"]
FIGURE_KEYS = {"mean", "sd", "p5", "p50", "p95"}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run([*SMALL, "--seed", "1", "--json"], capsys)
    assert rc == 0
    d = json.loads(out)
    assert set(d) == set(SUMMARY_KEYS)
    assert d["final_infected"] == 2000
    assert 0 < d["t10_s"] < d["t50_s"] < d["t90_s"] <= 3600
    assert d["probes"] > 0
    rc, again, _ = run([*SMALL, "--seed", "1", "--json"], capsys)
    assert again == out


def test_unreached_thresholds_are_null(capsys: pytest.CaptureFixture[str]) -> None:
    _rc, out, _ = run([*SMALL, "--hours", "0.05", "--seed", "2", "--json"], capsys)
    d = json.loads(out)
    assert d["t90_s"] is None


def test_runs_give_figures_with_bands_and_each_run(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run([*SMALL, "--seed", "3", "--runs", "5", "--workers", "1", "--json"],
                     capsys)
    assert rc == 0
    d = json.loads(out)
    assert set(d) == {*SUMMARY_KEYS, "runs"}
    for key in SUMMARY_KEYS:
        assert set(d[key]) == FIGURE_KEYS
    assert len(d["runs"]) == 5
    t50 = sorted(r["t50_s"] for r in d["runs"])
    assert d["t50_s"]["p50"] == t50[2]
    assert t50[0] <= d["t50_s"]["p5"] <= d["t50_s"]["p95"] <= t50[-1]


def test_parallel_runs_equal_serial_runs(capsys: pytest.CaptureFixture[str]) -> None:
    args = [*SMALL, "--seed", "4", "--runs", "4", "--json"]
    _, serial, _ = run([*args, "--workers", "1"], capsys)
    _, parallel, _ = run([*args, "--workers", "2"], capsys)
    assert json.loads(serial) == json.loads(parallel)


def test_dask_scheduler(capsys: pytest.CaptureFixture[str]) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        _, on_dask, _ = run([*SMALL, "--seed", "4", "--runs", "4", "--json",
                             "--scheduler", cluster.scheduler_address], capsys)
    _, local, _ = run([*SMALL, "--seed", "4", "--runs", "4", "--json", "--workers", "1"],
                      capsys)
    assert json.loads(on_dask) == json.loads(local)


def test_unreachable_scheduler_is_a_config_error() -> None:
    pytest.importorskip("distributed")
    from wormsign.errors import ConfigError
    from wormsign.sim import Scenario
    from wormsign.sim.montecarlo import run_many

    sc = Scenario(address_bits=16, vulnerable=100, initial=1, hours=0.01)
    with pytest.raises(ConfigError, match="Dask scheduler"):
        run_many(sc, 2, seed=1, scheduler="tcp://127.0.0.1:1", connect_timeout=1.0)


def test_out_csv_parquet_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, pq_path, png = tmp_path / "s.csv", tmp_path / "s.parquet", tmp_path / "p.png"
    rc, out, _ = run([*SMALL, "--seed", "5", "--out", str(csv_path), "--plot", str(png),
                      "--telescope", "44.0.0.0/8"], capsys)
    assert rc == 0
    assert "t50_s" in out
    lines = csv_path.read_text().splitlines()
    header = lines[0].split(",")
    for col in ("t", "susceptible", "infected", "removed", "new_infections", "probes",
                "telescope[44.0.0.0/8].probes", "telescope[44.0.0.0/8].sources"):
        assert col in header
    assert len(lines) == 3601
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc, _, _ = run([*SMALL, "--seed", "5", "--runs", "3", "--workers", "1",
                    "--telescope", "44.0.0.0/8", "--out", str(pq_path), "--plot", str(png)],
                   capsys)
    assert rc == 0
    import pyarrow.parquet as pq

    table = pq.read_table(pq_path)
    assert {"t", "infected_p5", "infected_p50", "infected_p95", "flood_p50",
            "telescope[44.0.0.0/8].sources_p95"} <= set(table.column_names)
    probes = table.column("probes_p50").to_numpy()
    assert probes.sum() > 0


def test_preset_with_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["simulate", "--preset", "slammer", "--hours", "0.05", "--seed", "1",
                      "--vulnerable", "50000"], capsys)
    assert rc == 0
    assert "slammer (modified)" in out
    assert "50,000 vulnerable" in out


def test_every_parameter_as_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run([
        "simulate", "--address-bits", "24", "--vulnerable", "5000", "--scan-rate", "4",
        "--scan-rate-dist", "lognormal", "--scan-rate-sigma", "0.5", "--initial", "3",
        "--hours", "30", "--strategy", "local-preference", "--local-probs", "0.2,0.5,0.3",
        "--local-prefixes", "8,16", "--placement", "clustered", "--infection-delay", "5",
        "--patch-rate", "0:0,2:0.01", "--removal-rate", "0.01", "--reboot-rate", "0.01",
        "--blacklist-reaction", "600", "--blacklist-coverage", "0.2",
        "--content-filter-reaction", "3600", "--content-filter-coverage", "0.1",
        "--filter-block", "10.0.0.0/8", "--ingress", "true", "--egress", "true",
        "--telescope", "44.0.0.0/8", "--telescope", "192.0.2.1/32",
        "--start", "2001-07-19T12:00:00Z", "--flood-rate", "3", "--wake-jitter", "2",
        "--step", "60", "--seed", "9", "--json"], capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["final_infected"] > 3


def test_deterministic_models(capsys: pytest.CaptureFixture[str]) -> None:
    for model in ("logistic", "two-factor"):
        rc, out, _ = run([*SMALL, "--model", model, "--json"], capsys)
        assert rc == 0
        assert json.loads(out)["t50_s"] > 0


@pytest.mark.parametrize(("args", "needle"), [
    (["--preset", "code-red-v9"], "unknown preset"),
    (["--strategy", "telepathy"], "strategy"),
    (["--vulnerable", "0"], "vulnerable"),
    (["--telescope", "300.1.2.3/8"], "bad address block"),
    (["--start", "yesterday", "--calendar", "true"], "start"),
    (["--runs", "0"], "runs"),
])
def test_bad_input_is_a_one_line_error(args: list[str], needle: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    rc, _out, err = run([*SMALL, *args], capsys)
    assert rc == 2
    assert needle in err
    assert err.startswith("wormsign: error:")
    assert len(err.strip().splitlines()) == 1


def test_help_names_every_flag_of_the_issue(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = capsys.readouterr().out
    for flag in ("--preset", "--model", "--address-bits", "--vulnerable", "--scan-rate",
                 "--initial", "--hours", "--strategy", "--seed", "--runs", "--start",
                 "--scheduler", "--out", "--plot", "--json", "--telescope",
                 "--blacklist-reaction", "--content-filter-coverage", "--removal-rate",
                 "--reboot-rate", "--calendar"):
        assert flag in text


def test_list_presets(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["simulate", "--list-presets"], capsys)
    assert rc == 0
    assert "code-red-v2" in out and "warhol" in out


def test_console_script_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wormsign", *SMALL, "--seed", "1", "--json"],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == set(SUMMARY_KEYS)
