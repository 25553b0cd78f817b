"""Shared fixtures: the sample fleet written by scripts/make_fleet_sample.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

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
