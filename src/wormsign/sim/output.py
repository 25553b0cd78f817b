"""Writing results: time series as CSV (or Parquet by extension) and PNG plots.

pyarrow and matplotlib are imported only when a Parquet file or a plot is asked for.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.errors import ConfigError
from wormsign.sim.montecarlo import Ensemble
from wormsign.sim.result import SimResult

F64 = npt.NDArray[np.float64]


def write_table(path: str, columns: Mapping[str, F64]) -> None:
    """Write equal-length columns to ``path``: Parquet for ``.parquet``/``.pq``, else CSV."""
    p = Path(path)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError as exc:  # pragma: no cover - extra not installed
                raise ConfigError("Parquet output needs pyarrow: pip install "
                                  "'wormsign[parquet]'", path=path) from exc
            pq.write_table(pa.table({k: np.asarray(v) for k, v in columns.items()}), str(p))
            return
        names = list(columns)
        data = np.column_stack([np.asarray(columns[k], dtype=np.float64) for k in names])
        with p.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(names)
            for row in data:
                w.writerow([_fmt(x) for x in row])
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror}", path=path) from exc


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return ""
    # Integers as integers; other values with every significant digit (repr round-trips).
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _per_minute(t: F64, counts: F64) -> F64:
    step = np.diff(t, prepend=0.0)
    return np.asarray(counts / np.maximum(step, 1e-12) * 60.0, dtype=np.float64)


def plot(path: str, result: SimResult | Ensemble, published: Mapping[str, Any] | None = None,
         title: str | None = None) -> None:
    """A two-panel PNG: infected hosts over time, and new infections per minute.

    An :class:`Ensemble` is drawn as its median with a 5-95 % band. ``published`` may give
    ``final_infected`` with ``by_hours`` and ``peak_new_per_min``: drawn as reference marks.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = result.scenario
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 2]})
    if isinstance(result, Ensemble):
        th = result.t / 3600.0
        n_runs = len(result.summaries)
        lo, mid, hi = result.bands["ever_infected"]
        ax1.fill_between(th, lo, hi, alpha=0.3, color="C0", label=f"5-95 % of {n_runs} runs")
        ax1.plot(th, mid, color="C0", label="ever infected (median)")
        imid = result.bands["infected"][1]
        if not np.allclose(imid, mid):
            ax1.plot(th, imid, color="C2", label="currently infected (median)")
        nlo, nmid, nhi = (_per_minute(result.t, b) for b in result.bands["new_infections"])
        ax2.fill_between(th, nlo, nhi, alpha=0.3, color="C1")
        ax2.plot(th, nmid, color="C1", label="new infections per minute (median)")
    else:
        th = result.t / 3600.0
        ax1.plot(th, result.ever_infected, color="C0", label="ever infected")
        if not np.allclose(result.infected, result.ever_infected):
            ax1.plot(th, result.infected, color="C2", label="currently infected")
        w = max(1, round(60.0 / float(np.median(result.step_s))))
        new = np.convolve(result.new_infections, np.ones(w), mode="same")
        ax2.plot(th, new * (60.0 / (w * float(np.median(result.step_s)))), color="C1",
                 label="new infections per minute")
    pub = dict(published or {})
    if "final_infected" in pub:
        ax1.axhline(pub["final_infected"], color="k", ls="--", lw=1,
                    label=f"published: {pub['final_infected']:,} infected")
        if "by_hours" in pub:
            ax1.axvline(pub["by_hours"], color="k", ls=":", lw=1,
                        label=f"published: within {pub['by_hours']} h")
    if "peak_new_per_min" in pub:
        ax2.axhline(pub["peak_new_per_min"], color="k", ls="--", lw=1,
                    label=f"published: peak above {pub['peak_new_per_min']:,}/min")
    ax1.set_ylabel("hosts")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="upper left", fontsize=8)
    ax2.set_ylabel("new infections / min")
    ax2.set_xlabel("hours since start" + (f" ({sc.start})" if sc.start else ""))
    ax2.grid(alpha=0.3)
    ax2.legend(loc="upper left", fontsize=8)
    fig.suptitle(title or f"{sc.name}: {sc.strategy}, {sc.vulnerable:,} vulnerable, "
                 f"{sc.scan_rate:g} probes/s")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise ConfigError(f"cannot write plot: {exc.strerror}", path=path) from exc
    finally:
        plt.close(fig)
