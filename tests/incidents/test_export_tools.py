"""Every blocklist format checked by its own tool over a store holding hostile values.

The store holds 150 good sources (IPv4 and IPv6, some in runs that aggregate into CIDR
blocks, IPv6 in upper case, an IPv4-mapped IPv6 source) beside source values that must never
reach a firewall: zone ids, newlines carrying ``table inet pwn {...}``, text, networks written
as a source. Each test asserts that the tool accepts the file, that a broken file is refused
(so the tool really checks), and that exactly the canonical good addresses appear.

A test skips, saying why, when its tool is missing or cannot run here (no permission).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import stix2

from wormsign.incidents import Store
from wormsign.incidents import schema as t
from wormsign.incidents.blocklist import refresh
from wormsign.incidents.exporters import export, render_blocklist

NOW = 1_000_000_000
Addr = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network

HOSTILE_SOURCES = [
    "2a00:1450:4001::1%x}",
    "fe80::1%eth0",
    "2a00::2%0",
    "198.51.100.250\ntable inet pwn { chain c { policy drop; } }",
    "198.51.100.251\r\n-A INPUT -j ACCEPT",
    "203.0.113.250 ",
    " 203.0.113.251",
    "203.0.113.0/24",
    "0.0.0.0/0",
    "::/0",
    "evil.example.com",
    '1.2.3.4"; drop',
    "\u202e198.51.100.252",
    "2001:db8::1\x7f",  # (PostgreSQL stores no NUL; the hostile suite has one)
    "",
    "=HYPERLINK(\"x\")",
    "}",
    "1.2.3.4 timeout 1s, 0.0.0.0/0",
]
HOSTILE_NAME = 'pwn"\n} table inet x { # \u202e =cmd'
HOSTILE_FAMILY = 'nimda"; }\ntable inet pwn {'


def good_sources() -> list[str]:
    """150 sources as they may be written, with runs that aggregate."""
    out = [f"198.51.100.{i}" for i in range(64)]                  # a /26
    out += [f"203.0.113.{i}" for i in range(1, 200, 5)]           # 40 scattered
    out += [f"2001:DB8:1::{i:x}" for i in range(32)]              # a /123, upper case
    out += [f"2001:db8:{i:x}::7" for i in range(2, 15)]           # 13 scattered
    out += ["::ffff:192.0.2.99"]                                  # IPv4-mapped
    assert len(out) == 150
    return out


def canonical(text: str) -> Addr:
    a = ipaddress.ip_address(text)
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return a.ipv4_mapped
    return a


EXPECTED: frozenset[str] = frozenset(str(canonical(s)) for s in good_sources())


@pytest.fixture
def hostile(store: Store) -> tuple[Store, int]:
    """An open incident whose evidence rollup holds the good and the hostile sources."""
    iid = store.create_incident(HOSTILE_NAME)
    rows = [{"incident_id": iid, "source_ip": s, "family": ("code-red", "nimda",
             HOSTILE_FAMILY)[i % 3], "internal": 0, "alerts": i + 1,
             "first_seen": NOW - 3600, "last_seen": NOW - 60}
            for i, s in enumerate(good_sources() + HOSTILE_SOURCES)]
    with store.begin() as conn:
        conn.execute(sa.insert(t.source_families), rows)
    got = refresh(store, iid, "7d", now=NOW)
    assert got["added"] == 150
    assert got["refused"] == len(HOSTILE_SOURCES)
    return store, iid


def _tool(name: str) -> str:
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None)
    if path is None and name == "suricata":
        pytest.skip("suricata is not installed (Debian 12 has no suricata package: install it "
                    "from bookworm-backports or suricata.io to run this check)")
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install the package .ci/run lists)")
    return path


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def _usable(cmd: list[str], probe: str, what: str, stdin: bool = True) -> None:
    """Skip, saying why, when ``cmd`` refuses even a trivially valid file ``probe``."""
    res = _run(cmd, probe) if stdin else _run(cmd)
    if res.returncode != 0:
        why = (res.stderr or res.stdout).strip().splitlines()
        pytest.skip(f"{what} cannot run here (no permission? needs CAP_NET_ADMIN): "
                    f"{why[0] if why else 'exit ' + str(res.returncode)}")


def _both(store: Store, iid: int, fmt: str) -> Iterator[tuple[bool, str]]:
    for agg in (False, True):
        yield agg, render_blocklist(store, iid, fmt, aggregated=agg, now=NOW).text


def _covered(found: list[str]) -> set[str]:
    """The addresses a list of addresses and CIDR blocks covers (every one must parse)."""
    out: set[str] = set()
    for x in found:
        net = ipaddress.ip_network(x)
        assert str(net.network_address) == x.split("/")[0] and "%" not in x
        out.update(str(a) for a in (net.hosts() if net.num_addresses > 2 else net))
        if net.num_addresses > 2:
            out.update({str(net.network_address), str(net.broadcast_address)})
    return out


def _assert_exact(found: list[str], aggregated: bool) -> None:
    assert len(found) == len(set(found))
    assert _covered(found) == EXPECTED
    if aggregated:
        assert "198.51.100.0/26" in found and "2001:db8:1::/123" in found
        assert len(found) < 150
    else:
        assert set(found) == EXPECTED


def _no_breakout(text: str) -> None:
    assert "pwn {" not in text and "%" not in text and "\u202e" not in text
    assert "\r" not in text and "\x00" not in text
    assert "0.0.0.0/0" not in text and "::/0" not in text and "203.0.113.0/24" not in text


def test_plain_feed_is_exactly_the_canonical_addresses(hostile: tuple[Store, int]) -> None:
    store, iid = hostile
    for agg, text in _both(store, iid, "plain"):
        _no_breakout(text)
        _assert_exact(text.splitlines(), agg)
    feed = render_blocklist(store, iid, "plain", now=NOW)
    assert feed.entries == 150 and feed.refused == len(HOSTILE_SOURCES)


def test_nft_accepts_the_hostile_blocklist(hostile: tuple[Store, int], tmp_path: Path) -> None:
    store, iid = hostile
    nft = _tool("nft")
    _usable([nft, "-c", "-f", "-"], "table inet wormsign_probe { }\n", "nft -c")
    for agg, text in _both(store, iid, "nftables"):
        _no_breakout(text)
        path = tmp_path / "block.nft"
        path.write_text(text)
        res = _run([nft, "-c", "-f", str(path)])
        assert res.returncode == 0, res.stderr[:2000]
        found = re.findall(r"^\s+([0-9a-f:./]+) timeout \d+s,?$", text, re.M)
        _assert_exact(found, agg)
        assert f"{len(HOSTILE_SOURCES)} stored source value(s) refused" in text
        path.write_text(text.replace(" timeout", " timeoutt", 1))
        assert _run([nft, "-c", "-f", str(path)]).returncode != 0


def test_iptables_restore_accepts_the_hostile_blocklist(hostile: tuple[Store, int]) -> None:
    store, iid = hostile
    ipt, ip6t = _tool("iptables-restore"), _tool("ip6tables-restore")
    probe = "*filter\n:WS-PROBE - [0:0]\nCOMMIT\n"
    _usable([ipt, "--test", "--noflush"], probe, "iptables-restore --test")
    _usable([ip6t, "--test", "--noflush"], probe, "ip6tables-restore --test")
    for agg, text in _both(store, iid, "iptables"):
        _no_breakout(text)
        res = _run([ipt, "--test", "--noflush"], text)
        assert res.returncode == 0, res.stderr[:2000]
        v6 = "".join(x[3:] + "\n" for x in text.splitlines() if x.startswith("#6 "))
        res6 = _run([ip6t, "--test", "--noflush"], v6)
        assert res6.returncode == 0, res6.stderr[:2000]
        rule = rf'^-A WORMSIGN-{iid} -s ([0-9a-f:./]+) -m comment --comment "[^"\n]*" -j DROP$'
        found = re.findall(rule, text, re.M) + re.findall(rule, v6, re.M)
        _assert_exact(found, agg)
        broken = text.replace(" -m comment", "%x} -m comment", 1)
        assert _run([ipt, "--test", "--noflush"], broken).returncode != 0


def test_nginx_accepts_the_hostile_blocklist(hostile: tuple[Store, int], tmp_path: Path) -> None:
    store, iid = hostile
    nginx = _tool("nginx")
    inc = tmp_path / "blocklist.conf"
    conf = tmp_path / "nginx.conf"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp};\n"
        f"  proxy_temp_path {tmp};\n  fastcgi_temp_path {tmp};\n  uwsgi_temp_path {tmp};\n"
        f"  scgi_temp_path {tmp};\n  server {{\n    listen 127.0.0.1:18931;\n"
        f"    location / {{\n      include {inc};\n    }}\n  }}\n}}\n")
    cmd = [nginx, "-t", "-q", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
           "-c", str(conf)]
    inc.write_text("deny 192.0.2.1;\n")
    _usable(cmd, "", "nginx -t", stdin=False)
    for agg, text in _both(store, iid, "nginx"):
        _no_breakout(text)
        inc.write_text(text)
        res = _run(cmd)
        assert res.returncode == 0, res.stderr[:2000]
        _assert_exact(re.findall(r"^deny ([0-9a-f:./]+);", text, re.M), agg)
        inc.write_text(text.replace("deny ", "deny: ", 1))
        assert _run(cmd).returncode != 0


def test_apache_accepts_the_hostile_blocklist(hostile: tuple[Store, int],
                                              tmp_path: Path) -> None:
    store, iid = hostile
    apache = shutil.which("apache2") or shutil.which("httpd") or (
        "/usr/sbin/apache2" if Path("/usr/sbin/apache2").exists() else None)
    if apache is None:
        pytest.skip("apache2 is not installed (apt-get install the package .ci/run lists)")
    mods = next((p for p in (Path("/usr/lib/apache2/modules"), Path("/usr/lib/httpd/modules"))
                 if (p / "mod_authz_host.so").exists()), None)
    if mods is None:
        pytest.skip("Apache's mod_authz_host.so is not installed")
    inc = tmp_path / "blocklist.conf"
    conf = tmp_path / "httpd.conf"
    load = "".join(f"LoadModule {m}_module {mods}/mod_{m}.so\n"
                   for m in ("mpm_event", "authz_core", "authz_host")
                   if (mods / f"mod_{m}.so").exists())
    conf.write_text(f"ServerRoot {tmp_path}\nServerName localhost\nListen 127.0.0.1:18932\n"
                    f"{load}PidFile {tmp_path}/httpd.pid\nErrorLog {tmp_path}/error.log\n"
                    f'<Location "/">\n  Include {inc}\n</Location>\n')
    cmd = [apache, "-t", "-f", str(conf)]
    inc.write_text("Require all granted\n")
    _usable(cmd, "", "apache2 -t", stdin=False)
    for agg, text in _both(store, iid, "apache"):
        _no_breakout(text)
        inc.write_text(text)
        res = _run(cmd)
        assert res.returncode == 0, res.stderr[:2000]
        _assert_exact(re.findall(r"^\s*Require not ip ([0-9a-f:./]+)$", text, re.M), agg)
        inc.write_text(text.replace("Require not ip", "Require not ipp", 1))
        assert _run(cmd).returncode != 0


SURICATA_YAML = """%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "[192.168.0.0/16]"
    EXTERNAL_NET: "!$HOME_NET"
  port-groups:
    HTTP_PORTS: "80"
default-rule-path: {dir}
rule-files: [blocklist.rules]
classification-file: {dir}/classification.config
reference-config-file: {dir}/reference.config
default-log-dir: {dir}
logging:
  outputs:
    - console:
        enabled: yes
"""
CLASSIFICATION = ("config classification: misc-attack,Misc Attack,2\n"
                  "config classification: web-application-attack,Web Application Attack,1\n")


def test_suricata_accepts_the_hostile_blocklist(hostile: tuple[Store, int],
                                                tmp_path: Path) -> None:
    store, iid = hostile
    suricata = _tool("suricata")
    (tmp_path / "classification.config").write_text(CLASSIFICATION)
    (tmp_path / "reference.config").write_text("config reference: cve http://cve.mitre.org/"
                                               "cgi-bin/cvename.cgi?name=\n")
    yaml = tmp_path / "suricata.yaml"
    yaml.write_text(SURICATA_YAML.format(dir=tmp_path))
    rules = tmp_path / "blocklist.rules"
    cmd = [suricata, "-T", "-c", str(yaml), "-S", str(rules), "-l", str(tmp_path)]
    rules.write_text('alert ip any any -> any any (msg:"probe"; sid:1; rev:1;)\n')
    _usable(cmd, "", "suricata -T", stdin=False)
    for agg, text in _both(store, iid, "suricata"):
        _no_breakout(text)
        rules.write_text(text)
        res = _run(cmd)
        assert res.returncode == 0, (res.stderr or res.stdout)[-2000:]
        _assert_exact(re.findall(r"^drop ip ([0-9a-f:./]+) any ", text, re.M), agg)
        rules.write_text(text.replace("; sid:", "; sidd:", 1))
        assert _run(cmd).returncode != 0


def test_suricata_rules_pass_the_strict_parser(hostile: tuple[Store, int]) -> None:
    """Where Suricata is not installed, the strict rule parser of test_exports still runs."""
    from incidents.test_exports import parse_suricata_rule

    store, iid = hostile
    for agg, text in _both(store, iid, "suricata"):
        _no_breakout(text)
        rules = [x for x in text.splitlines() if x and not x.startswith("#")]
        for r in rules:
            parse_suricata_rule(r)
        _assert_exact(re.findall(r"^drop ip ([0-9a-f:./]+) any ", text, re.M), agg)


def test_csv_holds_only_canonical_addresses_and_no_formula(hostile: tuple[Store, int]) -> None:
    store, iid = hostile
    for agg, text in _both(store, iid, "csv"):
        rows = list(csv.DictReader(io.StringIO(text)))
        _assert_exact([r["address"] for r in rows], agg)
        for r in rows:
            for v in r.values():
                assert not v.startswith(("=", "+", "-", "@"))
                assert not re.search(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]", v)
        assert rows[0]["incident"].startswith("pwn")


def test_stix_holds_only_canonical_addresses(hostile: tuple[Store, int]) -> None:
    store, iid = hostile
    text = export(store, iid, "stix", now=NOW, refresh_first=False)
    bundle = stix2.parse(text, allow_custom=False)
    found = [re.fullmatch(r"\[ipv[46]-addr:value = '([^']+)'\]", o.pattern).group(1)  # type: ignore[union-attr]
             for o in bundle.objects if o.type == "indicator" and "-addr:" in o.pattern]
    _assert_exact(found, False)
    for o in json.loads(text)["objects"]:
        assert "\u202e" not in json.dumps(o, ensure_ascii=False)
    agg = export(store, iid, "stix", now=NOW, refresh_first=False, aggregated=True)
    pats = [o.pattern for o in stix2.parse(agg, allow_custom=False).objects
            if o.type == "indicator"]
    assert "[ipv4-addr:value = '198.51.100.0/26']" in pats


def test_old_non_canonical_rows_are_refused_not_exported(store: Store) -> None:
    """Rows an older version wrote (zone ids, a newline) are counted and never exported,
    also when the incident is closed and nothing refreshes the blocklist."""
    iid = store.create_incident("legacy")
    bad = ["2a00:1450:4001::1%x}", "192.0.2.9\ntable inet pwn {}", "192.0.2.10 "]
    with store.begin() as conn:
        conn.execute(sa.insert(t.blocklist), [
            {"incident_id": iid, "address": a, "family": "nimda", "events": 1,
             "first_seen": NOW, "last_seen": NOW, "added_at": NOW, "expires_at": NOW + 99}
            for a in [*bad, "192.0.2.11"]])
    store.close_incident(iid)
    feed = render_blocklist(store, iid, "nftables", now=NOW)
    assert feed.refused == 3 and feed.entries == 1
    assert "192.0.2.11 timeout 99s" in feed.text and "pwn" not in feed.text
    assert "%" not in feed.text and "192.0.2.10" not in feed.text
    assert render_blocklist(store, iid, "plain", now=NOW).text == "192.0.2.11\n"
