"""Rule and family records.

A rule says which requests it matches (``match``: fields, operators, values; ``exclude``:
alternatives that veto a match), what it means (``family``, ``severity``, ``references``,
ATT&CK ``attack`` techniques) and which literal ``keywords`` must appear in the raw
log line for it to match at all: the fast pattern, as Snort's ``content:`` is to ``pcre:``.
A rule with ``burst`` is a correlation rule: it fires only for a source that sent enough
matching requests within a window (Nimda's 16-request burst).

Regular expressions (``|re``) run on RE2 (google-re2), whose matching time is linear in the
text: a rule like ``^/(a+)+$`` cannot hang a scan on an attacker's 64 KB request line, as it
would with Python's backtracking ``re``. RE2 has no backreferences or look-around; a pattern
it cannot compile is a problem that ``rules check`` reports with its file and line. The other
operators match literals.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from wormsign.logs.normalize import canonical, escaped
from wormsign.logs.record import Request
from wormsign.logs.text import clean

SEVERITIES = ("informational", "low", "medium", "high", "critical")
OPERATORS = ("re", "contains", "startswith", "endswith", "equals")

FIELDS: dict[str, Callable[[Request], str | None]] = {
    "url": lambda r: r.url,
    "path": lambda r: r.url.partition("?")[0],
    "query": lambda r: r.url.partition("?")[2],
    "escaped": lambda r: escaped(r.url),
    "normalized": lambda r: canonical(r.url),
    "method": lambda r: r.method,
    "user_agent": lambda r: r.user_agent,
    "status": lambda r: None if r.status is None else str(r.status),
    "message": lambda r: r.message,
    "host": lambda r: r.host,
    "referer": lambda r: r.referer,
}
#: Fields whose text can differ from the raw line (decoded or re-encoded): a rule on them
#: also needs the obfuscation prefilter, since its keywords may appear encoded in the log.
DERIVED_FIELDS = frozenset({"escaped", "normalized"})


class _Searcher(Protocol):
    def search(self, text: str) -> object | None: ...


def compile_re2(pattern: str, cased: bool) -> _Searcher:
    """``pattern`` compiled by RE2; raises :class:`re.error` with RE2's reason otherwise."""
    import re2  # on the first rule compiled: a scan starts without it

    opts = re2.Options()
    opts.log_errors = False  # the reason goes into the problem report, not to stderr
    opts.case_sensitive = cased
    try:
        return re2.compile(pattern, opts)  # type: ignore[no-any-return]
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "backslashreplace")
        raise re.error(f"RE2 cannot compile it: {reason} (RE2 has no backreferences or "
                       r"look-around; write \z for \Z)") from None


@dataclass(frozen=True)
class Condition:
    """``field|op[|cased]: value(s)`` — true when any value matches."""

    field: str
    op: str
    values: tuple[str, ...]
    cased: bool = False
    _compiled: tuple[_Searcher, ...] = dataclasses.field(default=(), compare=False, repr=False)
    #: Compile (and so check) the values now. The loader passes False for the built-in pack,
    #: whose every pattern the test suite compiles: they are then compiled when first used,
    #: in the process that uses them (a scan's workers), not in every command's start-up.
    check: dataclasses.InitVar[bool] = True

    def __post_init__(self, check: bool) -> None:
        if check:
            self._patterns()

    def __getstate__(self) -> dict[str, Any]:
        """What pickling keeps: everything but the compiled patterns, compiled again when
        first used (the cached built-in pack, :mod:`wormsign.rules.packcache`)."""
        return {**self.__dict__, "_compiled": ()}

    def _patterns(self) -> tuple[_Searcher, ...]:
        if not self._compiled:
            flags = 0 if self.cased else re.IGNORECASE
            pats: tuple[_Searcher, ...]
            if self.op == "re":
                pats = tuple(compile_re2(v, self.cased) for v in self.values)
            else:
                pats = tuple(re.compile(self._literal(v), flags) for v in self.values)
            object.__setattr__(self, "_compiled", pats)
        return self._compiled

    def _literal(self, v: str) -> str:
        e = re.escape(v)
        return {"contains": e, "startswith": "^" + e, "endswith": e + r"\Z",
                "equals": "^" + e + r"\Z"}[self.op]

    def test(self, value: str | None) -> bool:
        if value is None:
            return False
        try:
            return any(p.search(value) is not None for p in self._patterns())
        except UnicodeEncodeError:  # a lone surrogate, which RE2 (UTF-8) cannot take
            return self.test(clean(value))


@dataclass(frozen=True)
class Burst:
    """Correlation: enough matching requests from one source within ``within`` seconds."""

    within: float = 60.0
    min_requests: int = 4
    min_distinct: int = 3
    methods: tuple[str, ...] = ()
    max_other_share: float = 0.5
    #: Requests must carry an HTTP version where the log records the request line (worms
    #: sent one; old scanning bots often did not).
    require_version: bool = False


@dataclass(frozen=True)
class Rule:
    """One detection rule (see the module docstring)."""

    id: str
    title: str
    family: str
    severity: str
    match: tuple[tuple[Condition, ...], ...]
    keywords: tuple[str, ...] = ()
    description: str = ""
    references: Mapping[str, Any] = field(default_factory=dict, compare=False)
    priority: int = 50
    burst: Burst | None = None
    #: Families this rule cannot tell apart (e.g. Code Red vs Code Red II in an error log): when
    #: the same source has alerts of exactly one of them from other rules, take that family.
    ambiguous: tuple[str, ...] = ()
    #: ATT&CK technique ids the rule's match shows (``attack: [T1190]``); empty: the family's
    #: (:func:`wormsign.rules.attack.techniques_of`).
    attack: tuple[str, ...] = field(default=(), compare=False)
    #: Known benign causes of a match (Sigma's ``falsepositives``).
    falsepositives: tuple[str, ...] = field(default=(), compare=False)
    #: Alternatives that veto a match (Sigma's ``selection and not filter``): the rule holds
    #: when one ``match`` alternative holds and no ``exclude`` alternative does.
    exclude: tuple[tuple[Condition, ...], ...] = ()
    source: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)

    def matches(self, req: Request, cache: dict[str, str | None] | None = None) -> bool:
        """True when any of the ``match`` alternatives holds for ``req`` and none of the
        ``exclude`` alternatives does."""
        cache = {} if cache is None else cache
        return _holds(self.match, req, cache) and not (
            self.exclude and _holds(self.exclude, req, cache))

    @property
    def needs_deobfuscation(self) -> bool:
        return any(c.field in DERIVED_FIELDS for conj in self.match for c in conj)

    def to_dict(self) -> dict[str, Any]:
        """The rule as the YAML it came from would say it (for ``rules show``)."""
        def conj(cs: tuple[Condition, ...]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for c in cs:
                key = f"{c.field}|{c.op}" + ("|cased" if c.cased else "")
                out[key] = c.values[0] if len(c.values) == 1 else list(c.values)
            return out

        d: dict[str, Any] = {
            "id": self.id, "title": self.title, "family": self.family,
            "severity": self.severity, "priority": self.priority,
        }
        if self.description:
            d["description"] = self.description
        d["keywords"] = list(self.keywords)
        d["match"] = conj(self.match[0]) if len(self.match) == 1 else [conj(c) for c in self.match]
        if self.exclude:
            d["exclude"] = [conj(c) for c in self.exclude]
        if self.burst is not None:
            d["burst"] = {
                "within": self.burst.within, "min_requests": self.burst.min_requests,
                "min_distinct": self.burst.min_distinct, "methods": list(self.burst.methods),
                "max_other_share": self.burst.max_other_share,
                "require_version": self.burst.require_version,
            }
        if self.ambiguous:
            d["ambiguous"] = list(self.ambiguous)
        if self.attack:
            d["attack"] = list(self.attack)
        if self.falsepositives:
            d["falsepositives"] = list(self.falsepositives)
        d["references"] = dict(self.references)
        return d


def _holds(alternatives: tuple[tuple[Condition, ...], ...], req: Request,
           cache: dict[str, str | None]) -> bool:
    """Whether every condition of one of ``alternatives`` holds (field values cached)."""
    for conj in alternatives:
        ok = True
        for cond in conj:
            if cond.field not in cache:
                cache[cond.field] = FIELDS[cond.field](req)
            if not cond.test(cache[cond.field]):
                ok = False
                break
        if ok:
            return True
    return False


@dataclass(frozen=True)
class Family:
    """A family of detections (a worm, or a generic attack class)."""

    id: str
    title: str
    description: str = ""
    worm: bool = False


@dataclass(frozen=True)
class RulePack:
    """The rules in force: built-in pack plus any ``--rules`` the user adds."""

    rules: tuple[Rule, ...]
    families: Mapping[str, Family] = field(default_factory=dict)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)
