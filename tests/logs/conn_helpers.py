"""Shared builders for the connection reader tests."""

from __future__ import annotations

import numpy as np

from wormsign.logs.conn import ConnBatch

COLUMNS = ("time", "src", "dst", "sport", "dport", "proto", "outcome", "orig_bytes",
           "resp_bytes", "mark")


def random_batch(n: int, seed: int, protos: tuple[int, ...] = (6, 17, 1)) -> ConnBatch:
    """``n`` random connections in time order (times to the microsecond)."""
    rng = np.random.default_rng(seed)
    return ConnBatch(
        np.sort(rng.uniform(9.9e8, 9.9e8 + 86400, n)).round(6),
        rng.integers(1, 2**32, n, dtype=np.uint32), rng.integers(1, 2**32, n, dtype=np.uint32),
        rng.integers(0, 65536, n).astype(np.int32), rng.integers(0, 65536, n).astype(np.int32),
        rng.choice(np.array(protos, dtype=np.uint8), n), rng.integers(0, 4, n).astype(np.uint8),
        rng.integers(-1, 5000, n), rng.integers(-1, 5000, n), np.zeros(n, np.uint8),
        np.arange(1, n + 1, dtype=np.int64))


def assert_same(got: ConnBatch, want: ConnBatch, columns: tuple[str, ...] = COLUMNS) -> None:
    assert len(got) == len(want)
    for c in columns:
        a, b = getattr(got, c), getattr(want, c)
        if c == "time":
            np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)
        else:
            np.testing.assert_array_equal(a, b, err_msg=c)
