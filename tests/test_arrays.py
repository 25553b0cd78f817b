"""``wormsign.arrays``: the shared numpy helpers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wormsign.arrays import sorted_unique


@given(arrays(np.int64, st.integers(0, 200), elements=st.integers(-50, 50)))
def test_sorted_unique_is_numpys_unique(a: np.ndarray) -> None:
    got = sorted_unique(a)
    want = np.unique(a)
    assert got.dtype == want.dtype
    assert got.tolist() == want.tolist()


def test_sorted_unique_flattens_and_keeps_dtype() -> None:
    a = np.array([[3, 1], [3, 2]], dtype=np.uint32)
    got = sorted_unique(a)
    assert got.dtype == np.uint32
    assert got.tolist() == [1, 2, 3]
    assert sorted_unique(np.zeros(0, np.int32)).tolist() == []


def test_does_not_import_numpy_ma() -> None:
    code = ("import sys, numpy as np; from wormsign.arrays import sorted_unique; "
            "sorted_unique(np.arange(10) % 3); print('numpy.ma' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_scan_does_not_import_numpy_ma(sample_dir: Path) -> None:
    """``numpy.ma`` costs 30-40 ms in every process that imports it; the scan (parent and
    forked workers alike) must not need it."""
    code = ("import io, sys, contextlib; from wormsign.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    main(['scan', '--json', '--workers', '1', {str(sample_dir)!r}])\n"
            "print('numpy.ma' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
