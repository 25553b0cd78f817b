"""One event across sensors: paired access/error logs and a Zeek http.log of the same
requests count each request once, with every sensor's record as its evidence."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect import eventdata as ed
from wormsign.cli.main import main
from wormsign.detect import eventkey as ek
from wormsign.detect.events import Kind, MatchKey, build_evidence, correlate
from wormsign.detect.scanner import scan_paths
from wormsign.logs.synth import CODE_RED, CODE_RED_II


def _family(url: str) -> str:
    return {CODE_RED: "code-red", CODE_RED_II: "code-red-ii"}.get(url, "nimda")


@pytest.fixture(scope="module")
def made() -> list[ed.Made]:
    return ed.requests_made(seed=11, sources=45)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory, made: list[ed.Made]) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sensors")
    return {"access": ed.access_log(made, d / "access.log"),
            "error": ed.error_log(made, d / "error.log"),
            "zeek": ed.zeek_http(made, d / "http.log", skew=37.0)}


def _server(made: list[ed.Made]) -> list[ed.Made]:
    return [m for m in made if m.dst == ed.SERVER]


def test_access_and_error_log_count_each_request_once(made: list[ed.Made],
                                                      logs: dict[str, Path]) -> None:
    rep = scan_paths([str(logs["access"]), str(logs["error"])])
    n = len(_server(made))
    assert rep.evidence is not None and rep.events is not None
    assert len(rep.evidence) > n  # both logs saw the requests
    assert len(rep.events) == n == len(rep.alerts)
    assert rep.events.offsets  # the error log's local time was found (a whole zone)
    assert set(rep.events.offsets.values()) == {7 * 3600.0}


def test_all_three_sensors_count_the_requests_made(made: list[ed.Made],
                                                   logs: dict[str, Path]) -> None:
    rep = scan_paths([str(p) for p in logs.values()])
    assert rep.events is not None
    assert len(rep.events) == len(made) == len(rep.alerts)
    # every request to the server has its three records in one event
    assert int(np.count_nonzero(rep.events.size == 3)) == len(_server(made))
    # the Zeek log's clock offset was found
    zeek = rep.evidence.tables.files.code(str(logs["zeek"]))  # type: ignore[union-attr]
    assert rep.events.offsets.get(zeek) is None or abs(rep.events.offsets[zeek]) < 1
    fams = Counter(a.family for a in rep.alerts)
    want = Counter(_family(m.url) for m in made)
    assert fams["code-red"] == want["code-red"]
    assert fams["code-red-ii"] == want["code-red-ii"]
    assert "ida-overflow" not in fams


def test_error_log_alone_is_ida_overflow_and_takes_the_padding_from_a_packet_sensor(
        made: list[ed.Made], logs: dict[str, Path]) -> None:
    alone = scan_paths([str(logs["error"])])
    fams = Counter(a.family for a in alone.alerts)
    ida = sum(1 for m in _server(made) if m.url in (CODE_RED, CODE_RED_II))
    assert fams["ida-overflow"] == ida and "code-red" not in fams
    both = scan_paths([str(logs["error"]), str(logs["zeek"])])
    got = Counter(a.family for a in both.alerts)
    assert len(both.alerts) == len(made)
    assert "ida-overflow" not in got
    assert got["code-red"] == sum(1 for m in made if m.url == CODE_RED)


def test_skew_is_corrected(made: list[ed.Made], logs: dict[str, Path]) -> None:
    rep = scan_paths([str(logs["access"]), str(logs["zeek"])])
    assert rep.events is not None and len(rep.events) == len(made)
    off = rep.events.offsets  # the access log is brought to the capture's clock
    assert len(off) == 1 and abs(next(iter(off.values())) - 37) <= 1


def test_without_correlation_lines_are_counted(made: list[ed.Made],
                                               logs: dict[str, Path]) -> None:
    rep = scan_paths([str(logs["access"]), str(logs["error"])], match=None)
    assert len(rep.alerts) > len(_server(made))


def test_same_sensor_records_never_merge(tmp_path: Path, made: list[ed.Made]) -> None:
    a = ed.access_log(made, tmp_path / "a.log")
    b = ed.access_log(made, tmp_path / "b.log")
    rep = scan_paths([str(a), str(b)])
    assert len(rep.alerts) == 2 * len(_server(made))


def test_a_tight_tolerance_without_offsets_splits_the_skewed_sensor(
        made: list[ed.Made], logs: dict[str, Path]) -> None:
    key = MatchKey(tolerance=2.0, max_skew=0.0, zones=False)
    rep = scan_paths([str(logs["access"]), str(logs["zeek"])], match=key)
    assert len(rep.alerts) > len(made)


def test_cli_json_counts_events(made: list[ed.Made], logs: dict[str, Path],
                                capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["scan", "-q", "--json", *map(str, logs.values())])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert doc["alerts"] == len(made) == doc["events"]["events"]
    assert doc["events"]["evidence"] == sum(f["records"] for f in doc["events"]["inputs"])
    assert doc["events"]["merged"] == len(_server(made))
    assert sum(f["requests"] for f in doc["families"].values()) == len(made)


@pytest.mark.parametrize(("url", "path", "query"), [
    ("/Default.IDA?NN", "/default.ida", "nn"),
    ("http://www.example.com/scripts/..%255c../x?/c+dir", "/scripts/../../x", "/c+dir"),
    ("/a%3Fb", "/a?b", None),
])
def test_split_target(url: str, path: str, query: str | None) -> None:
    assert ek.split_target(url) == (path, query)


def test_partial_paths() -> None:
    root = ek.learn_docroot({"/var/www/html/default.ida": 3, "/var/www/html/scripts": 1},
                            ["/default.ida", "/scripts/root.exe"])
    assert root == "/var/www/html"
    assert ek.rooted("/var/www/html/scripts", root) == "/scripts"
    assert ek.partial_matches("/scripts", True, "/scripts/root.exe")
    assert not ek.partial_matches("/scripts", True, "/scriptsx/root.exe")
    assert ek.partial_matches("/srv/www/default.ida", False, "/default.ida")
    assert not ek.partial_matches("/srv/www/default.ida", False, "/other.ida")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 40)),
                min_size=1, max_size=60),
       st.lists(st.integers(-400, 400), min_size=3, max_size=3))
def test_requests_every_sensor_saw_are_one_event_each(
        reqs: list[tuple[int, int, int]], jitter_ms: list[int]) -> None:
    """Any mix of repeated identical requests (same source, path, second), each recorded
    by three sensors with small clock jitter, gives exactly one event per request, and
    each event holds one record of each sensor."""
    kinds = [Kind(u, "GET" if s < 2 else None, f, 1)
             for s, f in enumerate(("combined", "zeek-http", "apache-error"))
             for u in (("/a.ida?x", "/b/c.exe", "/d") if s < 2 else
                       ("/srv/www/a.ida", "/srv/www/b", "/srv/www/d"))]
    src, tim, stream, kind = [], [], [], []
    for s in range(3):
        for source, path, sec in reqs:
            src.append(source)
            tim.append(sec * 1_000_000 + jitter_ms[s] * 1000)
            stream.append(s)
            kind.append(s * 3 + path)
    ev = build_evidence(np.array(src, np.int64), np.array(tim, np.int64),
                        np.array(stream, np.int64), np.array(kind, np.int64), kinds)
    out = correlate(ev, MatchKey(zones=False))
    assert len(out) == len(reqs)
    assert (out.size == 3).all()


def test_a_directory_in_the_error_log_never_takes_another_requests_place() -> None:
    """Apache 1.3 names only the first missing directory of some requests: that record may
    stand for any request below it, but not before the exact records have found theirs."""
    kinds = [Kind("/scripts/root.exe?/c+dir", "GET", "combined", 90),
             Kind("/scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir", "GET", "combined", 90),
             Kind("/var/www/scripts", None, "apache-error", 90),
             Kind("/var/www/scripts/root.exe", None, "apache-error", 90),
             Kind("/var/www/default.ida", None, "apache-error", 95),
             Kind("/default.ida?NNNN", "GET", "combined", 100)]
    # access: root.exe, cmd.exe, default.ida; error: the directory first, then root.exe
    kind = np.array([0, 1, 5, 2, 3, 4], np.int64)
    stream = np.array([0, 0, 0, 1, 1, 1], np.int64)
    t = np.array([0, 100_000, 200_000, 0, 0, 0], np.int64) + 995_538_225_000_000
    ev = build_evidence(np.zeros(6, np.int64), t, stream, kind, kinds)
    out = correlate(ev, MatchKey(zones=False))
    assert len(out) == 3 and (out.size == 2).all()
    assert out.event[3] == out.event[1] and out.event[4] == out.event[0]
    assert out.event[5] == out.event[2]
    assert list(out.primary) == [0, 1, 2]  # the access log's records speak for the events


def test_a_small_error_log_in_local_time_still_pairs(tmp_path: Path) -> None:
    made = [m for m in ed.requests_made(seed=2, sources=3, others=0)
            if m.url in (CODE_RED, CODE_RED_II)][:3]
    rep = scan_paths([str(ed.access_log(made, tmp_path / "a.log")),
                      str(ed.error_log(made, tmp_path / "e.log"))])
    assert len(made) >= 2 and len(rep.alerts) == len(made)
    assert {a.family for a in rep.alerts} <= {"code-red", "code-red-ii"}


def test_a_busy_source_does_not_hide_the_error_logs_zone(tmp_path: Path) -> None:
    """One source probing every 20 s for a whole day meets *something* at every whole-hour
    offset; only the true one makes the records meet at one time."""
    made = [ed.Made(ed.START + 20.0 * i + 0.3, "10.9.9.9", ed.SERVER, CODE_RED)
            for i in range(4000)]
    rep = scan_paths([str(ed.access_log(made, tmp_path / "a.log")),
                      str(ed.error_log(made, tmp_path / "e.log", zone=+2))])
    assert rep.events is not None and set(rep.events.offsets.values()) == {-2 * 3600.0}
    assert len(rep.alerts) == len(made)


def test_five_sensors_of_one_link_and_server(tmp_path: Path, made: list[ed.Made],
                                             logs: dict[str, Path]) -> None:
    pytest.importorskip("dpkt")
    more = [ed.pcap(made, tmp_path / "link.pcap"), ed.eve(made, tmp_path / "eve.json")]
    rep = scan_paths([*map(str, logs.values()), *map(str, more)])
    assert rep.events is not None
    assert len(rep.alerts) == len(made)
    assert int(np.count_nonzero(rep.events.size == 5)) == len(_server(made))
    assert int(np.count_nonzero(rep.events.size == 3)) == len(made) - len(_server(made))


def test_many_identical_requests_in_one_second_stay_as_many(tmp_path: Path) -> None:
    """More identical requests in one second than events are held open (a flood, or a worm
    retrying hard): the k-th line of each log still meets the k-th of the other."""
    made = [ed.Made(ed.START + 0.5, "10.7.7.7", ed.SERVER, CODE_RED)] * 2000
    rep = scan_paths([str(ed.access_log(made, tmp_path / "a.log")),
                      str(ed.error_log(made, tmp_path / "e.log"))])
    assert rep.events is not None and len(rep.alerts) == len(made)
    assert (rep.events.size == 2).all()
