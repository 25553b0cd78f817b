"""Network analysis: TRW verdicts and evidence, strategy, floods, inside hosts, the report."""

from __future__ import annotations

import ipaddress
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.detect.alert import Alert
from wormsign.detect.flood import FloodParams
from wormsign.detect.network import NetworkConfig, analyse_batches
from wormsign.detect.strategy import CODE_RED_II, cell_probs, classify, mixture_shares
from wormsign.detect.trw import TRWParams, walk_batch
from wormsign.errors import ConfigError
from wormsign.logs.conn import ESTABLISHED, OTHER, REFUSED, UNANSWERED, ConnBatch


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def batch(rows: list[tuple[float, str, str, int]], path: str = "t.log") -> ConnBatch:
    """Rows of (time, source, destination, outcome)."""
    n = len(rows)
    return ConnBatch(
        time=np.array([r[0] for r in rows], np.float64),
        src=np.array([ip(r[1]) for r in rows], np.uint32),
        dst=np.array([ip(r[2]) for r in rows], np.uint32),
        sport=np.full(n, 40000, np.int32), dport=np.full(n, 80, np.int32),
        proto=np.full(n, 6, np.uint8), outcome=np.array([r[3] for r in rows], np.uint8),
        orig_bytes=np.full(n, -1, np.int64), resp_bytes=np.full(n, -1, np.int64),
        mark=np.zeros(n, np.uint8), line=np.arange(1, n + 1, dtype=np.int64), path=path,
        format="zeek-conn")


def reference_walk(steps: list[bool], p: TRWParams) -> tuple[float, int]:
    """The floored walk one step at a time: its value and the first crossing (-1)."""
    s = 0.0
    for i, ok in enumerate(steps):
        s = max(p.lower, s + (p.step_success if ok else p.step_failure))
        if s >= p.upper - 1e-9:
            return s, i
    return s, -1


def test_vectorised_walk_equals_the_step_by_step_walk() -> None:
    rng = np.random.default_rng(7)
    p = TRWParams()
    groups = [list(rng.random(int(rng.integers(1, 60))) < rng.uniform(0.1, 0.9))
              for _ in range(200)]
    group = np.concatenate([np.full(len(g), i) for i, g in enumerate(groups)]).astype(np.int64)
    success = np.concatenate([np.array(g, bool) for g in groups])
    res = walk_batch(group, success, np.zeros(len(groups)), np.zeros(len(groups)), p)
    starts = np.searchsorted(group, np.arange(len(groups)))
    for i, g in enumerate(groups):
        value, crossed = reference_walk(g, p)
        assert math.isclose(res.walk[i], value, abs_tol=1e-6)
        assert res.crossed[i] == (-1 if crossed < 0 else starts[i] + crossed)


def test_four_failed_first_contacts_make_a_scanner_with_its_evidence() -> None:
    rows = [(100.0 + i, "192.0.2.7", f"203.0.113.{i + 1}", UNANSWERED) for i in range(6)]
    r = analyse_batches([batch(rows)])
    assert [s.ip for s in r.scanners] == ["192.0.2.7"]
    e = r.scanners[0].evidence
    assert (e.successes, e.failures) == (0, 4)
    assert e.walk >= TRWParams().upper
    assert e.crossed_at == 103.0 and e.crossed_line == 4 and e.crossed_path == "t.log"
    assert e.crossed_format == "zeek-conn" and r.alerts()[0].format == "zeek-conn"
    assert e.scan_started_at == 100.0


def test_retries_to_one_dead_server_are_one_first_contact() -> None:
    rows = [(float(i), "192.0.2.8", "203.0.113.9", REFUSED) for i in range(50)]
    rows += [(60.0 + i, "192.0.2.8", f"198.51.100.{i + 1}", ESTABLISHED) for i in range(5)]
    r = analyse_batches([batch(rows)])
    assert r.scanners == []
    assert r.verdict_counts["benign"] == 1


def test_other_outcomes_are_no_evidence() -> None:
    rows = [(float(i), "192.0.2.9", f"203.0.113.{i + 1}", OTHER) for i in range(30)]
    r = analyse_batches([batch(rows)])
    assert r.scanners == [] and r.verdict_counts["pending"] == 1


def test_the_result_does_not_depend_on_how_input_is_cut_into_batches() -> None:
    from wormsign.detect.netsynth import SynthConfig, synth_network

    b, _ = synth_network(11, SynthConfig(scanners=40, clients=150, flood_sources=0,
                                         inside_clients=5, hours=0.5))
    whole = analyse_batches([b]).to_dict()
    cuts = np.sort(np.random.default_rng(1).choice(len(b), 25, replace=False))
    pieces = [b.take(np.arange(lo, hi)) for lo, hi in
              zip(np.r_[0, cuts], np.r_[cuts, len(b)], strict=True)]
    assert analyse_batches(pieces).to_dict() == whole


def test_a_benign_host_that_turns_scanner_is_caught_from_the_floor() -> None:
    rows = [(float(i), "10.0.0.5", f"198.51.100.{i + 1}", ESTABLISHED) for i in range(20)]
    rows += [(100.0 + i, "10.0.0.5", f"203.0.113.{i + 1}", UNANSWERED) for i in range(10)]
    r = analyse_batches([batch(rows)], NetworkConfig(own=("10.0.0.0/8",)))
    (s,) = r.scanners
    assert s.inside and s.evidence.failures == 7 and s.evidence.scan_started_at == 100.0
    (alert,) = [a for a in r.alerts() if a.source_ip == "10.0.0.5"]
    assert alert.severity == "critical" and alert.family == "scanner"
    assert r.to_dict()["inside_infected"][0]["first_probe"] == "1970-01-01T00:01:40Z"


def test_strategy_names_and_shares() -> None:
    assert classify(10, 9, 5, 9, 0).name == "unknown"
    assert classify(400, 2, 0, 399, 1).name == "uniform"
    assert classify(400, 4, 0, 399, 395).name == "sequential"
    got = classify(4000, 3500, 1500, 3999, 0)
    assert got.name == "local-preference" and got.confidence > 0.999
    probs = cell_probs(CODE_RED_II)
    counts = tuple(round(p * 1_000_000) for p in probs)
    assert np.allclose(mixture_shares(counts), CODE_RED_II, atol=1e-3)  # type: ignore[arg-type]


def test_code_red_ii_shares_are_recognised_and_nimdas_are_not() -> None:
    from wormsign.detect.netsynth import CODE_RED_II_SHARES, NIMDA_SHARES, targets

    rng = np.random.default_rng(3)
    src = ip("150.20.30.40")
    for shares, consistent in ((CODE_RED_II_SHARES, True), (NIMDA_SHARES, False)):
        t = targets(rng, src, 3000, "local-preference", shares)
        own8 = int(((t >> 24) == (src >> 24)).sum())
        own16 = int(((t >> 16) == (src >> 16)).sum())
        s = classify(3000, own8, own16, 2999, 0).to_dict()
        assert s["name"] == "local-preference"
        assert s["code_red_ii"]["consistent"] is consistent  # type: ignore[index]


def test_flood_of_one_target_by_many_sources() -> None:
    rows = [(960.0 + (i % 50), f"192.0.{i // 250}.{i % 250 + 1}", "198.137.240.91",
             UNANSWERED) for i in range(600) for _ in range(2)]
    r = analyse_batches([batch(rows)], NetworkConfig(
        flood=FloodParams(window_s=60.0, min_sources=500, min_connections=1000)))
    (f,) = r.to_dict()["floods"]
    assert f["target"] == "198.137.240.91" and f["peak_sources"] == 600
    assert f["connections"] == 1200 and f["start"] == "1970-01-01T00:16:00Z"
    assert f["sources"] == 600
    alerts = [a for a in r.alerts() if a.rule_id == "net-flood"]
    assert len({a.source_ip for a in alerts}) == 600
    assert all(a.host == "198.137.240.91" != a.source_ip for a in alerts)
    few = analyse_batches([batch(rows)], NetworkConfig(flood=FloodParams(min_sources=601)))
    assert few.floods == []


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        TRWParams(theta0=0.2, theta1=0.8)
    with pytest.raises(ConfigError):
        analyse_batches([], NetworkConfig(own=("not-a-net",)))
    with pytest.raises(ConfigError):
        FloodParams(window_s=0)


def test_json_contract_and_alerts_in_the_one_schema() -> None:
    rows = [(100.0 + i, "192.0.2.7", f"203.0.113.{i + 1}", UNANSWERED) for i in range(30)]
    r = analyse_batches([batch(rows)], families={"192.0.2.7": "code-red-ii"})
    d = json.loads(json.dumps(r.to_dict()))
    assert d["schema"] == "wormsign.network/1"
    assert set(d) >= {"inputs", "connections", "sources", "verdicts", "parameters",
                      "scanners", "inside_infected", "floods", "alerts", "scenario"}
    s = d["scanners"][0]
    assert s["family"] == "code-red-ii" and s["evidence"]["crossed_at"] == "1970-01-01T00:01:43Z"
    assert s["probes"] == 30 and s["rate_per_s"] == pytest.approx(1.0)
    (alert,) = r.alerts()
    assert Alert.from_ecs(alert.to_ecs()) == alert
    assert alert.rule_id == "net-trw-scanner" and alert.family == "code-red-ii"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(0, 5), st.integers(0, 5), st.integers(0, 255)), max_size=60),
    st.integers(1, 7))
def test_any_columns_give_a_report_never_an_exception(
        rows: list[tuple[float, int, int, int]], cut: int) -> None:
    n = len(rows)
    b = ConnBatch(
        time=np.array([r[0] for r in rows], np.float64),
        src=np.array([0xC0000200 + r[1] for r in rows], np.uint32),
        dst=np.array([0xCB007100 + r[2] for r in rows], np.uint32),
        sport=np.full(n, -1, np.int32), dport=np.full(n, -1, np.int32),
        proto=np.full(n, 6, np.uint8), outcome=np.array([r[3] for r in rows], np.uint8),
        orig_bytes=np.full(n, -1, np.int64), resp_bytes=np.full(n, -1, np.int64),
        mark=np.zeros(n, np.uint8), line=np.arange(n, dtype=np.int64))
    pieces = [b.take(np.arange(i, min(i + cut, n))) for i in range(0, n, cut)]
    r = analyse_batches(pieces, NetworkConfig(flood=FloodParams(min_sources=2,
                                                                min_connections=2)))
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["connections"] == n
    assert sum(d["verdicts"].values()) == d["sources"] == len(set(b.src.tolist()))
    for a in r.alerts():
        assert Alert.from_ecs(a.to_ecs()) == a


def test_a_border_sensor_judges_shares_against_its_view() -> None:
    """A sensor sees outside scanners only where they probe the site: 150.20.0.0/16 and
    60.5.0.0/16 here. Scanners in 150/8 but not 150.20/16: uniform ones land in each block
    alike, Code Red II ones mostly in 150.20/16; the whole-space test would call both local."""
    from wormsign.detect.netsynth import CODE_RED_II_SHARES, targets

    rng = np.random.default_rng(5)
    view = [ipaddress.IPv4Network("150.20.0.0/16"), ipaddress.IPv4Network("60.5.0.0/16")]
    rows: list[tuple[float, str, str, int]] = []
    truth = {}
    for k in range(16):
        src = (150 << 24) | (int(rng.integers(21, 250)) << 16) | int(rng.integers(1, 65535))
        kind = "local-preference" if k % 2 else "uniform"
        t = targets(rng, src, 40_000 if k % 2 else 2_000_000, kind, CODE_RED_II_SHARES)
        seen = t[np.isin(t >> 16, [int(n.network_address) >> 16 for n in view])]
        truth[str(ipaddress.IPv4Address(src))] = kind
        rows += [(float(i), str(ipaddress.IPv4Address(src)), str(ipaddress.IPv4Address(int(d))),
                  UNANSWERED) for i, d in enumerate(seen.tolist())]
    b = batch(rows)
    with_view = analyse_batches([b], NetworkConfig(view=tuple(str(n) for n in view)))
    whole = analyse_batches([b])
    got = {s.ip: s.strategy.name for s in with_view.scanners if s.probes >= 20}
    assert len(got) >= 12
    assert all(got[ip] == truth[ip] for ip in got)
    wrong = {s.ip: s.strategy.name for s in whole.scanners if s.probes >= 20}
    assert {wrong[ip] for ip in got} == {"local-preference"}
