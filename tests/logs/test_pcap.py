from __future__ import annotations

from pathlib import Path

import pytest

from wormsign.detect.scanner import scan_paths
from wormsign.logs.synth import CODE_RED

dpkt = pytest.importorskip("dpkt")


def _packet(src: bytes, payload: bytes) -> bytes:
    tcp = dpkt.tcp.TCP(sport=1025, dport=80, flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
                       data=payload)
    ip = dpkt.ip.IP(src=src, dst=bytes([192, 0, 2, 80]), p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    ip.len = len(bytes(ip))
    eth = dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x01" * 6, data=ip)
    return bytes(eth)


def test_http_requests_in_a_capture(tmp_path: Path) -> None:
    p = tmp_path / "capture.bin"
    with open(p, "wb") as f:
        w = dpkt.pcap.Writer(f)
        w.writepkt(_packet(bytes([10, 0, 0, 1]), b"GET " + CODE_RED.encode()
                           + b" HTTP/1.0\r\nContent-type: text/xml\r\nContent-length: 3379\r\n\r\n"),
                   ts=995538225.0)
        w.writepkt(_packet(bytes([10, 0, 0, 2]), b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n"),
                   ts=995538226.0)
        w.writepkt(_packet(bytes([10, 0, 0, 3]), b"\x16\x03\x01 not http"), ts=995538227.0)
    rep = scan_paths([str(p)])
    f = rep.files[0]
    assert (f.format, f.lines, f.skipped, f.error) == ("pcap", 3, 0, None)
    assert [(a.rule_id, a.source_ip) for a in rep.alerts] == [("code-red", "10.0.0.1")]
    assert rep.alerts[0].timestamp is not None and rep.alerts[0].timestamp.year == 2001


def test_truncated_capture_keeps_what_it_read(tmp_path: Path) -> None:
    p = tmp_path / "cut.pcap"
    pkts = [_packet(bytes([10, 0, 0, 1 + i]), b"GET " + CODE_RED.encode() + b" HTTP/1.0\r\n\r\n")
            for i in range(3)]
    with open(p, "wb") as f:
        w = dpkt.pcap.Writer(f)
        for i, pkt in enumerate(pkts):
            w.writepkt(pkt, ts=995538225.0 + i)
    data = p.read_bytes()
    # cut in the middle of the third packet's record header
    p.write_bytes(data[:24 + 2 * (16 + len(pkts[0])) + 8])
    rep = scan_paths([str(p)])
    assert len(rep.alerts) == 2 and rep.files[0].error is not None


def test_a_capture_read_from_a_pipe_after_a_peek(tmp_path: Path) -> None:
    """What the scanner does with ``scan <(cat capture)``: peek at the magic through
    open_input, then hand the same (unseekable) stream to the capture reader."""
    import io
    import os
    import threading

    from wormsign.logs import pcap
    from wormsign.logs.source import Input, open_input

    buf = io.BytesIO()
    w = dpkt.pcap.Writer(buf)
    for i in range(50):
        w.writepkt(_packet(bytes([10, 0, 0, i + 1]), b"GET " + CODE_RED.encode()
                           + b" HTTP/1.0\r\n\r\n"), ts=995538225.0 + i)
    r, wfd = os.pipe()

    def write() -> None:
        os.write(wfd, buf.getvalue())
        os.close(wfd)

    t = threading.Thread(target=write)
    t.start()
    try:
        with open_input(Input(f"/dev/fd/{r}", allow_special=True)) as stream:
            assert pcap.is_pcap(stream.peek(4))
            got = [req.source_ip for _n, req, _ok in pcap.requests(stream, "pipe")
                   if req is not None]
    finally:
        t.join()
        os.close(r)
    assert got == [f"10.0.0.{i + 1}" for i in range(50)]


def test_a_record_claiming_gigabytes_is_an_error_not_an_allocation(tmp_path: Path) -> None:
    import struct

    from wormsign.errors import InputError
    from wormsign.logs import pcap

    p = tmp_path / "huge.pcap"
    p.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                  + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"\0" * 64)
    with p.open("rb") as f, pytest.raises(InputError, match="claims 2147483647 bytes"):
        list(pcap.requests(f, str(p)))
