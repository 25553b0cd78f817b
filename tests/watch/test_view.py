"""The live view and the plain output: counts per family, new sources, escaping."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from wormsign.detect.alert import Alert
from wormsign.watch.runner import WatchTotals
from wormsign.watch.view import LiveView, PlainOutput, Tally


def _alert(ip: str, family: str, url: str = "/default.ida?NNNN", line: int = 1) -> Alert:
    return Alert(timestamp=datetime(2001, 7, 19, 10, 0, tzinfo=UTC), source_ip=ip,
                 rule_id=family, rule_name=family, family=family, rule_family=family,
                 severity="critical", url=url, method="GET", status=404, user_agent=None,
                 host=None, file_path="/var/log/access.log", line=line, format="combined")


def test_tally_counts_requests_sources_and_the_last_minute() -> None:
    t = Tally()
    t.add([_alert("192.0.2.1", "code-red"), _alert("192.0.2.2", "code-red"),
           _alert("192.0.2.1", "code-red")], now=0)
    t.add([_alert("192.0.2.9", "nimda")], now=100)
    assert t.rows(now=100) == [("code-red", 3, 2, 0), ("nimda", 1, 1, 1)]
    assert [s[0] for s in t.new_sources] == ["192.0.2.1", "192.0.2.2", "192.0.2.9"]


def test_live_view_escapes_log_text() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    totals = WatchTotals()
    with LiveView("watch /var/log/\x1b[2J", totals, console=console) as view:
        view.alerts([_alert("192.0.2.1", "code-red\x1b]0;x\x07")])
        view.note("file\u202e.log: not a text log")
        totals.lines = 10
        view.tick()
    out = buf.getvalue()
    assert "\x07" not in out and "\u202e" not in out and "\x1b]0;" not in out
    assert "\\x1b" in out and "192.0.2.1" in out


def test_plain_output_is_one_escaped_line_per_alert() -> None:
    out, err = io.StringIO(), io.StringIO()
    PlainOutput(out, err).alerts([_alert("192.0.2.1", "code-red", url="/a\nb\x1b[31m", line=7),
                                  _alert("192.0.2.2", "nimda", line=8)])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "/var/log/access.log:7" in lines[0] and "\\x0a" in lines[0] and "\x1b" not in lines[0]
