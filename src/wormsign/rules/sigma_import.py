"""Sigma webserver/proxy rules read into wormsign rules (needs the ``sigma`` extra: pySigma).

A Sigma file is read with the same bounds as a wormsign rule file (no YAML aliases, bounded
size and depth: :mod:`wormsign.validation`), handed to pySigma, and each rule's condition is
rewritten as wormsign's ``match``: OR of ANDs of ``field|op`` conditions (disjunctive normal
form). A rule is *refused*, with the reason and the file and line of the part that cannot be
expressed, when it has

- a log source other than ``category: webserver``/``proxy`` or Apache/IIS/nginx access and
  error logs;
- a field with no wormsign equivalent (:data:`SIGMA_FIELDS` lists those that have one);
- ``not`` (wormsign rules have no negative condition), a field-less keyword search outside
  error logs (wormsign matches fields of a parsed request, not the raw line; in an error-log
  rule the keywords are the ``message``), or a modifier whose value is not a string, number or
  regular expression (``cidr``, ``exists``, ``gt``, field references, ...);
- a condition whose normal form has more than :data:`MAX_ALTERNATIVES` alternatives;
- a correlation (wormsign's ``burst`` is not Sigma's event counting, so it is not guessed).

Wildcards become ``contains``/``startswith``/``endswith`` where they sit only at the ends and
a regular expression otherwise; Sigma strings match without case as wormsign's do, Sigma
regular expressions with case unless ``|i``. A rule written by :mod:`wormsign.rules.sigma`
comes back as it was: id, family, priority and keywords from the custom ``wormsign``
attribute, and for an approximated rule its own ``match`` and ``burst`` when the Sigma
detection is still the exported one (an edited detection is read as Sigma says it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from typing import Any

import yaml

from wormsign.errors import Problem
from wormsign.rules.attack import TECHNIQUES
from wormsign.rules.loader import rule_from_dict
from wormsign.rules.model import SEVERITIES, Condition, Rule
from wormsign.rules.sigma import APPROX_NOTE, FIELD_MAP, export_rule
from wormsign.validation import LINE, LineDict, LineLoader

__all__ = ["MAX_ALTERNATIVES", "SIGMA_FIELDS", "SigmaImport", "import_text"]

#: Sigma field (lower case) -> wormsign field: the taxonomy's names and the W3C/IIS names
#: that published webserver rules use.
SIGMA_FIELDS: dict[str, str] = {v: k for k, v in FIELD_MAP.items()} | {
    "cs-uri": "url", "cs-uri-stem": "path", "cs-uri-query": "query", "c-uri-query": "query",
    "cs-user-agent": "user_agent", "cs-useragent": "user_agent", "useragent": "user_agent",
    "cs-referer": "referer", "cs-referrer": "referer", "r-dns": "host",
    "uri": "url", "url": "url", "method": "method", "status": "status",
}
MAX_ALTERNATIVES = 64
_LOGSOURCES = ({"category": "webserver"}, {"category": "proxy"})
_PRODUCTS = ("apache", "iis", "nginx")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class _Refused(Exception):
    """A part of a Sigma rule that wormsign cannot express (message, and where)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class SigmaImport:
    """The rules read from one Sigma file and those refused (one problem each)."""

    rules: tuple[Rule, ...]
    refused: tuple[Problem, ...]


@dataclass(frozen=True)
class _Leaf:
    """One Sigma field condition, possibly with several values (ORed)."""

    field: str
    op: str
    values: tuple[str, ...]
    cased: bool


def _documents(text: str, path: str) -> tuple[list[Any], list[Problem]]:
    try:
        docs = [d for d in yaml.load_all(text, Loader=LineLoader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        return [], [Problem(path, mark.line + 1 if mark else None, f"YAML syntax error: {what}")]
    except (ValueError, OverflowError, RecursionError, TypeError) as exc:
        return [], [Problem(path, None, f"invalid YAML value: {exc}")]
    return docs, []


def _line(doc: Any, *keys: str) -> int | None:
    """The line of ``doc[keys[0]][keys[1]]...`` (the deepest key found)."""
    line = doc.line if isinstance(doc, LineDict) else None
    node = doc
    for k in keys:
        if not isinstance(node, LineDict):
            break
        found = next((key for key in node if str(key) == k or str(key).split("|")[0] == k),
                     None)
        if found is None:
            break
        line = node.key_lines.get(found, line)
        node = node[found]
    return line


def _check_logsource(doc: Any) -> bool:
    """Whether the rule reads error logs (its keywords are the ``message``); refuses a log
    source wormsign does not read."""
    ls = doc.get("logsource") or {}
    if not isinstance(ls, dict):
        raise _Refused("logsource must be a mapping", _line(doc, "logsource"))
    plain = {k: str(v).lower() for k, v in ls.items() if k in ("category", "product",
                                                               "service")}
    if plain in _LOGSOURCES or plain.get("category") in ("webserver", "proxy"):
        return False
    if plain.get("product") in _PRODUCTS and plain.get("service", "access") in ("access",
                                                                               "error"):
        return plain.get("service") == "error"
    raise _Refused(f"log source {plain or ls!r} is not a web server or proxy log (wormsign "
                   "reads category webserver/proxy or Apache/IIS/nginx access and error logs)",
                   _line(doc, "logsource"))


def _string_leaf(field: str, value: Any) -> _Leaf:
    from sigma.types import SigmaCasedString, SpecialChars

    parts = list(value.s)
    cased = isinstance(value, SigmaCasedString)
    lead = bool(parts) and parts[0] == SpecialChars.WILDCARD_MULTI
    trail = len(parts) > 1 and parts[-1] == SpecialChars.WILDCARD_MULTI
    inner = parts[int(lead):len(parts) - int(trail)]
    if all(isinstance(p, str) for p in inner):
        text = "".join(str(p) for p in inner)
        op = {(True, True): "contains", (False, True): "startswith",
              (True, False): "endswith", (False, False): "equals"}[(lead, trail)]
        return _Leaf(field, op, (text,), cased)
    pattern = "".join(re.escape(p) if isinstance(p, str) else
                      (".*" if p == SpecialChars.WILDCARD_MULTI else ".") for p in parts)
    return _Leaf(field, "re", ("^" + pattern + r"\z",), cased)


def _regex_leaf(field: str, value: Any) -> _Leaf:
    from sigma.types import SigmaRegularExpressionFlag as Flag

    flags = value.flags or set()
    inline = ("s" if Flag.DOTALL in flags else "") + ("m" if Flag.MULTILINE in flags else "")
    pattern = value.regexp.original
    if inline:
        pattern = f"(?{inline}){pattern}"
    return _Leaf(field, "re", (pattern,), cased=Flag.IGNORECASE not in flags)


def _leaf(cond: Any, where: int | None, errlog: bool = False) -> _Leaf:
    from sigma.types import SigmaNumber, SigmaRegularExpression, SigmaString

    fld = getattr(cond, "field", None)
    if fld is None and errlog:
        fld = "message"
    if fld is None:
        raise _Refused("a keyword (field-less) search: wormsign rules match fields of the "
                       "parsed request, not the raw log line", where)
    ours = "message" if errlog and fld == "message" else SIGMA_FIELDS.get(str(fld).lower())
    if ours is None:
        raise _Refused(f"field {fld!r} has no wormsign equivalent (known: "
                       f"{', '.join(sorted(SIGMA_FIELDS))})", where)
    value = cond.value
    if isinstance(value, SigmaRegularExpression):
        return _regex_leaf(ours, value)
    if isinstance(value, SigmaString):
        return _string_leaf(ours, value)
    if isinstance(value, SigmaNumber):
        return _Leaf(ours, "equals", (str(value.number),), False)
    raise _Refused(f"field {fld!r}: a {type(value).__name__} value (a modifier such as cidr, "
                   "exists, gt or fieldref) cannot be expressed in a wormsign rule", where)


def _where(cond: Any, doc: Any) -> int | None:
    """The line of the detection item that ``cond`` came from."""
    item = getattr(cond, "parent", None)
    det = getattr(item, "parent", None)
    ident = getattr(getattr(det, "parent", None), "identifier", None)
    fld = getattr(item, "field", None)
    keys = ["detection"] + ([str(ident)] if ident else []) + ([str(fld)] if fld else [])
    return _line(doc, *keys)


def _dnf(node: Any, doc: Any, errlog: bool) -> list[list[_Leaf]]:
    """``node`` (a parsed Sigma condition) as OR of ANDs of leaves."""
    from sigma.conditions import ConditionAND, ConditionNOT, ConditionOR

    if isinstance(node, ConditionNOT):
        raise _Refused("'not' cannot be expressed: wormsign rules have no negative "
                       "conditions", _line(doc, "detection", "condition"))
    if isinstance(node, ConditionOR):
        out: list[list[_Leaf]] = []
        leaves = [a for a in node.args if not isinstance(a, (ConditionAND, ConditionOR,
                                                              ConditionNOT))]
        for group in _merge([_leaf(a, _where(a, doc), errlog) for a in leaves]):
            out.append([group])
        for a in node.args:
            if a not in leaves:
                out += _dnf(a, doc, errlog)
        return _bounded(out, doc)
    if isinstance(node, ConditionAND):
        terms: list[list[_Leaf]] = [[]]
        for a in node.args:
            terms = _bounded([t + u for t, u in product(terms, _dnf(a, doc, errlog))], doc)
        return terms
    return [[_leaf(node, _where(node, doc), errlog)]]


def _bounded(terms: list[list[_Leaf]], doc: Any) -> list[list[_Leaf]]:
    if len(terms) > MAX_ALTERNATIVES:
        raise _Refused(f"the condition has more than {MAX_ALTERNATIVES} alternatives once "
                       "written as OR of ANDs", _line(doc, "detection", "condition"))
    return terms


def _merge(leaves: list[_Leaf]) -> list[_Leaf]:
    """ORed leaves on the same field, operator and case as one leaf with several values."""
    groups: dict[tuple[str, str, bool], list[str]] = {}
    for lf in leaves:
        groups.setdefault((lf.field, lf.op, lf.cased), []).extend(lf.values)
    return [_Leaf(f, op, tuple(dict.fromkeys(v)), c) for (f, op, c), v in groups.items()]


def _as_re(lf: _Leaf) -> _Leaf:
    """A literal leaf as the equivalent regular expression (to AND two on one field)."""
    if lf.op == "re":
        return lf
    pre = "^" if lf.op in ("startswith", "equals") else ""
    post = r"\z" if lf.op in ("endswith", "equals") else ""
    return _Leaf(lf.field, "re", tuple(pre + re.escape(v) + post for v in lf.values), lf.cased)


def _conjunction(term: list[_Leaf], where: int | None) -> tuple[Condition, ...]:
    """Leaves ANDed, as conditions whose ``field|op|cased`` keys are distinct (a rule file
    says one conjunction as a mapping)."""
    seen: set[tuple[str, str, bool]] = set()
    out: list[Condition] = []
    for lf in term:
        key = (lf.field, lf.op, lf.cased)
        if key in seen:
            lf = _as_re(lf)
            key = (lf.field, lf.op, lf.cased)
            if key in seen:
                raise _Refused(f"two regular expressions on {lf.field!r} must both hold: "
                               "a rule mapping has one per field", where)
        seen.add(key)
        try:
            out.append(Condition(lf.field, lf.op, lf.values, lf.cased))
        except re.error as exc:
            raise _Refused(f"{lf.field}: {exc}", where) from None
    return tuple(out)


def _rule_id(doc: Any, sigma_rule: Any) -> str:
    name = str(doc.get("name") or "")
    if isinstance(doc.get("wormsign"), dict) and _ID.match(name):
        return name
    return f"sigma-{sigma_rule.id}" if sigma_rule.id else "sigma-" + re.sub(
        r"[^a-z0-9]+", "-", str(sigma_rule.title).lower()).strip("-")


def _match_spec(match: tuple[tuple[Condition, ...], ...]) -> list[dict[str, Any]]:
    return [{f"{c.field}|{c.op}" + ("|cased" if c.cased else ""): list(c.values) for c in conj}
            for conj in match]


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _restored(doc: Any, d: dict[str, Any], path: str) -> dict[str, Any]:
    """A rule exported by wormsign with approximations carries its own ``match`` (and
    ``burst``): take them back when the Sigma detection is still the one exported for them
    (an edited detection wins)."""
    custom = doc.get("wormsign")
    if not isinstance(custom, dict) or "match" not in custom:
        return d
    trial = dict(d, match=_plain(custom["match"]))
    if isinstance(custom.get("burst"), dict):
        trial["burst"] = _plain(custom["burst"])
    problems: list[Problem] = []
    rule = rule_from_dict(trial, path, problems)
    if rule is None or export_rule(rule).documents[0]["detection"] != _plain(doc["detection"]):
        return d
    return trial


def _wormsign_dict(doc: Any, sr: Any, match: tuple[tuple[Condition, ...], ...]) -> dict[str, Any]:
    custom = doc.get("wormsign") if isinstance(doc.get("wormsign"), dict) else {}
    level = str(sr.level.name).lower() if sr.level is not None else "medium"
    tags = [f"{t.namespace}.{t.name}" for t in sr.tags]
    attack = [t.split(".", 1)[1].upper() for t in tags
              if t.startswith("attack.t") and t.split(".", 1)[1].upper() in TECHNIQUES]
    cves = [f"CVE-{t[4:]}".upper() for t in tags if t.startswith("cve.")]
    refs: dict[str, Any] = {}
    if cves:
        refs["cve"] = cves
    if sr.references:
        refs["url"] = [str(r) for r in sr.references]
    description = str(sr.description or "").split("\n\n" + APPROX_NOTE)[0].strip()
    d: dict[str, Any] = {
        "id": _rule_id(doc, sr), "title": str(sr.title),
        "family": str(custom.get("family", "sigma")),
        "severity": level if level in SEVERITIES else "medium",
        "match": _match_spec(match), "priority": custom.get("priority", 50),
        "description": "" if description == str(sr.title) else description,
        "references": refs, "attack": attack,
        "falsepositives": [str(f) for f in sr.falsepositives or ()],
        LINE: _line(doc),
    }
    for key in ("keywords", "ambiguous"):
        if key in custom:
            d[key] = _plain(custom[key])
    return d


def _convert(doc: Any, path: str, problems: list[Problem]) -> Rule | None:
    from sigma.rule import SigmaRule

    errlog = _check_logsource(doc)
    sr = SigmaRule.from_dict(dict(doc))
    terms: list[list[_Leaf]] = []
    for cond in sr.detection.parsed_condition:
        terms += _dnf(cond.parse(), doc, errlog)
    where = _line(doc, "detection")
    match = tuple(_conjunction(t, where) for t in _bounded(terms, doc))
    d = _restored(doc, _wormsign_dict(doc, sr, match), path)
    return rule_from_dict(d, path, problems)


def _burst_of(doc: Any, rules: list[Rule]) -> bool:
    """Whether ``doc`` is the correlation that wormsign wrote for the burst of one of
    ``rules`` (read back as that rule's ``burst``)."""
    corr = doc.get("correlation")
    refs = corr.get("rules") if isinstance(corr, dict) else None
    return (isinstance(refs, list) and len(refs) == 1 and str(doc.get("name")) == f"{refs[0]}.burst"
            and any(r.id == refs[0] and r.burst is not None for r in rules))


def import_text(text: str, path: str) -> SigmaImport:
    """The Sigma rules in ``text`` (the file ``path``) as wormsign rules, and each rule that
    cannot be expressed as a problem with its reason and line."""
    from sigma.exceptions import SigmaError

    docs, problems = _documents(text, path)
    rules: list[Rule] = []
    correlations = []
    for doc in docs:
        if not isinstance(doc, dict):
            problems.append(Problem(path, None, "a Sigma document must be a mapping"))
            continue
        if "correlation" in doc:
            correlations.append(doc)
            continue
        title = str(doc.get("title", "?"))
        try:
            rule = _convert(doc, path, problems)
        except _Refused as exc:
            problems.append(Problem(path, exc.line or _line(doc),
                                    f"rule {title!r} refused: {exc}"))
            continue
        except (SigmaError, ValueError, TypeError, AttributeError, KeyError) as exc:
            problems.append(Problem(path, _line(doc), f"rule {title!r} is not valid Sigma: "
                                    f"{' '.join(str(exc).split())}"))
            continue
        if rule is not None:
            rules.append(rule)
    for doc in correlations:
        if not _burst_of(doc, rules):
            problems.append(Problem(path, _line(doc, "correlation"), f"rule "
                                    f"{str(doc.get('title', '?'))!r} refused: a correlation "
                                    "rule: wormsign's burst is not Sigma event counting and "
                                    "is not guessed"))
    return SigmaImport(tuple(rules), tuple(problems))
