"""wormsign rules as Sigma rules (https://sigmahq.io): the field mapping and the export.

Sigma's ``webserver`` (and ``proxy``) log source names the fields of a request after the W3C
extended log format (Sigma taxonomy): a wormsign field maps to one of them
(:data:`FIELD_MAP`). Three wormsign fields have no Sigma equivalent, and the export says so in
each rule it writes, never silently:

- ``normalized`` and ``escaped`` are the URL *after* wormsign decodes it (repeated
  %-decoding, overlong UTF-8, ``\\xNN`` as ``%nn``). A SIEM holds only the URL as logged, so the
  condition is written on ``c-uri``: the rule then matches the plainly written attacks and misses
  the encoded ones (it finds fewer requests, never other ones). The rule gets
  ``status: experimental``, a sentence in its description and
  ``wormsign.approximations``.
- ``message`` (an error-log line) has no field in the webserver taxonomy: a rule whose every
  alternative reads it becomes a keyword search of ``product: apache, service: error`` logs;
  in a rule that also matches access logs, the error-log alternatives are left out (said the
  same way).
- A ``burst`` rule (Nimda: enough matching requests from one source within a window) becomes
  the per-request rule plus a Sigma *correlation* rule (``event_count`` of those requests per
  ``src_ip`` within the window, at least ``min_requests``). ``min_distinct``,
  ``max_other_share`` and ``require_version`` have no Sigma form: noted as approximations.

Each Sigma rule's ``id`` is a UUID derived from the wormsign rule id (:func:`sigma_id`), so
re-exporting gives the same ids and a SIEM can update rules in place; ``name`` is the wormsign
id, and the custom ``wormsign`` attribute keeps what Sigma has no key for (family, priority,
keywords), so that :mod:`wormsign.rules.sigma_import` reads an exported rule back as it was.
Severity maps to ``level`` one to one (the same five words).

The export is plain data and needs no pySigma; reading Sigma (:mod:`.sigma_import`) and
converting it to SIEM queries (:mod:`.sigma_convert`) do (the ``sigma`` extra).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from wormsign.rules.attack import Technique, techniques_of
from wormsign.rules.model import Condition, Rule, RulePack
from wormsign.rules.refs import cves, reference_urls

__all__ = ["FIELD_MAP", "SIGMA_NAMESPACE", "UNMAPPED_FIELDS", "SigmaExport", "export_pack",
           "export_rule", "sigma_id", "to_yaml"]

#: The namespace of :func:`sigma_id` (a fixed random UUID: never change it, or every exported
#: rule gets a new id in the SIEMs that hold them).
SIGMA_NAMESPACE = uuid.UUID("6c0f4a52-3d0e-4f7e-9b8a-2f1d5e7c9a31")

#: wormsign field -> Sigma webserver/proxy taxonomy field.
FIELD_MAP: dict[str, str] = {
    "url": "c-uri",
    "path": "c-uri-stem",
    "query": "c-uri-query",
    "method": "cs-method",
    "user_agent": "c-useragent",
    "status": "sc-status",
    "host": "cs-host",
    "referer": "cs-referrer",
}

#: wormsign fields with no Sigma field, and what the export does with them.
UNMAPPED_FIELDS: dict[str, str] = {
    "normalized": "the decoded URL: written on c-uri as logged, so encoded forms are missed",
    "escaped": "the URL with \\xNN as %nn: written on c-uri as logged, so the other "
               "escape form is missed",
    "message": "an error-log line: a keyword search of Apache error logs; left out of "
               "rules that also match access logs",
}

#: The client address in Sigma's webserver taxonomy (a correlation's group-by field).
SOURCE_FIELD = "src_ip"

#: Opens the paragraph of a description that lists the approximations.
APPROX_NOTE = "Not expressed in Sigma: "


@dataclass(frozen=True)
class SigmaExport:
    """One wormsign rule as Sigma documents: the rule, and a correlation rule after it for a
    burst rule. ``approximations`` says what the Sigma form cannot say (empty: exact)."""

    rule_id: str
    documents: tuple[dict[str, Any], ...]
    approximations: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return not self.approximations


def sigma_id(rule_id: str, kind: str = "") -> str:
    """The stable Sigma UUID of wormsign rule ``rule_id`` (``kind="burst"``: its
    correlation rule)."""
    return str(uuid.uuid5(SIGMA_NAMESPACE, f"{rule_id}/{kind}" if kind else rule_id))


def sigma_string(text: str) -> str:
    """``text`` as a Sigma string literal: ``*``, ``?`` and ``\\`` escaped."""
    return re.sub(r"([*?\\])", r"\\\1", text)


def _key_value(cond: Condition, field: str | None) -> tuple[str, Any]:
    """The Sigma ``field|modifiers`` key and value of one condition."""
    name = field or ""
    vals: list[Any]
    if cond.op == "re":
        mods = "|re" + ("" if cond.cased else "|i")
        vals = list(cond.values)
    else:
        mods = {"contains": "|contains", "startswith": "|startswith",
                "endswith": "|endswith", "equals": ""}[cond.op]
        if cond.cased:
            mods += "|cased"
        vals = [sigma_string(v) for v in cond.values]
        if field == "sc-status" and cond.op == "equals" and all(
                v.isdigit() and len(v) <= 3 for v in cond.values):
            vals = [int(v) for v in cond.values]
    return name + mods, vals[0] if len(vals) == 1 else vals


def _selections(conj: tuple[Condition, ...], notes: list[str]) -> list[dict[str, Any]]:
    """One conjunction as Sigma selection mappings (ANDed); a key used twice opens another."""
    maps: list[dict[str, Any]] = [{}]
    for c in conj:
        field = FIELD_MAP.get(c.field)
        if c.field in ("normalized", "escaped"):
            field = "c-uri"
            notes.append(f"'{c.field}' (the decoded URL) is matched on c-uri as logged, so "
                         "encoded forms of the request are not seen")
        key, value = _key_value(c, field)
        target = next((m for m in maps if key not in m), None)
        if target is None:
            target = {}
            maps.append(target)
        target[key] = value
    return maps


def _terms(conjs: list[tuple[Condition, ...]], prefix: str, det: dict[str, Any],
           notes: list[str]) -> str:
    """Selections named ``<prefix><i>[_<j>]`` added to ``det``; the condition that ORs them."""
    terms: list[str] = []
    for i, conj in enumerate(conjs):
        names = []
        for j, sel in enumerate(_selections(conj, notes)):
            name = f"{prefix}{i}" + (f"_{j}" if j else "")
            det[name] = sel
            names.append(name)
        terms.append(" and ".join(names))
    if len(terms) == 1:
        return terms[0]
    return " or ".join(f"({t})" if " and " in t else t for t in terms)


def _detection(rule: Rule, notes: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The Sigma ``detection`` and ``logsource`` of a rule's ``match`` and ``exclude``."""
    errlog = [c for c in rule.match if any(x.field == "message" for x in c)]
    access = [c for c in rule.match if not any(x.field == "message" for x in c)]
    excl = list(rule.exclude)
    if access:
        conjs, logsource = access, {"category": "webserver"}
        if errlog:
            notes.append(f"{len(errlog)} error-log alternative(s) (field 'message') are left "
                         "out: the webserver log source has no error-log message")
        if any(x.field == "message" for c in excl for x in c):
            excl = [c for c in excl if not any(x.field == "message" for x in c)]
            notes.append("error-log exclusions (field 'message') are left out, so the Sigma "
                         "rule also fires where they would veto it")
    else:
        conjs = [tuple(x for x in c if x.field == "message") for c in errlog]
        logsource = {"product": "apache", "service": "error"}
        notes.append("the error-log 'message' is a keyword search of Apache error logs (the "
                     "whole event; other servers' error logs are not covered)")
        if any(len(c) != len(e) for c, e in zip(conjs, errlog, strict=True)):
            notes.append("conditions beside the error-log message are left out")
        if excl:
            excl = []
            notes.append("the exclusions are left out of the error-log search")
    methods = rule.burst.methods if rule.burst is not None else ()
    if methods:  # only requests with the burst's methods count towards it
        conjs = [(*c, Condition("method", "equals", methods)) for c in conjs]
    det: dict[str, Any] = {}
    cond = _terms(conjs, "match", det, notes)
    if excl:
        neg = _terms(excl, "filter", det, notes)
        cond = f"({cond}) and not ({neg})" if " " in cond else f"{cond} and not ({neg})"
    det["condition"] = cond
    return det, logsource


def _tags(techniques: tuple[Technique, ...], cve_ids: list[str], worm: bool) -> list[str]:
    tags: list[str] = []
    for t in techniques:
        tags += [f"attack.{t.tactic.tag}", f"attack.{t.tag}"]
    tags += [f"cve.{c[4:].lower()}" for c in cve_ids]
    tags.append("detection.emerging-threats" if worm else "detection.threat-hunting")
    return list(dict.fromkeys(tags))


def _falsepositives(rule: Rule) -> list[str]:
    if rule.falsepositives:
        return list(rule.falsepositives)
    if rule.family == "scanner":
        return ["Authorised vulnerability scans"]
    return ["Unknown"]


def _burst_document(rule: Rule, notes: list[str]) -> dict[str, Any]:
    b = rule.burst
    assert b is not None
    notes.append(f"the burst is an event count per {SOURCE_FIELD} (at least "
                 f"{b.min_requests} within {b.within:g}s); min_distinct={b.min_distinct}, "
                 "max_other_share and require_version have no Sigma form")
    return {
        "title": f"{rule.title} (burst)",
        "id": sigma_id(rule.id, "burst"),
        "name": f"{rule.id}.burst",
        "status": "experimental",
        "description": f"At least {b.min_requests} requests matching {rule.id} from one "
                       f"source within {b.within:g} seconds.",
        "author": "wormsign",
        "correlation": {"type": "event_count", "rules": [rule.id], "group-by": [SOURCE_FIELD],
                        "timespan": f"{max(1, round(b.within))}s",
                        "condition": {"gte": b.min_requests}},
        "level": rule.severity,
    }


def export_rule(rule: Rule, worm: bool = False) -> SigmaExport:
    """``rule`` as Sigma documents (plain dicts: dump them with :func:`to_yaml`)."""
    notes: list[str] = []
    detection, logsource = _detection(rule, notes)
    techniques = techniques_of(rule.family, rule.attack)
    cve_ids = cves(rule.references)
    burst = _burst_document(rule, notes) if rule.burst is not None else None
    notes = list(dict.fromkeys(notes))
    description = rule.description or rule.title
    if notes:
        description += "\n\n" + APPROX_NOTE + "; ".join(notes) + "."
    custom: dict[str, Any] = {"family": rule.family, "priority": rule.priority}
    if rule.keywords:
        custom["keywords"] = list(rule.keywords)
    if rule.ambiguous:
        custom["ambiguous"] = list(rule.ambiguous)
    if notes:  # the rule as wormsign says it, for an exact import of this export
        custom["approximations"] = notes
        spec = rule.to_dict()
        custom["match"] = spec["match"]
        if "exclude" in spec:
            custom["exclude"] = spec["exclude"]
        if "burst" in spec:
            custom["burst"] = spec["burst"]
    doc: dict[str, Any] = {
        "title": rule.title,
        "id": sigma_id(rule.id),
        "name": rule.id,
        "status": "experimental" if notes else "test",
        "description": description,
        "references": reference_urls(rule.references),
        "author": "wormsign",
        "tags": _tags(techniques, cve_ids, worm),
        "logsource": logsource,
        "detection": detection,
        "falsepositives": _falsepositives(rule),
        "level": rule.severity,
        "wormsign": custom,
    }
    if not doc["references"]:
        del doc["references"]
    docs = (doc,) if burst is None else (doc, burst)
    return SigmaExport(rule.id, docs, tuple(notes))


def export_pack(pack: RulePack) -> list[SigmaExport]:
    """Every rule of ``pack`` (in pack order) as Sigma."""
    out = []
    for r in pack.rules:
        fam = pack.families.get(r.family)
        out.append(export_rule(r, worm=bool(fam is not None and fam.worm)))
    return out


class _Dumper(yaml.SafeDumper):
    """Block-style YAML; multi-line text as literal blocks."""


_BREAKS = frozenset("\x85\u2028\u2029\ufeff")


def _str_presenter(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style: str | None = None
    if any(ch in _BREAKS or not (ch.isprintable() or ch == "\n") for ch in text):
        style = '"'  # escaped: YAML folds NEL/LS/PS and would lose control characters
    elif "\n" in text:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(exports: Iterable[SigmaExport]) -> str:
    """The Sigma documents of ``exports`` as one multi-document YAML text."""
    docs = [d for e in exports for d in e.documents]
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                         width=100, explicit_start=True)
