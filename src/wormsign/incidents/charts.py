"""The one chart stack of the pages: the dashboard's and the incident report's charts.

Builders turn the same inputs (a timeline from :func:`wormsign.incidents.query.timeline`,
families from the incident summary, a view from
:func:`wormsign.incidents.forecasts.forecast_view`) into a frozen :class:`Chart` of numbers
and labels only; :func:`svg` draws a chart as inline SVG through the ``_chart.html`` template
with Jinja2's autoescaping, so no markup is built from strings here and log-derived labels
(family names, addresses) stay text. The dashboard (``wormsign.web.pages``) and the HTML/PDF
report (:mod:`wormsign.incidents.report`, WeasyPrint draws the inline SVG) both use it.
matplotlib is only for the PNG files of ``simulate --plot`` and ``forecast --plot``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

FAMILY_COLOURS = {"code-red": "#c0392b", "code-red-ii": "#e67e22", "nimda": "#2471a3"}
PALETTE = ("#7d3c98", "#17a589", "#b7950b", "#566573", "#a04000", "#1e8449")
SERIES = ("#2471a3", "#c0392b", "#1e8449", "#7d3c98", "#e67e22", "#17a589", "#566573",
          "#b7950b", "#a04000", "#922b21")
"""Colours by position, for series that are not families (the top sources)."""


def colour(family: str) -> str:
    """A stable colour per family."""
    if family in FAMILY_COLOURS:
        return FAMILY_COLOURS[family]
    return PALETTE[sum(family.encode()) % len(PALETTE)]


def when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") + "Z"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Path2D:
    """A polyline (``fill`` empty) or a closed band (``fill`` set); ``points`` is numbers
    only (``x,y x,y ...``)."""

    points: str
    stroke: str
    fill: str = ""
    dash: str = ""
    title: str = ""


@dataclass(frozen=True)
class Chart:
    """One chart: bars and/or paths, text labels and a legend of (name, colour)."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    legend: tuple[tuple[str, str], ...]
    empty: bool
    paths: tuple[Path2D, ...] = field(default=())


def _empty(width: int, height: int, text: str, y: float | None = None) -> Chart:
    return Chart(width, height, (), (Label(width / 2, height / 2 if y is None else y, text),),
                 (), True)


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("wormsign.incidents", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined)


def svg(chart: Chart, label: str, id: str) -> Markup:
    """``chart`` as an inline ``<svg>`` (with its legend after it), every text escaped."""
    html = _ENV.get_template("_chart.html").render(chart=chart, label=label, id=id)
    return Markup(html)  # noqa: S704 - rendered by an autoescaping template


def _series_colours(names: list[str], key: str) -> dict[str, str]:
    """Families keep their own colour on every page; other series are coloured by position."""
    if key == "family":
        return {n: colour(n) for n in names}
    return {n: SERIES[i % len(SERIES)] for i, n in enumerate(names)}


def timeline_chart(timeline: dict[str, Any], width: int = 1100, height: int = 240,
                   key: str = "family") -> Chart:
    """Stacked bars of alerts per time bucket, one colour per ``key`` value (``family`` or
    ``source``); ``timeline`` as from :func:`wormsign.incidents.query.timeline`
    (``bucket_seconds`` and a ``series`` of epoch-second ``start``, ``key`` and ``alerts``)."""
    series = timeline.get("series") or []
    step = int(timeline.get("bucket_seconds") or 3600)
    if not series:
        return _empty(width, height, "no timed alerts yet")
    left, right, top, bottom = 48.0, 8.0, 10.0, 36.0
    first = min(p["start"] for p in series)
    last = max(p["start"] for p in series)
    n = (last - first) // step + 1
    stacks: dict[int, list[tuple[str, int]]] = {}
    for p in series:
        stacks.setdefault(p["start"], []).append((str(p[key]), int(p["alerts"])))
    names = sorted({name for parts in stacks.values() for name, _ in parts})
    fills = _series_colours(names, key)
    peak = max(sum(c for _, c in v) for v in stacks.values()) or 1
    plot_w = width - left - right
    plot_h = height - top - bottom
    bw = plot_w / n
    bars = []
    for start, parts in stacks.items():
        i = (start - first) // step
        y = top + plot_h
        for name, count in sorted(parts, key=lambda nc: names.index(nc[0])):
            h = plot_h * count / peak
            y -= h
            bars.append(Bar(round(left + i * bw, 2), round(y, 2), round(max(bw - 1, 0.6), 2),
                            round(h, 2), fills[name], f"{when(start)} {name}: {count}"))
    labels = (Label(left - 4, top + 10, f"{peak:,}", "end"),
              Label(left - 4, top + plot_h, "0", "end"),
              Label(left, height - 14, when(first), "start"),
              Label(width - right, height - 14, when(last + step), "end"))
    return Chart(width, height, tuple(bars), labels, tuple((f, fills[f]) for f in names),
                 False)


def families_chart(families: Sequence[Mapping[str, Any]], width: int = 360,
                   measure: str = "alerts") -> Chart:
    """Horizontal bars per family of ``measure`` (``alerts`` or ``sources``)."""
    row = 26
    height = max(row * len(families) + 8, 40)
    if not families:
        return _empty(width, height, "no detections yet", y=24)
    peak = max(int(f[measure]) for f in families) or 1
    left, right = 110.0, 90.0
    bars, labels = [], []
    for i, f in enumerate(families):
        y = 4 + i * row
        w = (width - left - right) * int(f[measure]) / peak
        bars.append(Bar(left, y, round(max(w, 1), 2), row - 8, colour(f["family"]),
                        f"{f['family']}: {f['alerts']} alerts from {f['sources']} sources"))
        labels.append(Label(left - 6, y + 13, str(f["family"]), "end"))
        labels.append(Label(left + w + 6, y + 13, f"{int(f[measure]):,} {measure}", "start"))
    return Chart(width, height, tuple(bars), tuple(labels), (), False)


MAX_POINTS = 400
SEEN, FIT, INFECTED, NOW = "#c0392b", "#2471a3", "#1e8449", "#555555"


def _thin(n: int) -> Any:
    """Indices of at most MAX_POINTS evenly spread points of n (first and last kept)."""
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))


def _stamp(t: float, absolute: bool) -> str:
    return when(int(t)) if absolute else f"{t / 3600:.1f} h"


class _Panel:
    """Maps (time, value) to SVG coordinates inside one panel."""

    def __init__(self, x0: float, x1: float, ymax: float, box: tuple[float, float, float,
                                                                     float]) -> None:
        self.x0, self.span = x0, max(x1 - x0, 1.0)
        self.ymax = max(ymax, 10.0)
        self.left, self.top, self.w, self.h = box

    def pts(self, t: Any, y: Any) -> str:
        """SVG points; ``y`` on a log scale from 1 (the panel's floor) to ``ymax``."""
        xs = self.left + (t - self.x0) / self.span * self.w
        frac = np.log10(np.clip(y, 1.0, self.ymax)) / np.log10(self.ymax)
        ys = self.top + self.h - frac * self.h
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))

    def line(self, t: Any, y: Any, stroke: str, title: str, dash: str = "") -> Path2D:
        ok = np.isfinite(t) & np.isfinite(y)
        idx = _thin(int(ok.sum()))
        return Path2D(self.pts(t[ok][idx], y[ok][idx]), stroke, dash=dash, title=title)

    def band(self, t: Any, lo: Any, hi: Any, fill: str, title: str) -> Path2D:
        ok = np.isfinite(t) & np.isfinite(lo) & np.isfinite(hi)
        idx = _thin(int(ok.sum()))
        tt, lo, hi = t[ok][idx], lo[ok][idx], hi[ok][idx]
        pts = self.pts(np.concatenate([tt, tt[::-1]]), np.concatenate([hi, lo[::-1]]))
        return Path2D(pts, "none", fill=fill, title=title)


def forecast_chart(view: dict[str, Any], width: int = 1100, height: int = 360) -> Chart:
    """Two panels from :func:`wormsign.incidents.forecasts.forecast_view`: sources seen
    (observed, fit, 5-95 % band) above hosts infected (median, 5-95 % band), on log scales
    from 1; a dashed line marks the end of the evidence."""
    curve = view.get("curve")
    if curve is None:
        return _empty(width, 60, "no forecast curve")
    absolute = bool(view.get("absolute"))
    obs = view.get("observed") or {}
    ot = np.asarray(obs.get("t") or [], dtype=np.float64)
    oy = np.asarray(obs.get("sources") or [], dtype=np.float64)
    t = curve["t"]
    x0 = float(min(t[0], ot[0])) if ot.size else float(t[0])
    x1 = float(max(t[-1], ot[-1])) if ot.size else float(t[-1])
    left, right, gap = 64.0, 8.0, 30.0
    ph = (height - 10.0 - 36.0 - gap) / 2
    seen_max = float(np.nanmax(np.concatenate([curve["seen_p95"], oy, [1.0]])))
    inf_max = float(np.nanmax(np.concatenate([curve["infected_p95"], [1.0]])))
    top = _Panel(x0, x1, seen_max, (left, 10.0, width - left - right, ph))
    bot = _Panel(x0, x1, inf_max, (left, 10.0 + ph + gap, width - left - right, ph))
    paths = [top.band(t, curve["seen_p5"], curve["seen_p95"], FIT, "sources seen: 5-95 %"),
             top.line(t, curve["seen_p50"], FIT, "sources seen: fit (median)")]
    if ot.size:
        st = np.repeat(ot, 2)[1:]
        sy = np.repeat(oy, 2)[:-1]
        paths.append(top.line(st, sy, SEEN, "sources seen: observed"))
    paths += [bot.band(t, curve["infected_p5"], curve["infected_p95"], INFECTED,
                       "hosts infected: 5-95 %"),
              bot.line(t, curve["infected_p50"], INFECTED, "hosts infected: median")]
    now = view.get("now")
    if isinstance(now, float) and np.isfinite(now):
        for p in (top, bot):
            paths.append(p.line(np.array([now, now]), np.array([0.0, p.ymax]), NOW,
                                "end of the evidence", dash="4 3"))
    labels = (Label(left - 4, 20, f"{top.ymax:,.0f}", "end"),
              Label(left - 4, 10 + ph, "1", "end"),
              Label(left + 6, 22, "sources seen (log scale)", "start"),
              Label(left - 4, 10 + ph + gap + 10, f"{bot.ymax:,.0f}", "end"),
              Label(left - 4, 10 + 2 * ph + gap, "1", "end"),
              Label(left + 6, 22 + ph + gap, "hosts infected (log scale)", "start"),
              Label(left, height - 14, _stamp(x0, absolute), "start"),
              Label(width - right, height - 14, _stamp(x1, absolute), "end"))
    legend = (("observed", SEEN), ("fit (median) and 5-95 % band", FIT),
              ("hosts infected", INFECTED), ("end of the evidence", NOW))
    return Chart(width, height, (), labels, legend, False, tuple(paths))
