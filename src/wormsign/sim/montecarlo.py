"""Monte Carlo: many seeded runs of one scenario, on local cores or a Dask cluster.

Run ``i`` of ``run_many(sc, runs, seed)`` uses the ``i``-th child of
``numpy.random.SeedSequence(seed)``, so the result does not depend on how the runs were
spread over workers. Workers send back each run's summary and its time series (thinned to at
most :data:`BAND_POINTS` rows) from which the 5/50/95 % bands of every series (telescope
columns included) are computed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.cluster import check_scheduler_address as check_scheduler_address
from wormsign.cluster import dask_client
from wormsign.sim.engine import simulate
from wormsign.sim.result import SUMMARY_KEYS, SimResult
from wormsign.sim.scenario import Scenario, check_ensemble, check_runs

F64 = npt.NDArray[np.float64]
BAND_POINTS = 1000
BAND_CELLS = 20_000_000
"""At most this many band values (8 bytes each) are kept over all runs of an ensemble."""
COUNT_SERIES = ("new_infections", "probes", "flood")
"""Counts per step (re-binned by summing); every other series is a state, read at bin end.
Telescope probe columns are counts too."""


def run_seeds(seed: int | None, runs: int) -> list[int]:
    """The per-run seeds derived from ``seed`` (fresh entropy when None)."""
    check_runs(runs, seed=seed)
    children = np.random.SeedSequence(seed).spawn(runs)
    return [int(c.generate_state(1, np.uint64)[0]) for c in children]


def _thin(res: SimResult, factor: int) -> dict[str, F64]:
    """Every series of ``res`` on a grid ``factor`` times coarser."""
    n = res.t.size
    ends = np.minimum(np.arange(factor, n + factor, factor), n) - 1
    out: dict[str, F64] = {}
    for name, arr in res.columns().items():
        if name in COUNT_SERIES or name.endswith("].probes"):
            csum = np.concatenate(([0.0], np.cumsum(arr)))
            out[name] = np.diff(csum[np.concatenate(([0], ends + 1))])
        else:
            out[name] = arr[ends]
    return out


def band_points(sc: Scenario, runs: int) -> int:
    """Rows per run kept for the bands: :data:`BAND_POINTS`, fewer for very many runs so that
    the ensemble stays within :data:`BAND_CELLS` values in memory."""
    cols = 9 + 2 * len(sc.telescopes)
    return max(20, min(BAND_POINTS, BAND_CELLS // max(1, runs * cols)))


def _thin_factor(sc: Scenario, points: int = BAND_POINTS) -> int:
    """Output steps per band step: a round band step (1 s, 5 s, 1 min, ...) within the limit."""
    step = sc.output_step()
    rows = math.ceil(sc.duration_s / step - 1e-9)
    for nice in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400):
        factor = max(1, round(nice / step))
        if rows / factor <= points and abs(factor * step - nice) < 1e-9:
            return factor
    return max(1, math.ceil(rows / points))


def _run_chunk(sc: Scenario, seeds: Sequence[int],
               factor: int) -> list[tuple[dict[str, Any], dict[str, F64]]]:
    out = []
    for s in seeds:
        res = simulate(sc, s)
        out.append((res.summary(), _thin(res, factor)))
    return out


def _stats(values: list[float | None]) -> dict[str, float | None]:
    vals = np.array([v for v in values if v is not None], dtype=np.float64)
    if vals.size == 0:
        return {"mean": None, "sd": None, "p5": None, "p50": None, "p95": None}
    p5, p50, p95 = np.percentile(vals, [5, 50, 95])
    return {
        "mean": float(vals.mean()),
        "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
        "p5": float(p5),
        "p50": float(p50),
        "p95": float(p95),
    }


@dataclass
class Ensemble:
    """The runs of one scenario: each run's summary and 5/50/95 % bands of the series."""

    scenario: Scenario
    seed: int | None
    summaries: list[dict[str, Any]]
    t: F64
    bands: dict[str, tuple[F64, F64, F64]]

    def summary(self) -> dict[str, Any]:
        """Each contract figure as ``{mean, sd, p5, p50, p95}`` (over the runs that reached
        it; all null when none did), plus ``runs``: each run's own summary."""
        out: dict[str, Any] = {k: _stats([s[k] for s in self.summaries]) for k in SUMMARY_KEYS}
        out["runs"] = list(self.summaries)
        return out

    def columns(self) -> dict[str, F64]:
        """Band columns ``NAME_p5``, ``NAME_p50``, ``NAME_p95`` on the band time grid."""
        cols: dict[str, F64] = {"t": self.t}
        for name, (lo, mid, hi) in self.bands.items():
            cols[f"{name}_p5"] = lo
            cols[f"{name}_p50"] = mid
            cols[f"{name}_p95"] = hi
        return cols


def _collect(sc: Scenario, seed: int | None,
             parts: list[tuple[dict[str, Any], dict[str, F64]]]) -> Ensemble:
    summaries = [p[0] for p in parts]
    t = parts[0][1]["t"]
    bands: dict[str, tuple[F64, F64, F64]] = {}
    for name in parts[0][1]:
        if name == "t":
            continue
        stack = np.vstack([p[1][name] for p in parts])
        lo, mid, hi = np.percentile(stack, [5, 50, 95], axis=0)
        bands[name] = (lo, mid, hi)
    return Ensemble(scenario=sc, seed=seed, summaries=summaries, t=t, bands=bands)


def _chunks(seeds: list[int], n: int) -> list[list[int]]:
    n = max(1, min(n, len(seeds)))
    return [seeds[i::n] for i in range(n)]


def run_many(sc: Scenario, runs: int, seed: int | None = None, workers: int | None = None,
             scheduler: str | None = None, connect_timeout: float = 10.0) -> Ensemble:
    """``runs`` seeded runs of ``sc``: on ``workers`` local processes (all cores by default;
    1 runs in this process), or on the Dask cluster at ``scheduler`` when given (waiting at
    most ``connect_timeout`` seconds to reach it)."""
    check_runs(runs, workers, seed)
    check_ensemble(sc, runs)
    if scheduler:
        check_scheduler_address(scheduler)
    seeds = run_seeds(seed, runs)
    factor = _thin_factor(sc, band_points(sc, runs))
    parts: list[tuple[dict[str, Any], dict[str, F64]]] = []
    if scheduler:
        parts = _run_dask(sc, seeds, factor, scheduler, connect_timeout)
    else:
        n_workers = workers if workers is not None else (os.cpu_count() or 1)
        if n_workers <= 1 or runs == 1 or sc.model != "stochastic":
            parts = _run_chunk(sc, seeds, factor)
        else:
            parts = _run_local(sc, seeds, factor, n_workers)
    return _collect(sc, seed, parts)


def _run_local(sc: Scenario, seeds: list[int], factor: int,
               n_workers: int) -> list[tuple[dict[str, Any], dict[str, F64]]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # "spawn": no fork of a possibly multi-threaded parent; each worker loads the JIT cache.
    ctx = multiprocessing.get_context("spawn")
    chunks = _chunks(seeds, n_workers)
    by_seed: dict[int, tuple[dict[str, Any], dict[str, F64]]] = {}
    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=ctx) as pool:
        futures = [pool.submit(_run_chunk, sc, chunk, factor) for chunk in chunks]
        for chunk, fut in zip(chunks, futures, strict=True):
            for s, part in zip(chunk, fut.result(), strict=True):
                by_seed[s] = part
    return [by_seed[s] for s in seeds]


def _run_dask(sc: Scenario, seeds: list[int], factor: int, address: str,
              timeout: float) -> list[tuple[dict[str, Any], dict[str, F64]]]:
    client: Any = dask_client(address, timeout)
    try:
        n = max(1, sum(client.nthreads().values()))
        chunks = _chunks(seeds, n)
        futures = [client.submit(_run_chunk, sc, chunk, factor, pure=False) for chunk in chunks]
        results = client.gather(futures)
    finally:
        client.close()
    by_seed: dict[int, tuple[dict[str, Any], dict[str, F64]]] = {}
    for chunk, res in zip(chunks, results, strict=True):
        for s, part in zip(chunk, res, strict=True):
            by_seed[s] = part
    return [by_seed[s] for s in seeds]
