"""Shared fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from wormsign.detect.hscache import CACHE_ENV
from wormsign.logs.synth import write_sample

# Compiled rule databases go to a folder of this test run, never to the user's cache (the
# commands the tests start inherit it).
_CACHE = tempfile.mkdtemp(prefix="wormsign-test-cache-")
os.environ[CACHE_ENV] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sample")
    write_sample(d, background=3000, seed=7)
    return d
