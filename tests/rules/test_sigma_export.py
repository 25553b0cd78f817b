"""``rules export --format sigma``: every rule of every loaded pack is a Sigma rule that pySigma
parses, with ATT&CK tags, level, references and a stable id, and reads back as it was."""

from __future__ import annotations

import uuid

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.rules.loader import load_pack
from wormsign.rules.model import Condition, Rule
from wormsign.rules.sigma import (
    FIELD_MAP,
    UNMAPPED_FIELDS,
    export_pack,
    export_rule,
    sigma_id,
    to_yaml,
)

PACK = load_pack()  # every built-in pack: rule packs added later are checked as well


def _collection(text: str):  # type: ignore[no-untyped-def]
    collection = pytest.importorskip("sigma.collection", reason="pySigma (the sigma extra) "
                                     "is not installed").SigmaCollection
    return collection.from_yaml(text, collect_errors=True)


def test_every_rule_exports_as_valid_sigma() -> None:
    exports = export_pack(PACK)
    assert [e.rule_id for e in exports] == [r.id for r in PACK.rules]
    collection = _collection(to_yaml(exports))
    collection.resolve_rule_references()
    from sigma.rule import SigmaRule

    rules = [r for r in collection.rules if isinstance(r, SigmaRule)]
    by_name = {r.name: r for r in collection.rules}
    assert len(by_name) == len(collection.rules)
    for rule in PACK.rules:
        sr = by_name[rule.id]
        assert sr.errors == [], (rule.id, sr.errors)
        assert str(sr.id) == sigma_id(rule.id)
        assert sr.level is not None and sr.level.name.lower() == rule.severity
        tags = {f"{t.namespace}.{t.name}" for t in sr.tags}
        assert any(t.startswith("attack.t") for t in tags), rule.id
        assert any(t.startswith("attack.") and not t.startswith("attack.t") for t in tags)
        if "cve" in rule.references:
            assert {f"cve.{c[4:].lower()}" for c in rule.references["cve"]} <= tags
        assert sr.falsepositives
        source = sr.logsource
        assert source.category == "webserver" or (source.product, source.service) == (
            "apache", "error")
    assert len(rules) == len(PACK.rules)


def test_ids_are_stable_uuids_derived_from_the_rule_id() -> None:
    first = {e.rule_id: e.documents[0]["id"] for e in export_pack(PACK)}
    again = {e.rule_id: e.documents[0]["id"] for e in export_pack(load_pack())}
    assert first == again
    assert len(set(first.values())) == len(first)
    for rid, sid in first.items():
        assert uuid.UUID(sid).version == 5
        assert sid == str(uuid.uuid5(uuid.UUID("6c0f4a52-3d0e-4f7e-9b8a-2f1d5e7c9a31"), rid))


def test_code_red_carries_its_technique_cve_and_references() -> None:
    doc = export_rule(PACK.get("code-red"), worm=True).documents[0]  # type: ignore[arg-type]
    assert {"attack.t1190", "attack.initial-access", "cve.2001-0500"} <= set(doc["tags"])
    assert "https://www.cve.org/CVERecord?id=CVE-2001-0500" in doc["references"]
    assert any(r.endswith("/2001/ms01-033") for r in doc["references"])
    assert doc["detection"] == {"match0": {"c-uri|re": r"(?i:\.ida)[?+ ]N{20,}"},
                                "condition": "match0"}
    assert doc["level"] == "critical" and doc["status"] == "test"


def test_what_sigma_cannot_say_is_written_in_the_rule() -> None:
    """normalized/escaped, error-log alternatives and bursts are approximations: each such
    rule says so (status, description, wormsign.approximations), the exact ones do not."""
    for e in export_pack(PACK):
        rule = PACK.get(e.rule_id)
        assert rule is not None
        fields = {c.field for conj in rule.match for c in conj}
        derived = bool(fields & set(UNMAPPED_FIELDS)) or rule.burst is not None
        doc = e.documents[0]
        assert (not e.exact) == derived, e.rule_id
        assert (doc["status"] == "experimental") == derived
        assert ("Not expressed in Sigma" in doc["description"]) == derived
        assert ("approximations" in doc["wormsign"]) == derived
        if rule.burst is not None:
            corr = e.documents[1]["correlation"]
            assert corr["rules"] == [rule.id] and corr["group-by"] == ["src_ip"]
            assert corr["condition"] == {"gte": rule.burst.min_requests}
    nimda = next(e for e in export_pack(PACK) if e.rule_id == "nimda")
    assert any("min_distinct" in n for n in nimda.approximations)


def test_mapped_fields_are_the_sigma_webserver_names() -> None:
    assert FIELD_MAP["query"] == "c-uri-query" and FIELD_MAP["method"] == "cs-method"
    assert FIELD_MAP["user_agent"] == "c-useragent" and FIELD_MAP["status"] == "sc-status"


def _rule(field: str, op: str, values: tuple[str, ...], cased: bool = False) -> Rule:
    return Rule(id="t.one", title="t", family="web-attack", severity="high",
                match=((Condition(field, op, values, cased),),))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(FIELD_MAP)), st.sampled_from(["contains", "startswith",
                                                             "endswith", "equals"]),
       st.lists(st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s),
                min_size=1, max_size=3, unique=True), st.booleans())
def test_literal_values_survive_pysigma_whatever_they_hold(field: str, op: str,
                                                             values: list[str],
                                                             cased: bool) -> None:
    """``*``, ``?`` and backslashes in a value stay literal through Sigma's escaping: pySigma
    parses the export, and the import (from pySigma's parse) gives the same condition."""
    pytest.importorskip("sigma.collection", reason="pySigma (the sigma extra) is missing")
    from wormsign.rules.sigma_import import import_text

    rule = _rule(field, op, tuple(values), cased)
    text = to_yaml([export_rule(rule)])
    assert yaml.safe_load(text)["name"] == "t.one"
    back = import_text(text, "x.yml")
    assert back.refused == ()
    got = back.rules[0].match[0][0]
    if field == "status" and op == "equals" and all(v.isdigit() and len(v) <= 3
                                                    for v in values):
        values = [str(int(v)) for v in values]  # sc-status as Sigma numbers
    assert (got.field, got.op, got.values, got.cased) == (field, op, tuple(values), cased)


def test_import_and_convert_without_the_extra_give_the_pip_hint(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from wormsign.cli import main as cli

    monkeypatch.setattr(cli, "module_missing", lambda name: name == "sigma")
    for argv in (["rules", "import", "x.yml"], ["rules", "convert", "--target", "splunk"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "pip install 'wormsign[sigma]'" in err
    assert cli.main(["rules", "export", "-o", "/dev/null"]) == 0  # export needs no pySigma


EXCLUDING = """\
rules:
  - id: shell-probe
    title: /shell?cd probe, not from the monitoring host's agent
    family: web-attack
    severity: high
    match:
      - url|contains: /shell?cd+
      - url|re: '^/cgi-bin/.*;(?:wget|curl)'
    exclude:
      - user_agent|equals: internal-monitor/1.0
      - method|equals: HEAD
        status|equals: '404'
"""


def test_exclusions_round_trip_and_keep_their_meaning(tmp_path: pytest.TempPathFactory) -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from wormsign.logs.record import Request

    pytest.importorskip("sigma.collection", reason="pySigma (the sigma extra) is missing")
    from wormsign.rules.sigma_import import import_text

    f = Path(str(tmp_path)) / "x.yml"
    f.write_text(EXCLUDING)
    rule = load_pack([str(f)], builtin=False).get("shell-probe")
    assert rule is not None and len(rule.exclude) == 2
    doc = export_rule(rule).documents[0]
    assert doc["detection"]["condition"] == "(match0 or match1) and not (filter0 or filter1)"
    assert doc["status"] == "test"  # exclusions are exact in Sigma
    _collection(to_yaml([export_rule(rule)]))
    (back,) = import_text(to_yaml([export_rule(rule)]), "x.yml").rules
    when = datetime(2018, 5, 1, tzinfo=UTC)
    cases = [("GET", "/shell?cd+/tmp", "x", 200, True),
             ("GET", "/shell?cd+/tmp", "internal-monitor/1.0", 200, False),
             ("HEAD", "/shell?cd+/tmp", "x", 404, False),
             ("HEAD", "/shell?cd+/tmp", "x", 200, True),
             ("GET", "/index.html", "x", 200, False)]
    for method, url, ua, status, want in cases:
        req = Request(when, "192.0.2.1", method, url, status=status, user_agent=ua)
        assert rule.matches(req) is want, (method, url, ua, status)
        assert back.matches(req) is want, (method, url, ua, status)
