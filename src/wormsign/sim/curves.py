"""Published cumulative infection curves, packaged as CSV data (``sim/data/*.csv``).

A curve file has ``#`` comment lines naming its source, the header
``hour_utc,infected_cumulative`` and one row per hour of the day (UTC; 24 is the next
midnight). ``code-red-2001-07-19`` is CAIDA's Code Red v2 curve (Moore, Shannon, Brown, IMW
2002). Presets name theirs in ``published: curve:``; plots draw it and
:mod:`wormsign.forecast.calibrate` fits scenarios to it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from wormsign.errors import ConfigError
from wormsign.sim.scenario import parse_start

CURVE_HEADER = ("hour_utc", "infected_cumulative")


@dataclass(frozen=True)
class PublishedCurve:
    """A published cumulative curve: hosts ever infected at each hour (UTC) of one day.

    ``notes`` are the file's ``#`` comment lines (its source); ``skipped`` counts rows that
    could not be read (each is skipped, not fatal).
    """

    name: str
    hours: tuple[float, ...]
    infected: tuple[float, ...]
    notes: tuple[str, ...]
    skipped: int = 0

    def seconds_from(self, start: datetime | str) -> tuple[tuple[float, float], ...]:
        """The curve as ``(seconds from start, infected)`` pairs, ``start`` being a UTC
        instant on the curve's day (hour 24 is the next midnight)."""
        dt = parse_start(start) if isinstance(start, str) else start
        if dt is None:
            raise ConfigError("a published curve needs the scenario's start date-time")
        day = datetime(dt.year, dt.month, dt.day, tzinfo=dt.tzinfo)
        return tuple(((day + timedelta(hours=h) - dt).total_seconds(), n)
                     for h, n in zip(self.hours, self.infected, strict=True))


def published_curve(name: str = "code-red-2001-07-19") -> PublishedCurve:
    """A packaged curve (``wormsign/sim/data/NAME.csv``) or a CSV file path with the header
    ``hour_utc,infected_cumulative``. Rows that cannot be read are skipped and counted; a file
    without the header or with fewer than two good rows is a :class:`ConfigError`."""
    if name.endswith(".csv"):
        from wormsign.fleet.files import MAX_SMALL_BYTES, read_limited
        from wormsign.sim.population import decode_utf8

        path = name
        text = decode_utf8(read_limited(name, MAX_SMALL_BYTES, "curve"), name)
    else:
        ref = resources.files("wormsign.sim") / "data" / f"{name}.csv"
        if not ref.is_file():
            raise ConfigError(f"unknown published curve {name!r}")
        path, text = str(ref), ref.read_text(encoding="utf-8")
    return _parse_curve(Path(path).stem, text, path)


def _parse_curve(name: str, text: str, path: str) -> PublishedCurve:
    notes: list[str] = []
    rows: list[tuple[float, float]] = []
    skipped = 0
    header_seen = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            notes.append(line.lstrip().lstrip("#").strip())
            continue
        row = next(csv.reader([line]), [])
        if not header_seen:
            if tuple(c.strip() for c in row[:2]) != CURVE_HEADER:
                raise ConfigError(f"expected the header {','.join(CURVE_HEADER)}", path=path,
                                  line=lineno)
            header_seen = True
            continue
        try:
            hour, count = float(row[0]), float(row[1])
        except (IndexError, ValueError):
            skipped += 1
            continue
        if not (math.isfinite(hour) and math.isfinite(count) and count >= 0 and 0 <= hour <= 48):
            skipped += 1
            continue
        rows.append((hour, count))
    rows.sort()
    if len(rows) < 2:
        raise ConfigError("a published curve needs at least two readable rows", path=path)
    return PublishedCurve(name=name, hours=tuple(h for h, _ in rows),
                          infected=tuple(n for _, n in rows), notes=tuple(notes),
                          skipped=skipped)
