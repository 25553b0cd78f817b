"""A package's own data files (the rule packs, the sources the pack cache is keyed on).

Installed as files (the usual case), they are read from the package's folder directly:
importing :mod:`importlib.resources` costs about 5 ms of every command's start. Anywhere else
(a zip archive), :func:`importlib.resources.files` finds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def package_dir(package: str, module_file: str | None) -> Traversable:
    """The folder of ``package``, whose ``__init__`` or other module is ``module_file``."""
    if module_file:
        here = Path(module_file).parent
        if here.is_dir():
            return here
    from importlib import resources

    return resources.files(package)
