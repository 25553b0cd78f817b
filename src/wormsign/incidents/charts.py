"""Charts of the incident report, drawn with matplotlib (no pyplot, no display) as SVG
``data:`` URIs, so the HTML works offline and WeasyPrint embeds them in the PDF."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from wormsign.incidents.query import FamilyCount

PALETTE = ("#b2182b", "#2166ac", "#1b7837", "#762a83", "#e08214", "#4d4d4d")


def _data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _empty(fig: Figure, text: str) -> str:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#555")
    ax.set_axis_off()
    return _data_uri(fig)


def timeline_chart(series: list[dict[str, Any]], width_s: int, key: str = "family") -> str:
    """Alerts per time bucket, one line per ``key`` value (``family`` or ``source``);
    ``series`` as from :func:`query.timeline`, with epoch-second ``start``."""
    fig = Figure(figsize=(8, 3.2), dpi=96)
    if not series:
        return _empty(fig, "no timestamped alerts")
    ax = fig.add_subplot()
    names = sorted({d[key] for d in series})
    present = sorted({d["start"] for d in series})
    # Every bucket between the first and the last, so quiet periods show as zero.
    starts = list(range(present[0], present[-1] + width_s, width_s))
    if len(starts) > 5000 or any((x - present[0]) % width_s for x in present):
        starts = present
    xs = np.array(starts, dtype="datetime64[s]")
    for i, name in enumerate(names):
        counts = {d["start"]: d["alerts"] for d in series if d[key] == name}
        ax.plot(xs, [counts.get(s, 0) for s in starts], label=name,
                color=PALETTE[i % len(PALETTE)], linewidth=1.6,
                linestyle="-" if i < len(PALETTE) else "--",
                marker="." if len(present) < 40 else None, markevery=[
                    starts.index(x) for x in sorted(counts)] if len(present) < 40 else None)
    ax.set_ylabel(f"alerts per {_width_name(width_s)}")
    ax.set_xlabel("time (UTC)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=2 if len(names) > 5 else 1)
    fig.autofmt_xdate()
    return _data_uri(fig)


def families_chart(families: Sequence[FamilyCount]) -> str:
    """Sources and alerts per family, as horizontal bars."""
    fig = Figure(figsize=(8, 0.5 + 0.45 * max(len(families), 1)), dpi=96)
    if not families:
        return _empty(fig, "no alerts")
    ax = fig.add_subplot()
    names = [f["family"] for f in families][::-1]
    ax.barh(names, [f["sources"] for f in families][::-1], color=PALETTE[1])
    for y, f in enumerate(families[::-1]):
        ax.text(f["sources"], y, f"  {f['sources']} sources, {f['alerts']} alerts",
                va="center", fontsize=8)
    ax.set_xlabel("attacking sources")
    ax.set_xlim(0, max(f["sources"] for f in families) * 1.6)
    ax.grid(axis="x", alpha=0.3)
    return _data_uri(fig)


def _width_name(s: int) -> str:
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s % n == 0:
            k = s // n
            return unit if k == 1 else f"{k} {unit}s"
    return f"{s} s"


def _xs(t: np.ndarray, absolute: bool) -> Any:
    """Times for the x axis: dates for unix seconds, hours otherwise."""
    if absolute:
        return np.asarray(np.round(t), dtype="int64").astype("datetime64[s]")
    return t / 3600.0


def forecast_chart(view: dict[str, Any]) -> str:
    """The incident's forecast (:func:`wormsign.incidents.forecasts.forecast_view`): sources
    the monitor has seen, observed and fitted with the 5-95 % band, above the hosts infected
    (median and band), on log scales (so the first sources show beside the forecast's
    hundreds of thousands); a dashed line marks the end of the evidence."""
    fig = Figure(figsize=(8, 5.2), dpi=96)
    curve = view.get("curve")
    if curve is None:
        return _empty(fig, "no forecast curve: " + str(view.get("headline", ""))[:90])
    absolute = bool(view.get("absolute"))
    x = _xs(curve["t"], absolute)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.fill_between(x, curve["seen_p5"], curve["seen_p95"], color=PALETTE[1], alpha=0.2,
                     linewidth=0, label="forecast 5-95 %")
    top.plot(x, curve["seen_p50"], color=PALETTE[1], linewidth=1.6, label="fit (median)")
    obs = view.get("observed") or {}
    if obs.get("t"):
        top.step(_xs(np.asarray(obs["t"], dtype=np.float64), absolute), obs["sources"],
                 where="post", color=PALETTE[0], linewidth=1.4, label="observed")
    top.set_ylabel("sources seen")
    bottom.fill_between(x, curve["infected_p5"], curve["infected_p95"], color=PALETTE[2],
                        alpha=0.2, linewidth=0, label="5-95 %")
    bottom.plot(x, curve["infected_p50"], color=PALETTE[2], linewidth=1.6, label="median")
    bottom.set_ylabel("hosts infected")
    now = view.get("now")
    for ax in (top, bottom):
        if now is not None:
            ax.axvline(_xs(np.array([now]), absolute)[0], color="#555", linestyle="--",
                       linewidth=1)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    for ax in (top, bottom):
        ax.set_yscale("log", nonpositive="clip")
        ax.set_ylim(bottom=0.8)
    bottom.set_xlabel("time (UTC)" if absolute else "hours")
    if absolute:
        fig.autofmt_xdate()
    return _data_uri(fig)
