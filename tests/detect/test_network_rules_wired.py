"""The network rule pack inside the network analysis: a source a worm rule matched carries
that worm's family and has an alert per rule, scanner or not; `scan --json` shows it."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import numpy as np
import pytest

from wormsign.cli.main import main
from wormsign.detect.nethits import MAX_DESTINATIONS
from wormsign.detect.network import (
    NetworkAnalysis,
    NetworkConfig,
    analyse_batches,
    analyse_paths,
)
from wormsign.logs import connwrite
from wormsign.logs.conn import ESTABLISHED, MARK_SEQ_IS_DST, UNANSWERED, ConnBatch, concat
from wormsign.rules.netloader import NetPack, load_network_pack, split_rule_files

TCP, UDP = 6, 17
# time, src, dst, sport, dport, proto, outcome, orig_bytes, mark
Row = tuple[float, str, str, int, int, int, int, int, int]

SLAM1, SLAM2, SLAM_ONE = "198.51.100.7", "198.51.100.8", "198.51.100.9"
MIRAI, TELNET = "203.0.113.5", "203.0.113.6"
SMB, WEBSCAN = "10.1.1.1", "192.0.2.44"


def batch(rows: list[Row], path: str = "hand.log") -> ConnBatch:
    def ip(a: str) -> int:
        return int(ipaddress.IPv4Address(a))

    n = len(rows)
    return ConnBatch(
        time=np.array([r[0] for r in rows], np.float64),
        src=np.array([ip(r[1]) for r in rows], np.uint32),
        dst=np.array([ip(r[2]) for r in rows], np.uint32),
        sport=np.array([r[3] for r in rows], np.int32),
        dport=np.array([r[4] for r in rows], np.int32),
        proto=np.array([r[5] for r in rows], np.uint8),
        outcome=np.array([r[6] for r in rows], np.uint8),
        orig_bytes=np.array([r[7] for r in rows], np.int64),
        resp_bytes=np.array([0 if r[6] == ESTABLISHED else -1 for r in rows], np.int64),
        mark=np.array([r[8] for r in rows], np.uint8),
        line=np.arange(1, n + 1, dtype=np.int64),
        path=path, format="zeek-conn",
    )


def target(k: int) -> str:
    return f"10.9.{k // 200}.{k % 200 + 1}"


def traffic() -> list[Row]:
    """Two Slammer scanners (12 datagrams each), one source with a single Slammer datagram
    (too few for TRW), a Mirai scanner (marked SYNs to 23/2323), a telnet scanner without
    the mark, a file-sharing client (TCP 445, answered), a port-80 scanner."""
    rows: list[Row] = []
    t = 1_700_000_000.0
    for k in range(12):
        rows.append((t + k, SLAM1, target(k), 1234, 1434, UDP, UNANSWERED, 376, 0))
        rows.append((t + k + 0.5, SLAM2, target(100 + k), 1434, 1434, UDP, UNANSWERED, 376, 0))
        rows.append((t + k, MIRAI, target(300 + k), 40000 + k, 23 if k % 2 else 2323, TCP,
                     UNANSWERED, 0, MARK_SEQ_IS_DST))
        rows.append((t + k, TELNET, target(400 + k), 40000 + k, 23, TCP, UNANSWERED, 0, 0))
        rows.append((t + k, WEBSCAN, target(500 + k), 40000 + k, 80, TCP, UNANSWERED, 0, 0))
    rows.append((t + 3, SLAM_ONE, target(700), 1434, 1434, UDP, UNANSWERED, 376, 0))
    for k in range(3):
        rows.append((t + 20 + k, SMB, "10.1.1.200", 50000 + k, 445, TCP, ESTABLISHED, 4000, 0))
    rows.sort()
    return rows


def by_ip(report: object) -> dict[str, dict[str, object]]:
    d = report.to_dict()  # type: ignore[attr-defined]
    return {s["ip"]: s for s in d["rule_matches"]}


def test_worm_sources_get_their_family_scanners_or_not() -> None:
    r = analyse_batches([batch(traffic())])
    scanners = {s.ip: s for s in r.scanners}
    assert scanners[SLAM1].family == scanners[SLAM2].family == "slammer"
    assert scanners[SLAM1].rules == ("slammer-udp-1434",)
    assert scanners[MIRAI].family == "mirai"
    assert scanners[TELNET].family == "scanner" and scanners[TELNET].rules == ()
    assert scanners[WEBSCAN].family == "scanner"
    matched = {s.ip: s for s in r.rule_sources}
    assert set(matched) == {SLAM1, SLAM2, SLAM_ONE, MIRAI}  # neither SMB nor bare telnet
    assert matched[SLAM_ONE].verdict == "pending" and matched[SLAM_ONE].family == "slammer"
    assert r.rule_counts["slammer-udp-1434"]["connections"] == 25
    assert r.rule_counts["slammer-udp-1434"]["sources"] == 3
    assert r.rule_counts["mirai-telnet-syn"] == {"family": "mirai", "severity": "high",
                                                 "connections": 12, "sources": 1}
    assert r.rule_counts["sasser-lsass-shell"]["connections"] == 0


def test_rule_alerts_one_per_source_and_rule_in_the_alert_schema() -> None:
    rows = traffic()
    r = analyse_batches([batch(rows)])
    alerts = [a for a in r.alerts() if a.rule_id == "slammer-udp-1434"]
    assert sorted(a.source_ip for a in alerts) == sorted([SLAM1, SLAM2, SLAM_ONE])
    one = next(a for a in alerts if a.source_ip == SLAM_ONE)
    assert one.family == one.rule_family == "slammer" and one.severity == "critical"
    assert one.line == 1 + next(i for i, row in enumerate(rows) if row[1] == SLAM_ONE)
    assert one.file_path == "hand.log" and one.format == "zeek-conn"
    assert one.timestamp is not None and one.timestamp.timestamp() == 1_700_000_003.0
    assert one.host == target(700)
    ecs = one.to_ecs()
    assert ecs["rule.id"] == "slammer-udp-1434" and ecs["source.ip"] == SLAM_ONE
    assert ecs["vulnerability.id"] == ["CVE-2002-0649"]
    trw = {a.source_ip: a for a in r.alerts() if a.rule_id == "net-trw-scanner"}
    assert trw[SLAM1].family == "slammer" and trw[MIRAI].family == "mirai"
    assert trw[WEBSCAN].family == "scanner"
    assert r.to_dict()["alerts"] == len(r.alerts())


def test_a_web_log_family_comes_first() -> None:
    r = analyse_batches([batch(traffic())], families={SLAM1: "code-red", WEBSCAN: "nimda"})
    scanners = {s.ip: s for s in r.scanners}
    assert scanners[SLAM1].family == "code-red" and scanners[WEBSCAN].family == "nimda"
    assert scanners[SLAM2].family == "slammer"
    assert by_ip(r)[SLAM1]["family"] == "code-red"
    rule_alert = next(a for a in r.alerts() if a.source_ip == SLAM1
                      and a.rule_id == "slammer-udp-1434")
    assert rule_alert.family == "code-red" and rule_alert.rule_family == "slammer"


def test_aggregates_across_batches_keep_first_last_and_few_destinations() -> None:
    rows = traffic()
    whole = batch(rows)
    half = len(rows) // 2
    a = NetworkAnalysis()
    a.feed(whole.take(np.arange(half)))
    a.feed(ConnBatch(**{**_cols(whole.take(np.arange(half, len(rows)))), "path": "b.log",
                        "format": "zeek-conn"}))
    r = a.report()
    s1 = by_ip(r)[SLAM1]["rules"][0]  # type: ignore[index]
    assert s1["connections"] == 12
    assert s1["first"] == "2023-11-14T22:13:20Z" and s1["last"] == "2023-11-14T22:13:31Z"
    assert s1["path"] == "hand.log"
    assert s1["destinations"] == [target(k) for k in range(MAX_DESTINATIONS)]
    assert r.rule_counts == analyse_batches([whole]).rule_counts


def _cols(b: ConnBatch) -> dict[str, object]:
    return {k: getattr(b, k) for k in ("time", "src", "dst", "sport", "dport", "proto",
                                       "outcome", "orig_bytes", "resp_bytes", "mark", "line")}


def test_a_reverse_connection_counts_for_the_attacker_not_the_victim() -> None:
    att, vic = "198.51.100.50", "10.0.0.5"
    rows: list[Row] = [(100.0, att, vic, 3000, 135, TCP, ESTABLISHED, 1600, 0),
                       (103.0, vic, att, 2000, 69, UDP, ESTABLISHED, 20, 0)]
    r = analyse_batches([batch(rows)])
    (src,) = r.rule_sources
    assert src.ip == att and src.family == "blaster"
    assert [h.connections for h in src.hits] == [2]


def test_no_rules_no_matches() -> None:
    r = analyse_batches([batch(traffic())], pack=NetPack(()))
    assert r.rule_sources == [] and r.rule_counts == {}
    assert {s.family for s in r.scanners} == {"scanner"}


def test_written_files_pcap_marks_and_zeek(tmp_path: Path) -> None:
    b = batch(traffic())
    pcap, conn = tmp_path / "cap.pcap", tmp_path / "conn.log"
    connwrite.write_pcap(b, pcap, seed=1)
    connwrite.write_zeek_tsv(b, conn)
    for path, mirai in ((pcap, True), (conn, False)):  # conn.log has no sequence numbers
        r = analyse_paths([str(path)])
        fams = {s.ip: s.family for s in r.scanners}
        assert fams[SLAM1] == fams[SLAM2] == "slammer", path
        assert fams[MIRAI] == ("mirai" if mirai else "scanner"), path
        assert SMB not in {s.ip for s in r.rule_sources}
        first = next(s for s in r.rule_sources if s.ip == SLAM_ONE).hits[0]
        assert first.path == str(path) and first.line > 0


def test_cli_scan_conn_log_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = tmp_path / "conn.log"
    connwrite.write_zeek_tsv(concat([batch(traffic())]), conn)
    alerts = tmp_path / "alerts.jsonl"
    rc = main(["scan", "-q", "--json", "--alerts", str(alerts), str(conn)])
    d = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert d["rules"]["slammer-udp-1434"]["sources"] == 3
    fams = {s["ip"]: (s["family"], s["rules"]) for s in d["scanners"]}
    assert fams[SLAM1] == ("slammer", ["slammer-udp-1434"])
    matched = {s["ip"]: s for s in d["rule_matches"]}
    assert matched[SLAM_ONE]["verdict"] == "pending"
    assert matched[SLAM_ONE]["rules"][0]["rule"] == "slammer-udp-1434"
    lines = [json.loads(x) for x in alerts.read_text().splitlines()]
    assert len(lines) == d["alerts"]
    assert {x["source.ip"] for x in lines if x["rule.id"] == "slammer-udp-1434"} == {
        SLAM1, SLAM2, SLAM_ONE}


NET_RULE = """\
rules:
  - id: local-smb-worm
    title: SMB with a 4000-byte first request
    family: smb-worm
    severity: high
    match: {proto: tcp, dport: 445, orig_bytes: 4000}
"""


def test_cli_rules_routes_a_network_rule_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = tmp_path / "conn.log"
    connwrite.write_zeek_tsv(batch(traffic()), conn)
    rules = tmp_path / "net.yml"
    rules.write_text(NET_RULE)
    main(["scan", "-q", "--json", "--rules", str(rules), str(conn)])
    d = json.loads(capsys.readouterr().out)
    assert d["rules"]["local-smb-worm"]["sources"] == 1
    assert "slammer-udp-1434" in d["rules"]
    assert {s["ip"]: s["family"] for s in d["rule_matches"]}[SMB] == "smb-worm"
    main(["scan", "-q", "--json", "--no-builtin-rules", "--rules", str(rules), str(conn)])
    d = json.loads(capsys.readouterr().out)
    assert list(d["rules"]) == ["local-smb-worm"]
    main(["scan", "-q", "--rules", str(rules), str(conn)])
    out = capsys.readouterr().out
    assert "network rule local-smb-worm (smb-worm): 3 connections from 1 sources" in out


def test_cli_bad_network_rule_file_is_one_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = tmp_path / "conn.log"
    connwrite.write_zeek_tsv(batch(traffic()), conn)
    rules = tmp_path / "net.yml"
    rules.write_text(NET_RULE.replace("dport: 445", "dport: 99999"))
    rc = main(["scan", "-q", "--json", "--rules", str(rules), str(conn)])
    err = capsys.readouterr().err
    assert rc == 2 and "net.yml" in err and "Traceback" not in err


def test_a_pair_split_across_batches_and_files_is_found_once() -> None:
    att, vic, other = "198.51.100.50", "10.0.0.5", "10.0.0.9"
    first = batch([(100.0, att, vic, 3000, 135, TCP, ESTABLISHED, 1600, 0),
                   (101.0, att, other, 3001, 135, TCP, ESTABLISHED, 1600, 0)], "a.log")
    second = batch([(103.0, vic, att, 2000, 69, UDP, ESTABLISHED, 20, 0),
                    (104.0, "10.7.7.7", "10.7.7.8", 5000, 80, TCP, ESTABLISHED, 10, 0)],
                   "b.log")
    third = batch([(105.0, vic, att, 2001, 69, UDP, ESTABLISHED, 20, 0),  # a second TFTP
                   (500.0, other, att, 2002, 69, UDP, ESTABLISHED, 20, 0)],  # too late
                  "c.log")
    a = NetworkAnalysis()
    for b in (first, second, third):
        a.feed(b)
    (src,) = a.report().rule_sources
    (hit,) = src.hits
    assert src.ip == att and hit.rule.id == "blaster-tftp-back"
    assert hit.connections == 3  # the 135 to vic once, both TFTP requests back
    assert (hit.path, hit.line) == ("a.log", 1)
    assert hit.first_time == 100.0 and hit.last_time == 105.0
    assert hit.destinations == (vic,)  # the TFTP requests come from the victim
    whole = analyse_batches([concat([first, second, third])])
    assert whole.rule_counts == a.report().rule_counts


def test_an_inside_host_matched_by_a_worm_rule_is_marked_inside() -> None:
    r = analyse_batches([batch(traffic())], NetworkConfig(own=("198.51.100.0/24",)))
    inside = {s["ip"]: s["inside"] for s in r.to_dict()["rule_matches"]}
    assert inside == {SLAM1: True, SLAM2: True, SLAM_ONE: True, MIRAI: False}


REQUEST_RULE = """\
rules:
  - id: local-probe
    title: a local probe path
    family: local-probe
    severity: low
    match: {url|contains: /local-probe}
"""


def test_split_rule_files_tells_network_from_request_rules(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    (d / "sub").mkdir(parents=True)
    (d / "net.yml").write_text(NET_RULE)
    (d / "sub" / "web.yaml").write_text(REQUEST_RULE)
    (d / "broken.yml").write_text("rules: [\n")
    requests, network = split_rule_files([str(d)])
    assert network == [str(d / "net.yml")]
    assert sorted(requests) == sorted([str(d / "sub" / "web.yaml"), str(d / "broken.yml")])
    assert split_rule_files([str(d / "sub" / "web.yaml")]) == ([str(d / "sub" / "web.yaml")], [])


def test_rules_check_validates_network_rule_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "net.yml"
    rules.write_text(NET_RULE)
    builtin = len(load_network_pack().rules)
    assert main(["rules", "check", "--rules", str(rules)]) == 0
    assert f"; {builtin + 1} network rules" in capsys.readouterr().out
    rules.write_text(NET_RULE.replace("dport: 445", "dport: 99999"))
    assert main(["rules", "check", "--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert "net.yml" in err and "dport" in err


def test_unknown_times_still_match_and_give_null_times() -> None:
    rows: list[Row] = [(float("nan"), SLAM_ONE, target(1), 1434, 1434, UDP, UNANSWERED, 376, 0),
                       (1e300, SLAM_ONE, target(2), 1434, 1434, UDP, UNANSWERED, 376, 0)]
    r = analyse_batches([batch(rows)])
    (src,) = r.rule_sources
    assert src.hits[0].connections == 2 and src.hits[0].first_time is None
    (alert,) = [a for a in r.alerts() if a.rule_id == "slammer-udp-1434"]
    assert alert.timestamp is None
    assert r.to_dict()["rule_matches"][0]["rules"][0]["first"] is None


def test_any_split_into_batches_gives_the_same_aggregates() -> None:
    rows = traffic() + [(1_700_000_050.0 + k, "198.51.100.60", f"10.0.5.{k + 1}", 3000, 445,
                         TCP, ESTABLISHED, 4000, 0) for k in range(6)] + [
        (1_700_000_052.0 + k, "198.51.100.60", f"10.0.5.{k + 1}", 3001, 9996, TCP,
         ESTABLISHED, 80, 0) for k in range(6)]
    rows.sort()
    whole = batch(rows)
    expected = analyse_batches([whole])
    rng = np.random.default_rng(7)
    for _ in range(5):
        cuts = np.sort(rng.choice(np.arange(1, len(rows)), size=4, replace=False))
        parts = [whole.take(ix) for ix in np.split(np.arange(len(rows)), cuts)]
        got = analyse_batches(parts)
        assert got.rule_counts == expected.rule_counts, cuts
        assert [(s.ip, s.family, [(h.rule.id, h.connections, h.first_time, h.last_time,
                                   h.line, h.destinations) for h in s.hits])
                for s in got.rule_sources] == [
            (s.ip, s.family, [(h.rule.id, h.connections, h.first_time, h.last_time, h.line,
                               h.destinations) for h in s.hits])
            for s in expected.rule_sources], cuts
    assert expected.rule_counts["sasser-lsass-shell"] == {
        "family": "sasser", "severity": "critical", "connections": 12, "sources": 1}
