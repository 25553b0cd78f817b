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
from dataclasses import dataclass, field
from itertools import permutations, product
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
#: At most this many values of ``|contains|all`` on one field (every order is written out).
MAX_ALL_OF = 4
#: The request fields a field-less keyword is looked for in (access logs).
KEYWORD_FIELDS = ("url", "user_agent", "referer", "host")
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
    """The rules read from one Sigma file, those refused (one problem each), and warnings for
    what was read approximately (a keyword search as a search of the request's fields)."""

    rules: tuple[Rule, ...]
    refused: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()


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


@dataclass
class _Ctx:
    """What the condition walk needs: the document (for lines), whether the rule reads error
    logs, and the approximations it made (reported as warnings)."""

    doc: Any
    errlog: bool
    notes: list[str] = field(default_factory=list)


def _leaves(cond: Any, ctx: _Ctx) -> list[_Leaf]:
    """One Sigma value condition as leaves (ORed): one, or for a field-less keyword in an
    access log one per request text field."""
    from sigma.types import SigmaNumber, SigmaRegularExpression, SigmaString

    where = _where(cond, ctx.doc)
    fld = getattr(cond, "field", None)
    if fld is None:
        fields = ["message"] if ctx.errlog else list(KEYWORD_FIELDS)
        if not ctx.errlog:
            ctx.notes.append("a keyword (field-less) search is read as a search of the "
                             f"request's {', '.join(KEYWORD_FIELDS)} (not the whole log line)")
    else:
        ours = SIGMA_FIELDS.get(str(fld).lower())
        if ours is None:
            raise _Refused(f"field {fld!r} has no wormsign equivalent (known: "
                           f"{', '.join(sorted(SIGMA_FIELDS))})", where)
        fields = [ours]
    value = cond.value
    out = []
    for f in fields:
        if isinstance(value, SigmaRegularExpression):
            out.append(_regex_leaf(f, value))
        elif isinstance(value, SigmaString):
            lf = _string_leaf(f, value)
            if fld is None and lf.op != "re":  # a keyword is found anywhere in the text
                lf = _Leaf(lf.field, "contains", lf.values, lf.cased)
            out.append(lf)
        elif isinstance(value, SigmaNumber):
            out.append(_Leaf(f, "equals", (str(value.number),), False))
        else:
            raise _Refused(f"field {fld!r}: a {type(value).__name__} value (a modifier such as "
                           "cidr, exists, gt or fieldref) cannot be expressed in a wormsign "
                           "rule", where)
    return out


def _where(cond: Any, doc: Any) -> int | None:
    """The line of the detection item that ``cond`` came from."""
    item = getattr(cond, "parent", None)
    det = getattr(item, "parent", None)
    ident = getattr(getattr(det, "parent", None), "identifier", None)
    fld = getattr(item, "field", None)
    keys = ["detection"] + ([str(ident)] if ident else []) + ([str(fld)] if fld else [])
    return _line(doc, *keys)


def _dnf(node: Any, ctx: _Ctx) -> list[list[_Leaf]]:
    """``node`` (a parsed Sigma condition) as OR of ANDs of leaves."""
    from sigma.conditions import ConditionAND, ConditionNOT, ConditionOR

    if isinstance(node, ConditionNOT):
        raise _Refused("this 'not' cannot be expressed: wormsign rules take exclusions only "
                       "as 'selection and not filter' at the top of the condition",
                       _line(ctx.doc, "detection", "condition"))
    if isinstance(node, ConditionOR):
        out: list[list[_Leaf]] = []
        leaves = [a for a in node.args if not isinstance(a, (ConditionAND, ConditionOR,
                                                              ConditionNOT))]
        for group in _merge([lf for a in leaves for lf in _leaves(a, ctx)]):
            out.append([group])
        plain = {id(a) for a in leaves}  # by identity: pySigma values refuse mixed ==
        for a in node.args:
            if id(a) not in plain:
                out += _dnf(a, ctx)
        return _bounded(out, ctx.doc)
    if isinstance(node, ConditionAND):
        terms: list[list[_Leaf]] = [[]]
        for a in node.args:
            terms = _bounded([t + u for t, u in product(terms, _dnf(a, ctx))], ctx.doc)
        return terms
    return [[lf] for lf in _merge(_leaves(node, ctx))]


def _split(node: Any, ctx: _Ctx) -> tuple[list[list[_Leaf]], list[list[_Leaf]]]:
    """A parsed condition as (match, exclude) alternatives: ``A and not B and not C`` is
    match A, exclude B or C."""
    from sigma.conditions import ConditionAND, ConditionNOT

    if isinstance(node, ConditionNOT):
        raise _Refused("a condition that is only a 'not' cannot be expressed: a wormsign rule "
                       "needs something to match", _line(ctx.doc, "detection", "condition"))
    if not isinstance(node, ConditionAND):
        return _dnf(node, ctx), []
    pos = [a for a in node.args if not isinstance(a, ConditionNOT)]
    neg = [a.args[0] for a in node.args if isinstance(a, ConditionNOT)]
    if not pos:
        raise _Refused("a condition of only 'not's cannot be expressed: a wormsign rule needs "
                       "something to match", _line(ctx.doc, "detection", "condition"))
    terms: list[list[_Leaf]] = [[]]
    for a in pos:
        terms = _bounded([t + u for t, u in product(terms, _dnf(a, ctx))], ctx.doc)
    excl: list[list[_Leaf]] = []
    for a in neg:
        excl += _dnf(a, ctx)
    return terms, _bounded(excl, ctx.doc)


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


def _overlap(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` can share characters where both occur (one inside the other,
    or an end of one is a start of the other)."""
    return a in b or b in a or any(a.endswith(b[:k]) or b.endswith(a[:k])
                                   for k in range(1, min(len(a), len(b))))


def _both(a: str, b: str) -> list[str]:
    """Regular expressions whose union matches exactly the texts holding both ``a`` and
    ``b``: either order apart, or one of their overlaps (``ab`` + ``bc`` as ``abc``)."""
    if b in a or a in b:
        return [re.escape(a if b in a else b)]
    out = [re.escape(a) + ".*" + re.escape(b), re.escape(b) + ".*" + re.escape(a)]
    for x, y in ((a, b), (b, a)):
        out += [re.escape(x + y[k:]) for k in range(1, min(len(x), len(y)))
                if x.endswith(y[:k])]
    return out


def _all_of(leaves: list[_Leaf], where: int | None) -> _Leaf:
    """Single-value ``contains`` leaves on one field that must all hold (Sigma's
    ``|contains|all``) as one regular expression (RE2 has no look-ahead): two values in
    either order or overlapping; more values in every order, when no two can overlap."""
    vals = [lf.values[0] if leaves[0].cased else lf.values[0].lower() for lf in leaves]
    if len(vals) == 2:
        alts = _both(vals[0], vals[1])
    elif len(vals) <= MAX_ALL_OF and not any(_overlap(a, b) for i, a in enumerate(vals)
                                             for b in vals[i + 1:]):
        alts = [".*".join(re.escape(v) for v in p) for p in permutations(vals)]
    else:
        raise _Refused(f"{len(vals)} values that must all appear in {leaves[0].field!r} "
                       f"(more than two: at most {MAX_ALL_OF}, none overlapping another) cannot "
                       "be expressed without look-ahead", where)
    return _Leaf(leaves[0].field, "re", ("(?s:" + "|".join(alts) + ")",), leaves[0].cased)


def _conjunction(term: list[_Leaf], where: int | None) -> tuple[Condition, ...]:
    """Leaves ANDed, as conditions whose ``field|op|cased`` keys are distinct (a rule file
    says one conjunction as a mapping)."""
    groups: dict[tuple[str, bool], list[_Leaf]] = {}
    for lf in term:
        if lf.op == "contains" and len(lf.values) == 1:
            groups.setdefault((lf.field, lf.cased), []).append(lf)
    combined = {k: _all_of(v, where) for k, v in groups.items() if len(v) > 1}
    leaves: list[_Leaf] = []
    for lf in term:
        k = (lf.field, lf.cased)
        if k in combined and lf.op == "contains" and len(lf.values) == 1:
            if combined[k] not in leaves:
                leaves.append(combined[k])
        else:
            leaves.append(lf)
    seen: set[tuple[str, str, bool]] = set()
    out: list[Condition] = []
    for lf in leaves:
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
    trial = dict(d, match=_plain(custom["match"]), exclude=_plain(custom.get("exclude", [])))
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

    ctx = _Ctx(doc, _check_logsource(doc))
    sr = SigmaRule.from_dict(dict(doc))
    conditions = [c.parse() for c in sr.detection.parsed_condition]
    if len(conditions) == 1:
        terms, excl = _split(conditions[0], ctx)
    else:  # a list of conditions is their OR; exclusions only in a single one
        terms, excl = [t for c in conditions for t in _dnf(c, ctx)], []
    where = _line(doc, "detection")
    match = tuple(_conjunction(t, where) for t in _bounded(terms, doc))
    d = _wormsign_dict(doc, sr, match)
    if excl:
        d["exclude"] = _match_spec(tuple(_conjunction(t, where) for t in excl))
    d = _restored(doc, d, path)
    for note in dict.fromkeys(ctx.notes):
        problems.append(Problem(path, _line(doc), f"rule {str(sr.title)!r}: {note}",
                                severity="warning"))
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
    return SigmaImport(tuple(rules), tuple(p for p in problems if p.severity != "warning"),
                       tuple(p for p in problems if p.severity == "warning"))
