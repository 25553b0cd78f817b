"""The built-in rule pack, parsed once and kept on disk between runs.

Every ``wormsign scan`` loads the built-in pack; parsing its YAML costs 15-20 ms and importing
PyYAML 13-16 ms more, a visible share of a scan of a small log. :func:`load_builtin` keeps
what :func:`wormsign.rules.loader.parse_text` makes of each built-in pack file (rules,
families, problems) and reads it back without PyYAML.

The entry's name is a hash of everything that shapes it: :data:`FORMAT` (raised whenever the
stored structure changes), wormsign's version, Python's version, the source of the modules
that parse the pack and build its records (so that a changed loader or model, even without a
new version number, never reads an old entry), and every built-in pack file's name and full
text. A changed pack file or an upgrade therefore gives a new name, never an old entry.

Where: the ``packs`` folder of :mod:`wormsign.cache` (``~/.cache/wormsign/packs``, or
``$WORMSIGN_CACHE_DIR/packs``; ``WORMSIGN_CACHE_DIR=off`` turns it off). The entry is a
pickle, and unpickling runs whatever the file says: this is acceptable only because the
folder is private (0700, owned by the user, nobody else can write to it; checked on every
use, on the very folder the entry is read from, by :func:`wormsign.cache.read_private`,
which refuses any other folder) -- the trust Python gives
its own ``__pycache__`` .pyc files. Each entry also carries a SHA-256 of its pickle, checked
before unpickling, so a damaged file is never unpickled. Anything wrong on reading back (a
missing, cut short, corrupt or foreign file, a wrong type, any exception) means the pack is
parsed again, silently, and the entry rewritten (atomically). Compiled patterns are never
stored: the built-in pack's conditions are not compiled at load, and a pickled
:class:`~wormsign.rules.model.Condition` leaves them out.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wormsign
from wormsign import cache
from wormsign._resources import package_dir
from wormsign.errors import Problem
from wormsign.rules.model import Burst, Condition, Family, Rule

__all__ = ["FORMAT", "KIND", "MAX_FILES", "Parsed", "cache_key", "load_builtin"]

#: What one pack file parses to: its rules, its families and its problems.
Parsed = tuple[list[Rule], dict[str, Family], list[Problem]]
#: Raise when the stored structure (or the meaning of a stored field) changes.
FORMAT = 1
KIND = "packs"
MAX_FILES = 8
_SUFFIX = ".pack"
_MAGIC = b"wormsign-pack\0"
#: The sources that shape a parsed pack, relative to the wormsign package.
_SHAPERS = ("errors.py", "validation.py", "_linedict.py", "_yamlload.py", "rules/loader.py",
            "rules/_ruleyaml.py", "rules/model.py", "rules/attack.py", "rules/packcache.py")


def cache_key(files: list[tuple[str, str]]) -> str:
    """The entry's name (without suffix) for the built-in pack files ``files`` (name, text)."""
    h = hashlib.sha256()
    for part in (str(FORMAT), wormsign.__version__, sys.version, sys.implementation.cache_tag
                 or ""):
        h.update(part.encode() + b"\0")
    root = package_dir("wormsign", wormsign.__file__)
    for name in _SHAPERS:
        try:
            data = root.joinpath(name).read_bytes()
        except OSError:  # no sources installed: the version number stands for them
            data = b"?"
        h.update(b"%s\0%d\0" % (name.encode(), len(data)) + data)
    for name, text in files:
        data = text.encode("utf-8", "surrogatepass")
        h.update(b"%s\0%d\0" % (name.encode("utf-8", "surrogatepass"), len(data)) + data)
    return h.hexdigest()[:40]


def load_builtin(files: list[tuple[str, str]],
                 parse: Callable[[str, str], Parsed]) -> list[Parsed]:
    """``parse(text, name)`` of every file of ``files``: read from the cache when a valid
    entry is there, else parsed (and stored for the next run)."""
    folder = cache.usable_dir(KIND)
    path = None
    if folder is not None:
        path = folder / (cache_key(files) + _SUFFIX)
        got = _load(path, [name for name, _ in files])
        if got is not None:
            return got
    parsed = [parse(text, name) for name, text in files]
    if path is not None:
        _store(path, parsed)
    return parsed


def _load(path: Path, names: list[str]) -> list[Parsed] | None:
    """The entry at ``path`` when it is whole and of the right shape, else None."""
    try:
        data = cache.read_private(path.parent, path.name)
        if data is None:
            return None
        body = data[len(_MAGIC) + 32:]
        if data[:len(_MAGIC) + 32] != _MAGIC + hashlib.sha256(body).digest():
            return None
        # Read from a private folder (read_private): see the module docstring.
        got = pickle.loads(body)  # noqa: S301
        if not _valid(got, names):
            return None
    except Exception:  # any failure: parse the pack again
        return None
    cache.mark_used(path)
    return got  # type: ignore[no-any-return]


def _store(path: Path, parsed: list[Parsed]) -> None:
    """Write the entry (atomically), then keep only the :data:`MAX_FILES` most recently
    used."""
    try:
        body = pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # a value that does not pickle: no entry, only the parse each time
        return
    if cache.store_atomic(path, _MAGIC + hashlib.sha256(body).digest() + body):
        cache.prune(path.parent, _SUFFIX, MAX_FILES)


def _valid(got: Any, names: list[str]) -> bool:
    """Whether ``got`` has the shape :func:`load_builtin` returns for files named ``names``."""
    if not isinstance(got, list) or len(got) != len(names):
        return False
    for item, name in zip(got, names, strict=True):
        if not (isinstance(item, tuple) and len(item) == 3):
            return False
        rules, families, problems = item
        if not (isinstance(rules, list) and all(_valid_rule(r, name) for r in rules)
                and isinstance(families, dict)
                and all(isinstance(k, str) and isinstance(f, Family) and f.id == k
                        for k, f in families.items())
                and isinstance(problems, list)
                and all(isinstance(p, Problem) for p in problems)):
            return False
    return True


def _valid_rule(rule: Any, name: str) -> bool:
    """A :class:`Rule` read from ``name`` whose conditions are conditions, none compiled."""
    if not (isinstance(rule, Rule) and rule.source == name
            and (rule.burst is None or isinstance(rule.burst, Burst))):
        return False
    conjs = (*rule.match, *rule.exclude)
    return all(isinstance(conj, tuple)
               and all(isinstance(c, Condition) and c._compiled == () for c in conj)
               for conj in conjs)
