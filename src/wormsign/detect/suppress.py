"""Suppression rules and accepted risks: the ``wormsign-ignore.yml`` file a team keeps in git.

A suppression rule names what it covers (any of: a source address or CIDR, a rule id, a
family, a URL pattern), why (``reason``, required) and until when (``until``, optional).
Every condition given must hold (AND). An alert a rule covers is *suppressed*: it is still
counted, listed and written, marked with the rule that covers it and its reason, and it no
longer raises the exit status of ``scan`` or reaches a blocklist export. Once ``until`` has
passed the rule no longer applies and what it covered comes back.

``accept`` entries are accepted risks for ``wormsign assess`` (host, advisory, reason,
until). The file format is in ``docs/triage.md``; :func:`load_ignore_file` reports every
problem with its line.

``path`` patterns are globs on the request URL as logged (path and query): ``*`` is any
run of characters (``/`` and ``?`` included), ``?`` one character; nothing else is
special, and case matters. The same pattern means the same thing here (on a scan's columns,
vectorised) and in the incident store (SQLite ``GLOB``, PostgreSQL ``LIKE``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.detect.alert import Alert
from wormsign.detect.attribute import Attribution
from wormsign.errors import Problem
from wormsign.logs.normalize import canonical_ip
from wormsign.validation import (
    key_line,
    line_of,
    parse_yaml,
    raise_problems,
    read_bounded,
    read_problem,
    unknown_keys,
)

#: The file name users keep beside their logs or configuration (``--ignore`` reads any name).
DEFAULT_IGNORE_FILE = "wormsign-ignore.yml"
#: Longest reason or note kept.
MAX_TEXT = 1000
#: Longest path pattern, rule id, family or id.
MAX_FIELD = 500
MATCH_KEYS = ("source", "rule", "family", "path")
SUPPRESS_KEYS = frozenset({"id", *MATCH_KEYS, "reason", "until"})
ACCEPT_KEYS = frozenset({"host", "advisory", "reason", "until"})
TOP_KEYS = frozenset({"suppress", "accept"})

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of a ``path`` glob (see the module docstring)."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def glob_like(pattern: str) -> str:
    """The SQL ``LIKE`` pattern (escape character ``\\``) of a ``path`` glob."""
    out = []
    for c in pattern:
        if c in "%_\\":
            out.append("\\" + c)
        else:
            out.append({"*": "%", "?": "_"}.get(c, c))
    return "".join(out)


def glob_sqlite(pattern: str) -> str:
    """The SQLite ``GLOB`` pattern of a ``path`` glob (case-sensitive, as the scan is; SQLite's
    ``LIKE`` is not): ``*`` and ``?`` stay, a literal ``[`` becomes ``[[]``."""
    return pattern.replace("[", "[[]")


def parse_network(text: str) -> IPNet:
    """An address or CIDR as a network (host bits set are refused); ``ValueError`` else."""
    text = text.strip()
    addr = canonical_ip(text.split("/", 1)[0])
    if addr is None:
        raise ValueError(f"not an address or CIDR: {text!r}")
    return ipaddress.ip_network(addr + ("/" + text.split("/", 1)[1] if "/" in text else ""),
                                strict=True)


def parse_until(value: object) -> int:
    """Epoch seconds of an expiry: a YAML date (midnight UTC, the rule stops applying on
    that day), a datetime, ISO 8601 text, or epoch seconds. ``ValueError`` else."""
    if isinstance(value, bool):
        raise ValueError("until must be a date or time")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(dt.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            return parse_until(date.fromisoformat(text))
        return parse_until(datetime.fromisoformat(text.replace("Z", "+00:00")))
    raise ValueError(f"until must be a date or time, not {value!r}")


def iso_time(epoch: int | None) -> str | None:
    """ISO 8601 UTC with ``Z`` (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Suppression:
    """One suppression rule; ``None`` conditions match anything. ``alert_key`` (store only)
    names one stored alert by its evidence key. ``origin`` says where it came from
    (``file``, ``store`` or ``mark``) and ``actor`` who made it."""

    id: str
    reason: str
    source: str | None = None
    rule: str | None = None
    family: str | None = None
    path: str | None = None
    until: int | None = None
    alert_key: int | None = None
    origin: str = "file"
    actor: str | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("a suppression needs a reason")
        if all(getattr(self, k) is None for k in (*MATCH_KEYS, "alert_key")):
            raise ValueError("a suppression needs at least one of source, rule, family, path")
        if self.source is not None:
            object.__setattr__(self, "source", str(parse_network(self.source)))

    @cached_property
    def network(self) -> IPNet | None:
        return None if self.source is None else parse_network(self.source)

    @cached_property
    def path_regex(self) -> re.Pattern[str] | None:
        return None if self.path is None else glob_regex(self.path)

    def active(self, now: int) -> bool:
        """Whether the rule applies at ``now`` (its expiry, if any, is later)."""
        return self.until is None or self.until > now

    def covers_source(self, ip: str) -> bool:
        if self.network is None:
            return True
        c = canonical_ip(ip)
        return c is not None and ipaddress.ip_address(c) in self.network

    def matches(self, a: Alert) -> bool:
        """Whether the rule covers the alert (expiry not considered; see :meth:`active`)."""
        if self.rule is not None and a.rule_id != self.rule:
            return False
        if self.family is not None and self.family not in (a.family, a.rule_family):
            return False
        rx = self.path_regex
        if rx is not None and rx.fullmatch(a.url) is None:
            return False
        return self.covers_source(a.source_ip)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "source": self.source,
                "rule": self.rule, "family": self.family, "path": self.path,
                "alert_key": self.alert_key, "until": iso_time(self.until),
                "origin": self.origin, "actor": self.actor}


@dataclass(frozen=True)
class AcceptedRisk:
    """An accepted risk for ``assess``: ``advisory`` (an id or alias) on ``host`` (``*``:
    every host) is not to be fixed, for ``reason``, until ``until``."""

    host: str
    advisory: str
    reason: str
    until: int | None = None

    def active(self, now: int) -> bool:
        return self.until is None or self.until > now

    def covers(self, host: str, ids: Iterable[str]) -> bool:
        if self.host not in ("*", host):
            return False
        want = self.advisory.upper()
        return any(i.upper() == want for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "advisory": self.advisory, "reason": self.reason,
                "until": iso_time(self.until)}


@dataclass(frozen=True)
class IgnoreFile:
    """A read ``wormsign-ignore.yml``."""

    path: str
    suppress: tuple[Suppression, ...] = ()
    accept: tuple[AcceptedRisk, ...] = ()


def derived_id(fields: dict[str, Any]) -> str:
    """A stable id for a rule written without one: a hash of what it matches."""
    raw = repr(sorted((k, str(v)) for k, v in fields.items() if k in MATCH_KEYS and v))
    return "s-" + hashlib.sha256(raw.encode()).hexdigest()[:10]


def _text(d: dict[str, Any], key: str, path: str, problems: list[Problem], *,
          limit: int = MAX_FIELD, required: bool = False) -> str | None:
    v = d.get(key)
    if v is None:
        if required:
            problems.append(Problem(path, line_of(d), f"{key!r} is required"))
        return None
    if isinstance(v, bool) or not isinstance(v, str | int):
        problems.append(Problem(path, key_line(d, key), f"{key!r} must be text"))
        return None
    s = str(v).strip()
    if not s or len(s) > limit or any(not c.isprintable() for c in s):
        problems.append(Problem(path, key_line(d, key),
                                f"{key!r} must be 1 to {limit} printable characters"))
        return None
    return s


def _until(d: dict[str, Any], path: str, problems: list[Problem]) -> int | None:
    if d.get("until") is None:
        return None
    try:
        return parse_until(d["until"])
    except (ValueError, OverflowError, OSError) as exc:
        problems.append(Problem(path, key_line(d, "until"), f"bad until: {exc}"))
        return None


def _suppression(d: Any, path: str, problems: list[Problem]) -> Suppression | None:
    if not isinstance(d, dict):
        problems.append(Problem(path, line_of(d), "a suppress entry must be a mapping"))
        return None
    before = len(problems)
    unknown_keys(d, SUPPRESS_KEYS, path, "suppress", problems)
    got = {k: _text(d, k, path, problems) for k in MATCH_KEYS}
    reason = _text(d, "reason", path, problems, limit=MAX_TEXT, required=True)
    until = _until(d, path, problems)
    rid = _text(d, "id", path, problems) or derived_id(got)
    if len(problems) > before or reason is None:
        return None
    try:
        return Suppression(id=rid, reason=reason, until=until, origin="file",
                           source=got["source"], rule=got["rule"], family=got["family"],
                           path=got["path"])
    except ValueError as exc:
        problems.append(Problem(path, line_of(d), str(exc)))
        return None


def _accept(d: Any, path: str, problems: list[Problem]) -> AcceptedRisk | None:
    if not isinstance(d, dict):
        problems.append(Problem(path, line_of(d), "an accept entry must be a mapping"))
        return None
    before = len(problems)
    unknown_keys(d, ACCEPT_KEYS, path, "accept", problems)
    host = _text(d, "host", path, problems, required=True)
    adv = _text(d, "advisory", path, problems, required=True)
    reason = _text(d, "reason", path, problems, limit=MAX_TEXT, required=True)
    until = _until(d, path, problems)
    if len(problems) > before or host is None or adv is None or reason is None:
        return None
    return AcceptedRisk(host, adv, reason, until)


def parse_ignore(data: Any, path: str) -> IgnoreFile:
    """An ignore file from its parsed YAML; one :class:`ValidationError` with every problem."""
    problems: list[Problem] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise_problems([Problem(path, 1, "an ignore file is a mapping with suppress "
                                "and/or accept lists")], "ignore file")
    unknown_keys(data, TOP_KEYS, path, "ignore file", problems)
    lists: dict[str, list[Any]] = {}
    for key in ("suppress", "accept"):
        v = data.get(key) or []
        if not isinstance(v, list):
            problems.append(Problem(path, key_line(data, key), f"{key!r} must be a list"))
            v = []
        lists[key] = v
    sup = [_suppression(d, path, problems) for d in lists["suppress"]]
    acc = [_accept(d, path, problems) for d in lists["accept"]]
    ids: dict[str, int] = {}
    for d, s in zip(lists["suppress"], sup, strict=True):
        if s is not None and ids.setdefault(s.id, 0) > 0:
            problems.append(Problem(path, line_of(d), f"duplicate suppress id {s.id!r}"))
        if s is not None:
            ids[s.id] += 1
    raise_problems(problems, "ignore file")
    return IgnoreFile(path, tuple(s for s in sup if s is not None),
                      tuple(a for a in acc if a is not None))


def load_ignore_file(path: str | Path) -> IgnoreFile:
    """Read and validate a ``wormsign-ignore.yml``; :class:`~wormsign.errors.ValidationError`
    lists every problem with its line."""
    p = str(path)
    try:
        text = read_bounded(p)
    except (OSError, UnicodeDecodeError) as exc:
        raise_problems([read_problem(p, exc, "ignore file")], "ignore file")
        raise  # unreachable: raise_problems raised
    data, problems = parse_yaml(text, p)
    raise_problems(problems, "ignore file")
    return parse_ignore(data, p)


# -- applying rules to a scan's columns ----------------------------------------------------
def _row_codes(att: Attribution) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    rows = np.asarray(att.row, np.intp)
    b = att.batch
    return (np.asarray(b.source, np.intp)[rows], np.asarray(b.variant, np.intp)[rows])


def _rule_mask(s: Suppression, att: Attribution, src: npt.NDArray[np.intp],
               var: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
    n = len(att)
    mask = np.ones(n, bool)
    t = att.batch.tables
    if s.rule is not None:
        ok = np.array([r.id == s.rule for r in att.rules] + [False], bool)
        mask &= ok[np.asarray(att.rule, np.intp)]
    if s.family is not None:
        fam = np.array([f == s.family for f in att.families] + [False], bool)
        mask &= fam[np.asarray(att.family, np.intp)] | fam[np.asarray(att.rule_family, np.intp)]
    if s.path is not None and mask.any():
        rx = s.path_regex
        assert rx is not None
        used = np.unique(var[mask])
        ok = np.zeros(len(t.variants.values) + 1, bool)
        vals = t.variants.values
        ok[used] = [rx.fullmatch(vals[int(i)].url) is not None for i in used.tolist()]
        mask &= ok[var]
    if s.source is not None and mask.any():
        used = np.unique(src[mask])
        ok = np.zeros(len(t.sources.values) + 1, bool)
        vals_s = t.sources.values
        ok[used] = [s.covers_source(vals_s[int(i)]) for i in used.tolist()]
        mask &= ok[src]
    return mask


def suppressed_rows(att: Attribution, rules: Sequence[Suppression], now: int,
                    ) -> npt.NDArray[np.int32]:
    """Per alert of ``att``, the index into ``rules`` of the first active rule covering it
    (-1: not suppressed). Vectorised: each rule is tested once per distinct source, URL,
    rule and family, not once per alert."""
    out = np.full(len(att), -1, np.int32)
    if not len(att):
        return out
    src, var = _row_codes(att)
    for i, s in enumerate(rules):
        if not s.active(now) or s.alert_key is not None:
            continue
        free = out < 0
        if not free.any():
            break
        out[free & _rule_mask(s, att, src, var)] = i
    return out


def first_match(alert: Alert, rules: Sequence[Suppression], now: int) -> Suppression | None:
    """The first active rule covering one alert (None: not suppressed)."""
    for s in rules:
        if s.alert_key is None and s.active(now) and s.matches(alert):
            return s
    return None


@dataclass(frozen=True)
class ScanSuppression:
    """Suppression applied to a scan: ``rows`` (per alert, index into ``rules`` or -1) at
    ``now``. Suppressed alerts stay in every output, marked; this says which and why."""

    rules: tuple[Suppression, ...]
    rows: npt.NDArray[np.int32]
    now: int
    sources: npt.NDArray[np.intp]

    @classmethod
    def apply(cls, att: Attribution, rules: Sequence[Suppression], now: int,
              ) -> ScanSuppression:
        rows = suppressed_rows(att, rules, now)
        return cls(tuple(rules), rows, now, _row_codes(att)[0])

    @property
    def suppressed(self) -> int:
        return int((self.rows >= 0).sum())

    @property
    def unsuppressed(self) -> int:
        return int((self.rows < 0).sum())

    def rule_of(self, k: int) -> Suppression | None:
        i = int(self.rows[k])
        return None if i < 0 else self.rules[i]

    def to_json(self) -> dict[str, Any]:
        """The ``suppressed`` object of ``scan --json`` (see docs/triage.md)."""
        counts = np.bincount(self.rows[self.rows >= 0], minlength=len(self.rules))
        per_rule = []
        for i, s in enumerate(self.rules):
            hit = self.rows == i
            per_rule.append({**{k: v for k, v in s.to_dict().items()
                                if k not in ("alert_key", "actor")},
                             "active": s.active(self.now), "alerts": int(counts[i]),
                             "sources": len(np.unique(self.sources[hit]))})
        return {"alerts": self.suppressed, "unsuppressed": self.unsuppressed,
                "sources": len(np.unique(self.sources[self.rows >= 0])),
                "rules": per_rule}
