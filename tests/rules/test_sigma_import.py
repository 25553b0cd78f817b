"""``rules import``: Sigma webserver/proxy rules through pySigma into wormsign rules; what
cannot be expressed is refused with its reason, file and line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wormsign.logs.record import Request
from wormsign.rules.loader import load_pack
from wormsign.rules.sigma import export_pack, to_yaml

pytest.importorskip("sigma.collection", reason="pySigma (the sigma extra) is not installed")

from wormsign.rules.sigma_import import MAX_ALTERNATIVES, import_text

WHEN = datetime(2021, 12, 10, tzinfo=UTC)


def _req(url: str, method: str = "GET", ua: str | None = None, status: int = 200) -> Request:
    return Request(WHEN, "192.0.2.7", method, url, status=status, user_agent=ua)


def test_every_exported_rule_reads_back_as_it_was() -> None:
    pack = load_pack()
    result = import_text(to_yaml(export_pack(pack)), "export.yml")
    assert result.refused == ()
    back = {r.id: r for r in result.rules}
    assert set(back) == {r.id for r in pack.rules}
    for r in pack.rules:
        b = back[r.id]
        assert b.match == r.match, r.id
        assert (b.family, b.severity, b.priority, b.keywords, b.burst, b.ambiguous) == (
            r.family, r.severity, r.priority, r.keywords, r.burst, r.ambiguous), r.id
        assert b.title == r.title and b.description == r.description


GPON = """\
title: GPON router exploitation (diag_Form)
id: 0a1b2c3d-0000-4000-8000-000000000001
status: test
description: Command injection in GPON home routers.
references:
  - https://www.cve.org/CVERecord?id=CVE-2018-10562
tags:
  - attack.initial-access
  - attack.t1190
  - cve.2018-10562
logsource:
  category: webserver
detection:
  selection:
    cs-method: POST
    cs-uri-stem|contains: '/GponForm/diag_Form'
    cs-uri-query|contains:
      - 'images/'
      - 'dest_host='
  condition: selection
falsepositives:
  - Unknown
level: critical
"""


def test_a_webserver_rule_matches_what_sigma_says() -> None:
    result = import_text(GPON, "gpon.yml")
    assert result.refused == ()
    (rule,) = result.rules
    assert rule.id == "sigma-0a1b2c3d-0000-4000-8000-000000000001"
    assert rule.severity == "critical" and rule.attack == ("T1190",)
    assert rule.references["cve"] == ["CVE-2018-10562"]
    assert rule.matches(_req("/GponForm/diag_Form?images/", "POST"))
    assert rule.matches(_req("/gponform/DIAG_FORM?x&dest_host=`id`", "post"))  # no case
    assert not rule.matches(_req("/GponForm/diag_Form?images/", "GET"))
    assert not rule.matches(_req("/GponForm/diag_Form?style=1", "POST"))
    assert not rule.matches(_req("/index.html?images/", "POST"))


def test_wildcards_and_regex_flags() -> None:
    text = """\
title: wildcards
logsource: {category: proxy}
detection:
  a:
    c-uri|re: '^/Shell\\?cd'
  b:
    c-useragent: 'Hello*World?'
  c:
    c-uri|re|i: 'invokefunction'
  condition: 1 of them
level: high
"""
    result = import_text(text, "w.yml")
    assert result.refused == ()
    (rule,) = result.rules
    assert rule.matches(_req("/Shell?cd+/tmp"))
    assert not rule.matches(_req("/shell?cd+/tmp"))  # Sigma regexes keep case without |i
    assert rule.matches(_req("/x", ua="hello big world!"))
    assert not rule.matches(_req("/x", ua="hello big world!!"))
    assert rule.matches(_req("/index.php?s=/Index/\\think\\app/INVOKEFUNCTION"))
    assert rule.severity == "high" and rule.family == "sigma"


REFUSED = [
    ("logsource:\n  product: windows\n  category: process_creation\n", "sel:\n    a: b\n",
     "sel", "not a web server or proxy log", 4),
    ("logsource: {category: webserver}\n", "sel:\n    cs-cookie: x\n", "sel",
     "'cs-cookie' has no wormsign equivalent", 7),
    ("logsource: {category: webserver}\n", "sel:\n    c-uri|contains: x\n  f:\n"
     "    cs-method: GET\n", "sel or not f", "this 'not' cannot be expressed", 10),
    ("logsource: {category: webserver}\n", "f:\n    cs-method: GET\n", "not f",
     "only a 'not' cannot be expressed", 8),
    ("logsource: {category: webserver}\n", "sel:\n    c-uri|contains|all: [ab, bc, cd]\n",
     "sel", "cannot be expressed without look-ahead", 5),
    ("logsource: {category: webserver}\n", "sel:\n    c-ip|cidr: 10.0.0.0/8\n", "sel",
     "has no wormsign equivalent", 7),
    ("logsource: {category: webserver}\n", "sel:\n    sc-status|gt: 400\n", "sel",
     "cannot be expressed", 7),
]


@pytest.mark.parametrize(("logsource", "detection", "condition", "reason", "line"), REFUSED)
def test_what_cannot_be_expressed_is_refused_with_reason_and_line(
        logsource: str, detection: str, condition: str, reason: str, line: int) -> None:
    text = ("title: refused one\nid: 0a1b2c3d-0000-4000-8000-000000000002\nstatus: test\n"
            + logsource + "detection:\n  " + detection + f"  condition: {condition}\n"
            "level: low\n")
    result = import_text(text, "bad.yml")
    assert result.rules == ()
    (problem,) = result.refused
    assert reason in problem.message and "refused one" in problem.message
    assert problem.path == "bad.yml" and problem.line == line, (problem, text)


def test_selection_and_not_filter_is_an_exclusion() -> None:
    text = GPON.replace("  condition: selection", "  filter:\n    c-useragent|contains: "
                        "Nessus\n  condition: selection and not filter")
    result = import_text(text, "f.yml")
    assert result.refused == ()
    (rule,) = result.rules
    assert rule.exclude and rule.exclude[0][0].field == "user_agent"
    assert rule.matches(_req("/GponForm/diag_Form?images/", "POST", ua="curl"))
    assert not rule.matches(_req("/GponForm/diag_Form?images/", "POST", ua="Nessus SOAP"))


@pytest.mark.parametrize(("values", "hit", "miss"), [
    (["cmd=", "wget"], ["/a?cmd=x&wget", "/a?WGET&cmd=1"], ["/a?cmd=1", "/a?wget"]),
    (["ab", "bc"], ["/abc", "/bc-ab", "/ab/bc"], ["/ab", "/ac", "/b"]),  # overlap: abc
    (["abc", "b"], ["/xabcx"], ["/b", "/ac"]),  # one inside the other
    (["a1", "b2", "c3"], ["/c3b2a1", "/a1/b2/c3"], ["/a1b2", "/a1c3"]),
])
def test_contains_all_is_exact(values: list[str], hit: list[str], miss: list[str]) -> None:
    text = ("title: all\nlogsource: {category: webserver}\ndetection:\n  sel:\n"
            f"    c-uri|contains|all: {values}\n  condition: sel\nlevel: low\n")
    result = import_text(text, "all.yml")
    assert result.refused == ()
    (rule,) = result.rules
    assert all(rule.matches(_req(u)) for u in hit), hit
    assert not any(rule.matches(_req(u)) for u in miss), miss


def test_keywords_in_access_logs_search_the_request_fields_with_a_warning() -> None:
    text = ("title: log4shell keywords\nlogsource: {category: webserver}\ndetection:\n"
            "  keywords:\n    - '${jndi:ldap:/'\n  condition: keywords\nlevel: high\n")
    result = import_text(text, "k.yml")
    (rule,) = result.rules
    (warning,) = result.warnings
    assert "keyword" in warning.message and warning.line == 1
    assert rule.matches(_req("/", ua="${jndi:ldap://198.51.100.1/a}"))
    assert rule.matches(_req("/?x=${JNDI:LDAP://x}"))
    assert not rule.matches(_req("/index.html", ua="Mozilla/5.0"))


def test_one_bad_rule_does_not_stop_the_others() -> None:
    bad = GPON.replace("condition: selection", "condition: not selection").replace(
        "0000-000000000001", "0000-000000000009")
    result = import_text(GPON + "---\n" + bad, "two.yml")
    assert [r.id for r in result.rules] == ["sigma-0a1b2c3d-0000-4000-8000-000000000001"]
    lines = GPON.splitlines()
    second = len(lines) + 2  # after the "---" line
    assert len(result.refused) == 1
    assert result.refused[0].line == second + lines.index("  condition: selection")


def test_too_many_alternatives_are_refused() -> None:
    n = MAX_ALTERNATIVES + 1
    sels = "".join(f"  s{i}:\n    c-uri|contains: a{i}\n    cs-method|contains: m{i}\n"
                   for i in range(n))
    text = f"title: big\nlogsource: {{category: webserver}}\ndetection:\n{sels}" \
           "  condition: 1 of s*\nlevel: low\n"
    (problem,) = import_text(text, "big.yml").refused
    assert f"more than {MAX_ALTERNATIVES} alternatives" in problem.message


def test_a_foreign_correlation_is_refused_but_wormsigns_own_burst_is_read() -> None:
    pack = load_pack()
    text = to_yaml(export_pack(pack))
    assert import_text(text, "x.yml").refused == ()
    foreign = text.replace("name: nimda.burst", "name: somebody-elses")
    refused = import_text(foreign, "x.yml").refused
    assert len(refused) == 1 and "correlation" in refused[0].message


def test_an_edited_detection_wins_over_the_exported_match() -> None:
    text = to_yaml(export_pack(load_pack()))
    edited = text.replace("(?:^|/)cmd\\.exe", "(?:^|/)command\\.com", 1)  # the detection
    rule = next(r for r in import_text(edited, "x.yml").rules if r.id == "cmd-exe-access")
    assert rule.match[0][0].field == "url"  # Sigma's c-uri, not the exported 'normalized'
    assert rule.match[0][0].values == ("(?:^|/)command\\.com",)


def test_yaml_aliases_are_refused_before_pysigma_sees_them() -> None:
    text = "a: &x [1, 2]\nb: *x\n"
    (problem,) = import_text(text, "alias.yml").refused
    assert "alias" in problem.message.lower()


def test_error_log_keywords_are_the_message() -> None:
    text = """\
title: error log
logsource: {product: apache, service: error}
detection:
  keywords:
    - 'File does not exist*default.ida'
  condition: keywords
level: medium
"""
    (rule,) = import_text(text, "e.yml").rules
    req = Request(WHEN, "192.0.2.7", None, "", message="File does not exist: /www/default.ida")
    assert rule.matches(req)
    assert rule.match[0][0].field == "message"


def test_a_regex_re2_cannot_run_is_refused_with_its_reason() -> None:
    text = ("title: backref\nlogsource: {category: webserver}\ndetection:\n  sel:\n"
            "    c-uri|re: '(a+)\\1'\n  condition: sel\nlevel: low\n")
    result = import_text(text, "b.yml")
    assert result.rules == ()
    (problem,) = result.refused
    assert "RE2 cannot compile it" in problem.message and problem.path == "b.yml"


def test_deep_nesting_is_refused_not_a_crash() -> None:
    text = "title: deep\ndetection: " + "[" * 5000 + "]" * 5000 + "\n"
    result = import_text(text, "deep.yml")
    assert result.rules == () and len(result.refused) == 1
