"""The vulnerability knowledge base: OSV JSON advisories shipped as data, extendable by users.

One file per advisory under ``wormsign/fleet/kb/`` (``MS01-033.json`` ...), in the OSV schema
(https://ossf.github.io/osv-schema/): ``id``, ``aliases`` (CVE ids and hotfix numbers),
``summary``, ``details``, ``affected`` (``package.name`` a product such as ``microsoft-iis``,
with ``versions`` listed and/or ``ranges`` of type ``ECOSYSTEM`` with ``introduced`` /
``fixed`` / ``last_affected`` events), ``references``. What OSV has no field for lives under
``database_specific``:

``severity``      ``critical`` | ``high`` | ``medium`` | ``low``
``fixed_by``      patch ids that fix the hole directly (``["MS01-033"]``)
``patches``       patch records ``{id, aliases, released, title, url, supersedes, cumulative,
                  note}``; records with the same id in several files are merged, and
                  ``supersedes`` edges make the supersedence graph (MS02-018 → MS01-044 →
                  MS01-033), so a host with a later cumulative patch counts as patched
``requires``      configuration the hole needs to be reachable: ``mappings`` (script-map
                  extensions, any of which exposes it), ``executable_vdirs: true`` and/or
                  ``webdav: true`` (the WebDAV methods must be served)
``mitigations``   ``{id, kind, description, extensions}`` with ``kind`` one of
                  ``mappings-absent``, ``extensions-denied``, ``urlscan``,
                  ``no-executable-vdirs``, ``webdav-disabled``
``fix``           one line telling the operator what to do
``worms``         worm families that use the hole
``outbreak``      the outbreak model for urgency: a simulator ``preset`` name and the
                  closed-form parameters ``scan_rate``, ``vulnerable``, ``address_bits``,
                  ``initial`` (see :mod:`wormsign.fleet.urgency`)

:func:`load_kb` reads the packaged files plus any ``--kb DIR``; a user file with the id of a
packaged one replaces it. :func:`validate_kb` returns every problem with file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from wormsign.errors import ConfigError, Problem
from wormsign.fleet.files import MAX_SMALL_BYTES, read_limited
from wormsign.fleet.versions import version_key, version_matches, version_order
from wormsign.validation import key_line, line_of, parse_json, raise_problems, read_problem

SEVERITIES: dict[str, float] = {"critical": 1.0, "high": 0.7, "medium": 0.4, "low": 0.2}
MITIGATION_KINDS = ("mappings-absent", "extensions-denied", "urlscan", "no-executable-vdirs",
                    "webdav-disabled")


@dataclass(frozen=True, slots=True)
class Patch:
    """A patch, hotfix or service pack, and the patches whose fixes it carries."""

    id: str
    aliases: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()
    title: str = ""
    released: str = ""
    url: str = ""
    cumulative: bool = False


@dataclass(frozen=True, slots=True)
class Mitigation:
    """A configuration state that blocks the hole without the patch."""

    id: str
    kind: str
    description: str
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Affected:
    """One affected product: listed versions and/or ECOSYSTEM ranges of versions."""

    product: str
    versions: tuple[str, ...] = ()
    ranges: tuple[tuple[tuple[str, str], ...], ...] = ()

    def matches(self, version: str) -> bool:
        """True when ``version`` is affected (``5.0.2195`` matches a listed ``5.0``)."""
        key = version_key(version)
        if not key:
            return False
        if any(version_matches(v, version) for v in self.versions):
            return True
        return any(_in_range(version, events) for events in self.ranges)


def _in_range(version: str, events: Sequence[tuple[str, str]]) -> bool:
    """OSV ECOSYSTEM range semantics, versions ordered by :func:`version_order` (so
    ``0.9.6d`` < ``0.9.6e`` and ``2.0-beta9`` < ``2.0``); ``introduced: "0"`` is every version."""
    key = version_order(version)
    affected = False
    for kind, value in events:
        vk = version_order(value) if value != "0" else ()
        if kind == "limit" and key >= vk:
            return False
        if kind == "introduced" and key >= vk:
            affected = True
        elif (kind == "fixed" and key >= vk) or (kind == "last_affected" and key > vk):
            affected = False
    return affected


@dataclass(frozen=True)
class Advisory:
    """One advisory of the knowledge base."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: str
    affected: tuple[Affected, ...]
    fixed_by: tuple[str, ...]
    requires_mappings: tuple[str, ...] = ()
    requires_exec_vdirs: bool = False
    requires_webdav: bool = False
    mitigations: tuple[Mitigation, ...] = ()
    fix: str = ""
    worms: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    outbreak: Mapping[str, Any] = field(default_factory=dict, compare=False)
    path: str = field(default="", compare=False)

    @property
    def weight(self) -> float:
        """Severity as a number in (0, 1] for ranking."""
        return SEVERITIES.get(self.severity, 0.4)

    def affects(self, product: str, version: str) -> bool:
        return any(a.product == product and a.matches(version) for a in self.affected)

    def products(self) -> set[str]:
        return {a.product for a in self.affected}

    @property
    def ranged(self) -> bool:
        """True when affected versions are given as ranges (fixed by upgrading to a release,
        not by installing a named patch)."""
        return any(a.ranges for a in self.affected)

    @property
    def config_conditions(self) -> bool:
        """True when the configuration decides whether the hole is reachable."""
        return bool(self.requires_mappings or self.requires_exec_vdirs or self.requires_webdav)


@dataclass
class KnowledgeBase:
    """Advisories by id, the merged patch catalogue and the supersedence graph."""

    advisories: dict[str, Advisory]
    patches: dict[str, Patch]
    _alias: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for p in self.patches.values():
            self._alias[p.id.upper()] = p.id
            for a in p.aliases:
                self._alias.setdefault(a.upper(), p.id)

    def canonical_patch(self, name: str) -> str:
        """The catalogue id of a patch named by id or alias (``Q300972`` → ``MS01-033``)."""
        n = name.strip().upper()
        return self._alias.get(n, n)

    def covering_chain(self, installed: Iterable[str], fixes: Iterable[str]) -> list[str] | None:
        """The supersedence chain from an installed patch to a fixing one, or None.

        ``["MS02-018", "MS01-044", "MS01-033"]`` reads "MS02-018 supersedes MS01-044, which
        supersedes MS01-033"; a directly installed fix gives a one-element chain.
        """
        targets = {self.canonical_patch(f) for f in fixes}
        best: list[str] | None = None
        for name in installed:
            start = self.canonical_patch(name)
            chain = self._search(start, targets)
            if chain is not None and (best is None or len(chain) < len(best)):
                best = chain
        return best

    def _search(self, start: str, targets: set[str]) -> list[str] | None:
        prev: dict[str, str | None] = {start: None}
        queue = [start]
        while queue:
            cur = queue.pop(0)
            if cur in targets:
                chain = [cur]
                p = prev[cur]
                while p is not None:
                    chain.append(p)
                    p = prev[p]
                return chain[::-1]
            patch = self.patches.get(cur)
            for nxt in patch.supersedes if patch else ():
                if nxt not in prev:
                    prev[nxt] = cur
                    queue.append(nxt)
        return None


# --------------------------------------------------------------------------- loading


def _strs(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return tuple(value)
    return None


def _parse_patch(raw: Any, where: str, line: int | None, problems: list[Problem],
                 ) -> Patch | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        problems.append(Problem(where, line_of(raw, line), "each patch needs a string id"))
        return None
    aliases = _strs(raw.get("aliases", []))
    supersedes = _strs(raw.get("supersedes", []))
    if aliases is None or supersedes is None:
        bad = "aliases" if aliases is None else "supersedes"
        problems.append(Problem(where, key_line(raw, bad),
                                f"patch {raw['id']}: aliases and supersedes must be string lists"))
        return None
    return Patch(id=raw["id"], aliases=aliases, supersedes=supersedes,
                 title=str(raw.get("title", "")), released=str(raw.get("released", "")),
                 url=str(raw.get("url", "")), cumulative=bool(raw.get("cumulative", False)))


def _parse_events(r: Any, i: int, where: str, line: int | None, problems: list[Problem],
                  ) -> tuple[tuple[str, str], ...] | None:
    evs = r.get("events") if isinstance(r, dict) else None
    if not isinstance(evs, list):
        problems.append(Problem(where, line_of(r, line),
                                f"affected[{i}]: each range needs an events list"))
        return None
    events = []
    for ev in evs:
        if not isinstance(ev, dict) or len(ev) != 1:
            problems.append(Problem(where, line_of(ev, key_line(r, "events")),
                                    f"affected[{i}]: each event is one key/value"))
            continue
        ((k, v),) = ev.items()
        if k not in ("introduced", "fixed", "last_affected", "limit"):
            problems.append(Problem(where, key_line(ev, k), f"affected[{i}]: unknown event {k!r}"))
            continue
        events.append((k, str(v)))
    return tuple(events)


def _parse_affected(doc: Mapping[str, Any], where: str, problems: list[Problem],
                    ) -> list[Affected]:
    raw = doc.get("affected")
    line = key_line(doc, "affected", 1)
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(where, line, "'affected' must be a non-empty list"))
        return []
    out = []
    for i, item in enumerate(raw):
        at = line_of(item, line)
        pkg = item.get("package") if isinstance(item, dict) else None
        name = pkg.get("name") if isinstance(pkg, dict) else None
        if not isinstance(name, str) or not name:
            problems.append(Problem(where, line_of(pkg, at),
                                    f"affected[{i}]: package.name is required"))
            continue
        versions = _strs(item.get("versions", []))
        if versions is None:
            problems.append(Problem(where, key_line(item, "versions"),
                                    f"affected[{i}]: versions must be a list of strings"))
            continue
        ranges = [evs for r in item.get("ranges", []) or []
                  if (evs := _parse_events(r, i, where, key_line(item, "ranges"), problems))
                  is not None]
        if not versions and not ranges:
            problems.append(Problem(where, at, f"affected[{i}]: no versions and no ranges"))
            continue
        out.append(Affected(product=_product_name(name), versions=versions,
                            ranges=tuple(ranges)))
    return out


def _product_name(name: str) -> str:
    from wormsign.fleet.products import normalise_product

    return normalise_product(name)


def _parse_specific(ds: Any, doc: Mapping[str, Any], where: str, problems: list[Problem],
                    ) -> dict[str, Any]:
    """The ``database_specific`` fields, checked; a bad one is a problem and its default."""
    if not isinstance(ds, dict):
        problems.append(Problem(where, key_line(doc, "database_specific", 1),
                                "'database_specific' must be an object"))
        ds = {}
    at = line_of(ds, key_line(doc, "id", 1))
    severity = ds.get("severity", "high")
    if severity not in SEVERITIES:
        problems.append(Problem(where, key_line(ds, "severity", at),
                                f"severity must be one of {', '.join(SEVERITIES)}"))
        severity = "high"
    fixed_by = _strs(ds.get("fixed_by", []))
    if not fixed_by:
        problems.append(Problem(where, key_line(ds, "fixed_by", at),
                                "database_specific.fixed_by must list at least one patch id"))
        fixed_by = ()
    patches = [p for raw in ds.get("patches", []) or []
               if (p := _parse_patch(raw, where, key_line(ds, "patches"), problems)) is not None]
    req = ds.get("requires", {}) or {}
    mappings = _strs(req.get("mappings", [])) if isinstance(req, dict) else None
    if mappings is None or not isinstance(req, dict):
        problems.append(Problem(where, key_line(ds, "requires", at),
                                "requires.mappings must be a list of extensions"))
        mappings, req = (), {}
    mitigations = []
    for raw in ds.get("mitigations", []) or []:
        if not isinstance(raw, dict) or raw.get("kind") not in MITIGATION_KINDS:
            kinds = ", ".join(MITIGATION_KINDS)
            problems.append(Problem(where, key_line(raw, "kind", key_line(ds, "mitigations")),
                                    f"mitigation kind must be one of {kinds}"))
            continue
        exts = _strs(raw.get("extensions", [])) or ()
        mitigations.append(Mitigation(id=str(raw.get("id", raw["kind"])), kind=raw["kind"],
                                      description=str(raw.get("description", raw["kind"])),
                                      extensions=tuple(e.lower() for e in exts)))
    outbreak = ds.get("outbreak", {}) or {}
    if not isinstance(outbreak, dict):
        problems.append(Problem(where, key_line(ds, "outbreak", at), "outbreak must be an object"))
        outbreak = {}
    return {"severity": severity, "fixed_by": fixed_by, "patches": patches,
            "requires_mappings": tuple(m.lower() for m in mappings),
            "requires_exec_vdirs": bool(req.get("executable_vdirs", False)),
            "requires_webdav": bool(req.get("webdav", False)),
            "mitigations": tuple(mitigations), "fix": str(ds.get("fix", "")),
            "worms": _strs(ds.get("worms", [])) or (), "outbreak": dict(outbreak)}


def parse_advisory(text: str, where: str) -> tuple[Advisory | None, list[Patch], list[Problem]]:
    """Parse one OSV JSON document; returns the advisory (None if unusable), its patch
    records and every problem found, each with the line it is on."""
    doc, problems = parse_json(text, where)
    if problems:
        return None, [], problems
    if not isinstance(doc, dict):
        return None, [], [Problem(where, 1, "an advisory must be a JSON object")]
    for key in ("id", "summary"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            problems.append(Problem(where, key_line(doc, key, 1),
                                    f"'{key}' must be a non-empty string"))
    aliases = _strs(doc.get("aliases", []))
    if aliases is None:
        problems.append(Problem(where, key_line(doc, "aliases"), "'aliases' must be strings"))
        aliases = ()
    affected = _parse_affected(doc, where, problems)
    refs = []
    for r in doc.get("references", []) or []:
        if isinstance(r, dict) and isinstance(r.get("url"), str):
            refs.append(r["url"])
        else:
            problems.append(Problem(where, line_of(r, key_line(doc, "references")),
                                    "each reference needs a url"))
    spec = _parse_specific(doc.get("database_specific", {}), doc, where, problems)
    patches = spec.pop("patches")
    if problems and any(p.severity == "error" for p in problems) and (
        not isinstance(doc.get("id"), str) or not affected
    ):
        return None, patches, problems
    adv = Advisory(id=str(doc.get("id")), aliases=aliases, summary=str(doc.get("summary", "")),
                   affected=tuple(affected), references=tuple(refs), path=where, **spec)
    return adv, patches, problems


def _packaged_files() -> list[tuple[str, str]]:
    root = resources.files("wormsign.fleet") / "kb"
    return sorted((f"<builtin>/kb/{f.name}", f.read_text(encoding="utf-8"))
                  for f in root.iterdir() if f.name.endswith(".json"))


def _dir_files(path: str, problems: list[Problem]) -> list[tuple[str, str]]:
    p = Path(path)
    if not p.exists():
        raise ConfigError("knowledge-base directory not found", path=path)
    files = sorted(p.rglob("*.json")) if p.is_dir() else [p]
    out = []
    for f in files:
        try:
            out.append((str(f), read_limited(f, MAX_SMALL_BYTES, "advisory").decode("utf-8")))
        except UnicodeDecodeError as exc:
            problems.append(read_problem(f, exc, "advisory"))
        except ConfigError as exc:
            problems.append(Problem(str(f), exc.line, exc.message))
    return out


def validate_kb(extra_dirs: Sequence[str] = (), builtin: bool = True) -> list[Problem]:
    """Every problem in the packaged and extra knowledge-base files (empty when valid)."""
    return _build(extra_dirs, builtin)[1]


def load_kb(extra_dirs: Sequence[str] = (), builtin: bool = True) -> KnowledgeBase:
    """The knowledge base; raises :class:`~wormsign.errors.ValidationError` (a
    :class:`ConfigError`) listing every problem, with file and line, if any file is invalid."""
    kb, problems = _build(extra_dirs, builtin)
    raise_problems(problems, "knowledge base")
    return kb


def _build(extra_dirs: Sequence[str], builtin: bool) -> tuple[KnowledgeBase, list[Problem]]:
    files = _packaged_files() if builtin else []
    problems: list[Problem] = []
    for d in extra_dirs:
        files.extend(_dir_files(d, problems))
    advisories: dict[str, Advisory] = {}
    patches: dict[str, Patch] = {}
    for where, text in files:
        adv, pats, probs = parse_advisory(text, where)
        problems.extend(probs)
        if adv is not None:
            advisories[adv.id] = adv
        for p in pats:
            old = patches.get(p.id)
            if old is not None:
                p = Patch(id=p.id, aliases=tuple(dict.fromkeys(old.aliases + p.aliases)),
                          supersedes=tuple(dict.fromkeys(old.supersedes + p.supersedes)),
                          title=old.title or p.title, released=old.released or p.released,
                          url=old.url or p.url, cumulative=old.cumulative or p.cumulative)
            patches[p.id] = p
    kb = KnowledgeBase(advisories=advisories, patches=patches)
    for adv in advisories.values():
        for fid in adv.fixed_by:
            if kb.canonical_patch(fid) not in patches:
                problems.append(Problem(adv.path, None,
                                        f"{adv.id}: fixing patch {fid} has no patch record",
                                        severity="warning"))
    if not advisories and not problems:
        problems.append(Problem("<kb>", None, "the knowledge base is empty"))
    return kb, problems

