"""The Code Red calendar: what an infected host does on each day of the month (UTC).

Days 1-19 spread, days 20-27 flood fixed addresses (among them 198.137.240.91), from day 28
dormant. Hosts that wake up on the 1st do so with a per-host jitter, since the worm's clock is
not re-read during long sleeps (calendar: CERT Advisory CA-2001-19; the wake-up drift as
reported in later accounts of the outbreak).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

SPREAD, FLOOD, DORMANT = 0, 1, 2
PHASE_NAMES = {SPREAD: "spread", FLOOD: "flood", DORMANT: "dormant"}


def phase_of(when: datetime) -> int:
    """The phase for a UTC instant."""
    if when.day <= 19:
        return SPREAD
    if when.day <= 27:
        return FLOOD
    return DORMANT


def transitions(start: datetime | None, duration_s: float,
                enabled: bool) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``(times, phases)``: the phase at t = 0 and every change within the run, in seconds."""
    if not enabled or start is None:
        return np.zeros(1), np.zeros(1, dtype=np.int64)
    times = [0.0]
    phases = [phase_of(start)]
    day = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo)
    while True:
        day += timedelta(days=1)
        t = (day - start).total_seconds()
        if t > duration_s:
            break
        ph = phase_of(day)
        if ph != phases[-1]:
            times.append(t)
            phases.append(ph)
    return np.asarray(times, dtype=np.float64), np.asarray(phases, dtype=np.int64)
