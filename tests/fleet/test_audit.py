from __future__ import annotations

from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.fleet.audit import RULES, audit_file, audit_text, sniff_config

from .conftest import line_of


def rules(audit: object) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for f in audit.findings:  # type: ignore[attr-defined]
        out.setdefault(f.rule, []).append(f.line)
    return out


def test_formats_are_recognised(sample_mod: ModuleType) -> None:
    expect = {"iis5-default.txt": "adsutil", "iis4-lockdown.txt": "adsutil",
              "iis6-MetaBase.xml": "metabase", "iis7-applicationHost.config": "iis7",
              "httpd.conf": "apache", "nginx.conf": "nginx"}
    for name, fmt in expect.items():
        assert sniff_config(sample_mod.CONFIGS[name]) == fmt, name
    assert sniff_config("hello world\n") is None


def test_adsutil_default_install(sample: Path) -> None:
    path = sample / "configs" / "iis5-default.txt"
    text = path.read_text()
    a = audit_file(str(path))
    r = rules(a)
    assert r["mapping-ida"] == [line_of(text, '".ida,')]
    assert r["mapping-idq"] == [line_of(text, '".idq,')]
    assert r["mapping-printer"] == [line_of(text, '".printer,')]
    assert r["mapping-htr"] == [line_of(text, '".htr,')]
    assert len(r["executable-vdir"]) == 2
    assert set(a.exec_vdirs) == {"/Scripts", "/MSADC"}
    assert a.urlscan is None
    assert all(f.path == str(path) for f in a.findings)


def test_adsutil_lockdown_and_urlscan(sample_mod: ModuleType) -> None:
    locked = audit_text(sample_mod.CONFIGS["iis4-lockdown.txt"], "l.txt")
    assert ".ida" not in locked.mappings and not locked.exec_vdirs
    assert "mapping-ida" not in rules(locked)
    text = sample_mod.CONFIGS["iis5-urlscan.txt"]
    scan = audit_text(text, "u.txt")
    assert scan.urlscan == line_of(text, "UrlScan\"")


def test_adsutil_flags_and_browsing() -> None:
    text = ("[/w3svc/1/root/cgi]\nAccessFlags                     : (INTEGER) 5\n"
            "DirBrowseFlags                  : (INTEGER) 2147483678\n")
    a = audit_text(text, "x.txt")
    assert a.exec_vdirs == {"/cgi": 2}
    assert rules(a)["directory-browsing"] == [3]


def test_metabase(sample: Path) -> None:
    path = sample / "configs" / "iis6-MetaBase.xml"
    text = path.read_text()
    a = audit_file(str(path))
    r = rules(a)
    assert r["mapping-ida"] == [line_of(text, ".ida,")]
    assert r["mapping-idq"] == [line_of(text, ".idq,")]
    assert "executable-vdir" not in r and "directory-browsing" not in r


def test_application_host(sample: Path) -> None:
    path = sample / "configs" / "iis7-applicationHost.config"
    text = path.read_text()
    a = audit_file(str(path))
    r = rules(a)
    assert r["directory-browsing"] == [line_of(text, "<directoryBrowse")]
    assert r["verbose-banner"] == [line_of(text, 'name="X-Powered-By"')]
    assert r["executable-vdir"] == [line_of(text, 'accessPolicy="Read, Script, Execute"')]
    assert "/scripts" in a.exec_vdirs


def test_application_host_handlers_and_filtering() -> None:
    text = """<configuration><system.webServer>
<handlers>
<add name="IDA" path="*.ida" verb="*" modules="IsapiModule" />
<add name="PRN" path="*.printer" verb="*" modules="IsapiModule" />
<remove name="PRN" />
</handlers>
<security><requestFiltering><fileExtensions>
<add fileExtension=".ida" allowed="false" />
</fileExtensions></requestFiltering></security>
</system.webServer></configuration>
"""
    a = audit_text(text, "web.config")
    assert a.mappings == {".ida": 3}
    assert a.denied == {".ida": 8}
    assert "mapping-ida" not in rules(a)     # denied: no finding
    assert "mapping-printer" not in rules(a)  # removed


def test_xml_entities_refused() -> None:
    text = ('<?xml version="1.0"?>\n<!DOCTYPE c [<!ENTITY x "y">]>\n'
            "<configuration><system.webServer/>&x;</configuration>")
    a = audit_text(text, "evil.config", "iis7")
    assert a.error is not None and not a.findings


def test_apache(sample: Path) -> None:
    path = sample / "configs" / "httpd.conf"
    text = path.read_text()
    r = rules(audit_file(str(path)))
    assert line_of(text, "ServerTokens Full") in r["verbose-banner"]
    assert line_of(text, "ServerSignature On") in r["verbose-banner"]
    assert r["directory-browsing"] == [line_of(text, "Options Indexes")]
    a = audit_text("Listen 80\nScriptAlias /scripts/ /x/\nAddHandler isapi-handler .ida\n"
                   "ServerTokens Prod\n# Options Indexes\n", "h.conf")
    assert a.exec_vdirs == {"/scripts": 2} and a.mappings == {".ida": 3}
    assert "verbose-banner" not in rules(a) and "directory-browsing" not in rules(a)


def test_nginx(sample: Path) -> None:
    path = sample / "configs" / "nginx.conf"
    text = path.read_text()
    r = rules(audit_file(str(path)))
    assert r["directory-browsing"] == [line_of(text, "autoindex on")]
    assert "verbose-banner" not in r
    a = audit_text("http {\n server {\n  location /scripts/ {\n   fastcgi_pass 127.0.0.1:9000;"
                   "\n  }\n  location ~ \\.ida$ { fastcgi_pass x; }\n }\n}\n", "n.conf", "nginx")
    assert a.exec_vdirs == {"/scripts": 3} and ".ida" in a.mappings
    assert "verbose-banner" in rules(a)      # server_tokens default is on


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    a = audit_file(str(tmp_path / "absent.txt"))
    assert a.error and "cannot read" in a.error
    (tmp_path / "odd.txt").write_text("nothing to see\n")
    assert audit_file(str(tmp_path / "odd.txt")).error == "unrecognised configuration format"


def test_ida_mapping_severity_follows_the_platform(sample: Path) -> None:
    iis5 = audit_file(str(sample / "configs" / "iis5-default.txt"))
    iis6 = audit_file(str(sample / "configs" / "iis6-MetaBase.xml"))
    assert {f.severity for f in iis5.findings if f.rule == "mapping-ida"} == {"error"}
    assert {f.severity for f in iis6.findings if f.rule == "mapping-ida"} == {"warning"}


_PIECES = ["[/w3svc/1/root/scripts]\n", "ScriptMaps : (LIST) (2 Items)\n", '  ".ida,x,7"\n',
           "AccessFlags : (INTEGER) 0x204\n", "AccessExecute : (BOOLEAN) True\n",
           "<configuration>", "</configuration>", "<handlers>", '<add path="*.ida"/>',
           "<location path=\"a/b\">", "</location>", "<IIsWebService ScriptMaps=\".ida,x\">",
           "Options Indexes\n", "ScriptAlias /scripts/ x\n", "server {", "}", ";",
           "location /msadc/ {", "fastcgi_pass x;", "autoindex on;", "\x00", "\n", "\"", "#"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30),
       st.sampled_from([None, "adsutil", "metabase", "iis7", "apache", "nginx"]))
def test_audit_never_crashes(pieces: list[str], fmt: str | None) -> None:
    a = audit_text("".join(pieces), "x.cfg", fmt)
    for f in a.findings:
        assert f.line >= 1 and f.path == "x.cfg" and f.rule in RULES
