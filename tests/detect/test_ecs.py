"""Alerts as ECS: every field name, type and categorisation value checked against the ECS
field reference (a vendored subset of ECS 8.17.0's ``generated/ecs/ecs_flat.yml``: see
``data/ecs-8.17.0-subset.json`` for its source), on a real scan's output, both writers."""

from __future__ import annotations

import io
import ipaddress
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from wormsign.detect import scan_paths
from wormsign.detect.alert import ECS_VERSION, Alert
from wormsign.detect.report import ecs_lines, write_alerts

REFERENCE = json.loads((Path(__file__).parent / "data" / "ecs-8.17.0-subset.json").read_text())
FIELDS: dict[str, dict[str, Any]] = REFERENCE["fields"]
#: Keys wormsign writes that are not ECS fields: its own namespace, and the line number
#: (ECS has log.file.path but no line of the file).
CUSTOM = re.compile(r"^(wormsign\.[a-z_]+|log\.file\.line)$")
#: ECS keyword fields that wormsign fills with several values (Elasticsearch stores an
#: array in any field): a rule can cite several CVEs.
MULTI = {"vulnerability.id"}


@pytest.fixture(scope="module")
def documents(sample_dir: Path) -> list[dict[str, Any]]:
    report = scan_paths([str(sample_dir)])
    assert len(report.alerts) > 0
    fast = io.BytesIO()
    write_alerts(report, fast)
    docs = [json.loads(line) for line in fast.getvalue().decode().splitlines()]
    slow = [json.loads(line) for line in ecs_lines(list(report.alerts))]
    assert docs == slow  # the column writer and Alert.to_ecs agree
    return docs


def _check_value(name: str, value: Any) -> None:
    spec = FIELDS[name]
    array = "array" in spec["normalize"]
    if array:
        assert isinstance(value, list) and value, name
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not array:
        assert name in MULTI, f"{name} is not an array field in ECS"
    for v in values:
        if v is None:
            continue  # null: the field is absent (Elasticsearch indexes nothing)
        kind = spec["type"]
        if kind in ("keyword", "wildcard", "match_only_text", "text"):
            assert isinstance(v, str), name
        elif kind == "long":
            assert isinstance(v, int) and not isinstance(v, bool), name
        elif kind == "date":
            datetime.fromisoformat(v.replace("Z", "+00:00"))
        elif kind == "ip":
            ipaddress.ip_address(v)
        else:
            raise AssertionError(f"{name}: ECS type {kind} not checked here")


def test_every_field_is_ecs_with_its_ecs_type(documents: list[dict[str, Any]]) -> None:
    assert REFERENCE["ecs_version"] == ECS_VERSION
    for doc in documents:
        for name, value in doc.items():
            if CUSTOM.match(name):
                continue
            assert name in FIELDS, f"{name} is not in the ECS field reference"
            _check_value(name, value)


def test_categorisation_uses_allowed_values(documents: list[dict[str, Any]]) -> None:
    kinds = FIELDS["event.kind"]["allowed_values"]
    categories = FIELDS["event.category"]["allowed_values"]
    types = FIELDS["event.type"]["allowed_values"]
    for doc in documents:
        assert doc["ecs.version"] == ECS_VERSION
        assert doc["event.kind"] in kinds
        for cat in doc["event.category"]:
            assert cat in categories
            assert set(doc["event.type"]) <= set(categories[cat]), (cat, doc["event.type"])
        assert set(doc["event.type"]) <= set(types)
        assert doc["observer.type"]


def test_threat_and_vulnerability_fields(documents: list[dict[str, Any]]) -> None:
    seen_rules = set()
    for doc in documents:
        ids = doc["threat.technique.id"]
        assert all(re.fullmatch(r"T\d{4}", t) for t in ids)
        assert len(doc["threat.technique.name"]) == len(ids)
        assert len(doc["threat.tactic.name"]) == len(doc["threat.tactic.id"])
        assert all(re.fullmatch(r"TA\d{4}", t) for t in doc["threat.tactic.id"])
        for sub in doc.get("threat.technique.subtechnique.id", []):
            assert re.fullmatch(r"T\d{4}\.\d{3}", sub) and sub[:5] in ids
        assert doc["threat.framework"] == "MITRE ATT&CK"
        seen_rules.add(doc["rule.id"])
        if doc["rule.id"] in ("code-red", "code-red-ii"):
            assert doc["vulnerability.id"] == ["CVE-2001-0500"]
            assert doc["vulnerability.enumeration"] == "CVE"
            assert doc["threat.technique.id"] == ["T1190"]
            assert doc["threat.tactic.name"] == ["Initial Access"]
            assert doc["rule.reference"].startswith("https://www.cve.org/")
        if doc["rule.id"] == "crii-root-exe":
            assert doc["threat.technique.subtechnique.id"] == ["T1505.003"]
            assert doc["threat.tactic.id"] == ["TA0003"]
    assert "code-red" in seen_rules


def test_round_trip_and_old_output(documents: list[dict[str, Any]]) -> None:
    for doc in documents[:200]:
        assert Alert.from_ecs(doc).to_ecs() == doc
    new_keys = re.compile(r"^(ecs\.|event\.(category|type)|threat\.(technique|tactic|framework)"
                          r"|vulnerability\.|rule\.reference|observer\.)")
    old = {k: v for k, v in documents[0].items() if not new_keys.match(k)}
    alert = Alert.from_ecs(old)
    assert alert == Alert.from_ecs(documents[0])
    again = alert.to_ecs()
    assert again["threat.technique.id"]  # derived from the rule's family
    assert again["ecs.version"] == ECS_VERSION
