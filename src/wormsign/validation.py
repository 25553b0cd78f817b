"""One way to read and validate the YAML and JSON files wormsign reads.

Rule packs, playbooks, knowledge-base advisories and simulator presets all come from users and
shared repositories, so they are read the same way:

- the text is bounded (:func:`read_bounded`: a regular file of at most :data:`MAX_FILE_BYTES`);
- YAML goes through :class:`LineLoader`, a safe loader that refuses aliases before anything is
  built (an alias bomb -- "billion laughs" -- would expand to gigabytes), refuses nesting deeper
  than :data:`MAX_DEPTH` and more than :data:`MAX_NODES` nodes while composing (no
  ``RecursionError``), and gives every mapping the line it starts on and the line of each key
  (:class:`LineDict`); JSON goes through :func:`parse_json`, which does the same for objects;
- a validator appends a :class:`~wormsign.errors.Problem` (file, line, message) for every
  problem it finds and carries on, and the caller raises one
  :class:`~wormsign.errors.ValidationError` carrying all of them (:func:`raise_problems`),
  which the CLI prints one line per problem.

PyYAML is imported on the first YAML read (:mod:`wormsign._yamlload`), not with this module:
a command that reads no YAML (``scan`` with the built-in pack cached) does not pay for it.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wormsign._linedict import MAX_DEPTH, MAX_NODES, LineDict
from wormsign.errors import Problem, ValidationError

if TYPE_CHECKING:
    from wormsign._yamlload import LineLoader, construct_line_mapping

__all__ = ["LINE", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "LineDict", "LineLoader",
           "construct_line_mapping", "key_line", "line_of", "parse_json", "parse_yaml",
           "raise_problems", "read_bounded", "read_problem", "strip_lines", "unknown_keys"]

MAX_FILE_BYTES = 16 << 20
LINE = "__line__"


def line_of(obj: object, default: int | None = None) -> int | None:
    """The line a mapping read from a file starts on, else ``default``."""
    if isinstance(obj, LineDict) and obj.line is not None:
        return obj.line
    if isinstance(obj, dict) and isinstance(obj.get(LINE), int):
        return int(obj[LINE])
    return default


def key_line(obj: object, key: object, default: int | None = None) -> int | None:
    """The line of ``key`` in a mapping read from a file, else the mapping's line, else
    ``default``."""
    if isinstance(obj, LineDict) and key in obj.key_lines:
        return obj.key_lines[key]
    return line_of(obj, default)


def strip_lines(d: Any) -> Any:
    """Plain dicts and lists, without the :data:`LINE` keys a rule file's mappings carry."""
    if isinstance(d, dict):
        return {k: strip_lines(v) for k, v in d.items() if k != LINE}
    if isinstance(d, list):
        return [strip_lines(v) for v in d]
    return d


def parse_yaml(text: str, path: str, *, loader: Any = None,
               ) -> tuple[Any, list[Problem]]:
    """The document in ``text`` and the problems that kept it from being read (then the
    document is None). ``loader`` (default :class:`LineLoader`) must be :class:`LineLoader`
    or a subclass for any text a user wrote. PyYAML is imported here, on the first call."""
    from wormsign import _yamlload

    return _yamlload.parse(text, path, _yamlload.LineLoader if loader is None else loader)


def __getattr__(name: str) -> Any:
    """:class:`LineLoader` and :func:`construct_line_mapping`, imported (with PyYAML) when
    first asked for (PEP 562)."""
    if name in ("LineLoader", "construct_line_mapping"):
        from wormsign import _yamlload

        return getattr(_yamlload, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _line_decoder(text: str) -> json.JSONDecoder:
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    decoder = json.JSONDecoder()

    def parse_object(s_and_end: tuple[str, int], strict: bool,
                     scan_once: Callable[[str, int], tuple[Any, int]],
                     object_hook: Any, object_pairs_hook: Any,
                     memo: dict[str, str] | None = None) -> tuple[LineDict, int]:
        start = s_and_end[1]
        pairs, end = json.decoder.JSONObject(  # type: ignore[attr-defined]
            s_and_end, strict, scan_once, None, list, memo)
        out = LineDict(pairs)
        out.line = bisect.bisect_right(starts, start - 1)
        pos = start
        for k, _v in pairs:  # a key's line: where it next occurs after the one before
            i = text.find(json.dumps(k, ensure_ascii=False), pos, end)
            out.key_lines.setdefault(k, bisect.bisect_right(starts, i) if i >= 0 else out.line)
            pos = max(pos, i + 1)
        return out, end

    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder


def parse_json(text: str, path: str) -> tuple[Any, list[Problem]]:
    """Like :func:`parse_yaml` for JSON: objects are :class:`LineDict` with their lines."""
    try:
        return _line_decoder(text).decode(text), []
    except json.JSONDecodeError as exc:
        return None, [Problem(path, exc.lineno, f"invalid JSON: {exc.msg}")]
    except RecursionError:
        return None, [Problem(path, None, "invalid JSON: nested too deeply")]
    except (ValueError, OverflowError) as exc:
        return None, [Problem(path, None, f"invalid JSON value: {exc}")]


def read_bounded(f: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> str:
    """A data file's text: a regular file of at most ``limit`` bytes, UTF-8 (``OSError`` or
    ``UnicodeDecodeError`` otherwise)."""
    if not stat.S_ISREG(os.stat(f).st_mode):
        raise OSError("not a regular file")
    with open(f, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"larger than {limit} bytes")
    return data.decode("utf-8")


def read_problem(f: Path | str, exc: Exception, what: str) -> Problem:
    """The problem for a file that cannot be read."""
    return Problem(str(f), None, f"cannot read {what}: {exc}")


def raise_problems(problems: Sequence[Problem], what: str) -> None:
    """Raise one :class:`ValidationError` with every error in ``problems`` (warnings alone
    raise nothing)."""
    if any(p.severity == "error" for p in problems):
        raise ValidationError([p for p in problems if p.severity == "error"], what)


def unknown_keys(data: Mapping[Any, Any], known: set[str] | frozenset[str], path: str,
                 what: str, problems: list[Problem]) -> None:
    """A problem at its line for every key of ``data`` not in ``known``."""
    for key in data:
        if key != LINE and key not in known:
            problems.append(Problem(path, key_line(data, key),
                                    f"unknown {what} key {key!r} (known: "
                                    f"{', '.join(sorted(known))})"))
