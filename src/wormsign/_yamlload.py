"""The bounded YAML loader behind :func:`wormsign.validation.parse_yaml`.

A module of its own so that importing :mod:`wormsign.validation` does not import PyYAML
(about 15 ms: its reader compiles a large regular expression): ``wormsign scan`` with the
built-in rule pack cached reads no YAML at all. :mod:`wormsign.validation` gives
:class:`LineLoader` and :func:`construct_line_mapping` under its own names.
"""

from __future__ import annotations

from typing import Any

import yaml

from wormsign._linedict import MAX_DEPTH, MAX_NODES, LineDict
from wormsign.errors import Problem

__all__ = ["LineLoader", "construct_line_mapping", "parse"]


class LineLoader(yaml.SafeLoader):
    """A safe loader that builds :class:`LineDict` mappings, refuses aliases and bounds nesting
    and size while composing, before any object is built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in wormsign data files", mark)
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        if self._nodes > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"more than {MAX_NODES} values in one file", mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def construct_line_mapping(loader: Any, node: yaml.MappingNode) -> LineDict:
    """A mapping node as a :class:`LineDict` (for any SafeLoader subclass, C or Python)."""
    out = LineDict(loader.construct_mapping(node, deep=True))
    out.line = node.start_mark.line + 1
    for key_node, _value in node.value:
        try:
            key = loader.construct_object(key_node, deep=True)
            out.key_lines.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # an unhashable key: construct_mapping has refused it already
            continue
    return out


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                           construct_line_mapping)


def parse(text: str, path: str, loader: Any) -> tuple[Any, list[Problem]]:
    """:func:`wormsign.validation.parse_yaml`."""
    try:
        return yaml.load(text, Loader=loader), []  # noqa: S506 - SafeLoader subclasses
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        return None, [Problem(path, line, f"YAML syntax error: {what}")]
    except (ValueError, OverflowError, RecursionError, TypeError) as exc:  # 5000 digits, ...
        return None, [Problem(path, None, f"invalid YAML value: {exc}")]
