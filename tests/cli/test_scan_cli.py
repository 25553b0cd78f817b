"""The ``wormsign scan`` command as a user runs it."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wormsign import __version__
from wormsign.cli.main import main
from wormsign.logs.synth import CODE_RED

LINE = '1.1.1.1 - - [19/Jul/2001:10:23:45 +0000] "GET {url} HTTP/1.0" 404 1 "-" "{ua}"\n'


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_contract_and_exit_status(sample_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["scan", "--json", str(sample_dir)], capsys)
    assert rc == 1
    d = json.loads(out)
    for key in ("files", "lines", "parsed", "skipped", "alerts", "families", "sources"):
        assert key in d
    for f in d["files"]:
        assert set(f) >= {"path", "format", "lines", "parsed", "skipped"}
        assert f["lines"] == f["parsed"] + f["skipped"]
    assert {f["format"] for f in d["files"]} == {"combined", "iis-w3c", "apache-error"}
    assert d["lines"] == sum(f["lines"] for f in d["files"])
    for fam in ("code-red", "code-red-ii", "nimda"):
        v = d["families"][fam]
        assert set(v) >= {"requests", "sources", "first_seen", "last_seen"}
        assert v["first_seen"] <= v["last_seen"]
    assert d["families"]["code-red"]["first_seen"].startswith("2001-07-19")
    s = d["sources"][0]
    assert set(s) >= {"ip", "family", "requests", "first_seen", "last_seen"}
    assert d["alerts"] == sum(v["requests"] for v in d["families"].values())


def test_nothing_found_is_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "clean.log"
    p.write_text(LINE.format(url="/index.html", ua="Mozilla/4.0") * 3)
    rc, out, _ = run(["scan", str(p)], capsys)
    assert rc == 0 and "No worm activity" in out


def test_alerts_are_ecs_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a.log"
    p.write_text(LINE.format(url="/index.html", ua="x") + LINE.format(url=CODE_RED, ua="-"))
    out = tmp_path / "alerts.jsonl"
    rc, _, _ = run(["scan", "-q", "--alerts", str(out), str(p)], capsys)
    assert rc == 1
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 1
    a = rows[0]
    assert a["@timestamp"] == "2001-07-19T10:23:45Z"
    assert a["source.ip"] == "1.1.1.1" and a["url.original"] == CODE_RED
    assert a["http.request.method"] == "GET" and a["http.response.status_code"] == 404
    assert a["rule.id"] == "code-red" and a["rule.name"]
    assert a["log.file.path"] == str(p) and a["log.file.line"] == 2


def test_csv_has_no_formula_injection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a.log"
    p.write_text('=cmd|calc!A1 - - [19/Jul/2001:10:23:45 +0000] "GET ' + CODE_RED + '" 404 1\n')
    out = tmp_path / "s.csv"
    _, stdout, _ = run(["scan", "--json", "--csv", str(out), str(p)], capsys)
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:2] == ["ip", "families"]
    # a client field that is not an address is a counted skip: it never reaches an export
    assert rows[1:] == []
    assert json.loads(stdout)["skipped"] == 1


def test_csv_has_one_row_per_source(sample_dir: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.csv"
    run(["scan", "--csv", str(out), str(sample_dir)], capsys)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    ips = [r["ip"] for r in rows]
    assert len(ips) == len(set(ips))
    nikto = [r for r in rows if "scanner" in r["families"].split(";")]
    assert nikto and len(nikto[0]["families"].split(";")) > 1


def test_terminal_output_has_no_control_characters(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # attacker text reaches the terminal through a file name and a skipped line (a client
    # field that is not an address is skipped, never shown as a source)
    p = tmp_path / "a\x1b[2J.log"
    p.write_bytes(b'1.1.1.1\x1b[2J - - [19/Jul/2001:10:23:45 +0000] "GET ' + CODE_RED.encode()
                  + b'" 404 1\n1.1.1.2 - - [19/Jul/2001:10:23:45 +0000] "GET '
                  + CODE_RED.encode() + b'" 404 1\n')
    rc, out, err = run(["scan", str(p)], capsys)
    assert rc == 1 and "\x1b" not in out + err and "\\x1b[2J" in out + err
    assert "1.1.1.2" in out and "1.1.1.1" not in out


def test_file_names_with_control_and_bidi_text(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # Sources are canonical addresses now; a file name still carries whatever it holds.
    p = tmp_path / "a\x1b[2J\u202e.log"
    p.write_bytes(b"junk\n" + LINE.format(url=CODE_RED, ua="-").encode())
    rc, out, err = run(["scan", str(p)], capsys)
    assert rc == 1 and "\x1b" not in out + err and "\\x1b[2J" in out
    assert "\u202e" not in out and "\\u202e" in out


def test_json_escapes_bidi_and_control_text(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x\u202egol.txt"
    p.write_bytes(b"junk\n" + LINE.format(url=CODE_RED, ua="-").encode())
    rc, out, _ = run(["scan", "--json", str(p)], capsys)
    d = json.loads(out)
    assert rc == 1 and "\u202e" not in out
    assert d["files"][0]["path"].endswith("x\\u202egol.txt")


def test_bad_lines_are_counted_and_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a.log"
    p.write_bytes(LINE.format(url="/", ua="x").encode() + b"junk\n\xff\xfe garbage\n"
                  + LINE.format(url=CODE_RED, ua="-").encode())
    _, out, _ = run(["scan", "--json", str(p)], capsys)
    f = json.loads(out)["files"][0]
    assert (f["lines"], f["parsed"], f["skipped"]) == (4, 2, 2)
    assert f["first_skipped_lines"] == [2, 3]
    _, out, _ = run(["scan", str(p)], capsys)
    assert "2 line(s) skipped (first: 2, 3)" in out


def test_broken_files_do_not_stop_the_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.log"
    good.write_text(LINE.format(url=CODE_RED, ua="-"))
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress((LINE.format(url="/", ua="x") * 2000).encode())[:-100])
    binary = tmp_path / "core"
    binary.write_bytes(bytes(range(256)) * 40)
    rc, out, err = run(["scan", "--json", str(cut), str(binary), str(good)], capsys)
    assert rc == 1  # as clamscan: a detection takes priority over the errors
    d = json.loads(out)
    assert d["alerts"] == 1
    assert [bool(f["error"]) for f in d["files"]] == [True, True, False]
    err_lines = [x for x in err.splitlines() if x]
    assert len(err_lines) == 2 and str(cut) in err_lines[0] and str(binary) in err_lines[1]
    assert "Traceback" not in err


def test_stdin_and_forced_format(tmp_path: Path) -> None:
    data = LINE.format(url=CODE_RED, ua="-").encode()
    r = subprocess.run([sys.executable, "-m", "wormsign", "scan", "--json", "--format",
                        "combined", "-"], input=data, capture_output=True, check=False)
    assert r.returncode == 1, r.stderr
    d = json.loads(r.stdout)
    assert d["files"][0]["path"] == "<stdin>" and d["families"]["code-red"]["requests"] == 1
    assert r.stderr == b""  # no progress bar when stderr is not a terminal


def test_broken_rule_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "r.yml"
    bad.write_text("- id: X!\n  title: t\n")
    rc, _, err = run(["scan", "--rules", str(bad), str(tmp_path)], capsys)
    assert rc == 2 and f"{bad}:1" in err and "Traceback" not in err


def test_rules_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["rules", "list"], capsys)
    assert rc == 0 and "code-red-ii" in out and "nimda" in out
    rc, out, _ = run(["rules", "show", "code-red"], capsys)
    assert rc == 0 and "CVE-2001-0500" in out and "MS01-033" in out
    rc, _, err = run(["rules", "show", "nope"], capsys)
    assert rc == 2 and "no rule" in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    assert "--alerts" in capsys.readouterr().out


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("pty")
    import os
    import pty

    p = tmp_path / "a.log"
    p.write_text(LINE.format(url="/", ua="x") * 50000)
    master, slave = pty.openpty()
    r = subprocess.run([sys.executable, "-m", "wormsign", "scan", "--json", str(p)],
                       stdout=subprocess.PIPE, stderr=slave, check=False, env={
                           **os.environ, "TERM": "xterm", "COLUMNS": "100"})
    os.close(slave)
    err = b""
    try:
        while chunk := os.read(master, 65536):
            err += chunk
    except OSError:
        pass
    os.close(master)
    assert r.returncode == 0 and b"scanning" in err
    r2 = subprocess.run([sys.executable, "-m", "wormsign", "scan", "-q", str(p)],
                        capture_output=True, check=False)
    assert r2.stderr == b""


def test_fast_alert_lines_equal_to_ecs(sample_dir: Path) -> None:
    from wormsign.detect.report import ecs_lines
    from wormsign.detect.scanner import scan_paths

    alerts = scan_paths([str(sample_dir)]).alerts
    assert [json.loads(x) for x in ecs_lines(alerts)] == [a.to_ecs() for a in alerts]


def test_errors_and_nothing_found_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "core"
    binary.write_bytes(bytes(range(256)) * 40)
    clean = tmp_path / "clean.log"
    clean.write_text(LINE.format(url="/", ua="x"))
    rc, _, err = run(["scan", str(binary), str(clean)], capsys)
    assert rc == 2 and str(binary) in err


def test_undecodable_file_names_do_not_break_outputs(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import os

    d = tmp_path / "logs"
    d.mkdir()
    name = os.path.join(os.fsencode(d), b"acc\xff\xfe.log")
    with open(name, "wb") as f:
        f.write(LINE.format(url=CODE_RED, ua="-").encode())
    out_alerts = tmp_path / "a.jsonl"
    rc, out, _ = run(["scan", "--json", "--alerts", str(out_alerts), str(d)], capsys)
    assert rc == 1
    d_json = json.loads(out)
    assert d_json["files"][0]["path"].endswith("acc\\xff\\xfe.log")
    row = json.loads(out_alerts.read_text(encoding="utf-8"))
    assert row["log.file.path"].endswith("acc\\xff\\xfe.log") and os.path.isabs(row["log.file.path"])


def test_ipv4_mapped_sources_are_written_as_ipv4(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a.log"
    p.write_text(LINE.format(url=CODE_RED, ua="-").replace("1.1.1.1", "::ffff:10.1.2.3"))
    out_alerts = tmp_path / "a.jsonl"
    run(["scan", "--alerts", str(out_alerts), str(p)], capsys)
    assert json.loads(out_alerts.read_text())["source.ip"] == "10.1.2.3"


def test_alerts_written_alongside_equal_the_serial_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from wormsign.cli import scan as scan_cli
    from wormsign.logs.synth import worm_heavy_lines

    p = tmp_path / "storm.log"
    p.write_text("".join(worm_heavy_lines(3000, seed=2)))
    serial, alongside = tmp_path / "serial.jsonl", tmp_path / "alongside.jsonl"
    rc1, out1, _ = run(["scan", "-q", "--json", "--alerts", str(serial), str(p)], capsys)
    forks: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(scan_cli, "BACKGROUND_ALERTS", 1)
    monkeypatch.setattr(scan_cli.threading, "active_count", lambda: 1)
    monkeypatch.setattr(os, "fork", fork)
    rc2, out2, _ = run(["scan", "-q", "--json", "--alerts", str(alongside), str(p)], capsys)
    assert forks and rc1 == rc2 == 1 and out1 == out2
    assert alongside.read_bytes() == serial.read_bytes() and serial.stat().st_size > 10_000
    if Path("/dev/full").exists():  # the child's write error: one line, exit status 2
        rc3, _, err = run(["scan", "-q", "--json", "--alerts", "/dev/full", str(p)], capsys)
        assert rc3 == 2 and len(forks) == 2
        assert err.strip() == "wormsign: error: /dev/full: cannot write: No space left on device"


def test_scan_process_ends_without_teardown_but_with_its_outputs(sample_dir: Path,
                                                                  tmp_path: Path) -> None:
    """A ``scan`` process leaves without the interpreter's teardown: its JSON (through a
    pipe), its alerts file and its exit status are those of the in-process command, and the
    ``atexit`` functions still run."""
    alerts = tmp_path / "alerts.jsonl"
    code = ("import atexit, sys\n"
            "atexit.register(print, 'atexit ran', file=sys.stderr)\n"
            "from wormsign.cli.main import main\n"
            "sys.argv[0] = 'wormsign'\n"
            "sys.exit(main())\n")
    r = subprocess.run([sys.executable, "-c", code, "scan", "-q", "--json", "--alerts",
                        str(alerts), str(sample_dir)], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 1, r.stderr
    assert "atexit ran" in r.stderr
    got = json.loads(r.stdout)
    written = alerts.read_bytes()
    alerts.unlink()
    r2 = subprocess.run([sys.executable, "-c", "import sys\nfrom wormsign.cli.main import main\n"
                         "sys.exit(main(sys.argv[1:]))", "scan", "-q", "--json", "--alerts",
                         str(alerts), str(sample_dir)], capture_output=True, text=True,
                        timeout=120, check=False)
    assert r2.returncode == 1 and json.loads(r2.stdout) == got
    assert alerts.read_bytes() == written and written.count(b"\n") == got["alerts"]


def test_leave_now_waits_for_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick exit is taken only when no other thread runs (the interpreter would wait
    for it); then the ``atexit`` functions run before the process ends."""
    from wormsign.cli import main as cli_main

    ran: list[str] = []

    class Left(Exception):
        pass

    def fake_exit(code: int) -> None:
        ran.append(f"exit {code}")
        raise Left

    monkeypatch.setattr(cli_main.os, "_exit", fake_exit)
    monkeypatch.setattr(cli_main.atexit, "_run_exitfuncs", lambda: ran.append("atexit"))
    monkeypatch.setattr(cli_main.threading, "active_count", lambda: 2)
    cli_main._leave_now(1)
    assert ran == []
    monkeypatch.setattr(cli_main.threading, "active_count", lambda: 1)
    with pytest.raises(Left):
        cli_main._leave_now(3)
    assert ran == ["atexit", "exit 3"]
