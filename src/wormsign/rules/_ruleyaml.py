"""The YAML loaders of rule files, imported (with PyYAML) on the first rule file parsed.

:mod:`wormsign.rules.loader` gives them as ``_LineLoader`` and ``_BuiltinLoader``; they live
here so that importing the loader, and loading the built-in pack from its cache
(:mod:`wormsign.rules.packcache`), imports no YAML.
"""

from __future__ import annotations

from typing import Any

import yaml

from wormsign._yamlload import LineLoader, construct_line_mapping
from wormsign.validation import LINE

__all__ = ["BuiltinLoader", "RuleLineLoader"]


class RuleLineLoader(LineLoader):
    """The shared bounded loader (:class:`wormsign.validation.LineLoader`); a rule file's
    mappings also carry their line under the ``__line__`` key."""


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = construct_line_mapping(loader, node)
    mapping[LINE] = mapping.line
    return mapping


RuleLineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                               _construct_mapping)

BuiltinLoader: Any = None
if hasattr(yaml, "CSafeLoader"):  # libyaml: the same document, ten times faster

    class _BuiltinLoaderC(yaml.CSafeLoader):
        """For the built-in pack only (text shipped with wormsign, not attacker-written):
        libyaml's parser with the same line-keeping mappings; user files always go through
        :class:`RuleLineLoader` and its bounds."""

    _BuiltinLoaderC.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                    _construct_mapping)
    BuiltinLoader = _BuiltinLoaderC
