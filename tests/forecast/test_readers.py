"""Readers: every input becomes one Observations record; bad input is a one-line error or
skipped, counted rows."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from wormsign.cli.main import main
from wormsign.errors import ConfigError
from wormsign.forecast import readers
from wormsign.forecast.readers import load, parse_monitor, width_for


@pytest.fixture(scope="module")
def scanned(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """scan --json, --csv and --alerts of the shared sample logs."""
    d = tmp_path_factory.mktemp("scanned")
    out = {"json": d / "scan.json", "csv": d / "scan.csv", "alerts": d / "alerts.jsonl"}
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["scan", "-q", "--json", "--csv", str(out["csv"]), "--alerts",
              str(out["alerts"]), str(sample_dir)])
    out["json"].write_text(buf.getvalue(), encoding="utf-8")
    return out


def _alert(ts: str, ip: str, family: str = "code-red", dataset: str = "combined") -> str:
    return json.dumps({"@timestamp": ts, "source.ip": ip, "wormsign.family": family,
                       "event.dataset": dataset}) + "\n"


def test_monitor_forms(tmp_path: Path) -> None:
    m = parse_monitor("44.1.2.3/8")
    assert m is not None and m.size == 2**24 and m.blocks == ("44.0.0.0/8",)
    m = parse_monitor("192.0.2.1, 192.0.2.7,192.0.2.1")
    assert m is not None and m.size == 2 and m.blocks == ("192.0.2.1/32", "192.0.2.7/32")
    m = parse_monitor("192.0.2.0/24,192.0.2.9")  # overlap counts once
    assert m is not None and m.size == 256
    m = parse_monitor("2^16")
    assert m is not None and m.size == 65536
    f = tmp_path / "mon.txt"
    f.write_text("# our servers\n192.0.2.1\n192.0.2.2  # web\n\n198.51.100.0/30\n")
    m = parse_monitor(str(f))
    assert m is not None and m.size == 6
    assert parse_monitor(None) is None and parse_monitor("  ") is None


@pytest.mark.parametrize("bad", ["44.0.0.0/33", "not-an-address", "2001:db8::/32", "2^40",
                                 "0", "1.2.3.4,\x1b[31mred"])
def test_monitor_junk_is_one_line_error(bad: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_monitor(bad)
    assert "\n" not in str(e.value)


def test_width_is_round_and_gives_at_most_200_intervals() -> None:
    for span in (5.0, 500.0, 3600.0, 86400.0, 7 * 86400.0):
        w = width_for(span)
        assert w in readers.WIDTHS and span / w <= readers.MAX_INTERVALS
        smaller = [x for x in readers.WIDTHS if x < w]
        assert not smaller or span / smaller[-1] > readers.MAX_INTERVALS


def test_scan_outputs_agree_on_sources(scanned: dict[str, Path]) -> None:
    doc = json.loads(scanned["json"].read_text())
    want = doc["families"]["code-red"]["sources"]
    got = {k: load([str(p)], family="code-red") for k, p in scanned.items()}
    for k, obs in got.items():
        assert obs.family == "code-red"
        assert obs.sources_total == want, k
        assert obs.timebase.kind == "iso"
        assert obs.first_seen is not None and np.all(np.diff(obs.first_seen) >= 0)
        assert 1 <= obs.edges.size - 1 <= readers.MAX_INTERVALS
        assert obs.first_seen[0] >= obs.edges[0] and obs.first_seen[-1] < obs.edges[-1]
        assert obs.now == pytest.approx(obs.edges[-1])
        assert any("1 address" in n for n in obs.notes)
    # the earliest source is the family's first_seen in the scan summary
    first = got["json"].timebase.format(float(got["json"].first_seen[0]))
    assert first == doc["families"]["code-red"]["first_seen"]
    assert got["json"].probes is None and got["alerts"].probes is not None


def test_alerts_count_a_request_once(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    lines = []
    for i in range(30):
        ts = f"2001-07-19T10:{i:02d}:00Z"
        ip = f"10.0.{i}.1"
        lines += [_alert(ts, ip), _alert(ts, ip, dataset="apache-error")]
    p.write_text("".join(lines))
    obs = load([str(p)])
    assert obs.sources_total == 30 and obs.probes_total == 30
    assert any("access logs only" in n for n in obs.notes)
    only_error = tmp_path / "e.jsonl"
    only_error.write_text("".join(ln for ln in lines if "apache-error" in ln))
    assert load([str(only_error)]).probes_total == 30


def test_alerts_bad_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl.gz"
    good = [_alert(f"2001-07-19T10:{i:02d}:00Z", f"10.0.0.{i + 1}") for i in range(20)]
    bad = ["{not json\n", "[1,2]\n", _alert("2001-07-19T10:00:00Z", "010.1.1.1"),
           _alert("yesterday", "10.9.9.9"), _alert("2001-07-19T10:00:00Z", "10.9.9.8",
                                                   family="code-red\u202e;rm -rf"),
           "x" * (readers.MAX_LINE + 10) + "\n"]
    with gzip.open(p, "wt") as f:
        f.write("".join(good[:10] + bad + good[10:]))
    obs = load([str(p)])
    assert obs.sources_total == 20
    assert obs.skipped == len(bad)
    assert any(f"{len(bad)} input row(s) skipped" in n for n in obs.notes)


def test_family_choice(tmp_path: Path, scanned: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match=r"several families.*--family"):
        load([str(scanned["alerts"])])
    with pytest.raises(ConfigError, match="no observations of slammer"):
        load([str(scanned["alerts"])], family="slammer")
    p = tmp_path / "one.jsonl"  # one worm family among non-worm ones: chosen
    p.write_text(_alert("2001-07-19T10:00:00Z", "10.0.0.1") +
                 _alert("2001-07-19T10:00:05Z", "10.0.0.2", family="scanner"))
    assert load([str(p)]).family == "code-red"


def test_at_cuts_the_evidence(scanned: dict[str, Path]) -> None:
    full = load([str(scanned["alerts"])], family="code-red")
    at = full.timebase.format(float(full.first_seen[len(full.first_seen) // 2]))
    assert isinstance(at, str)
    cut = load([str(scanned["alerts"])], family="code-red", at=at)
    assert cut.sources_total < full.sources_total
    assert cut.timebase.format(cut.end) == at
    assert any("after --at" in n for n in cut.notes)
    with pytest.raises(ConfigError, match="before the first"):
        load([str(scanned["alerts"])], family="code-red", at="1990-01-01T00:00:00Z")


def test_scan_json_cut_list_is_noted(tmp_path: Path) -> None:
    doc = {"files": [], "families": {"code-red": {"worm": True, "sources": 50}},
           "sources": [{"ip": f"10.0.0.{i}", "family": "code-red",
                        "first_seen": f"2001-07-19T10:{i:02d}:00Z"} for i in range(1, 21)]}
    p = tmp_path / "s.json"
    p.write_text(json.dumps(doc, indent=2))  # pretty-printed works too
    obs = load([str(p)])
    assert obs.sources_total == 20
    assert any("20 of 50" in n and "--csv" in n for n in obs.notes)


def test_scan_json_streams_a_large_list(tmp_path: Path) -> None:
    n = 30_000
    rows = ",".join(json.dumps({"ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                                "family": "nimda", "first_seen":
                                f"2001-09-18T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:"
                                f"{i % 60:02d}Z"}) for i in range(n))
    p = tmp_path / "big.json"
    head = f'{{"files":[],"families":{{"nimda":{{"worm":true,"sources":{n}}}}}'
    p.write_text(head + f',"sources":[{rows}]}}')
    obs = load([str(p)])
    assert obs.sources_total == n and obs.edges.size - 1 <= readers.MAX_INTERVALS


def _counts(tmp_path: Path, text: str, name: str = "c.csv") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_counts_seconds_in_seconds_out(tmp_path: Path) -> None:
    rows = "time,new_sources,probes\n" + "".join(
        f"{600 * (i + 1)},{i},{3 * i}\n" for i in range(10))
    obs = load([_counts(tmp_path, rows)], monitor="44.0.0.0/8")
    assert obs.timebase.kind == "seconds"
    assert obs.edges[0] == 0.0 and obs.edges[-1] == 6000.0  # first interval one step before
    assert obs.sources_total == 45 and obs.probes_total == 135
    assert obs.timebase.format(obs.end) == 6000.0
    assert obs.monitor.size == 2**24 and obs.first_seen is None


def test_counts_cumulative_and_iso(tmp_path: Path) -> None:
    rows = "time,sources\n" + "".join(
        f"2001-07-19T{10 + i:02d}:00:00Z,{(i + 1) ** 2}\n" for i in range(8))
    obs = load([_counts(tmp_path, rows)])
    assert obs.timebase.kind == "iso"
    assert obs.timebase.format(float(obs.edges[0])) == "2001-07-19T09:00:00Z"
    assert obs.timebase.format(obs.end) == "2001-07-19T17:00:00Z"
    assert obs.new_sources is not None and list(obs.new_sources) == [
        (i + 1) ** 2 - i ** 2 for i in range(8)]
    cut = load([_counts(tmp_path, rows)], at="2001-07-19T13:30:00Z")
    assert cut.sources_total == 16 and any("4 row(s) after --at" in n for n in cut.notes)


@pytest.mark.parametrize(("text", "needle", "line"), [
    ("time,new_sources\n10,1\n5,2\n", "increase", 3),
    ("time,new_sources\n10,1\n20,-2\n", "negative", 3),
    ("time,sources\n10,5\n20,4\n", "decrease", 3),
    ("time,probes\n10,1\n20,abc\n", "not a number", 3),
    ("time,probes\n10,1\n20,nan\n", "finite", 3),
    ("time,probes\n10,1\n20,1e300\n", "finite", 3),
    ("time,probes\n2001-07-19T10:00:00Z,1\n2001-13-45T99:00:00Z,1\n", "bad time", 3),
    ("time,probes\n10,1\n20,1,4\n", "cells", 3),
    ("time,colour\n10,1\n", "header", 1),
])
def test_bad_counts_name_file_and_line(tmp_path: Path, text: str, needle: str,
                                       line: int) -> None:
    path = _counts(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load([path])
    msg = str(e.value)
    assert needle in msg and f"{path}:{line}" in msg and "\n" not in msg


def test_empty_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty"):
        load([_counts(tmp_path, "")])
    with pytest.raises(ConfigError, match="at least 2 rows"):
        load([_counts(tmp_path, "time,new_sources\n")])
    with pytest.raises(ConfigError, match="every count is 0"):
        load([_counts(tmp_path, "time,new_sources\n1,0\n2,0\n")])
    with pytest.raises(ConfigError, match="no observations"):
        load([_counts(tmp_path, '{"@timestamp": null, "source.ip": "x"}\n', "a.jsonl")])
    with pytest.raises(ConfigError, match="not scan"):
        load([_counts(tmp_path, "hello world\n", "x.txt")])


def test_counts_csv_is_read_alone(tmp_path: Path) -> None:
    c = _counts(tmp_path, "time,new_sources\n1,1\n2,2\n")
    a = _counts(tmp_path, _alert("2001-07-19T10:00:00Z", "10.0.0.1"), "a.jsonl")
    with pytest.raises(ConfigError, match="alone"):
        load([c, a])


def test_timebase_round_trip(tmp_path: Path) -> None:
    obs = load([_counts(tmp_path, "time,new_sources\n2001-07-19T10:00:00Z,1\n"
                                  "2001-07-19T10:10:00Z,2\n2001-07-19T10:20:00Z,4\n")])
    assert obs.timebase.parse("2001-07-19T10:20:00Z") == pytest.approx(obs.end)
    assert not math.isnan(obs.end)


def test_very_long_spans_use_whole_days() -> None:
    w = width_for(1000 * 86400.0)
    assert w % 86400 == 0 and 1000 * 86400.0 / w <= readers.MAX_INTERVALS


def test_alerts_recognised_after_a_bad_first_line(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text("garbage line\n" + "".join(
        _alert(f"2001-07-19T10:{i:02d}:00Z", f"10.0.0.{i + 1}") for i in range(12)))
    obs = load([str(p)])
    assert obs.sources_total == 12 and obs.skipped == 1


def test_scan_json_with_a_giant_entry_is_one_error(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text('{"families":{},"sources":[{"ip":"10.0.0.1","family":"nimda","x":"'
                 + "y" * (5 * readers.MAX_LINE))
    with pytest.raises(ConfigError, match="truncated or bad"):
        load([str(p)])


def test_at_follows_the_counts_time_base(tmp_path: Path) -> None:
    path = _counts(tmp_path, "time,new_sources\n10,1\n20,2\n30,3\n")
    assert load([path], at="25").sources_total == 3
    with pytest.raises(ConfigError, match="in seconds"):
        load([path], at="2001-07-19T10:00:00Z")


def _simulate_csv(tmp_path: Path, telescopes: tuple[str, ...], start: str | None) -> Path:
    from wormsign.sim import Scenario, simulate
    from wormsign.sim.output import write_table

    sc = Scenario(address_bits=24, vulnerable=20_000, scan_rate=20.0, initial=5, hours=4.0,
                  telescopes=telescopes, step_s=300.0, start=start)
    res = simulate(sc, seed=3)
    path = tmp_path / "run.csv"
    write_table(str(path), res.columns(), sc.start_datetime())
    return path


def test_simulate_out_csv_is_a_telescope_counts_file(tmp_path: Path) -> None:
    path = _simulate_csv(tmp_path, ("44.0.0.0/8",), None)
    obs = load([str(path)])
    assert obs.timebase.kind == "seconds" and obs.monitor.blocks == ("44.0.0.0/8",)
    assert obs.probes is not None and obs.probes_total > 0
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    last = path.read_text(encoding="utf-8").splitlines()[-1].split(",")
    assert obs.sources_total == int(float(last[header.index("telescope[44.0.0.0/8].sources")]))
    assert any("simulation's telescope 44.0.0.0/8" in n for n in obs.notes)


def test_simulate_out_csv_with_a_start_is_iso(tmp_path: Path) -> None:
    path = _simulate_csv(tmp_path, ("44.0.0.0/8",), "2001-07-19T10:00:00Z")
    obs = load([str(path)])
    assert obs.timebase.kind == "iso"
    assert obs.timebase.format(float(obs.edges[1])) == "2001-07-19T10:05:00Z"


def test_simulate_out_csv_with_two_telescopes_needs_monitor(tmp_path: Path) -> None:
    path = _simulate_csv(tmp_path, ("44.0.0.0/8", "10.1.0.0/16"), None)
    with pytest.raises(ConfigError, match="name one with --monitor"):
        load([str(path)])
    obs = load([str(path)], monitor="10.1.0.0/16")
    assert obs.monitor.size == 2**16
    assert obs.sources_total < load([str(path)], monitor="44.0.0.0/8").sources_total
