from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from wormsign.cli.main import main
from wormsign.errors import ConfigError
from wormsign.fleet.assess import assess
from wormsign.fleet.probe import check_url, load_probe_evidence, probe

from .fakeiis import fake_server


def test_iis_with_ida_mapping_is_recognised() -> None:
    with fake_server() as srv:
        (r,) = probe([srv.url + "/"], timeout=5)
    assert r.ida_reachable is True and r.verdict == "ida-reachable"
    assert r.banner == "Microsoft-IIS/5.0" and r.status == 200
    assert srv.paths == ["/", "/NULL.ida"]            # two plain GETs
    assert srv.requests == [("GET", "/"), ("GET", "/NULL.ida"), ("OPTIONS", "/")]  # no more
    assert any("IDQ" in e for e in r.evidence)


def test_unmapped_and_apache_are_not_reachable() -> None:
    with fake_server(mapped=False) as iis, \
            fake_server(banner="Apache/1.3.20", mapped=False) as apache:
        res = probe([iis.url, apache.url], timeout=5)
    assert [r.ida_reachable for r in res] == [False, False]
    assert res[1].banner == "Apache/1.3.20" and res[1].status == 404


def test_redirects_are_not_followed() -> None:
    with fake_server() as other, fake_server(redirect=None) as named:
        named.opts["redirect"] = other.url
        (r,) = probe([named.url], timeout=5)
    assert other.paths == []                          # never touched a host not named
    assert r.ida_reachable is False and r.status == 302


def test_concurrency_limit() -> None:
    with fake_server(delay=0.15) as srv:
        urls = [f"{srv.url}/site{i}" for i in range(6)]
        res = probe(urls, concurrency=2, timeout=5)
    assert all(r.ida_reachable for r in res)
    assert 1 <= srv.max_active <= 2
    assert sorted(srv.paths) == sorted([f"/site{i}/" for i in range(6)]
                                       + [f"/site{i}/NULL.ida" for i in range(6)])


def test_timeout_and_refused_are_errors_not_crashes() -> None:
    with fake_server(delay=1.5) as slow:
        (r,) = probe([slow.url], timeout=0.2)
    assert r.ida_reachable is None and r.verdict == "error" and "Timeout" in r.error
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (r2,) = probe([f"http://127.0.0.1:{port}"], timeout=2)
    assert r2.verdict == "error" and r2.error


def test_only_http_urls() -> None:
    for bad in ("ftp://127.0.0.1/", "file:///etc/passwd", "127.0.0.1", "http:///x"):
        with pytest.raises(ConfigError):
            check_url(bad)
    with pytest.raises(ConfigError):
        probe(["http://127.0.0.1:1/"], concurrency=0)
    with pytest.raises(ConfigError):
        probe(["http://127.0.0.1:1/"], timeout=0)
    assert check_url("http://127.0.0.1:8080/app/") == ("http://127.0.0.1:8080/app",
                                                       "127.0.0.1")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl command not available to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def _server_ctx(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def test_tls_verified_with_ca_file_and_refused_without(cert: tuple[Path, Path]) -> None:
    with fake_server(tls=_server_ctx(cert)) as srv:
        assert srv.url.startswith("https://")
        (ok,) = probe([srv.url], timeout=5, ca_file=str(cert[0]))
        (bad,) = probe([srv.url], timeout=5)
        (insecure,) = probe([srv.url], timeout=5, verify=False)
    assert ok.ida_reachable is True and ok.banner == "Microsoft-IIS/5.0"
    assert bad.verdict == "error" and ("SSL" in bad.error or "Connect" in bad.error)
    assert insecure.ida_reachable is True


def test_cli_probe_exit_codes_and_assess_evidence(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with fake_server() as iis, fake_server(mapped=False) as clean:
        assert main(["probe", "--json", iis.url]) == 1
        out = capsys.readouterr().out
        assert main(["probe", clean.url]) == 0
        assert "ida-not-reachable" in capsys.readouterr().out
    doc = json.loads(out)
    assert doc["results"][0]["verdict"] == "ida-reachable"
    assert main(["probe", "http://127.0.0.1:1"]) == 2
    capsys.readouterr()
    results = tmp_path / "probe.json"
    results.write_text(out)
    inv = tmp_path / "inv.csv"
    inv.write_text("host,software,version,patches\n127.0.0.1,IIS,5.0,none\n")
    ev = load_probe_evidence(str(results))
    rep = assess(str(inv), probes=ev, outbreak_source="closed-form")
    by = {v.id: v.status for v in rep.verdicts["127.0.0.1"]}
    assert by["MS01-033"] == "exploitable"
    assert main(["assess", str(inv), "--probe-results", str(results), "--json",
                 "--outbreak-model", "closed-form"]) == 1


def test_options_shows_webdav_without_sending_a_webdav_request() -> None:
    with fake_server(webdav=True) as dav, fake_server(webdav=False, mapped=False) as plain:
        on, off = probe([dav.url, plain.url], timeout=5)
    assert on.webdav is True and {"PROPFIND", "SEARCH", "LOCK"} <= set(on.dav_methods)
    assert any("DAV: 1, 2" in e for e in on.evidence)
    assert off.webdav is False and off.dav_methods == ()
    for srv in (dav, plain):        # only GET and OPTIONS ever reach the server
        assert {m for m, _ in srv.requests} == {"GET", "OPTIONS"}
    assert on.to_dict()["webdav"] is True and off.to_dict()["dav_methods"] == []


def test_dav_headers_as_apache_mod_dav_sends_them() -> None:
    from wormsign.fleet.probe import dav_from_headers

    on, methods, text = dav_from_headers(200, {"dav": "1,2", "allow": "OPTIONS,GET,HEAD,POST,"
                                               "DELETE,TRACE,PROPFIND,PROPPATCH,COPY,MOVE,LOCK,"
                                               "UNLOCK"})
    assert on and "PROPFIND" in methods and "SEARCH" not in methods and "DAV: 1,2" in text
    assert dav_from_headers(405, {})[0] is False


def test_webdav_probe_evidence_decides_ms03_007(tmp_path: Path) -> None:
    inv = tmp_path / "inv.csv"
    inv.write_text("host,software,version,patches\n127.0.0.1,IIS,5.0,MS01-044\n")
    results = tmp_path / "probe.json"
    with fake_server(webdav=True) as dav:
        results.write_text(json.dumps({"results": [r.to_dict() for r in probe([dav.url])]}))
    rep = assess(str(inv), probes=load_probe_evidence(str(results)),
                 outbreak_source="closed-form")
    v = {v.id: v for v in rep.verdicts["127.0.0.1"]}["MS03-007"]
    assert v.status == "exploitable" and any("WebDAV" in e for e in v.evidence)
    bare = assess(str(inv), outbreak_source="closed-form")
    assert {v.id: v.status for v in bare.verdicts["127.0.0.1"]}["MS03-007"] == "unknown"


def test_cli_probe_text_shows_webdav(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_server(webdav=True) as dav, fake_server(mapped=False) as plain:
        assert main(["probe", dav.url]) == 1
        assert "WebDAV: on" in capsys.readouterr().out
        assert main(["probe", plain.url]) == 0
        assert "WebDAV: off" in capsys.readouterr().out
