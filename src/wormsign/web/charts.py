"""Chart geometry for the pages: numbers and labels only, drawn as inline SVG by templates.

The templates turn these shapes into ``<rect>`` and ``<text>`` elements with Jinja2's
autoescaping, so no markup is built from strings here and log-derived labels (family names)
stay text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FAMILY_COLOURS = {"code-red": "#c0392b", "code-red-ii": "#e67e22", "nimda": "#2471a3"}
PALETTE = ("#7d3c98", "#17a589", "#b7950b", "#566573", "#a04000", "#1e8449")


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
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[Label]
    legend: list[tuple[str, str]]
    empty: bool


def timeline_chart(timeline: dict[str, Any], width: int = 1100, height: int = 240) -> Chart:
    """Stacked bars of alerts per time bucket, one colour per family."""
    series = timeline.get("series") or []
    step = int(timeline.get("bucket_seconds") or 3600)
    if not series:
        return Chart(width, height, [], [Label(width / 2, height / 2, "no timed alerts yet")],
                     [], True)
    left, right, top, bottom = 48.0, 8.0, 10.0, 36.0
    first = min(p["start"] for p in series)
    last = max(p["start"] for p in series)
    n = (last - first) // step + 1
    stacks: dict[int, list[tuple[str, int]]] = {}
    families: list[str] = []
    for p in series:
        stacks.setdefault(p["start"], []).append((p["family"], int(p["alerts"])))
        if p["family"] not in families:
            families.append(p["family"])
    families.sort()
    peak = max(sum(c for _, c in v) for v in stacks.values()) or 1
    plot_w = width - left - right
    plot_h = height - top - bottom
    bw = plot_w / n
    bars = []
    for start, parts in stacks.items():
        i = (start - first) // step
        y = top + plot_h
        for fam, count in sorted(parts, key=lambda fc: families.index(fc[0])):
            h = plot_h * count / peak
            y -= h
            bars.append(Bar(round(left + i * bw, 2), round(y, 2), round(max(bw - 1, 0.6), 2),
                            round(h, 2), colour(fam), f"{when(start)} {fam}: {count}"))
    labels = [Label(left - 4, top + 10, f"{peak:,}", "end"),
              Label(left - 4, top + plot_h, "0", "end"),
              Label(left, height - 14, when(first), "start"),
              Label(width - right, height - 14, when(last + step), "end")]
    return Chart(width, height, bars, labels, [(f, colour(f)) for f in families], False)


def families_chart(families: list[dict[str, Any]], width: int = 360) -> Chart:
    """Horizontal bars of alerts per family."""
    row = 26
    height = max(row * len(families) + 8, 40)
    if not families:
        return Chart(width, height, [], [Label(width / 2, 24, "no detections yet")], [], True)
    peak = max(int(f["alerts"]) for f in families) or 1
    left, right = 110.0, 90.0
    bars, labels = [], []
    for i, f in enumerate(families):
        y = 4 + i * row
        w = (width - left - right) * int(f["alerts"]) / peak
        bars.append(Bar(left, y, round(max(w, 1), 2), row - 8, colour(f["family"]),
                        f"{f['family']}: {f['alerts']} alerts from {f['sources']} sources"))
        labels.append(Label(left - 6, y + 13, str(f["family"]), "end"))
        labels.append(Label(left + w + 6, y + 13, f"{int(f['alerts']):,}", "start"))
    return Chart(width, height, bars, labels, [], False)
