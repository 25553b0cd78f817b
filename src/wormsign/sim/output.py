"""Writing results: time series as CSV (or Parquet by extension) and PNG plots.

pyarrow and matplotlib are imported only when a Parquet file or a plot is asked for.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.errors import ConfigError
from wormsign.sim.montecarlo import Ensemble
from wormsign.sim.result import SimResult

F64 = npt.NDArray[np.float64]


def utc_column(t: F64, start: datetime) -> npt.NDArray[np.str_]:
    """ISO 8601 UTC instants (``2001-07-19T10:00:01Z``) ``t`` seconds after ``start``: whole
    seconds when every ``t`` is whole, else milliseconds."""
    t = np.asarray(t, dtype=np.float64)
    whole = bool(np.all(np.isfinite(t) & (t == np.round(t))))
    base = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "ms")
    stamps = base + np.round(t * 1000.0).astype("timedelta64[ms]")
    text = np.datetime_as_string(stamps, unit="s" if whole else "ms")
    return np.char.add(text, "Z")


def write_table(path: str, columns: Mapping[str, F64], start: datetime | None = None) -> None:
    """Write equal-length columns to ``path``: Parquet for ``.parquet``/``.pq``, else CSV.

    With ``start`` (the scenario's UTC start) a ``utc`` column follows ``t``: ISO 8601 text in
    CSV, a UTC timestamp (milliseconds) in Parquet.
    """
    p = Path(path)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            _write_parquet(path, columns, start)
            return
        names = list(columns)
        data = np.column_stack([np.asarray(columns[k], dtype=np.float64) for k in names])
        utc = utc_column(columns["t"], start) if start is not None and "t" in columns else None
        at = names.index("t") + 1 if utc is not None else -1
        with p.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([*names[:at], "utc", *names[at:]] if utc is not None else names)
            for i, row in enumerate(data):
                cells = [_fmt(x) for x in row]
                if utc is not None:
                    cells.insert(at, str(utc[i]))
                w.writerow(cells)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror}", path=path) from exc


def _write_parquet(path: str, columns: Mapping[str, F64], start: datetime | None) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - extra not installed
        raise ConfigError("Parquet output needs pyarrow: pip install "
                          "'wormsign[parquet]'", path=path) from exc
    data: dict[str, Any] = {}
    for k, v in columns.items():
        data[k] = pa.array(np.asarray(v))
        if k == "t" and start is not None:
            ms = pa.array(np.round(np.asarray(v, dtype=np.float64) * 1000.0).astype(np.int64)
                          + round(start.timestamp() * 1000.0))
            data["utc"] = ms.cast(pa.timestamp("ms", tz="UTC"))
    pq.write_table(pa.table(data), path)


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
    ``final_infected`` with ``by_hours``, ``peak_new_per_min`` and ``curve`` (the name of a
    published cumulative curve, :mod:`wormsign.sim.curves`): drawn as reference marks.
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
    start = sc.start_datetime()
    if "curve" in pub and start is not None:
        from wormsign.sim.curves import published_curve

        pts = [(t, n) for t, n in published_curve(str(pub["curve"])).seconds_from(start)
               if 0.0 <= t <= sc.duration_s]
        ax1.plot([t / 3600.0 for t, _ in pts], [n for _, n in pts], "ko", ms=4,
                 label="published: hosts infected by the hour")
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
