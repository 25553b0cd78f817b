"""``--out`` files gain a ``utc`` column (ISO 8601) beside ``t`` when the scenario has a start."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from wormsign.cli.main import main
from wormsign.sim.output import utc_column, write_table

SMALL = ["simulate", "--address-bits", "20", "--vulnerable", "2000", "--scan-rate", "20",
         "--initial", "5", "--hours", "0.5", "--strategy", "uniform", "--seed", "3"]
START = "2001-07-19T10:00:00Z"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_has_utc_beside_t(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.csv"
    assert main([*SMALL, "--start", START, "--out", str(out)]) == 0
    capsys.readouterr()
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:2] == ["t", "utc"]
    rows = _rows(out)
    start = datetime(2001, 7, 19, 10, tzinfo=UTC)
    for row in (rows[0], rows[len(rows) // 2], rows[-1]):
        when = datetime.fromisoformat(row["utc"].replace("Z", "+00:00"))
        assert when == start + timedelta(seconds=float(row["t"]))
    assert rows[-1]["utc"] == "2001-07-19T10:30:00Z"


def test_no_start_no_utc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.csv"
    assert main([*SMALL, "--out", str(out)]) == 0
    capsys.readouterr()
    assert "utc" not in out.read_text(encoding="utf-8").splitlines()[0].split(",")


def test_band_csv_and_parquet_have_utc(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    runs = [*SMALL, "--start", "2001-07-19T23:50:00Z", "--runs", "3", "--workers", "1"]
    out = tmp_path / "band.csv"
    assert main([*runs, "--out", str(out)]) == 0
    rows = _rows(out)
    assert list(rows[0])[:3] == ["t", "utc", "susceptible_p5"]
    # the run crosses midnight into 20 July
    assert rows[-1]["utc"].startswith("2001-07-20T00:20")
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq_path = tmp_path / "band.parquet"
    assert main([*runs, "--out", str(pq_path)]) == 0
    capsys.readouterr()
    table = pq.read_table(pq_path)
    assert table.column_names[:2] == ["t", "utc"]
    assert table.schema.field("utc").type == pa.timestamp("ms", tz="UTC")
    t = table.column("t").to_numpy()
    utc = table.column("utc").to_pylist()
    start = datetime(2001, 7, 19, 23, 50, tzinfo=UTC)
    assert utc[-1] == start + timedelta(seconds=float(t[-1]))


def test_utc_column_fractional_seconds(tmp_path: Path) -> None:
    start = datetime(2003, 1, 25, 5, 29, 30, tzinfo=UTC)
    assert list(utc_column(np.array([0.0, 1.0, 60.0]), start)) == [
        "2003-01-25T05:29:30Z", "2003-01-25T05:29:31Z", "2003-01-25T05:30:30Z"]
    assert list(utc_column(np.array([0.5, 1.25]), start)) == [
        "2003-01-25T05:29:30.500Z", "2003-01-25T05:29:31.250Z"]
    path = tmp_path / "x.csv"
    write_table(str(path), {"t": np.array([0.5, 1.0]), "n": np.array([1.0, 2.0])}, start=start)
    assert path.read_text(encoding="utf-8").splitlines() == [
        "t,utc,n", "0.5,2003-01-25T05:29:30.500Z,1", "1,2003-01-25T05:29:31.000Z,2"]


def test_plot_draws_the_preset_published_curve(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import dataclasses

    from wormsign.sim import load_preset, simulate
    from wormsign.sim.output import plot
    from wormsign.sim.presets import published_figures

    sc = dataclasses.replace(load_preset("code-red-v2"), address_bits=24, vulnerable=1500,
                             initial=1, step_s=60.0)
    png = tmp_path / "cr.png"
    pub = published_figures("code-red-v2")
    assert pub["curve"] == "code-red-2001-07-19"
    plot(str(png), simulate(sc, seed=1), published=pub)
    assert png.read_bytes()[:4] == b"\x89PNG"
