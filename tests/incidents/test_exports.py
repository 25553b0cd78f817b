"""Blocklist lifecycle and exports: nftables (checked by nft), iptables, nginx, apache,
Suricata (strict syntax test), CSV (formula injection), STIX 2.1 (round trip)."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import stix2

from incidents.helpers import make_alert, synthetic_alerts, write_jsonl
from wormsign.errors import ConfigError, StoreError
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents.blocklist import entries, refresh
from wormsign.incidents.exporters import EXPORTERS, csv_cell, export

DAY = 86400


@pytest.fixture
def case(store: Store, tmp_path: Path) -> tuple[Store, int]:
    alerts = [make_alert(0, "198.51.100.7", "code-red"), make_alert(1, "198.51.100.7", "code-red"),
              make_alert(2, "203.0.113.50", "nimda"), make_alert(3, "10.9.8.7", "code-red-ii"),
              make_alert(4, "192.0.2.44", "nimda"), make_alert(5, "2001:db8::5", "code-red-ii"),
              make_alert(6, "127.0.0.1", "nimda")]
    iid = store.create_incident('web "farm"; =cmd', allow=["192.0.2.0/24"])
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts)])
    return store, iid


def test_blocklist_lifecycle(case: tuple[Store, int], tmp_path: Path) -> None:
    store, iid = case
    now = 1_000_000_000
    assert refresh(store, iid, "2d", now=now)["added"] == 3
    active = {e.address: e for e in entries(store, iid, now=now)}
    # internal (RFC 1918), allowlisted partner and loopback sources are never blocked
    assert set(active) == {"198.51.100.7", "203.0.113.50", "2001:db8::5"}
    assert active["198.51.100.7"].events == 2
    assert all(e.expires_at == now + 2 * DAY for e in active.values())
    # no new activity: a later refresh does not extend, and entries lapse
    assert refresh(store, iid, "2d", now=now + DAY)["extended"] == 0
    assert entries(store, iid, now=now + 3 * DAY) == []
    assert len(entries(store, iid, now=now + 3 * DAY, include_expired=True)) == 3
    # new activity from one source extends that entry only
    ingest_paths(store, iid, [write_jsonl(tmp_path / "b.jsonl",
                                          [make_alert(99, "203.0.113.50", "nimda")])])
    assert refresh(store, iid, "2d", now=now + 3 * DAY)["extended"] == 1
    assert [e.address for e in entries(store, iid, now=now + 3 * DAY)] == ["203.0.113.50"]
    # an allowlist added later removes the entry
    store.add_networks(iid, ["203.0.113.0/24"], "allow")
    assert refresh(store, iid, "2d", now=now + 3 * DAY)["removed"] == 1
    assert "203.0.113.50" not in {e.address for e in entries(store, iid, include_expired=True,
                                                             now=now)}
    with pytest.raises(ConfigError):
        refresh(store, iid, "soon")


def test_unknown_format(case: tuple[Store, int]) -> None:
    store, iid = case
    with pytest.raises(StoreError, match="unknown export format"):
        export(store, iid, "pf")


def _nft() -> str:
    """The path of ``nft``, or skip saying why ``nft -c`` cannot check rulesets here."""
    nft = shutil.which("nft") or ("/usr/sbin/nft" if Path("/usr/sbin/nft").exists() else None)
    if nft is None:
        pytest.skip("nft is not installed (apt-get install nftables)")
    probe = subprocess.run([nft, "-c", "-f", "-"], input="table inet wormsign_probe { }\n",
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"nft -c cannot run here (needs CAP_NET_ADMIN): {probe.stderr.strip()[:200]}")
    return nft


def test_nftables_output_shape(case: tuple[Store, int]) -> None:
    store, iid = case
    text = export(store, iid, "nftables", ttl="7d")
    for addr in ("198.51.100.7", "2001:db8::5"):
        m = re.search(rf"\b{re.escape(addr)} timeout (\d+)s\b", text)
        assert m is not None and 0 < int(m.group(1)) <= 7 * DAY
    assert "flags timeout" in text
    assert "10.9.8.7" not in text and "192.0.2.44" not in text
    assert text.count("{") == text.count("}")


def test_nftables_output_passes_nft_check(case: tuple[Store, int], tmp_path: Path) -> None:
    store, iid = case
    text = export(store, iid, "nftables", ttl="7d")
    nft = _nft()
    path = tmp_path / "block.nft"
    path.write_text(text)
    res = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    broken = text.replace("flags timeout", "flags timeoutt", 1)
    path.write_text(broken)
    assert subprocess.run([nft, "-c", "-f", str(path)], capture_output=True).returncode != 0


def test_nftables_empty_blocklist_has_no_elements(store: Store) -> None:
    iid = store.create_incident("empty")
    text = export(store, iid, "nftables")
    assert "elements" not in text and "table" in text
    assert text.count("{") == text.count("}")


def test_nftables_empty_blocklist_passes_nft_check(store: Store) -> None:
    iid = store.create_incident("empty")
    text = export(store, iid, "nftables")
    nft = _nft()
    res = subprocess.run([nft, "-c", "-f", "-"], input=text, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_iptables_nginx_apache(case: tuple[Store, int]) -> None:
    store, iid = case
    ipt = export(store, iid, "iptables")
    lines = ipt.splitlines()
    assert lines.index("*filter") < lines.index("COMMIT")
    rules = [x for x in lines if x.startswith("-A ")]
    assert len(rules) == 2
    for r in rules:
        m = re.fullmatch(rf'-A WORMSIGN-{iid} -s (\S+) -m comment --comment "([^"]*)" -j DROP', r)
        assert m and ipaddress.ip_address(m.group(1)).version == 4
        assert len(m.group(2)) <= 256
    assert f"#6 -A WORMSIGN-{iid} -s 2001:db8::5" in ipt
    ngx = export(store, iid, "nginx")
    denies = re.findall(r"^deny ([^;]+);", ngx, re.M)
    assert sorted(denies) == ["198.51.100.7", "2001:db8::5", "203.0.113.50"]
    assert all(x.startswith(("#", "deny ")) for x in ngx.splitlines())
    ap = export(store, iid, "apache")
    body = [x.strip() for x in ap.splitlines() if x.strip() and not x.strip().startswith("#")]
    assert body[0] == "<RequireAll>" and body[-1] == "</RequireAll>"
    assert body[1] == "Require all granted"
    assert sorted(x.split()[-1] for x in body[2:-1]) == sorted(denies)
    assert all(x.startswith("Require not ip ") for x in body[2:-1])


# --- a strict Suricata rule parser (Suricata itself is not packaged here) -------------------
ACTIONS = {"alert", "drop", "pass", "reject", "rejectsrc", "rejectdst", "rejectboth"}
PROTOS = {"ip", "tcp", "udp", "icmp", "http", "dns", "tls"}
KEYWORDS_VALUE = {"msg", "content", "sid", "rev", "classtype", "reference", "flow"}
KEYWORDS_FLAG = {"nocase", "http.uri"}


def _check_addr(a: str) -> None:
    if a in {"any", "$HOME_NET", "$EXTERNAL_NET"}:
        return
    ipaddress.ip_network(a, strict=False)


def parse_suricata_rule(rule: str) -> dict[str, list[str]]:
    m = re.fullmatch(r"(\S+) (\S+) (\S+) (\S+) (->|<>) (\S+) (\S+) \((.*)\)", rule)
    assert m, f"bad rule header: {rule}"
    action, proto, src, sport, _d, dst, dport, body = m.groups()
    assert action in ACTIONS and proto in PROTOS
    for a in (src, dst):
        _check_addr(a)
    for p in (sport, dport):
        assert p == "any" or p.isdigit()
    opts: dict[str, list[str]] = {}
    i = 0
    while i < len(body):
        while i < len(body) and body[i] == " ":
            i += 1
        if i >= len(body):
            break
        m2 = re.match(r"([a-z_.]+)(:)?", body[i:])
        assert m2, f"bad option at {body[i:]!r}"
        key = m2.group(1)
        i += m2.end()
        value = ""
        if m2.group(2):
            assert key in KEYWORDS_VALUE, key
            if body[i] == '"':
                j = i + 1
                while body[j] != '"':
                    if body[j] == "\\":
                        assert body[j + 1] in '";\\', "bad escape"
                        j += 2
                    else:
                        assert body[j] not in ';"', "unescaped special character"
                        j += 1
                value = body[i + 1:j]
                i = j + 1
            else:
                j = body.index(";", i)
                value = body[i:j]
                assert '"' not in value
                i = j
        else:
            assert key in KEYWORDS_FLAG, key
        assert body[i] == ";", f"option {key} not terminated"
        i += 1
        opts.setdefault(key, []).append(value)
    for needed in ("msg", "sid", "rev"):
        assert len(opts.get(needed, [])) == 1, needed
    assert opts["sid"][0].isdigit() and opts["rev"][0].isdigit()
    return opts


def test_suricata_rules_are_strictly_valid(case: tuple[Store, int]) -> None:
    store, iid = case
    text = export(store, iid, "suricata", ttl="1d")
    rules = [x for x in text.splitlines() if x and not x.startswith("#")]
    parsed = [parse_suricata_rule(r) for r in rules]
    sids = [p["sid"][0] for p in parsed]
    assert len(sids) == len(set(sids))
    drops = [r for r in rules if r.startswith("drop ip ")]
    assert len(drops) == 3
    contents = [c for p in parsed for c in p.get("content", [])]
    assert "/default.ida?" in contents and "/winnt/system32/cmd.exe" in contents
    # the strict parser itself rejects broken rules
    for bad in ['alert http any any -> $HOME_NET any (msg:"a;b"; sid:1; rev:1;)',
                'alert http any any -> $HOME_NET any (msg:"x"; sid:1; rev:1)',
                'alert http any any -> 300.1.1.1 any (msg:"x"; sid:1; rev:1;)',
                'alert http any any -> $HOME_NET any (msg:"x"; rev:1;)']:
        with pytest.raises((AssertionError, ValueError)):
            parse_suricata_rule(bad)


def test_csv_is_formula_safe(store: Store, tmp_path: Path) -> None:
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("+1") == "'+1" and csv_cell("@x") == "'@x" and csv_cell("-2") == "'-2"
    assert csv_cell("198.51.100.1") == "198.51.100.1"
    alerts = [make_alert(0, "198.51.100.9", "nimda")]
    alerts = [a.__class__(**{**{f: getattr(a, f) for f in a.__slots__},
                              "family": "=cmd|' /C calc'!A0"}) for a in alerts]
    iid = store.create_incident("@SUM(1+1)")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts)])
    rows = list(csv.DictReader(io.StringIO(export(store, iid, "csv"))))
    assert len(rows) == 1
    assert rows[0]["family"].startswith("'=")
    assert rows[0]["incident"] == "'@SUM(1+1)"
    assert rows[0]["expires_at"].endswith("Z")
    for row in rows:
        for v in row.values():
            assert not v.startswith(("=", "+", "-", "@"))


def test_stix_bundle_round_trips(store: Store, tmp_path: Path) -> None:
    iid = store.create_incident("stix")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", synthetic_alerts(400, seed=2))])
    text = export(store, iid, "stix", ttl="3d")
    bundle = stix2.parse(text, allow_custom=False)
    by_type: dict[str, list[object]] = {}
    for o in bundle.objects:
        by_type.setdefault(o.type, []).append(o)
    assert {m.name for m in by_type["malware"]} == {"Code Red", "Code Red II", "Nimda"}
    cves = {v.external_references[0].external_id for v in by_type["vulnerability"]}
    assert {"CVE-2001-0500", "CVE-2000-0884", "CVE-2001-0333"} <= cves
    active = entries(store, iid)
    ip_inds = [i for i in by_type["indicator"] if "-addr:value" in i.pattern]
    assert len(ip_inds) == len(active) > 0
    assert any("LIKE '%/default.ida?NNNN" in i.pattern for i in by_type["indicator"])
    ids = {o.id for o in bundle.objects}
    for s in by_type["sighting"]:
        assert s.sighting_of_ref in ids and s.count >= 1
    rels = {r.relationship_type for r in by_type["relationship"]}
    assert rels == {"indicates", "exploits"}
    for r in by_type["relationship"]:
        assert r.source_ref in ids and r.target_ref in ids
    again = stix2.parse(bundle.serialize(), allow_custom=False)
    assert json.loads(again.serialize()) == json.loads(bundle.serialize())
    # stable ids across exports
    ids2 = {o.id for o in stix2.parse(export(store, iid, "stix")).objects if o.type != "bundle"}
    assert {o.id for o in bundle.objects} == ids2


def test_every_format_is_registered() -> None:
    assert set(EXPORTERS) == {"plain", "nftables", "iptables", "nginx", "apache", "suricata",
                              "csv", "stix", "misp"}


def test_two_incidents_export_without_clashing(case: tuple[Store, int], tmp_path: Path) -> None:
    store, iid = case
    other = store.create_incident("second case")
    ingest_paths(store, other, [write_jsonl(tmp_path / "b.jsonl",
                                            [make_alert(0, "198.51.100.9", "code-red")])])
    assert len(re.findall(rf"^:WORMSIGN-{iid} ", export(store, iid, "iptables"), re.M)) == 1
    assert f":WORMSIGN-{other} " in export(store, other, "iptables")
    sids_a = set(re.findall(r"sid:(\d+)", export(store, iid, "suricata")))
    sids_b = set(re.findall(r"sid:(\d+)", export(store, other, "suricata")))
    assert sids_a and sids_b and not sids_a & sids_b


def test_stix_objects_keep_their_created_time(case: tuple[Store, int]) -> None:
    import json as _json

    store, iid = case
    inc = store.get_incident(iid)
    first = _json.loads(export(store, iid, "stix", now=inc.created_at + 10))
    later = _json.loads(export(store, iid, "stix", now=inc.created_at + 5000))
    created_a = {o["id"]: o["created"] for o in first["objects"]}
    created_b = {o["id"]: o["created"] for o in later["objects"]}
    shared = set(created_a) & set(created_b)
    assert shared and all(created_a[k] == created_b[k] for k in shared)


def test_fast_uuid5_is_uuid5() -> None:
    import uuid

    from wormsign.incidents.stix import NAMESPACE, uuid5
    for name in ("", "1/indicator/src/198.51.100.7", "7/sighting/url/nimda/x", "é\u202e" * 30):
        assert uuid5(name) == str(uuid.uuid5(NAMESPACE, name))


def test_stix_is_written_piece_by_piece(store: Store, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from wormsign.incidents import stix
    from wormsign.incidents.exporters import stream

    iid = store.create_incident("stream")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", synthetic_alerts(300, seed=4))])
    monkeypatch.setattr(stix, "CHUNK", 7)
    pieces = list(stream(store, iid, "stix", ttl="3d"))
    objects = json.loads("".join(pieces))["objects"]
    # no piece holds more than 7 items (an entry's indicator, relationship, sighting: 3)
    assert len(pieces) > len(objects) // 21 > 3
    assert max(p.count('{"type": ') for p in pieces) <= 7 * 3
    bundle = stix2.parse("".join(pieces), allow_custom=False)
    assert len(bundle.objects) == len(objects)
