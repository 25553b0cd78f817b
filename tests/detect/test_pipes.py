"""A pipe is read once: the pcap check peeks, so ``scan <(cat log)`` loses no byte."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from wormsign.detect.scanner import scan_paths
from wormsign.logs.synth import CODE_RED, worm_heavy_lines


def _fifo_with(tmp_path: Path, data: bytes) -> tuple[Path, threading.Thread]:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as w:
            w.write(data)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    return fifo, t


def test_a_log_through_a_pipe_equals_the_file(tmp_path: Path) -> None:
    data = "".join(worm_heavy_lines(3000, seed=4)).encode()
    p = tmp_path / "a.log"
    p.write_bytes(data)
    fifo, t = _fifo_with(tmp_path, data)
    piped = scan_paths([str(fifo)])
    t.join(5)
    direct = scan_paths([str(p)])
    assert piped.files[0].lines == direct.files[0].lines == 3000
    assert [(a.line, a.rule_id, a.source_ip) for a in piped.alerts] == [
        (a.line, a.rule_id, a.source_ip) for a in direct.alerts]
    assert len(direct.alerts) > 300


def test_a_capture_through_a_pipe(tmp_path: Path) -> None:
    dpkt = pytest.importorskip("dpkt")
    tcp = dpkt.tcp.TCP(sport=1025, dport=80, flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
                       data=b"GET " + CODE_RED.encode() + b" HTTP/1.0\r\n\r\n")
    ip = dpkt.ip.IP(src=bytes([10, 0, 0, 1]), dst=bytes([192, 0, 2, 80]),
                    p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    ip.len = len(bytes(ip))
    cap = tmp_path / "c.pcap"
    with open(cap, "wb") as f:
        dpkt.pcap.Writer(f).writepkt(bytes(dpkt.ethernet.Ethernet(
            src=b"\x00" * 6, dst=b"\x01" * 6, data=ip)), ts=995538225.0)
    fifo, t = _fifo_with(tmp_path, cap.read_bytes())
    rep = scan_paths([str(fifo)])
    t.join(5)
    assert rep.files[0].format == "pcap" and rep.files[0].error is None
    assert [(a.rule_id, a.source_ip, a.line) for a in rep.alerts] == [("code-red", "10.0.0.1", 1)]
