"""Knowledge base, configuration checks and verdicts for the worms after Code Red: WebDAV
(MS03-007), Slammer, Blaster, Sasser, Witty, Slapper (OpenSSL), Santy, AWStats, XML-RPC,
Log4Shell, the Mirai-family IoT holes. Configuration texts are synthetic, written as the
products write them; line numbers are looked up, never hard-coded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wormsign.fleet.assess import assess
from wormsign.fleet.audit import audit_text, sniff_config
from wormsign.fleet.inventory import read_csv_text
from wormsign.fleet.kb import load_kb
from wormsign.fleet.verdict import Judge, ProbeEvidence, Verdict, os_patches
from wormsign.fleet.versions import version_order

from .conftest import line_of

CVES = {"MS03-007": "CVE-2003-0109", "CVE-2002-0656": None, "CVE-2004-1315": None,
        "CVE-2005-0116": None, "CVE-2005-1921": None, "CVE-2021-44228": "GHSA-jfh8-c2jp-5v3q",
        "CVE-2021-45046": "GHSA-7rjr-3q55-vv33", "CVE-2018-10561": None,
        "CVE-2018-10562": None, "CVE-2017-17215": None, "CVE-2018-20062": None,
        "MS02-039": "CVE-2002-0649", "CVE-2004-0362": None, "MS03-026": "CVE-2003-0352",
        "MS04-011": "CVE-2003-0533"}


def _judge(row: str, audit_text_: str | None = None, probe: ProbeEvidence | None = None,
           ) -> dict[str, Verdict]:
    inv = read_csv_text("host,software,version,os,patches\n" + row + "\n")
    audit = audit_text(audit_text_, "cfg") if audit_text_ is not None else None
    return {v.id: v for v in Judge(load_kb()).judge(inv.hosts[0], audit, probe)}


def test_every_cve_of_the_later_worms_has_an_advisory_with_a_fix() -> None:
    kb = load_kb()
    for adv_id, alias in CVES.items():
        adv = kb.advisories[adv_id]
        if alias is not None:
            assert alias in adv.aliases
        assert adv.fix and adv.fixed_by and adv.references
        assert all(r.startswith("https://") for r in adv.references)
        for fid in adv.fixed_by:        # every fixing patch has a record
            assert kb.canonical_patch(fid) in kb.patches, (adv_id, fid)


def test_superseding_updates() -> None:
    kb = load_kb()
    assert kb.covering_chain(["MS03-039"], ["MS03-026"]) == ["MS03-039", "MS03-026"]
    assert kb.covering_chain(["KB824146"], ["MS03-026"]) == ["MS03-039", "MS03-026"]
    assert kb.covering_chain(["WIN2000-SP4"], ["MS03-007"]) == ["WIN2000-SP4", "MS03-007"]
    assert kb.covering_chain(["WIN2000-SP4"], ["MS03-026"]) is None   # SP4 predates it
    assert kb.covering_chain(["WINXP-SP2"], ["MS04-011"]) == ["WINXP-SP2", "MS04-011"]
    assert kb.covering_chain(["SQL2000-SP3"], ["MS02-039"]) == ["SQL2000-SP3", "MS02-039"]
    assert kb.covering_chain(["log4j-2.17.1"], ["log4j-2.16.0"]) == [
        "log4j-2.17.1", "log4j-2.17.0", "log4j-2.16.0"]
    assert os_patches("Windows XP Professional SP2") == ("WINXP-SP2",)


@pytest.mark.parametrize(("adv", "product", "version", "affected"), [
    ("CVE-2021-44228", "log4j-core", "2.0-beta9", True),
    ("CVE-2021-44228", "log4j-core", "2.0-beta8", False),
    ("CVE-2021-44228", "log4j-core", "2.14.1", True),
    ("CVE-2021-44228", "log4j-core", "2.15.0", False),
    ("CVE-2021-44228", "log4j-core", "2.12.2", False),
    ("CVE-2021-44228", "log4j-core", "2.3.1", False),
    ("CVE-2021-45046", "log4j-core", "2.15.0", True),
    ("CVE-2021-45046", "log4j-core", "2.16.0", False),
    ("CVE-2002-0656", "openssl", "0.9.6d", True),
    ("CVE-2002-0656", "openssl", "0.9.6e", False),
    ("CVE-2002-0656", "openssl", "0.9.7", False),
    ("CVE-2004-1315", "phpbb", "2.0.10", True),
    ("CVE-2004-1315", "phpbb", "2.0.11", False),
    ("CVE-2018-20062", "thinkphp", "5.0.22", True),
    ("CVE-2018-20062", "thinkphp", "5.1.31", False),
    ("CVE-2018-20062", "thinkphp", "5.2.0", False),
    ("MS02-039", "microsoft-sql-server", "8.00.194", True),
    ("MS02-039", "microsoft-sql-server", "8.00.760", False),
    ("MS03-007", "microsoft-iis", "5.0", True),
    ("MS03-007", "microsoft-iis", "6.0", False),
])
def test_affected_versions(adv: str, product: str, version: str, affected: bool) -> None:
    assert load_kb().advisories[adv].affects(product, version) is affected


def test_version_order() -> None:
    assert version_order("0.9.6d") < version_order("0.9.6e") < version_order("0.9.7")
    assert version_order("2.0-beta9") < version_order("2.0-rc1") < version_order("2.0")
    assert version_order("2.0") == version_order("2.0.0") < version_order("2.0.1")
    assert version_order("3.6.cca") < version_order("3.6.ccb")
    assert version_order("none") == ()


# --------------------------------------------------------------------------- WebDAV

IIS5_NO_DAV = """[/W3SVC/1/ROOT]
    AccessFlags                     : (INTEGER) 513
[HKLM\\SYSTEM\\CurrentControlSet\\Services\\W3SVC\\Parameters]
"DisableWebDAV"=dword:00000001
"""
IIS6_META = """<?xml version="1.0"?>
<configuration xmlns="urn:microsoft-catalog:XML_Metabase_V64_0">
<MBProperty>
<IIsWebService Location="/LM/W3SVC"
\tWebSvcExtRestrictionList="1,*.dll
\t\t0,C:\\WINDOWS\\system32\\inetsrv\\httpext.dll,0,WEBDAV,WebDAV
\t\t1,C:\\WINDOWS\\system32\\inetsrv\\asp.dll,0,ASP,Active Server Pages"
>
</IIsWebService>
</MBProperty>
</configuration>
"""
IIS7_DAV = """<configuration>
  <system.webServer>
    <modules>
      <add name="WebDAVModule" />
    </modules>
    <webdav>
      <authoring enabled="true" />
    </webdav>
  </system.webServer>
</configuration>
"""
APACHE_DAV = """ServerRoot /etc/httpd
LoadModule dav_module modules/mod_dav.so
LoadModule ssl_module modules/mod_ssl.so
<Location /dav>
    Dav On
</Location>
SSLProtocol all
"""


def test_webdav_switches_are_read_with_their_lines() -> None:
    a = audit_text(IIS5_NO_DAV, "iis5.txt")
    assert a.format == "adsutil" and a.webdav_off == line_of(IIS5_NO_DAV, "DisableWebDAV")
    m = audit_text(IIS6_META, "MetaBase.xml")
    assert m.format == "metabase" and m.webdav_off == line_of(IIS6_META, "httpext.dll")
    assert audit_text(IIS6_META.replace("0,C:", "1,C:"), "m").webdav_on is not None
    i = audit_text(IIS7_DAV, "applicationHost.config")
    assert i.webdav_on == line_of(IIS7_DAV, "authoring")
    off = IIS7_DAV.replace('enabled="true"', 'enabled="false"')
    assert audit_text(off, "a").webdav_off == line_of(off, "authoring")
    ap = audit_text(APACHE_DAV, "httpd.conf")
    rules = {f.rule: f.line for f in ap.findings}
    assert rules["webdav-enabled"] == line_of(APACHE_DAV, "Dav On")
    assert rules["sslv2-enabled"] == line_of(APACHE_DAV, "SSLProtocol")
    quiet = audit_text(APACHE_DAV.replace("SSLProtocol all", "SSLProtocol all -SSLv2"), "h")
    assert "sslv2-enabled" not in {f.rule for f in quiet.findings}


def test_ms03_007_verdicts_follow_webdav() -> None:
    row = "h,IIS,5.0,Windows 2000 SP3,MS01-044"
    assert _judge(row, IIS5_NO_DAV)["MS03-007"].status == "mitigated"
    on = _judge(row, IIS5_NO_DAV.replace("dword:00000001", "dword:00000000"))["MS03-007"]
    assert on.status == "exploitable"
    assert _judge(row)["MS03-007"].status == "unknown"
    probe = ProbeEvidence(False, "Microsoft-IIS/5.0", "probe of http://h/", webdav=True)
    assert _judge(row, None, probe)["MS03-007"].status == "exploitable"
    sp4 = _judge("h,IIS,5.0,Windows 2000 SP4,")["MS03-007"]
    assert sp4.status == "patched"


# --------------------------------------------------------------------------- Log4Shell

SETENV = """#!/bin/sh
CLASSPATH=/opt/app/lib/log4j-api-2.14.1.jar:/opt/app/lib/log4j-core-2.14.1.jar
CATALINA_OPTS="$CATALINA_OPTS -Dlog4j2.formatMsgNoLookups=true"
"""


def test_log4j_jar_and_nolookups_are_found_and_judged() -> None:
    assert sniff_config(SETENV) == "java"
    a = audit_text(SETENV, "setenv.sh")
    assert a.components["log4j-core"] == ("2.14.1", line_of(SETENV, "log4j-core-2.14.1"))
    assert a.nolookups == line_of(SETENV, "formatMsgNoLookups")
    v = _judge("app,Tomcat,9.0.54,Linux,", SETENV)
    shell = v["CVE-2021-44228"]
    # formatMsgNoLookups is evidence, never a mitigation (Apache withdrew it)
    assert shell.status == "exploitable"
    assert any("insufficient" in e for e in shell.evidence)
    assert any("log4j-core 2.14.1" in e for e in shell.evidence)
    fixed = _judge("app,Tomcat,9.0.54,Linux,", SETENV.replace("2.14.1", "2.17.1"))
    assert fixed["CVE-2021-44228"].status == "not-affected"
    gradle = "implementation 'org.apache.logging.log4j:log4j-core:2.15.0'\n"
    assert audit_text(gradle, "build.gradle").components["log4j-core"][0] == "2.15.0"
    assert _judge("app,Tomcat,9,Linux,", gradle)["CVE-2021-45046"].status == "exploitable"


def test_log4j_in_the_inventory_without_a_patch_list() -> None:
    v = _judge("svc,log4j-core,2.12.1,Linux,?")["CVE-2021-44228"]
    # in the range, but vendors backport fixes without changing the version: the patch
    # list decides, and the evidence says so
    assert v.status == "unknown"
    assert any("backport" in e for e in v.evidence)
    assert _judge("svc,log4j-core,2.12.1,Linux,none")["CVE-2021-44228"].status == \
        "exploitable"


# --------------------------------------------------------------------------- banners

def test_openssl_from_the_probe_banner() -> None:
    banner = "Apache/1.3.26 (Unix) mod_ssl/2.8.9 OpenSSL/0.9.6b"
    probe = ProbeEvidence(False, banner, "probe of https://h/")
    v = _judge("h,Apache,1.3.26,Red Hat Linux 7.3,", None, probe)["CVE-2002-0656"]
    assert v.status == "exploitable"
    assert "OpenSSL/0.9.6b" in v.evidence[0]
    vendor = _judge("h,Apache,1.3.26,Linux,openssl-0.9.6e", None, probe)["CVE-2002-0656"]
    assert vendor.status == "patched"
    new = ProbeEvidence(False, "Apache/1.3.27 (Unix) mod_ssl/2.8.12 OpenSSL/0.9.6g", "p")
    assert _judge("h,Apache,1.3.27,Linux,", None, new)["CVE-2002-0656"].status == \
        "not-affected"


def test_assess_json_carries_the_new_findings(tmp_path: Path) -> None:
    (tmp_path / "setenv.sh").write_text(SETENV)
    inv = tmp_path / "inv.csv"
    inv.write_text("host,software,version,patches,config\n"
                   "app,Tomcat,9.0.54,none,setenv.sh\n"
                   "db,Microsoft SQL Server,8.00.194,MS02-039,\n"
                   "pc,Windows,5.1,MS03-026,\n")
    doc = assess(str(inv), outbreak_source="closed-form").to_json()
    by = {h["host"]: {f["id"]: f["status"] for f in h["findings"]} for h in doc["hosts"]}
    assert by["app"]["CVE-2021-44228"] == "exploitable"
    assert by["db"]["MS02-039"] == "patched"
    assert by["pc"]["MS03-026"] == "patched" and by["pc"]["MS04-011"] == "exploitable"
    assert json.dumps(doc)     # still one JSON document


def test_components_from_the_inventory_and_from_nmap(tmp_path: Path) -> None:
    inv = read_csv_text("host,software,version,patches,components\n"
                        "h,Apache,1.3.26,none,mod_ssl/2.8.9 OpenSSL/0.9.6d\n")
    assert inv.hosts[0].components == (("mod-ssl", "2.8.9"), ("openssl", "0.9.6d"))
    v = {v.id: v for v in Judge(load_kb()).judge(inv.hosts[0], None)}["CVE-2002-0656"]
    assert v.status == "exploitable" and v.evidence[0].startswith("components: openssl 0.9.6d")
    xml = tmp_path / "scan.xml"
    xml.write_text('<?xml version="1.0"?>\n<nmaprun>\n<host><address addr="192.0.2.7" '
                   'addrtype="ipv4"/>\n<ports><port protocol="tcp" portid="443">'
                   '<state state="open"/>\n<service name="http" product="Apache httpd" '
                   'version="1.3.26" extrainfo="(Unix) mod_ssl/2.8.9 OpenSSL/0.9.6b" '
                   'tunnel="ssl"/></port></ports></host>\n</nmaprun>\n')
    rep = assess(str(xml), outbreak_source="closed-form")
    by = {v.id: v.status for v in rep.verdicts["192.0.2.7"]}
    # a scan says nothing about patches (or a vendor's backport): in the range, unknown
    assert by["CVE-2002-0656"] == "unknown"
