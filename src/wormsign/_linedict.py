"""The mapping every data file's reader builds, and the bounds on a YAML document.

Kept apart from :mod:`wormsign.validation` (which re-exports all of it) so that the YAML
loader, :mod:`wormsign._yamlload`, can use them while ``validation`` imports that loader --
and PyYAML with it -- only when a YAML file is first read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_DEPTH", "MAX_NODES", "LineDict"]

MAX_DEPTH = 64
MAX_NODES = 200_000


class LineDict(dict[Any, Any]):
    """A mapping read from a file: ``line`` is where it starts, ``key_lines`` where each key is
    (both 1-based; None/absent when built in memory)."""

    line: int | None = None
    key_lines: dict[Any, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}
