"""Loading rule packs from YAML, reporting every problem with file and line at once.

A pack file holds ``families:`` (id → title, description, worm) and ``rules:`` (a list).
``load_pack()`` reads the built-in pack; ``load_paths()`` adds the user's files or directories
(``--rules PATH``). A user rule with the id of a built-in one replaces it.

Rule files come from users and shared repositories, so reading one is bounded: YAML aliases
are refused before anything is constructed (an alias bomb -- "billion laughs" -- would expand
to gigabytes), nesting deeper than :data:`MAX_DEPTH` and more than :data:`MAX_NODES` nodes are
refused while composing (no ``RecursionError``), a file is read up to :data:`MAX_FILE_BYTES`
and only when it is a regular file (never ``/dev/zero`` or a FIFO). Every such case, and every
bad value (a 5000-digit number, a float where a count belongs), is a problem with file and
line, reported with all the others.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wormsign._resources import package_dir
from wormsign.errors import Problem, RuleError
from wormsign.rules import packcache
from wormsign.rules.attack import parse_technique_ids
from wormsign.rules.model import (
    FIELDS,
    OPERATORS,
    SEVERITIES,
    Burst,
    Condition,
    Family,
    Rule,
    RulePack,
)
from wormsign.validation import (
    LINE,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    parse_yaml,
    read_bounded,
    strip_lines,
)

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "load_pack", "parse_text",
           "rule_from_dict"]

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_LINE = LINE
_RULE_KEYS = {"id", "title", "family", "severity", "match", "keywords", "description",
              "references", "priority", "burst", "ambiguous", "attack", "falsepositives", "exclude",
              _LINE}


def __getattr__(name: str) -> Any:
    """``_LineLoader`` (every user file) and ``_BuiltinLoader`` (the built-in pack with
    libyaml; None without it), imported with PyYAML when first asked for (PEP 562)."""
    if name in ("_LineLoader", "_BuiltinLoader"):
        from wormsign.rules import _ruleyaml

        return _ruleyaml.RuleLineLoader if name == "_LineLoader" else _ruleyaml.BuiltinLoader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _yaml_loader(builtin: bool) -> Any:
    """The loader for a rule file: libyaml's for the built-in pack when it is there."""
    from wormsign.rules import _ruleyaml

    if builtin and _ruleyaml.BuiltinLoader is not None:
        return _ruleyaml.BuiltinLoader
    return _ruleyaml.RuleLineLoader


_strip = strip_lines


def _conditions(spec: Any, path: str, line: int | None, problems: list[Problem],
                check: bool = True) -> tuple[Condition, ...]:
    out: list[Condition] = []
    if not isinstance(spec, dict) or not [k for k in spec if k != _LINE]:
        problems.append(Problem(path, line, "match must be a non-empty mapping of field|op: value"))
        return ()
    line = spec.get(_LINE, line)
    for key, value in spec.items():
        if key == _LINE:
            continue
        parts = str(key).split("|")
        fld, mods = parts[0], parts[1:]
        cased = "cased" in mods
        ops = [m for m in mods if m != "cased"]
        op = ops[0] if ops else "equals"
        if fld not in FIELDS:
            problems.append(Problem(path, line, f"unknown field {fld!r} "
                                    f"(known: {', '.join(sorted(FIELDS))})"))
            continue
        if len(ops) > 1 or op not in OPERATORS:
            problems.append(Problem(path, line, f"unknown operator in {key!r} "
                                    f"(known: {', '.join(OPERATORS)}, cased)"))
            continue
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) or _small_int(v) for v in values):
            problems.append(Problem(path, line, f"{key}: values must be strings"))
            continue
        try:
            out.append(Condition(fld, op, tuple(str(v) for v in values), cased, check=check))
        except re.error as exc:
            problems.append(Problem(path, line, f"{key}: invalid regular expression: {exc}"))
    return tuple(out)


def _rule(d: Any, path: str, problems: list[Problem], check: bool = True) -> Rule | None:
    """One rule, or None with its problems appended. ``check``: compile the patterns now
    (False for the built-in pack: see :class:`~wormsign.rules.model.Condition`)."""
    if not isinstance(d, dict):
        problems.append(Problem(path, None, "each rule must be a mapping"))
        return None
    line = d.get(_LINE)
    n = len(problems)
    for key in ("id", "title", "family", "severity", "match"):
        if key not in d:
            problems.append(Problem(path, line, f"rule is missing {key!r}"))
    for key in d:
        if key not in _RULE_KEYS:
            problems.append(Problem(path, line, f"unknown rule key {key!r}"))
    rid = str(d.get("id", ""))
    if "id" in d and not _ID.match(rid):
        problems.append(Problem(path, line, f"invalid rule id {rid!r} (lowercase, digits, .-_)"))
    sev = d.get("severity")
    if sev is not None and sev not in SEVERITIES:
        problems.append(Problem(path, line, f"rule {rid}: severity must be one of "
                                f"{', '.join(SEVERITIES)}, not {sev!r}"))
    spec = d.get("match")
    specs = spec if isinstance(spec, list) else [spec]
    match = (tuple(_conditions(s, path, line, problems, check) for s in specs)
             if "match" in d else ())
    ex = d.get("exclude", [])
    exclude = tuple(_conditions(s, path, line, problems, check)
                    for s in (ex if isinstance(ex, list) else [ex]))
    kw = d.get("keywords", [])
    if not isinstance(kw, list) or not all(isinstance(k, str) and k for k in kw):
        problems.append(Problem(path, line, f"rule {rid}: keywords must be a list of strings"))
        kw = []
    prio = d.get("priority", 50)
    if not _small_int(prio) or not -10**6 <= prio <= 10**6:
        problems.append(Problem(path, line, f"rule {rid}: priority must be an integer from "
                                "-1000000 to 1000000"))
        prio = 50
    burst = None
    if "burst" in d:
        b = d["burst"]
        try:
            if not isinstance(b, dict):
                raise TypeError("must be a mapping")
            extra = set(b) - {"within", "min_requests", "min_distinct", "methods",
                              "max_other_share", "require_version", _LINE}
            if extra:
                raise TypeError(f"unknown keys {sorted(extra)}")
            methods = b.get("methods", [])
            if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
                raise TypeError("methods must be a list of strings")
            burst = Burst(
                within=float(b.get("within", 60)), min_requests=int(b.get("min_requests", 4)),
                min_distinct=int(b.get("min_distinct", 3)), methods=tuple(methods),
                max_other_share=float(b.get("max_other_share", 0.5)),
                require_version=bool(b.get("require_version", False)),
            )
            if not (0 < burst.within < float("inf")):
                raise ValueError("within must be a positive number of seconds")
            if burst.min_requests < 1 or burst.min_distinct < 1:
                raise ValueError("min_requests and min_distinct must be at least 1")
            if not 0 <= burst.max_other_share <= 1:
                raise ValueError("max_other_share must be between 0 and 1")
        except (TypeError, ValueError, OverflowError) as exc:
            problems.append(Problem(path, b.get(_LINE, line) if isinstance(b, dict) else line,
                                    f"rule {rid}: invalid burst: {exc}"))
    amb = d.get("ambiguous", [])
    if not isinstance(amb, list) or not all(isinstance(a, str) for a in amb):
        problems.append(Problem(path, line, f"rule {rid}: ambiguous must be a list of families"))
        amb = []
    attack, why = parse_technique_ids(d.get("attack", []))
    if why is not None:
        problems.append(Problem(path, line, f"rule {rid}: {why}"))
    fps = d.get("falsepositives", [])
    if not isinstance(fps, list) or not all(isinstance(f, str) and f for f in fps):
        problems.append(Problem(path, line, f"rule {rid}: falsepositives must be a list of "
                                "strings"))
        fps = []
    if len(problems) > n:
        return None
    refs = d.get("references", {})
    return Rule(
        id=rid, title=str(d["title"]), family=str(d["family"]), severity=str(sev),
        match=match, keywords=tuple(kw), description=str(d.get("description", "")).strip(),
        references=_strip(refs) if isinstance(refs, dict) else {}, priority=prio,
        burst=burst, ambiguous=tuple(amb), attack=attack, falsepositives=tuple(fps),
        exclude=exclude,
        source=path, line=line,
    )


def rule_from_dict(d: dict[str, Any], path: str, problems: list[Problem]) -> Rule | None:
    """One rule from its mapping (as a rule file writes it), validated as :func:`parse_text`
    validates each rule; None with the problems appended when it is not valid. For rules
    read from other formats (Sigma)."""
    try:
        return _rule(d, path, problems)
    except (ValueError, TypeError, OverflowError) as exc:
        problems.append(Problem(path, d.get(_LINE), f"invalid value: {exc}"))
        return None


def parse_text(text: str, path: str, *, builtin: bool = False,
               ) -> tuple[list[Rule], dict[str, Family], list[Problem]]:
    """Parse one pack file; returns rules, families and every problem found. ``builtin``:
    the text is wormsign's own pack (parsed with libyaml when it is installed)."""
    problems: list[Problem] = []
    doc, bad = parse_yaml(text, path, loader=_yaml_loader(builtin))
    if bad:
        return [], {}, bad
    if doc is None:
        return [], {}, []
    if isinstance(doc, list):
        doc = {"rules": doc}
    if not isinstance(doc, dict):
        return [], {}, [Problem(path, 1, "a rule file holds a mapping with 'rules:' or a list")]
    for key in doc:
        if key not in ("families", "rules", _LINE):
            problems.append(Problem(path, doc.get(_LINE), f"unknown top-level key {key!r} "
                                    "(a rule file has 'families:' and 'rules:')"))
    families: dict[str, Family] = {}
    raw_families = doc.get("families") or {}
    if not isinstance(raw_families, dict):
        problems.append(Problem(path, doc.get(_LINE), "'families' must be a mapping"))
        raw_families = {}
    for fid, fd in raw_families.items():
        if fid == _LINE:
            continue
        if not isinstance(fd, dict) or "title" not in fd:
            problems.append(Problem(path, doc.get(_LINE), f"family {fid!r} needs a title"))
            continue
        if not isinstance(fid, str) or not all(
                isinstance(fd.get(k, ""), str) for k in ("title", "description")):
            problems.append(Problem(path, fd.get(_LINE), f"family {fid!r}: id, title and "
                                    "description must be text"))
            continue
        families[fid] = Family(fid, fd["title"], fd.get("description", "").strip(),
                               bool(fd.get("worm")))
    rules: list[Rule] = []
    seen: dict[str, int | None] = {}
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        problems.append(Problem(path, doc.get(_LINE), "'rules' must be a list"))
        raw_rules = []
    for d in raw_rules:
        try:
            rule = _rule(d, path, problems, check=not builtin)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. str() of a huge number
            problems.append(Problem(path, d.get(_LINE) if isinstance(d, dict) else None,
                                    f"invalid value: {exc}"))
            continue
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(Problem(path, rule.line, f"duplicate rule id {rule.id!r} "
                                    f"(first at line {seen[rule.id]})"))
            continue
        seen[rule.id] = rule.line
        rules.append(rule)
    return rules, families, problems


#: The first built-in pack (the 2001 worms); the others follow in name order.
FIRST_PACK = "worms.yml"
#: The built-in pack of connection rules, read by :mod:`wormsign.rules.netloader` instead.
NETWORK_PACK = "network.yml"


def _builtin_files() -> list[tuple[str, str]]:
    """Every built-in pack of request rules (``wormsign/rules/packs/*.yml`` but the network
    pack): worms.yml first, so that rules of equal priority keep their order when packs are
    added."""
    pack = package_dir("wormsign.rules", __file__) / "packs"
    files = [(f"<builtin>/{p.name}", p.read_text("utf-8")) for p in pack.iterdir()
             if p.name.endswith((".yml", ".yaml")) and p.name != NETWORK_PACK]
    return sorted(files, key=lambda f: (f[0] != f"<builtin>/{FIRST_PACK}", f[0]))


def _user_files(paths: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for p in paths:
        path = Path(p)
        files = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
        for f in files:
            try:
                out.append((str(f), _read_bounded(f)))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(str(f), None, f"cannot read rule file: {exc}"))
    if problems:
        raise RuleError(problems)
    return out


def _read_bounded(f: Path) -> str:
    """A rule file's text: a regular file of at most :data:`MAX_FILE_BYTES`."""
    return read_bounded(f, MAX_FILE_BYTES)


def _small_int(v: object) -> bool:
    """An int (not a bool) short enough to write as text."""
    return isinstance(v, int) and not isinstance(v, bool) and abs(v) < 10**18


def _parse_builtin(text: str, name: str) -> packcache.Parsed:
    return parse_text(text, name, builtin=True)


def load_pack(user_paths: list[str] | None = None, builtin: bool = True) -> RulePack:
    """The built-in pack plus the user's rule files; raises :class:`RuleError` with every
    problem in every file when anything is wrong. The built-in pack is read from its cache
    (:mod:`wormsign.rules.packcache`, no YAML) when it is there."""
    own = _builtin_files() if builtin else []
    files = own + _user_files(user_paths or [])
    parsed = packcache.load_builtin(own, _parse_builtin) if own else []
    parsed += [parse_text(text, name) for name, text in files[len(own):]]
    rules: dict[str, Rule] = {}
    families: dict[str, Family] = {}
    problems: list[Problem] = []
    for k, ((name, _text), (rs, fams, probs)) in enumerate(zip(files, parsed, strict=True)):
        problems += probs
        families.update(fams)
        for r in rs:
            first = rules.get(r.id)
            if first is not None and k < len(own):  # two built-in packs, one id
                problems.append(Problem(name, r.line, f"rule id {r.id!r} is also in "
                                        f"{first.source} (line {first.line})"))
            rules[r.id] = r
    for r in rules.values():
        if r.family not in families:
            families[r.family] = Family(r.family, r.family)
    if problems:
        raise RuleError(problems)
    return RulePack(tuple(rules.values()), families)
