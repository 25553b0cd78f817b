"""Seeded worm requests and the logs several sensors write of them (tests only).

One list of requests *made* (Code Red, Code Red II, Nimda bursts; retries of identical
requests in the same second; the same worms' requests to other servers on the link), written
as one server's Apache access log (a local zone), its error log (local time without a zone,
Apache 2.x style; the file paths Apache names, some only the first missing directory), and a
Zeek ``http.log`` of the link (every server, optionally with a clock offset).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote_to_bytes

import numpy as np

from wormsign.logs.synth import CODE_RED, CODE_RED_II, NIMDA

SERVER = "192.0.2.80"
START = 995_538_225.0  # 2001-07-19 10:23:45 UTC


@dataclass(frozen=True)
class Made:
    """One request made: time (unix seconds), source, destination, URL."""

    t: float
    src: str
    dst: str
    url: str


def requests_made(seed: int = 1, sources: int = 30, others: int = 2) -> list[Made]:
    """Worm requests from ``sources`` sources, each also sending ``others`` to other servers."""
    rng = np.random.default_rng(seed)
    out: list[Made] = []
    for k in range(sources):
        src = f"10.{k // 200}.{k % 200}.{rng.integers(1, 250)}"
        t = START + float(rng.uniform(0, 3600))
        kind = k % 3
        dests = [SERVER] + [f"198.51.100.{int(rng.integers(1, 250))}" for _ in range(others)]
        if kind < 2:
            url = CODE_RED if kind == 0 else CODE_RED_II
            retries = int(rng.integers(1, 4))  # identical requests within one second
            for d in dests:
                for r in range(retries if d == SERVER else 1):
                    out.append(Made(t + 0.05 * r + float(rng.uniform(0, 0.2)), src, d, url))
        else:
            bursts = int(rng.integers(1, 3))  # a second, identical burst seconds later
            for b in range(bursts):
                for i, u in enumerate(NIMDA):
                    out.append(Made(t + 4.0 * b + 0.15 * i, src, SERVER, u))
            for d in dests[1:]:
                out.append(Made(t + 0.5, src, d, NIMDA[0]))
    out.sort(key=lambda m: m.t)
    return out


def _when(t: float, hours: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC).astimezone(timezone(timedelta(hours=hours)))


def access_log(made: list[Made], path: Path, zone: int = -7) -> Path:
    lines = []
    for m in made:
        if m.dst != SERVER:
            continue
        ts = _when(m.t, zone).strftime("%d/%b/%Y:%H:%M:%S %z")
        lines.append(f'{m.src} - - [{ts}] "GET {m.url} HTTP/1.0" 404 290 "-" "-"\n')
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _error_path(url: str) -> bytes:
    """The file Apache names for a missing URL (decoded once, raw bytes as ``\\xNN``);
    for the /c/ and /d/ requests only the first missing directory, as Apache 1.3 did."""
    p = url.partition("?")[0]
    if p.startswith(("/c/", "/d/")):
        p = p[:2]
    raw = unquote_to_bytes(p)
    return b"/var/www/html" + b"".join(
        bytes([c]) if 0x20 < c < 0x7F else b"\\x%02x" % c for c in raw)


def error_log(made: list[Made], path: Path, zone: int = -7) -> Path:
    """Times in the server's local time, written without a zone (read as UTC)."""
    with path.open("wb") as f:
        for m in made:
            if m.dst != SERVER:
                continue
            w = _when(m.t, zone)
            ts = w.strftime("%a %b %d %H:%M:%S.%f %Y").encode()
            port = 1024 + int(m.t * 1000) % 60000
            f.write(b"[" + ts + b"] [core:error] [pid 1234] [client " + m.src.encode()
                    + b":" + str(port).encode() + b"] AH00128: File does not exist: "
                    + _error_path(m.url) + b"\n")
    return path


ZEEK_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth",
               "method", "host", "uri", "referrer", "version", "user_agent", "status_code")


def zeek_http(made: list[Made], path: Path, skew: float = 0.0) -> Path:
    head = ("#separator \\x09\n#path\thttp\n#fields\t" + "\t".join(ZEEK_FIELDS) + "\n")
    rows = []
    for i, m in enumerate(made):
        v = {"ts": f"{m.t + skew:.6f}", "uid": f"C{i}", "id.orig_h": m.src,
             "id.orig_p": "1025", "id.resp_h": m.dst, "id.resp_p": "80",
             "trans_depth": "1", "method": "GET", "host": "-", "uri": m.url,
             "referrer": "-", "version": "1.0", "user_agent": "-", "status_code": "404"}
        rows.append("\t".join(v[f] for f in ZEEK_FIELDS) + "\n")
    path.write_text(head + "".join(rows), encoding="utf-8")
    return path


def pcap(made: list[Made], path: Path) -> Path:
    """One packet per request (the request's first segment), as a capture of the link."""
    import socket

    import dpkt

    with path.open("wb") as f:
        w = dpkt.pcap.Writer(f)
        for m in made:
            payload = f"GET {m.url} HTTP/1.0\r\nHost: {m.dst}\r\n\r\n".encode()
            tcp = dpkt.tcp.TCP(sport=1025, dport=80, data=payload,
                               flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH)
            ip = dpkt.ip.IP(src=socket.inet_aton(m.src), dst=socket.inet_aton(m.dst),
                            p=dpkt.ip.IP_PROTO_TCP, data=tcp)
            ip.len = len(bytes(ip))
            eth = dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x01" * 6, data=ip)
            w.writepkt(bytes(eth), ts=m.t)
    return path


def eve(made: list[Made], path: Path) -> Path:
    """Suricata EVE http events of the link."""
    import json

    with path.open("w", encoding="utf-8") as f:
        for i, m in enumerate(made):
            ts = datetime.fromtimestamp(m.t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
            f.write(json.dumps({"timestamp": ts, "flow_id": i, "tx_id": 0,
                                "event_type": "http", "src_ip": m.src, "dest_ip": m.dst,
                                "http": {"url": m.url, "http_method": "GET",
                                         "protocol": "HTTP/1.0", "status": 404}}) + "\n")
    return path
