"""``wormsign incident ...`` as a user runs it: the flow from evidence to report."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from pathlib import Path

import pytest

from incidents.helpers import assess_doc, synthetic_alerts, write_jsonl
from systemparts import pdf_unavailable
from wormsign.cli.main import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_incident_flow_from_alerts_to_report(store_url: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", store_url]
    alerts = synthetic_alerts(800, seed=9)
    jl = write_jsonl(tmp_path / "alerts.jsonl", alerts, ["not json"])
    assess = tmp_path / "assess.json"
    assess.write_text(json.dumps(assess_doc()))

    rc, out, _ = run(["incident", *db, "new", "web farm", "--allow", "198.51.0.0/24"], capsys)
    assert rc == 0
    iid = int(out.strip())

    rc, out, err = run(["incident", "ingest", str(iid), str(jl), str(assess), *db,
                        "--json"], capsys)
    assert rc == 0
    res = json.loads(out)
    assert res["added"] == 800 + 2 and res["skipped"] == 1
    assert [f["kind"] for f in res["files"]] == ["alerts", "assess"]
    assert res["files"][0]["errors"][0].startswith(f"{jl}:801:")
    rc, out, _ = run(["incident", "ingest", str(iid), str(jl), *db], capsys)
    assert rc == 0 and "unchanged since its last ingest" in out
    rc, out, _ = run(["incident", "ingest", str(iid), str(jl), "--reread", *db], capsys)
    assert rc == 0 and "0 added, 800 already present, 1 skipped" in out

    rc, out, _ = run(["incident", "show", str(iid), "--json", *db], capsys)
    s = json.loads(out)
    for key in ("incident", "totals", "families", "sources", "victims", "assets", "timeline",
                "tasks", "blocklist", "actions"):
        assert key in s
    assert s["totals"]["alerts"] == 800
    assert {f["family"] for f in s["families"]} == {a.family for a in alerts}
    total_tasks = s["tasks"]["progress"]["total"]
    assert total_tasks > 0 and s["tasks"]["progress"]["percent"] == 0.0

    rc, out, _ = run(["incident", "show", str(iid), *db], capsys)
    assert rc == 0 and "800 alerts" in out and "Tasks: 0.0 % done" in out

    rc, out, _ = run(["incident", "task", str(iid), "nimda/contain.block-sources",
                      "--status", "done", "--owner", "ana", "--note", "deployed", *db], capsys)
    assert rc == 0 and "done, owner ana" in out
    rc, out, _ = run(["incident", "tasks", str(iid), "--json", *db], capsys)
    t = json.loads(out)
    done = [x for x in t["items"] if x["status"] == "done"]
    assert len(done) == 1 and done[0]["owner"] == "ana" and "deployed" in done[0]["notes"]
    assert t["progress"]["percent"] == round(100 / total_tasks, 1)
    rc, _, err = run(["incident", "task", str(iid), "contain.block-sources", "--status",
                      "done", *db], capsys)
    assert rc == 2 and "ambiguous" in err

    outs = {}
    for fmt in ("plain", "nftables", "iptables", "nginx", "apache", "suricata", "csv", "stix"):
        path = tmp_path / f"block.{fmt}"
        rc, out, err = run(["incident", "export", str(iid), "--format", fmt, "--out",
                            str(path), "--ttl", "12h", *db], capsys)
        assert rc == 0 and out == "", err
        outs[fmt] = path.read_text()
    rows = list(csv.DictReader(io.StringIO(outs["csv"])))
    external = {a.source_ip for a in alerts if not a.source_ip.startswith(("10.", "198.51.0."))}
    assert {r["address"] for r in rows} == external
    assert not any(a.startswith("198.51.0.") for a in [r["address"] for r in rows])
    assert json.loads(outs["stix"])["type"] == "bundle"
    assert set(outs["plain"].split()) == external

    rc, out, _ = run(["incident", "blocklist", str(iid), "--json", *db], capsys)
    assert {e["address"] for e in json.loads(out)} == external

    html = tmp_path / "r.html"
    rc, out, err = run(["incident", "report", str(iid), "--html", str(html), *db], capsys)
    assert rc == 0 and html.read_text().startswith("<!DOCTYPE html>")

    rc, out, _ = run(["incident", "alerts", str(iid), "--family", "nimda", "--json", *db],
                     capsys)
    assert json.loads(out)["total"] == sum(1 for a in alerts if a.family == "nimda")

    rc, out, _ = run(["incident", "list", "--json", *db], capsys)
    assert [i["id"] for i in json.loads(out)] == [iid]
    rc, out, _ = run(["incident", "close", str(iid), *db], capsys)
    assert rc == 0
    rc, _, err = run(["incident", "ingest", str(iid), str(jl), *db], capsys)
    assert rc == 2 and "closed" in err
    rc, out, _ = run(["incident", "list", "--open", *db], capsys)
    assert out.strip() == "no incidents"


def test_plain_and_aggregated_export(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(tmp_path / "a.db")]
    alerts = synthetic_alerts(300, seed=3)
    run(["incident", "new", "agg", *db], capsys)
    run(["incident", "ingest", "1", str(write_jsonl(tmp_path / "a.jsonl", alerts)), *db],
        capsys)
    rc, out, err = run(["incident", "export", "1", "--format", "plain", *db], capsys)
    plain = {ipaddress.ip_address(x) for x in out.split()}
    # internal (RFC 1918) sources are never blocked
    external = {ip for ip in map(ipaddress.ip_address, (a.source_ip for a in alerts))
                if not ip.is_private}
    assert rc == 0 and external and plain == external, err
    rc, out, err = run(["incident", "export", "1", "--format", "plain", "--aggregate", *db],
                       capsys)
    blocks = [ipaddress.ip_network(x) for x in out.split()]
    assert rc == 0 and 0 < len(blocks) < len(plain), err
    # the blocks hold exactly the listed addresses, nothing more
    assert {a for b in blocks for a in b} == plain


@pytest.mark.skipif(pdf_unavailable() is not None, reason=pdf_unavailable() or "")
def test_pdf_report_from_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(tmp_path / "c.db")]
    run(["incident", "new", "pdf", *db], capsys)
    run(["incident", "ingest", "1", str(write_jsonl(tmp_path / "a.jsonl",
                                                     synthetic_alerts(50))), *db], capsys)
    rc, _, err = run(["incident", "report", "1", "--pdf", str(tmp_path / "r.pdf"), *db],
                       capsys)
    assert rc == 0 and "warning" not in err
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORMSIGN_DB", str(tmp_path / "env.db"))
    rc, out, _ = run(["incident", "new", "env"], capsys)
    assert rc == 0 and out.strip() == "1" and (tmp_path / "env.db").exists()
    for args, needle in ((["incident", "show", "42"], "no incident with id 42"),
                         (["incident", "ingest", "1", str(tmp_path / "nope")], "no such file"),
                         (["incident", "report", "1"], "--html"),
                         (["incident", "task", "1", "x"], "nothing to change"),
                         (["incident", "networks", "1", "300.0.0.0/8"], "not a network"),
                         (["incident", "blocklist", "1", "--ttl", "forever"], "duration")):
        rc, _, err = run(args, capsys)
        assert rc == 2, args
        assert needle in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    rc, _, err = run(["incident"], capsys)
    assert rc == 2 and "usage" in err


def test_ingest_exit_status_two_when_a_file_fails(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(tmp_path / "c.db")]
    run(["incident", "new", "x", *db], capsys)
    binary = tmp_path / "core.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    good = write_jsonl(tmp_path / "a.jsonl", synthetic_alerts(20))
    rc, out, err = run(["incident", "ingest", "1", str(binary), str(good), *db], capsys)
    assert rc == 2
    assert err.count("wormsign: error:") == 1 and str(binary) in err
    assert "20 added" in out


def test_feed_token_create_list_revoke(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from wormsign.incidents import Store
    db = ["--db", str(tmp_path / "feed.db")]
    rc, out, _ = run(["incident", *db, "new", "feeds"], capsys)
    iid = out.strip()
    rc, out, err = run(["incident", *db, "feed-token", iid, "--label", "edge-fw-1"], capsys)
    assert rc == 0 and "shown once" in err
    token = out.strip()
    assert len(token) >= 40 and "\n" not in token
    rc, out, _ = run(["incident", *db, "feed-token", iid, "--list", "--json"], capsys)
    [item] = json.loads(out)
    assert item["label"] == "edge-fw-1" and item["active"] and token not in out
    with Store.open(str(tmp_path / "feed.db")) as s:
        assert s.check_feed_token(int(iid), token)
    rc, out, _ = run(["incident", *db, "feed-token", iid, "--revoke", "edge-fw-1"], capsys)
    assert rc == 0 and "revoked feed token #1" in out
    with Store.open(str(tmp_path / "feed.db")) as s:
        assert not s.check_feed_token(int(iid), token)
    rc, out, err = run(["incident", *db, "feed-token", iid, "--revoke", "edge-fw-1"], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "no active feed token" in err
    rc, _, err = run(["incident", *db, "feed-token", "99"], capsys)
    assert rc == 2 and "no incident with id 99" in err
    rc, _, err = run(["incident", *db, "feed-token", iid, "--label", "bad\x1b[2Jlabel"], capsys)
    assert rc == 2 and "printable" in err


def test_ingest_copy_and_raw_log_after_alerts_add_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cr = "/default.ida?" + "N" * 224 + "%u9090%u6858%ucbd3%u7801%u9090%u00=a"
    lines = [f'198.51.100.{i % 7 + 1} - - [19/Jul/2001:12:00:{i % 60:02d} +0000] '
             f'"GET {cr} HTTP/1.0" 404 300 "-" "-"\n' for i in range(40)]
    lines += lines[:3]                               # three requests logged twice: stay six
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    log = tmp_path / "a" / "access.log"
    log.write_text("".join(lines))
    copy = tmp_path / "b" / "access.log.copy"
    copy.write_text("".join(lines))
    monkeypatch.chdir(tmp_path)
    alerts = tmp_path / "alerts.jsonl"
    rc, _, _ = run(["scan", "-q", "--alerts", str(alerts), "a/access.log"], capsys)
    assert rc in (0, 1)                               # 1: worms found
    db = ["--db", str(tmp_path / "case.db")]
    rc, out, _ = run(["incident", *db, "new", "content"], capsys)
    iid = out.strip()
    rc, out, _ = run(["incident", *db, "ingest", iid, str(alerts), "--json"], capsys)
    assert json.loads(out)["added"] == 43
    # The raw log (another spelling of its path), and its copy in another folder: nothing new.
    rc, out, _ = run(["incident", *db, "ingest", iid, str(log), str(copy), "--json"], capsys)
    res = json.loads(out)
    assert res["added"] == 0 and res["duplicates"] == 86
    rc, out, _ = run(["incident", *db, "show", iid, "--json"], capsys)
    assert json.loads(out)["totals"]["alerts"] == 43
    # Another server's log of the same requests, named as its own sensor, is its own evidence.
    rc, out, _ = run(["incident", *db, "ingest", iid, str(copy), "--reread", "--sensor",
                      "www2", "--json"], capsys)
    assert json.loads(out)["added"] == 43
