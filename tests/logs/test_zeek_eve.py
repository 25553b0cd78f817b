from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.detect.scanner import scan_paths
from wormsign.logs import eve, zeek
from wormsign.logs.iis import IISState
from wormsign.logs.synth import CODE_RED, NIMDA

ZEEK_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth", "method", "host", "uri", "referrer", "version", "user_agent", "status_code"]


def _zeek_tsv(rows: list[dict[str, str]]) -> bytes:
    head = ("#separator \\x09\n#set_separator\t,\n#path\thttp\n#fields\t" + "\t".join(ZEEK_FIELDS)
            + "\n#types\t" + "\t".join(["string"] * len(ZEEK_FIELDS)) + "\n")
    body = "".join("\t".join(r.get(f, "-") for f in ZEEK_FIELDS) + "\n" for r in rows)
    return (head + body + "#close\t2001-07-20-00-00-00\n").encode()


def test_zeek_tsv(tmp_path: Path) -> None:
    rows = [{"ts": "995538225.5", "id.orig_h": "10.0.0.1", "method": "GET", "uri": CODE_RED,
             "status_code": "404", "host": "www.example.com"},
            {"ts": "995538226.0", "id.orig_h": "10.0.0.2", "method": "GET", "uri": "/index.html",
             "status_code": "200", "user_agent": "Mozilla/4.0"}]
    p = tmp_path / "http.log"
    p.write_bytes(_zeek_tsv(rows) + b"broken\tline\n")
    rep = scan_paths([str(p)])
    f = rep.files[0]
    assert f.format == "zeek-http" and f.skipped == 1
    assert [a.rule_id for a in rep.alerts] == ["code-red"]
    a = rep.alerts[0]
    assert a.source_ip == "10.0.0.1" and a.status == 404 and a.host == "www.example.com"
    assert a.timestamp is not None and a.timestamp.year == 2001


def test_zeek_json_and_nimda_burst(tmp_path: Path) -> None:
    lines = [json.dumps({"ts": 1000805000.0 + i * 0.3, "id.orig_h": "10.9.9.9",
                         "method": "GET", "uri": u, "status_code": 404})
             for i, u in enumerate(NIMDA)]
    p = tmp_path / "http.json"
    p.write_text("\n".join(lines) + "\nnot json\n")
    rep = scan_paths([str(p)])
    assert rep.files[0].format == "zeek-http-json" and rep.files[0].skipped == 1
    assert {a.family for a in rep.alerts} == {"nimda"} and len(rep.alerts) == 16


def test_suricata_eve_counts_a_transaction_once(tmp_path: Path) -> None:
    http = {"hostname": "www.example.com", "url": CODE_RED, "http_method": "GET",
            "protocol": "HTTP/1.0", "status": 404, "http_user_agent": "-"}
    recs = [
        {"timestamp": "2001-07-19T10:23:45.123456+0000", "flow_id": 7, "tx_id": 0,
         "event_type": "http", "src_ip": "10.0.0.1", "dest_ip": "192.0.2.80", "http": http},
        {"timestamp": "2001-07-19T10:23:45.123456+0000", "flow_id": 7, "tx_id": 0,
         "event_type": "alert", "src_ip": "10.0.0.1", "dest_ip": "192.0.2.80", "http": http,
         "alert": {"signature_id": 2101243}},
        {"timestamp": "2001-07-19T10:23:46+0000", "event_type": "flow", "src_ip": "10.0.0.1"},
    ]
    p = tmp_path / "eve.json"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    rep = scan_paths([str(p)])
    assert rep.files[0].format == "suricata-eve" and rep.files[0].skipped == 0
    assert len(rep.alerts) == 1 and rep.alerts[0].rule_id == "code-red"
    assert rep.alerts[0].timestamp is not None
    assert rep.alerts[0].timestamp.isoformat() == "2001-07-19T10:23:45.123456+00:00"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_never_crash(data: bytes) -> None:
    state = IISState()
    zeek.validate_tsv(b"#fields\tts\tid.orig_h\turi\n" + data, 0, state, 5)
    for i, line in enumerate(data.split(b"\n")):
        zeek.parse_tsv(line, state, "", i + 2)
        zeek.parse_json(line)
        eve.parse(line, eve.EveState())
    zeek.validate_json(data, 0, 5, required="event_type")
