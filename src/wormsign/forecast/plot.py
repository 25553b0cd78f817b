"""``forecast --plot``: the observations, the fit and the forecast band in one PNG/SVG/PDF.

matplotlib is imported only here, inside :func:`plot` (the ``plot`` extra).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from wormsign.errors import InputError
from wormsign.forecast.observations import F64, TimeBase
from wormsign.forecast.result import Forecast
from wormsign.logs.text import safe


def _x(tb: TimeBase, t: F64) -> Any:
    """Times in the input's base: UTC datetimes for ISO input, seconds otherwise."""
    if tb.kind == "iso":
        return [datetime.fromtimestamp(tb.origin + float(v), tz=UTC) for v in t]
    return tb.origin + np.asarray(t, dtype=np.float64)


def _band(ax: Any, x: Any, arrs: tuple[F64, F64, F64], color: str, label: str) -> None:
    lo, mid, hi = (np.where(np.asarray(a) > 0, a, np.nan) for a in arrs)
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0,
                    label=f"{label}, 5-95 %")
    ax.plot(x, mid, color=color, linewidth=1.5, label=f"{label}, median")


def plot(forecast: Forecast, path: str) -> None:
    """Write the forecast chart to ``path`` (format from its extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obs = forecast.observations
    tb = obs.timebase
    fig, ax = plt.subplots(figsize=(9, 5))
    try:
        if obs.new_sources is not None:
            cum = np.cumsum(obs.new_sources)
            keep = cum > 0
            ax.plot(np.asarray(_x(tb, obs.edges[1:][keep])), cum[keep], "o", markersize=3,
                    color="black", label="sources seen (observed)")
        if forecast.ok and forecast.curve is not None:
            c = forecast.curve
            x = _x(tb, c.t)
            _band(ax, x, c.infected, "tab:red", "infected")
            _band(ax, x, c.seen, "tab:blue", "seen by the monitor")
        else:
            ax.text(0.5, 0.5, "not enough evidence to forecast\n" + safe(forecast.reason)[:120],
                    transform=ax.transAxes, ha="center", va="center", fontsize=11,
                    wrap=True)
        ax.axvline(_x(tb, np.array([obs.end]))[0], color="gray", linestyle="--",
                   label="now")
        if ax.has_data() and forecast.ok:
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.5)
        ax.set_xlabel("time (UTC)" if tb.kind == "iso" else "time (s)")
        ax.set_ylabel("hosts")
        fam = safe(obs.family or "worm")
        ax.set_title(f"{fam} forecast ({forecast.method}), monitor "
                     f"{safe(obs.monitor.label or str(obs.monitor.size))}")
        ax.legend(loc="upper left", fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        try:
            fig.savefig(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot write the plot: {exc}", path=safe(path)) from None
    finally:
        plt.close(fig)


__all__ = ["plot"]
