"""``wormsign scan`` on connection logs, as a user runs it (files written by connwrite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wormsign.cli.main import main
from wormsign.detect.alert import Alert
from wormsign.detect.netsynth import OWN_NETWORK, SynthConfig, Truth, synth_network
from wormsign.logs import connwrite
from wormsign.logs.conn import ConnBatch
from wormsign.logs.synth import CODE_RED_II

SMALL = SynthConfig(scanners=30, clients=120, flood_sources=0, inside_clients=6, hours=0.5)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def traffic() -> tuple[ConnBatch, Truth]:
    return synth_network(9, SMALL)


@pytest.fixture()
def conn_log(tmp_path: Path, traffic: tuple[ConnBatch, Truth]) -> Path:
    path = tmp_path / "conn.log"
    connwrite.write_zeek_tsv(traffic[0], path)
    return path


def test_scan_routes_a_conn_log_to_the_network_analysis(
        conn_log: Path, traffic: tuple[ConnBatch, Truth],
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["scan", "-q", "--json", "--own", OWN_NETWORK, str(conn_log)], capsys)
    assert rc == 1
    d = json.loads(out)
    assert d["schema"] == "wormsign.network/1"
    assert d["inputs"][0]["format"] == "zeek-conn"
    assert d["connections"] == len(traffic[0]) == d["inputs"][0]["records"]
    truth = traffic[1]
    found = {s["ip"] for s in d["scanners"]}
    assert found <= {ip for ip, role in truth.roles.items() if "scanner" in role} | {
        ip for ip, role in truth.roles.items() if role == "benign"}
    (inside,) = d["inside_infected"]
    assert truth.roles[inside["ip"]] == "inside-scanner"


@pytest.mark.parametrize("writer", ["write_zeek_json", "write_eve_flow", "write_pcap"])
def test_every_written_format_gives_the_same_verdicts(
        tmp_path: Path, conn_log: Path, writer: str,
        capsys: pytest.CaptureFixture[str], traffic: tuple[ConnBatch, Truth]) -> None:
    other = tmp_path / "other.json"
    getattr(connwrite, writer)(traffic[0], other)
    _, a, _ = run(["scan", "-q", "--json", str(conn_log)], capsys)
    _, b, _ = run(["scan", "-q", "--json", str(other)], capsys)
    docs = [json.loads(x) for x in (a, b)]
    if writer != "write_zeek_json":  # EVE and pcap are scanned for requests too
        assert docs[1]["files"][0]["path"] == str(other)
        docs[1] = docs[1]["network"]
    ips = [[s["ip"] for s in d["scanners"]] for d in docs]
    assert sorted(ips[0]) == sorted(ips[1]) and ips[0]


def test_requests_name_the_scanners_family_and_alerts_hold_both(
        tmp_path: Path, conn_log: Path, traffic: tuple[ConnBatch, Truth],
        capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["scan", "-q", "--json", str(conn_log)], capsys)
    ip = json.loads(out)["scanners"][0]["ip"]
    access = tmp_path / "access.log"
    access.write_text(f'{ip} - - [19/Jul/2001:10:23:45 +0000] "GET {CODE_RED_II} HTTP/1.0" '
                      '404 1 "-" "-"\n')
    alerts = tmp_path / "alerts.jsonl"
    rc, out, _ = run(["scan", "-q", "--json", "--alerts", str(alerts), str(access),
                      str(conn_log)], capsys)
    assert rc == 1
    d = json.loads(out)
    assert d["families"]["code-red-ii"]["requests"] == 1
    net = {s["ip"]: s for s in d["network"]["scanners"]}
    assert net[ip]["family"] == "code-red-ii"
    rows = [Alert.from_ecs(json.loads(line)) for line in alerts.read_text().splitlines()]
    assert {a.rule_id for a in rows} >= {"net-trw-scanner"}
    assert sum(a.rule_id == "net-trw-scanner" for a in rows) == len(net) - sum(
        s["inside"] for s in net.values())
    assert any(a.family == "code-red-ii" and a.rule_id != "net-trw-scanner" for a in rows)


def test_scenario_file_feeds_simulate(tmp_path: Path, conn_log: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from wormsign.sim import load_preset

    scen = tmp_path / "detected.yaml"
    rc, out, _ = run(["scan", "-q", "--json", "--scenario", str(scen), "--scenario-base",
                      "code-red-ii", str(conn_log)], capsys)
    frag = json.loads(out)["scenario"]
    sc = load_preset(str(scen))
    assert sc.strategy == frag["strategy"] and sc.scan_rate == pytest.approx(frag["scan_rate"])
    assert sc.vulnerable == load_preset("code-red-ii").vulnerable
    rc, out, _ = run(["simulate", "--preset", str(scen), "--model", "logistic", "--hours",
                      "1", "--json", "--seed", "1"], capsys)
    assert rc == 0 and "final_infected" in json.loads(out)
    from wormsign.forecast.priors import prior_for

    prior = prior_for(None, preset=str(scen))
    assert prior.strategy == frag["strategy"]
    assert prior.scan_rate == pytest.approx(frag["scan_rate"])
    assert load_preset(prior.preset) == sc  # the simulation-based fit loads it again


def test_bad_own_and_bad_trw_are_one_line_errors(
        conn_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for extra in (["--own", "10.0.0.0/33"], ["--trw-theta1", "0.9"]):
        rc, out, err = run(["scan", "-q", *extra, str(conn_log)], capsys)
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_terminal_summary(conn_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["scan", "-q", "--own", OWN_NETWORK, str(conn_log)], capsys)
    assert rc == 1 and "INSIDE HOST SCANNING" in out and "scanners" in out


def test_truncated_and_garbled_conn_logs_are_counted_not_raised(
        tmp_path: Path, conn_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = conn_log.read_bytes()
    cut = tmp_path / "cut.log"
    lines = text.splitlines(keepends=True)
    garbled = [*lines[:40], b"\x00\xff not a row\n", b"1.5\tonly-two\n", *lines[40:200]]
    cut.write_bytes(b"".join(garbled) + lines[200][:17])
    rc, out, err = run(["scan", "-q", "--json", str(cut)], capsys)
    d = json.loads(out)
    assert rc in (0, 1) and "Traceback" not in err
    assert sum(d["inputs"][0]["skipped"].values()) >= 2
    assert d["connections"] == d["inputs"][0]["records"]
    assert 150 <= d["connections"] < 200


def test_an_eve_file_is_scanned_for_requests_and_for_flows(
        tmp_path: Path, traffic: tuple[ConnBatch, Truth],
        capsys: pytest.CaptureFixture[str]) -> None:
    eve = tmp_path / "eve.json"
    connwrite.write_eve_flow(traffic[0], eve)
    scanner = next(s.ip for s in traffic[1].scanners if s.probes >= 50)
    http = {"timestamp": "2001-09-09T01:50:00.000000+0000", "event_type": "http",
            "src_ip": scanner, "src_port": 1234, "dest_ip": "192.0.2.80", "dest_port": 80,
            "proto": "TCP", "http": {"hostname": "www.example.test", "url": CODE_RED_II,
                                     "http_method": "GET", "protocol": "HTTP/1.0",
                                     "status": 404, "length": 0}}
    with eve.open("a") as f:
        f.write(json.dumps(http) + "\n")
    rc, out, _ = run(["scan", "-q", "--json", str(eve)], capsys)
    d = json.loads(out)
    assert rc == 1 and d["families"]["code-red-ii"]["requests"] == 1
    net = {s["ip"]: s for s in d["network"]["scanners"]}
    assert net[scanner]["family"] == "code-red-ii"


def test_hostile_file_names_are_escaped_in_every_output(
        tmp_path: Path, conn_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = tmp_path / "conn\u202e\x1b[31mgol.log"
    evil.write_bytes(conn_log.read_bytes())
    rc, out, _ = run(["scan", "-q", str(evil)], capsys)
    assert rc == 1 and "\u202e" not in out and "\x1b" not in out and "\\u202e" in out
    rc, out, _ = run(["scan", "-q", "--json", str(evil)], capsys)
    text = json.dumps(json.loads(out), ensure_ascii=False)
    assert "\u202e" not in text and "\x1b" not in text
