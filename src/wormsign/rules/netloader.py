"""Network rules: worms seen as connections (Slammer, Witty, Blaster, Sasser, Mirai's scan).

A network pack is a YAML file of ``families:`` and ``rules:`` like a request pack, but each
rule's ``match`` names connection columns (protocol, ports, payload sizes, outcome, packet
marks) instead of request fields, and a rule may ask for a second connection between the same
hosts within a time (``then``). The built-in pack is ``src/wormsign/rules/packs/network.yml``
(its head comment documents the keys); :mod:`wormsign.detect.netrules` matches the rules on
:class:`~wormsign.logs.conn.ConnBatch` columns.

Files are read through :mod:`wormsign.validation` (bounded, no aliases, lines kept); every
problem in every file is reported at once as one :class:`~wormsign.errors.ValidationError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from wormsign.errors import Problem
from wormsign.logs.conn import MARK_SEQ_IS_DST, OUTCOMES
from wormsign.rules.model import SEVERITIES, Family
from wormsign.validation import (
    key_line,
    line_of,
    parse_yaml,
    raise_problems,
    read_bounded,
    read_problem,
    strip_lines,
    unknown_keys,
)

__all__ = ["BUILTIN", "MARKS", "PROTOS", "NetMatch", "NetPack", "NetRule", "Range", "Then",
           "is_network_text", "load_network_pack", "parse_network_text", "split_rule_files"]

BUILTIN = "network.yml"
PROTOS = {"icmp": 1, "tcp": 6, "udp": 17}
MARKS = {"seq-is-dst": MARK_SEQ_IS_DST}
_RANGE_KEYS = ("sport", "dport", "orig_bytes", "resp_bytes")
_MATCH_KEYS = frozenset({"proto", "outcome", "mark", *_RANGE_KEYS})
_RULE_KEYS = frozenset({"id", "title", "family", "severity", "priority", "match", "then",
                        "description", "references"})
_THEN_KEYS = frozenset({"within", "direction", "match"})
_MAX_VALUE = 1 << 40
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")  # as request rules' ids


@dataclass(frozen=True)
class Range:
    """Inclusive ``[low, high]``."""

    low: int
    high: int


@dataclass(frozen=True)
class NetMatch:
    """Conditions on one connection; an empty tuple or None means any value."""

    proto: tuple[int, ...] = ()
    outcome: tuple[int, ...] = ()
    mark: int = 0  # bits that must all be set
    sport: tuple[Range, ...] = ()
    dport: tuple[Range, ...] = ()
    orig_bytes: tuple[Range, ...] = ()
    resp_bytes: tuple[Range, ...] = ()


@dataclass(frozen=True)
class Then:
    """A second connection between the same hosts within ``within`` seconds after the first,
    from the same originator (``same``) or back from the target (``reverse``)."""

    match: NetMatch
    within: float = 60.0
    direction: str = "same"


@dataclass(frozen=True)
class NetRule:
    """One network rule (see the module docstring)."""

    id: str
    title: str
    family: str
    severity: str
    match: NetMatch
    then: Then | None = None
    priority: int = 50
    description: str = ""
    references: Mapping[str, Any] = field(default_factory=dict, compare=False)
    source: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NetPack:
    """The network rules in force and their families."""

    rules: tuple[NetRule, ...]
    families: Mapping[str, Family] = field(default_factory=dict)

    def get(self, rule_id: str) -> NetRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _MAX_VALUE


def _ranges(key: str, value: Any) -> tuple[Range, ...]:
    """Ports or sizes: a number, ``"low-high"``, ``{min, max}`` or a list of them."""
    items = value if isinstance(value, list) else [value]
    out: list[Range] = []
    for v in items:
        if _int(v):
            out.append(Range(v, v))
        elif isinstance(v, str) and v.count("-") == 1 and all(
                p.strip().isdigit() for p in v.split("-")):
            lo, hi = (int(p) for p in v.split("-"))
            out.append(Range(lo, hi))
        elif isinstance(v, dict) and set(v) - {"__line__"} <= {"min", "max"} and all(
                _int(v[k]) for k in ("min", "max") if k in v) and ("min" in v or "max" in v):
            out.append(Range(v.get("min", 0), v.get("max", _MAX_VALUE)))
        else:
            raise ValueError(f"{key}: {v!r} is not a number, 'low-high' or {{min, max}}")
        if out[-1].low > out[-1].high or (key.endswith("port") and out[-1].high > 65535):
            raise ValueError(f"{key}: {v!r} is out of range")
    if not out:
        raise ValueError(f"{key}: empty")
    return tuple(out)


def _names(key: str, value: Any, table: Mapping[str, int]) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    bad = [v for v in items if not isinstance(v, str) or v.lower() not in table]
    if bad or not items:
        raise ValueError(f"{key}: {bad or value!r} (known: {', '.join(table)})")
    return tuple(table[v.lower()] for v in items)


def _match(spec: Any, path: str, line: int | None, problems: list[Problem]) -> NetMatch | None:
    if not isinstance(spec, dict) or not [k for k in spec if k != "__line__"]:
        problems.append(Problem(path, line, "match must be a non-empty mapping of "
                                f"{', '.join(sorted(_MATCH_KEYS))}"))
        return None
    n = len(problems)
    unknown_keys(spec, _MATCH_KEYS, path, "match", problems)
    kw: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in _MATCH_KEYS:
            continue
        try:
            if key == "proto":
                kw[key] = _names(key, value, PROTOS)
            elif key == "outcome":
                kw[key] = _names(key, value, {o: i for i, o in enumerate(OUTCOMES)})
            elif key == "mark":
                kw[key] = sum(set(_names(key, value, MARKS)))
            else:
                kw[key] = _ranges(key, value)
        except ValueError as exc:
            problems.append(Problem(path, key_line(spec, key, line), str(exc)))
    return NetMatch(**kw) if len(problems) == n else None


def _then(spec: Any, path: str, line: int | None, problems: list[Problem]) -> Then | None:
    if not isinstance(spec, dict):
        problems.append(Problem(path, line, "then must be a mapping of within, direction, "
                                "match"))
        return None
    line = line_of(spec, line)
    n = len(problems)
    unknown_keys(spec, _THEN_KEYS, path, "then", problems)
    within = spec.get("within", 60)
    if isinstance(within, bool) or not isinstance(within, int | float) or not (
            0 < within <= 86400):
        problems.append(Problem(path, key_line(spec, "within", line),
                                "then.within must be seconds, more than 0 and at most 86400"))
    direction = spec.get("direction", "same")
    if direction not in ("same", "reverse"):
        problems.append(Problem(path, key_line(spec, "direction", line),
                                f"then.direction must be same or reverse, not {direction!r}"))
    m = _match(spec.get("match"), path, key_line(spec, "match", line), problems)
    if len(problems) > n or m is None:
        return None
    return Then(m, float(within), str(direction))


def _rule(d: Any, path: str, problems: list[Problem]) -> NetRule | None:
    if not isinstance(d, dict):
        problems.append(Problem(path, None, "each rule must be a mapping"))
        return None
    line = line_of(d)
    n = len(problems)
    unknown_keys(d, _RULE_KEYS, path, "rule", problems)
    for key in ("id", "title", "family", "severity", "match"):
        if key not in d:
            problems.append(Problem(path, line, f"rule is missing {key!r}"))
    for key in ("id", "title", "family", "description"):
        if key in d and not isinstance(d[key], str):
            problems.append(Problem(path, key_line(d, key, line), f"{key} must be text"))
    if isinstance(d.get("id"), str) and not _ID.match(d["id"]):
        problems.append(Problem(path, key_line(d, "id", line), f"invalid rule id {d['id']!r} "
                                "(lowercase, digits, .-_)"))
    sev = d.get("severity")
    if sev is not None and sev not in SEVERITIES:
        problems.append(Problem(path, key_line(d, "severity", line), f"severity must be one "
                                f"of {', '.join(SEVERITIES)}, not {sev!r}"))
    prio = d.get("priority", 50)
    if isinstance(prio, bool) or not isinstance(prio, int) or not -10**6 <= prio <= 10**6:
        problems.append(Problem(path, key_line(d, "priority", line),
                                "priority must be an integer from -1000000 to 1000000"))
    m = _match(d.get("match"), path, key_line(d, "match", line), problems) if "match" in d \
        else None
    then = _then(d["then"], path, key_line(d, "then", line), problems) if "then" in d else None
    refs = d.get("references", {})
    if not isinstance(refs, dict):
        problems.append(Problem(path, key_line(d, "references", line),
                                "references must be a mapping"))
    if len(problems) > n or m is None:
        return None
    return NetRule(id=d["id"], title=d["title"], family=d["family"], severity=str(sev),
                   match=m, then=then, priority=prio,
                   description=" ".join(str(d.get("description", "")).split()),
                   references=strip_lines(refs), source=path, line=line)


def parse_network_text(text: str, path: str,
                       ) -> tuple[list[NetRule], dict[str, Family], list[Problem]]:
    """One network pack file: its rules, families and every problem found."""
    doc, problems = parse_yaml(text, path)
    if problems or doc is None:
        return [], {}, problems
    if not isinstance(doc, dict):
        return [], {}, [Problem(path, 1, "a network pack holds a mapping with 'rules:'")]
    unknown_keys(doc, {"families", "rules"}, path, "top-level", problems)
    families: dict[str, Family] = {}
    raw_fams = doc.get("families") or {}
    for fid, fd in (raw_fams.items() if isinstance(raw_fams, dict) else ()):
        if fid == "__line__":
            continue
        if not isinstance(fid, str) or not isinstance(fd, dict) or not isinstance(
                fd.get("title"), str):
            problems.append(Problem(path, key_line(raw_fams, fid), f"family {fid!r} needs a "
                                    "title"))
            continue
        families[fid] = Family(fid, fd["title"], " ".join(str(fd.get("description", ""))
                                                          .split()), bool(fd.get("worm")))
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        problems.append(Problem(path, key_line(doc, "rules"), "'rules' must be a list"))
        raw_rules = []
    rules: list[NetRule] = []
    seen: dict[str, int | None] = {}
    for d in raw_rules:
        r = _rule(d, path, problems)
        if r is None:
            continue
        if r.id in seen:
            problems.append(Problem(path, r.line, f"duplicate rule id {r.id!r} (first at line "
                                    f"{seen[r.id]})"))
            continue
        seen[r.id] = r.line
        rules.append(r)
    return rules, families, problems


def load_network_pack(user_paths: list[str] | None = None, builtin: bool = True) -> NetPack:
    """The built-in network pack plus the user's network rule files (a user rule with a
    built-in id replaces it); raises :class:`~wormsign.errors.ValidationError` with every
    problem of every file."""
    files: list[tuple[str, str]] = []
    problems: list[Problem] = []
    if builtin:
        res = resources.files("wormsign.rules") / "packs" / BUILTIN
        files.append((f"<builtin>/{BUILTIN}", res.read_text("utf-8")))
    for p in user_paths or []:
        for f in sorted(Path(p).rglob("*.y*ml")) if Path(p).is_dir() else [Path(p)]:
            try:
                files.append((str(f), read_bounded(f)))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(read_problem(f, exc, "network rule file"))
    rules: dict[str, NetRule] = {}
    families: dict[str, Family] = {}
    for name, text in files:
        rs, fams, probs = parse_network_text(text, name)
        problems += probs
        families.update(fams)
        rules.update((r.id, r) for r in rs)
    for r in rules.values():
        families.setdefault(r.family, Family(r.family, r.family))
    raise_problems(problems, "network rule pack")
    return NetPack(tuple(rules.values()), families)


def is_network_text(text: str, path: str) -> bool:
    """Whether a rule file holds network rules: some rule's ``match`` names a connection
    column (``proto``, ``dport``, ...; request rules' fields are all different). A file
    that cannot be parsed is not (the request rule loader then reports its problems)."""
    doc, problems = parse_yaml(text, path)
    if problems or not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        return False
    return any(isinstance(d, dict) and isinstance(d.get("match"), dict)
               and any(k in _MATCH_KEYS for k in d["match"]) for d in doc["rules"])


def split_rule_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """The user's rule paths (files, directories walked for ``*.yml``/``*.yaml``) as
    (request rule files, network rule files), each file by :func:`is_network_text`. A file
    that cannot be read goes with the request rules, whose loader reports it."""
    requests: list[str] = []
    network: list[str] = []
    for p in paths:
        for f in sorted(Path(p).rglob("*.y*ml")) if Path(p).is_dir() else [Path(p)]:
            try:
                net = is_network_text(read_bounded(f), str(f))
            except (OSError, UnicodeDecodeError):
                net = False
            (network if net else requests).append(str(f))
    return requests, network
