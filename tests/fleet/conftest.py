"""Shared fixtures: the sample fleet written by scripts/make_fleet_sample.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from wormsign.fleet.kb import KnowledgeBase, load_kb

ROOT = Path(__file__).resolve().parents[2]


def sample_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_fleet_sample", ROOT / "scripts" / "make_fleet_sample.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def sample_mod() -> ModuleType:
    return sample_module()


@pytest.fixture()
def sample(tmp_path: Path, sample_mod: ModuleType) -> Path:
    """A fresh copy of the sample fleet; returns its directory."""
    sample_mod.write(tmp_path)
    return tmp_path


def line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of ``needle`` (so tests never hard-code lines)."""
    i = text.index(needle)
    return text.count("\n", 0, i) + 1


CODE_RED_ERA = ("MS00-078", "MS01-026", "MS01-033")
"""The 2000-2001 IIS advisories the sample fleet (an IIS shop in July 2001) is written for;
later advisories (MS03-007 WebDAV...) would rightly flag its IIS 5.0 hosts too."""


def era_kb() -> KnowledgeBase:
    """The packaged knowledge base restricted to :data:`CODE_RED_ERA`."""
    kb = load_kb()
    return KnowledgeBase({k: v for k, v in kb.advisories.items() if k in CODE_RED_ERA},
                         kb.patches)
