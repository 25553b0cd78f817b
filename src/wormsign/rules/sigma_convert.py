"""Sigma rules converted to SIEM queries through the installed pySigma backends.

``convert(text, "splunk")`` parses Sigma text (wormsign's export or any webserver rules) and
runs each rule through the backend, one result per rule: its queries, or why the backend
could not write it (a backend that cannot match case-sensitively refuses ``|cased``; one that
writes nothing for a rule is reported, never taken for an empty match).

Field names: Sigma's webserver names (``c-uri``, ``cs-method``, ...) are not what a SIEM stores.
:data:`FIELD_PIPELINES` maps them to the fields of Elastic's ECS (``url.original``,
``http.request.method``, ...) for the Elasticsearch backends and of Splunk's CIM *Web* data
model (``url``, ``http_method``, ...) for Splunk, applied by default for those targets
(``pipeline="none"`` keeps Sigma's names; any installed pySigma pipeline may be named instead).
Elasticsearch regular expressions (Lucene syntax) must match the whole value and know no
``(?i)``, ``\\d``, ``\\S`` or anchors, while Sigma's (PCRE) search within it: a rule with one
is converted as the backend writes it, with a warning to review the query.

A target whose backend is not installed raises :class:`~wormsign.errors.MissingExtraError` with
the one-line ``pip install`` hint (:data:`BACKEND_PACKAGES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wormsign.errors import MissingExtraError, WormsignError

__all__ = ["BACKEND_PACKAGES", "FIELD_PIPELINES", "Converted", "convert", "targets"]

#: Target name -> the PyPI package of its pySigma backend (for the install hint).
BACKEND_PACKAGES: dict[str, str] = {
    "splunk": "pysigma-backend-splunk",
    "splunk_spl2": "pysigma-backend-splunk",
    "elasticsearch": "pysigma-backend-elasticsearch",
    "lucene": "pysigma-backend-elasticsearch",
    "eql": "pysigma-backend-elasticsearch",
    "esql": "pysigma-backend-elasticsearch",
    "elastalert": "pysigma-backend-elasticsearch",
    "kusto": "pysigma-backend-kusto",
    "loki": "pysigma-backend-loki",
}
#: Friendly target names for pySigma backend ids.
ALIASES = {"elasticsearch": "lucene"}

_ECS = {"c-uri": "url.original", "c-uri-stem": "url.path", "c-uri-query": "url.query",
        "cs-method": "http.request.method", "c-useragent": "user_agent.original",
        "sc-status": "http.response.status_code", "cs-host": "url.domain",
        "cs-referrer": "http.request.referrer", "src_ip": "source.ip"}
_CIM = {"c-uri": "url", "c-uri-stem": "uri_path", "c-uri-query": "uri_query",
        "cs-method": "http_method", "c-useragent": "http_user_agent", "sc-status": "status",
        "cs-host": "site", "cs-referrer": "http_referrer", "src_ip": "src"}
#: wormsign's field pipelines: Sigma webserver field -> SIEM field.
FIELD_PIPELINES: dict[str, dict[str, str]] = {"ecs": _ECS, "cim": _CIM}
_DEFAULT_PIPELINE = {"lucene": "ecs", "eql": "ecs", "esql": "ecs", "elastalert": "ecs",
                     "splunk": "cim", "splunk_spl2": "cim"}
_ELASTIC = ("lucene", "elastalert", "esql", "eql")


@dataclass(frozen=True)
class Converted:
    """One Sigma rule converted: its queries, or ``error`` when the backend refused it;
    ``warning`` for a query to review."""

    name: str
    title: str
    queries: tuple[str, ...]
    error: str | None = None
    warning: str | None = None


def _plugins() -> Any:
    from sigma.plugins import InstalledSigmaPlugins

    return InstalledSigmaPlugins.autodiscover(include_validators=False)


def targets() -> list[str]:
    """The conversion targets whose backends are installed."""
    names = set(_plugins().backends)
    return sorted(names | {a for a, b in ALIASES.items() if b in names})


def _backend_class(target: str) -> Any:
    backend = ALIASES.get(target, target)
    found = _plugins().backends.get(backend)
    if found is None:
        package = BACKEND_PACKAGES.get(target)
        hint = (f"pip install {package}" if package else "install its pySigma backend: "
                "https://sigmahq.io/docs/digging-deeper/backends.html")
        raise MissingExtraError(f"no pySigma backend for target {target!r} ({hint}); "
                                f"installed: {', '.join(targets()) or 'none'}")
    return found


def _pipeline(target: str, pipeline: str | None) -> Any:
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation

    name = _DEFAULT_PIPELINE.get(ALIASES.get(target, target)) if pipeline is None else pipeline
    if name in (None, "none"):
        return None
    if name in FIELD_PIPELINES:
        mapping: dict[str | None, str | list[str]] = dict(FIELD_PIPELINES[name].items())
        items = [ProcessingItem(FieldMappingTransformation(mapping),
                                rule_conditions=[LogsourceCondition(category=cat)],
                                identifier=f"wormsign-{name}-{cat}")
                 for cat in ("webserver", "proxy")]
        return ProcessingPipeline(items=items, name=f"wormsign {name} webserver fields")
    found = _plugins().pipelines.get(name)
    if found is None:
        known = sorted(set(FIELD_PIPELINES) | set(_plugins().pipelines) | {"none"})
        raise WormsignError(f"no processing pipeline {name!r} (known: {', '.join(known)})")
    return found()


def _collection(text: str) -> Any:
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
        collection.resolve_rule_references()
    except (SigmaError, ValueError) as exc:
        raise WormsignError(f"not valid Sigma: {' '.join(str(exc).split())}") from exc
    return collection


def _correlated(collection: Any) -> dict[int, list[Any]]:
    """For each correlation rule (by ``id()``), the rules it counts."""
    from sigma.correlations import SigmaCorrelationRule

    return {id(r): [ref.rule for ref in r.rules or () if getattr(ref, "rule", None) is not None]
            for r in collection.rules if isinstance(r, SigmaCorrelationRule)}


def _has_regex(rule: Any) -> bool:
    from sigma.types import SigmaRegularExpression

    detections = getattr(getattr(rule, "detection", None), "detections", {})
    return any(isinstance(v, SigmaRegularExpression) for det in detections.values()
               for item in det.detection_items for v in getattr(item, "value", ()))


def _one(backend: Any, rule: Any, counted: bool, lucene: bool) -> Converted:
    from sigma.correlations import SigmaCorrelationRule
    from sigma.exceptions import SigmaError

    name = str(rule.name or rule.id or rule.title)
    if rule.errors:
        return Converted(name, str(rule.title), (), "; ".join(str(e) for e in rule.errors))
    try:
        if isinstance(rule, SigmaCorrelationRule):
            out = backend.convert_correlation_rule(rule)
        else:
            out = backend.convert_rule(rule)
    except (SigmaError, NotImplementedError, ValueError, TypeError) as exc:
        return Converted(name, str(rule.title), (), " ".join(str(exc).split()))
    queries = tuple(str(q) for q in out)
    if not queries and not counted:
        return Converted(name, str(rule.title), (), "the backend wrote no query for this rule")
    warn = None
    if lucene and _has_regex(rule):
        warn = ("Elasticsearch regular expressions must match the whole value and know no "
                "(?i), \\d, \\S or ^/$: review this query")
    return Converted(name, str(rule.title), queries, None, warn)


def convert(text: str, target: str, pipeline: str | None = None) -> list[Converted]:
    """Every rule in the Sigma ``text`` converted for ``target`` (one result per rule). A rule
    that a correlation counts has no query of its own (the correlation's query holds it),
    unless the backend cannot write the correlation: then it is converted alone."""
    cls = _backend_class(target)
    backend = cls(processing_pipeline=_pipeline(target, pipeline))
    collection = _collection(text)
    lucene = ALIASES.get(target, target) in _ELASTIC
    groups = _correlated(collection)
    counted = {id(b) for bases in groups.values() for b in bases}
    results = {id(r): _one(backend, r, id(r) in counted, lucene) for r in collection.rules}
    for r in collection.rules:  # a correlation the backend refused: its rules on their own
        if id(r) in groups and results[id(r)].error is not None:
            for base in groups[id(r)]:
                base._output = True  # pySigma's flag: the rule is a query of its own
                c = _one(backend, base, False, lucene)
                results[id(base)] = c if c.error is not None else Converted(
                    c.name, c.title, c.queries, None,
                    "converted without its correlation (burst), which the backend cannot write")
    return [results[id(r)] for r in collection.rules]
