"""Packet captures into connection attempts and their outcomes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.logs.conn_helpers import assert_same, random_batch

from wormsign.errors import InputError
from wormsign.logs import connwrite
from wormsign.logs.conn import (
    ESTABLISHED,
    MARK_SEQ_IS_DST,
    OTHER,
    UNANSWERED,
    ConnBatch,
    concat,
)
from wormsign.logs.connread import ConnStats, read_connections, sniff_connections

dpkt = pytest.importorskip("dpkt")  # only to write hand-made packets

A, B, C = 0x0A000001, 0xC0000201, 0xC6336407  # 10.0.0.1, 192.0.2.1, 198.51.100.7


def _read(path: Path) -> tuple[ConnBatch, ConnStats]:
    stats = ConnStats()
    return concat(list(read_connections(str(path), stats=stats))), stats


def _expected(b: ConnBatch) -> ConnBatch:
    """What a capture can say about rows written by write_pcap."""
    tcp, icmp = b.proto == 6, b.proto == 1
    outcome = b.outcome.copy()
    outcome[~tcp & (outcome == OTHER)] = UNANSWERED
    ob = np.maximum(b.orig_bytes, 0)
    ob[tcp & (outcome != ESTABLISHED) & (outcome != OTHER)] = 0
    ob[tcp & (outcome == OTHER)] = np.maximum(b.orig_bytes, 1)[tcp & (outcome == OTHER)]
    rb = np.maximum(b.resp_bytes, 0)
    rb[(outcome != ESTABLISHED) & ~(tcp & (outcome == OTHER))] = 0
    sport, dport = b.sport.copy(), b.dport.copy()
    sport[icmp], dport[icmp] = 8, 0
    mark = np.where(outcome == OTHER, 0, b.mark).astype(np.uint8)  # no SYN, no mark
    return ConnBatch(b.time, b.src, b.dst, sport, dport, b.proto, outcome, ob, rb, mark,
                     b.line)


def test_round_trip(tmp_path: Path) -> None:
    want = random_batch(1500, seed=11)
    mark = np.zeros(len(want), np.uint8)
    mark[(want.proto == 6)[: len(want)] & (np.arange(len(want)) % 3 == 0)] = MARK_SEQ_IS_DST
    want = ConnBatch(want.time, want.src, want.dst, want.sport, want.dport, want.proto,
                     want.outcome, want.orig_bytes, want.resp_bytes, mark, want.line)
    p = tmp_path / "capture.pcap"
    packets = connwrite.write_pcap(want, p, seed=2)
    assert sniff_connections(str(p)) == "pcap-conn"
    got, stats = _read(p)
    assert_same(got, _expected(want))
    assert stats.lines == packets and stats.records == 1500 and stats.total_skipped == 0
    assert got.format == "pcap-conn"


def _eth(ip: object) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip))


def _tcp(src: int, dst: int, sp: int, dp: int, flags: int, seq: int = 1,
         data: bytes = b"") -> object:
    tcp = dpkt.tcp.TCP(sport=sp, dport=dp, seq=seq, flags=flags, data=data)
    ip = dpkt.ip.IP(src=src.to_bytes(4, "big"), dst=dst.to_bytes(4, "big"), p=6, data=tcp)
    ip.len = len(bytes(ip))
    return ip


def _write(path: Path, packets: list[tuple[float, bytes]]) -> None:
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f)
        for ts, pkt in packets:
            w.writepkt(pkt, ts=ts)


S, SA, R, RA, PA = (dpkt.tcp.TH_SYN, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, dpkt.tcp.TH_RST,
                    dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK)


def test_tcp_attempts_retries_and_mid_stream(tmp_path: Path) -> None:
    p = tmp_path / "t.pcap"
    _write(p, [
        (1.0, _eth(_tcp(A, B, 1000, 80, S))),
        (2.0, _eth(_tcp(A, B, 1000, 80, S))),  # retransmission: the same attempt
        (4.0, _eth(_tcp(A, B, 1000, 80, S))),
        (4.1, _eth(_tcp(B, A, 80, 1000, SA))),
        (4.2, _eth(_tcp(A, B, 1000, 80, PA, data=b"GET / HTTP/1.0\r\n\r\n"))),
        (9.0, _eth(_tcp(A, B, 1000, 80, S))),  # a new attempt on the same ports
        (9.1, _eth(_tcp(B, A, 80, 1000, RA))),
        (10.0, _eth(_tcp(A, C, 2000, 23, S, seq=C))),  # Mirai's SYN
        (11.0, _eth(_tcp(C, A, 443, 3000, PA, data=b"xyz"))),  # mid-stream
        (12.0, _eth(_tcp(B, A, 80, 4000, SA))),  # backscatter: A is the originator
        (13.0, _eth(_tcp(A, B, 5000, 80, S))),
        (50.0, _eth(_tcp(A, B, 5000, 80, S))),  # a SYN 37 s later: another attempt
    ])
    b, stats = _read(p)
    rows = [(r.timestamp, r.source_ip, r.dest_port, r.outcome, r.orig_bytes, r.mark, r.line)
            for r in b.records()]
    assert rows == [
        (1.0, "10.0.0.1", 80, "established", 18, 0, 1),
        (9.0, "10.0.0.1", 80, "refused", 0, 0, 6),
        (10.0, "10.0.0.1", 23, "unanswered", 0, MARK_SEQ_IS_DST, 8),
        (11.0, "198.51.100.7", 3000, "other", 3, 0, 9),
        (12.0, "10.0.0.1", 80, "other", 0, 0, 10),
        (13.0, "10.0.0.1", 80, "unanswered", 0, 0, 11),
        (50.0, "10.0.0.1", 80, "unanswered", 0, 0, 12),
    ]
    assert stats.lines == 12 and stats.total_skipped == 0


def _udp(src: int, dst: int, sp: int, dp: int, data: bytes) -> object:
    udp = dpkt.udp.UDP(sport=sp, dport=dp, data=data)
    udp.ulen = len(bytes(udp))
    ip = dpkt.ip.IP(src=src.to_bytes(4, "big"), dst=dst.to_bytes(4, "big"), p=17, data=udp)
    ip.len = len(bytes(ip))
    return ip


def _unreach(frm: int, to: int, quoted: object) -> object:
    body = bytes(quoted)[:28]
    icmp = dpkt.icmp.ICMP(type=3, code=3, data=dpkt.icmp.ICMP.Unreach(data=body))
    ip = dpkt.ip.IP(src=frm.to_bytes(4, "big"), dst=to.to_bytes(4, "big"), p=1, data=icmp)
    ip.len = len(bytes(ip))
    return ip


def test_udp_icmp_unreachable_vlan_ipv6_and_fragments(tmp_path: Path) -> None:
    slammer = _udp(A, B, 1111, 1434, b"\x04" + b"\x01" * 375)
    tagged = (b"\x04" * 6 + b"\x02" * 6 + b"\x81\x00\x00\x07\x08\x00"
              + bytes(_udp(A, C, 53, 53, b"q")))
    ip6 = dpkt.ip6.IP6(src=b"\x20" * 16, dst=b"\x21" * 16, nxt=17, hlim=64,
                       data=dpkt.udp.UDP(sport=1, dport=2))
    frag = _tcp(A, C, 1, 2, PA, data=b"x")
    frag.offset = 40  # a later fragment: no transport header
    p = tmp_path / "u.pcap"
    _write(p, [
        (1.0, _eth(slammer)),
        (1.1, _eth(_unreach(B, A, slammer))),
        (2.0, tagged),
        (2.5, _eth(_udp(C, A, 53, 53, b"answer"))),
        (3.0, bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x86DD,
                                           data=ip6))),
        (4.0, _eth(frag)),
        (5.0, b"\x04" * 6 + b"\x02" * 6 + b"\x08\x00\x45" + bytes(9)),  # IPv4 cut short
        (5.5, bytes(20)),  # not IP: passed over
        (200.0, _eth(_udp(A, B, 1111, 1434, b"again"))),  # after a quiet minute: new
    ])
    b, stats = _read(p)
    rows = [(r.source_ip, r.dest_port, r.proto, r.outcome, r.orig_bytes, r.resp_bytes)
            for r in b.records()]
    assert rows == [("10.0.0.1", 1434, "udp", "refused", 376, 0),
                    ("10.0.0.1", 53, "udp", "established", 1, 6),
                    ("10.0.0.1", 1434, "udp", "unanswered", 5, 0)]
    assert stats.ipv6 == 1 and stats.skipped == {"undecodable": 1} and stats.lines == 9


def test_pcapng_and_linux_cooked(tmp_path: Path) -> None:
    p = tmp_path / "c.pcapng"
    with open(p, "wb") as f:
        w = dpkt.pcapng.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        w.writepkt(_eth(_tcp(A, B, 1000, 445, S)), ts=100.5)
        w.writepkt(_eth(_tcp(B, A, 445, 1000, SA)), ts=100.6)
    assert sniff_connections(str(p)) == "pcap-conn"
    b, _ = _read(p)
    assert [(r.timestamp, r.dest_port, r.outcome) for r in b.records()] == [
        (100.5, 445, "established")]
    sll = tmp_path / "sll.pcap"
    with open(sll, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=113)
        head = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800)
        w.writepkt(head + bytes(_tcp(A, B, 1, 23, S)), ts=7.0)
    b, _ = _read(sll)
    assert [(r.dest_port, r.outcome) for r in b.records()] == [(23, "unanswered")]


def test_cut_and_corrupt_captures_keep_what_came_before(tmp_path: Path) -> None:
    want = random_batch(50, seed=3, protos=(6,))
    full = tmp_path / "full.pcap"
    connwrite.write_pcap(want, full)
    data = full.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-7])
    b, stats = _read(cut)
    assert stats.skipped == {"truncated": 1} and 45 <= len(b) <= 50
    bad = bytearray(data)
    struct.pack_into("<I", bad, 24 + 8, 1 << 30)  # the first record claims 1 GiB
    corrupt = tmp_path / "corrupt.pcap"
    corrupt.write_bytes(bytes(bad))
    b, stats = _read(corrupt)
    assert len(b) == 0 and stats.skipped == {"corrupt": 1}
    short = tmp_path / "short.pcap"
    short.write_bytes(data[:10])
    with pytest.raises(InputError, match=r"short\.pcap: not a readable capture"):
        _read(short)
    text = tmp_path / "text.pcap"
    text.write_text("hello\n")
    with pytest.raises(InputError, match=r"text\.pcap: not a pcap"):
        list(read_connections(str(text), format="pcap-conn"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_captures_never_raise(tmp_path_factory: pytest.TempPathFactory,
                                      data: st.DataObject) -> None:
    """Bytes changed anywhere after the file header: counted skips, never a traceback."""
    d = tmp_path_factory.mktemp("fuzz")
    src = d / "ok.pcap"
    connwrite.write_pcap(random_batch(20, seed=data.draw(st.integers(0, 99))), src)
    raw = bytearray(src.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(24, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(24, len(raw)))]
    p = d / "fuzzed.pcap"
    p.write_bytes(bytes(raw))
    b, stats = _read(p)
    assert stats.records == len(b) <= stats.lines


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_c_helpers_and_numba_twins_agree(tmp_path_factory: pytest.TempPathFactory,
                                         data: st.DataObject) -> None:
    """The same (damaged) capture through the C helpers and through their numba twins."""
    from wormsign.logs import pcapconn
    from wormsign.logs.source import Input, open_input

    c_kernels = pcapconn.kernels()
    if c_kernels == pcapconn.kernels(prefer_c=False):
        pytest.skip("the C helper _connscan is not built")
    d = tmp_path_factory.mktemp("twin")
    p = d / "c.pcap"
    connwrite.write_pcap(random_batch(30, seed=data.draw(st.integers(0, 99))), p)
    if data.draw(st.booleans()):  # the same packets as pcapng
        with open(p, "rb") as f:
            packets = list(dpkt.pcap.Reader(f))
        with open(p, "wb") as f:
            w = dpkt.pcapng.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
            for ts, pkt in packets:
                w.writepkt(pkt, ts=ts)
    raw = bytearray(p.read_bytes())
    for _ in range(data.draw(st.integers(0, 6))):
        raw[data.draw(st.integers(24, len(raw) - 1))] = data.draw(st.integers(0, 255))
    p.write_bytes(bytes(raw))
    results = []
    for frame, flows in (c_kernels, pcapconn.kernels(prefer_c=False)):
        state = np.zeros(7, dtype=np.int64)
        with open_input(Input(str(p))) as stream:
            pk, ts, total, cut = pcapconn._read_frames(stream, stream.peek(4), "x", state,
                                                       frame)
        b = pcapconn.attempts(pk, ts, "x", flows)
        results.append(str((pk.tolist(), ts.tolist(), total, cut, state.tolist(),
                            list(b.records()))))
    assert results[0] == results[1]


def test_gzipped_capture(tmp_path: Path) -> None:
    import gzip

    want = random_batch(300, seed=8)
    plain = tmp_path / "c.pcap"
    connwrite.write_pcap(want, plain)
    data = plain.read_bytes()
    gz = tmp_path / "c.pcap.gz"
    half = len(data) // 2
    gz.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))  # two members
    assert sniff_connections(str(gz)) == "pcap-conn"
    got, stats = _read(gz)
    assert_same(got, _expected(want))
    assert stats.total_skipped == 0
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(gzip.compress(data)[:-5000])
    got, stats = _read(cut)
    assert 0 < len(got) < 300 and stats.skipped.get("truncated", 0) <= 1


def test_readers_without_the_c_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ``_connscan`` is not built, the numba twins read the same columns."""
    import sys

    want = random_batch(400, seed=12)
    log, cap = tmp_path / "conn.log", tmp_path / "c.pcap"
    connwrite.write_zeek_tsv(want, log)
    connwrite.write_pcap(want, cap)
    with_c = [_read(p) for p in (log, cap)]
    import wormsign.logs
    from wormsign.logs import pcapconn, zeekconn

    monkeypatch.setitem(sys.modules, "wormsign.logs._connscan", None)  # import fails
    monkeypatch.delattr(wormsign.logs, "_connscan", raising=False)
    assert zeekconn.scanner() is zeekconn.scanner(prefer_c=False)
    assert pcapconn.kernels() == pcapconn.kernels(prefer_c=False)
    without = [_read(p) for p in (log, cap)]
    for (a, sa), (b, sb) in zip(with_c, without, strict=True):
        assert_same(b, a)
        assert sa == sb
