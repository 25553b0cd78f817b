"""Writes the hostile reader corpus next to this file: ``python make_corpus.py``.

One file per class of hostile input from issue 10 (addresses with zone ids and injected
text, timestamps out of range, numbers no int() takes, wrong JSON types, lone surrogates,
NUL bytes, control and bidi characters, deep JSON, broken archives and captures). The files
are committed; this script says how they were made. Large inputs (no newline, bombs, FIFOs,
devices) are made by the tests themselves.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import struct
from pathlib import Path

CR = ("/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090"
      "%u6858%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a")
T = "[19/Jul/2001:10:23:45 +0000]"


def clf(src: str, when: str = T, req: str = f"GET {CR} HTTP/1.0",
        tail: str = ' 404 1 "-" "-"') -> str:
    return f'{src} - - {when} "{req}"{tail}\n'


def j(o: object) -> str:
    return json.dumps(o, allow_nan=True)


def ev(**kw: object) -> str:
    o: dict[str, object] = {
        "timestamp": "2001-07-19T10:23:45.000000+0000", "event_type": "http",
        "src_ip": "10.0.9.1", "flow_id": 1, "tx_id": 0,
        "http": {"url": "/default.ida?NNN", "http_method": "GET", "status": 404}}
    o.update(kw)
    return j(o)


def xz_with_huge_dictionary(data: bytes) -> bytes:
    """A valid small .xz whose block header asks for a 4 GiB dictionary (CRC fixed)."""
    import zlib

    xz = lzma.compress(data)
    size = (xz[12] + 1) * 4
    head = bytearray(xz[12:12 + size])
    i = head.index(b"\x21\x01")  # the LZMA2 filter and its one property byte
    head[i + 2] = 40  # dictionary size 4 GiB - 1
    head[-4:] = struct.pack("<I", zlib.crc32(bytes(head[:-4])))
    return xz[:12] + bytes(head) + xz[12 + size:]


def corpus() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    files["clf_addresses.log"] = "".join([
        clf("2a00:1450:4001::1%x}"), clf("fe80::1%eth0"), clf("10.0.0.1\x0btable"),
        clf("crawl-66-249-66-1.googlebot.com"), clf("=cmd|' /C calc'!A0"), clf("010.0.0.1"),
        clf("1.2.3.4.5"), clf("::ffff:10.9.9.9"), clf("2001:DB8::0:1"), clf("١٠.0.0.1"),
        clf("10.0.0.2"),
    ]).encode()
    files["clf_times.log"] = "".join([
        clf("10.0.1.1", "[01/Jan/0001:00:30:00 +0100]"),
        clf("10.0.1.2", "[31/Dec/9999:23:30:00 -0100]"),
        clf("10.0.1.3", "[00/Jan/2001:00:00:00 +0000]"),
        clf("10.0.1.4", "[19/Jul/²001:10:23:45 +0000]"),
        clf("10.0.1.5", "[19/Jul/2001:10:23:45 +9999]"),
        clf("10.0.1.6", "[19/Xyz/2001:99:99:99 -----]"),
        clf("10.0.1.7", "[]"), clf("10.0.1.8", "[" + "9" * 40 + "]"),
    ]).encode()
    files["clf_values.log"] = "".join([
        clf("10.0.2.1", tail=' ² ٣ "-" "-"'), clf("10.0.2.2", tail=" 200 " + "9" * 30),
        clf("10.0.2.3", tail=" 999999 1"), clf("10.0.2.4", tail=" -1 -1"),
        clf("10.0.2.5", req="GET " + CR + '" 200 1 "a" "' * 200),
        clf("10.0.2.6", req=f"GET {CR}\x1b[2J\u202e\u2066 HTTP/1.0",
            tail=' 404 1 "\x1b]0;pwn\x07" "\u202eUA"'),
    ]).encode() + (
        b"10.0.2.8 - - " + T.encode()
        + b' "GET /default.ida?\xff\xfe\xc0\xaf\x00\x00 HTTP/1.0" 404 1\n'
        + b"10.0.2.9 - - " + T.encode() + b' "GET /x\r\ninjected: line\r\n" 200 1\n'
        + b"10.0.2.10 - - " + T.encode() + b' "' + b"\\" * 3000 + b"\n"
        + b"10.0.2.11 - - " + T.encode() + b' "GET /\xed\xa0\x80 HTTP/1.0" 404 1\n')
    files["vhost_zone.log"] = (
        f'www.example.com:80 2a00:1450:4001::1%x}} - - {T} "GET {CR} HTTP/1.0" 404 1 "-" "-"\n'
        f'www.example.com:80 10.0.3.1 - - {T} "GET {CR} HTTP/1.0" ² 1 "-" "-"\n'
        f'\u202e 10.0.3.2 - - {T} "GET {CR} HTTP/1.0" 404 1 "-" "-"\n').encode()
    files["iis_values.log"] = (
        "#Software: Microsoft Internet Information Services 5.0\n#Date: 0000-00-00 00:00:00\n"
        "#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status sc-bytes "
        "cs(User-Agent)\n"
        "2001-07-19 00:00:01 2a00:1450:4001::1%x} GET /default.ida NNNN 404 1 -\n"
        "2001-07-19 00:00:02 10.0.4.1 GET /default.ida NNNN ² " + "9" * 30 + " -\n"
        "0001-01-01 00:00:03 10.0.4.2 GET /default.ida NNNN 404 1 \u202eevil\x1b[2J\n"
        "9999-99-99 99:99:99 10.0.4.3 GET /default.ida NNNN 404 1 -\n"
        "#Fields:\n2001-07-19 00:00:04 10.0.4.4 GET /x - 200 1 -\n"
        "#Fields: c-ip\n10.0.4.5\n#Fields: " + "x " * 2000 + "\n"
        "2001-07-19 00:00:05 10.0.4.6 GET /scripts/..%c0%af../winnt/system32/cmd.exe ? 200 1 -\n"
    ).encode()
    files["apache_error_values.log"] = (
        "[Thu Jul 19 10:23:45 2001] [error] [client 2a00:1450:4001::1%x}] File does not "
        "exist: /x\n"
        "[Thu Jul 19 10:23:45 0000] [error] [client 10.0.5.1] File does not exist: /default.ida\n"
        "[Thu Jul 19 10:23:45 9999] [error] [client 10.0.5.2] File does not exist: /default.ida\n"
        "[Xyz Abc 99 99:99:99 2001] [error] [client 10.0.5.3] File does not exist: /default.ida\n"
        "[Thu Jul 19 10:23:45 2001] [error] [client 999.0.0.1] File does not exist: /default.ida\n"
        "[Thu Jul 19 10:23:45 2001] [error] [client 10.0.5.4] " + "a " * 20000 + "\n"
        "[Thu Jul 19 10:23:45 2001] [error] [client 10.0.5.5] File does not exist: "
        "/\u202e\x1b[2J\n"
        "[Thu Jul 19 10:23:45 2001] [error] [client " + "1:" * 5000 + "] x\n"
    ).encode()
    files["nginx_error_values.log"] = (
        '2001/07/19 10:23:45 [error] 1#0: *5 open() "/x" failed, client: fe80::1%eth0, '
        'server: _, request: "GET /default.ida HTTP/1.1"\n'
        '0000/00/00 99:99:99 [error] 1#0: *5 open() "/x" failed, client: 10.0.6.1, '
        'server: _, request: "GET /default.ida HTTP/1.1"\n'
        '2001/07/19 10:23:45 [error] 1#0: *5 open() "/x" failed, client: 10.0.6.2, server: _, '
        'request: "GET /default.ida\x1b[2J\u202e HTTP/1.1", host: "\u202e"\n'
        "2001/07/19 10:23:45 [error] " + ', request: "' * 3000 + "\n"
    ).encode()
    files["zeek_values.log"] = (
        "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\t"
        "method\thost\turi\tstatus_code\tuser_agent\n"
        "995538225.1\tC1\t10.0.7.1\t1025\t192.0.2.80\t80\tGET\tw\t/default.ida?NNN\t²\t-\n"
        "995538225.1\tC2\tfe80::1%eth0\t1025\t192.0.2.80\t80\tGET\tw\t/default.ida?NNN\t404\t-\n"
        "1e999\tC3\t10.0.7.2\t1025\t192.0.2.80\t80\tGET\tw\t/default.ida?NNN\t404\t-\n"
        + "9" * 29 + "\tC4\t10.0.7.3\t1025\t192.0.2.80\t80\tGET\tw\t/default.ida?NNN\t"
        + "9" * 30 + "\t-\n"
        "nan\tC5\t10.0.7.4\\x0atable inet pwn {}\t1025\t192.0.2.80\t80\tGET\tw\t"
        "/default.ida?NNN\t404\t\u202e\n"
        "#fields\n\t\t\t\n#fields\t" + "\t".join(["x"] * 3000) + "\n"
    ).encode()
    files["zeek_values.json"] = "\n".join([
        j({"ts": "²", "id.orig_h": "10.0.8.1", "uri": "/default.ida?NNN", "status_code": "²",
           "method": {"a": 1}}),
        j({"ts": 1e308, "id.orig_h": "10.0.8.2", "uri": "/default.ida?NNN",
           "status_code": 10**30}),
        j({"ts": float("nan"), "id.orig_h": "10.0.8.3", "uri": ["/default.ida"],
           "status_code": float("inf")}),
        j({"ts": True, "id": {"orig_h": "10.0.8.4\ntable inet pwn {}"},
           "uri": "/default.ida?NNN"}),
        j({"ts": "0001-01-01T00:30:00+01:00", "id": {"orig_h": "2a00:1450:4001::1%x}"},
           "uri": "/default.ida?NNN"}),
        '{"ts": 1, "id.orig_h": "10.0.8.5", "uri": "/default.ida?\\ud800\\u202e\\u0000", '
        '"user_agent": "\\udfff"}',
        '{"id.orig_h": "10.0.8.6", "uri": "/x", "n": ' + "9" * 5000 + "}",
        '{"id.orig_h": "10.0.8.7", "uri": "/x", "deep": ' + "[" * 20000 + "]" * 20000 + "}",
        '{"id.orig_h": "10.0.8.8", "uri": "/x", "s": 1e999, "t": -Infinity, "u": NaN}',
        '{"uri": "/default.ida", "id.orig_h": "10.0.8.9"',
        "[1, 2, 3]", '"just a string"', "{}",
    ]).encode() + b"\n"
    files["eve_values.json"] = "\n".join([
        ev(src_ip="10.0.9.2\ntable inet pwn { chain input { type filter hook input priority 0;"
           " accept; } }", flow_id=2),
        ev(src_ip="2a00:1450:4001::1%x}", flow_id=3),
        ev(src_ip={"a": 1}, flow_id=4), ev(src_ip=None, flow_id=5),
        ev(src_ip=167772161, flow_id=6),
        ev(timestamp="0001-01-01T00:30:00.000000+0100", src_ip="10.0.9.3", flow_id=7),
        ev(timestamp="9999-12-31T23:30:00.000000-0100", src_ip="10.0.9.4", flow_id=8),
        ev(timestamp={"t": 1}, src_ip="10.0.9.5", flow_id=9),
        ev(src_ip="10.0.9.6", flow_id=10, http={
            "url": "/default.ida", "status": 1e308, "length": float("nan"),
            "http_method": {"m": 1}, "hostname": ["h"]}),
        ev(src_ip="10.0.9.7", flow_id=11, http={"url": {"u": 1}}),
        ev(src_ip="10.0.9.8", flow_id={"f": 1}, tx_id=[1],
           http={"url": "/default.ida", "status": 10**30, "length": 10**30}),
        ev(src_ip="10.0.9.9", flow_id=12, http="not an object"),
        '{"event_type": "http", "src_ip": "10.0.9.10", "http": {"url": '
        '"/default.ida?\\ud800\\u202e\\u001b[2J", "http_user_agent": "\\udc80"}}',
        '{"event_type": "http", "src_ip": "10.0.9.11", "http": {"url": "/x"}, "n": '
        + "9" * 5000 + "}",
        '{"event_type": "http", "src_ip": "10.0.9.12", "deep": ' + '{"a":' * 20000 + "1"
        + "}" * 20000 + "}",
        '{"event_type": "http", "src_ip": "10.0.9.13", "http": {"url": "/x", "status": NaN, '
        '"length": -Infinity}}',
        '{"event_type": "alert", "src_ip": "::ffff:10.0.9.14", "http": '
        '{"url": "/default.ida?NNN"}}',
        "null", "[]", "{", "",
    ]).encode() + b"\n"
    files["empty.log"] = b""
    files["only_newlines.log"] = b"\n" * 10000
    files["only_cr.log"] = b"\r" * 10000
    files["bom_only.log"] = b"\xef\xbb\xbf"
    files["nul_run.log"] = (clf("10.0.10.1").encode() + b"\x00" * 4096 + b"\n"
                            + clf("10.0.10.2").encode())
    files["binary.bin"] = bytes(range(256)) * 64
    files["utf16.log"] = clf("10.0.10.3").encode("utf-16")
    files["mixed_formats.log"] = (
        clf("10.0.11.1") + "#Fields: c-ip cs-uri-stem\n10.0.11.2 /default.ida\n"
        '{"event_type": "http", "src_ip": "10.0.11.3", "http": {"url": "/default.ida"}}\n'
        "[Thu Jul 19 10:23:45 2001] [error] [client 10.0.11.4] File does not exist: "
        "/default.ida\n").encode()
    good = clf("10.0.12.1").encode() * 50
    files["truncated.log.gz"] = gzip.compress(good * 20, mtime=0)[:-100]
    files["trailing_garbage.log.gz"] = gzip.compress(good, mtime=0) + b"garbage after it"
    files["corrupt.log.bz2"] = bz2.compress(good)[:40] + b"\x00" * 200
    files["header_only.log.xz"] = lzma.compress(good)[:12]
    files["magic_only.gz"] = b"\x1f\x8b"
    files["huge_dictionary.log.xz"] = xz_with_huge_dictionary(good)
    pcap_head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    files["pcap_header_only.pcap"] = b"\xd4\xc3\xb2\xa1"
    files["pcap_truncated.pcap"] = pcap_head + struct.pack("<IIII", 0, 0, 100, 100) + b"\0" * 20
    files["pcap_huge_packet.pcap"] = (pcap_head + struct.pack(
        "<IIII", 0xFFFFFFFF, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"\0" * 64)
    files["pcapng_garbage.pcapng"] = b"\x0a\x0d\x0d\x0a" + b"\xff" * 60
    return files


if __name__ == "__main__":
    here = Path(__file__).parent
    for name, data in corpus().items():
        (here / name).write_bytes(data)
