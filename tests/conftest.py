"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormsign.logs.synth import write_sample


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sample")
    write_sample(d, background=3000, seed=7)
    return d
