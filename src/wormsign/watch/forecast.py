"""Keeping a forecast file current while ``wormsign watch`` runs (``--forecast FILE``).

:class:`ForecastRefresher` keeps, per family, the first time each source was seen and the
probes per second, from the alerts the watcher commits. After a batch that brings the
count of new sources of the family since the last forecast to ``every`` (or more), it
builds :class:`~wormsign.forecast.observations.Observations` from that state
(:mod:`wormsign.forecast.binning`), fits them (:func:`wormsign.forecast.api.forecast`) in a
background thread, so the watch never waits for a fit, and writes the forecast JSON
document atomically (a temporary file in the same folder, then ``os.replace``): a reader
sees the old forecast or the new one, never half of one. A fit or write that fails is
counted and reported in one line; the watch goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import numpy as np

from wormsign.detect.alert import Alert
from wormsign.errors import ConfigError
from wormsign.forecast import binning
from wormsign.forecast.observations import Monitor, Observations

if TYPE_CHECKING:
    from wormsign.forecast.result import Forecast

DEFAULT_EVERY = 50
Fit = Callable[[Observations], "Forecast"]


@dataclass
class _Family:
    first: dict[str, float] = field(default_factory=dict)   # source -> first seen (unix s)
    probes: Counter[int] = field(default_factory=Counter)    # unix second -> probes


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (temporary file, fsync, ``os.replace``)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                               dir=str(target.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _api_fit(preset: str | None, seed: int) -> Fit:
    def fit(obs: Observations) -> Forecast:
        # wormsign.forecast.api (helper "obs") is loaded by name so that this module
        # type-checks on its own; after the merge a plain import does the same.
        api = importlib.import_module("wormsign.forecast.api")
        result: Forecast = api.forecast(obs, preset=preset, seed=seed)
        return result
    return fit


@dataclass(frozen=True)
class RefreshOptions:
    """What :class:`ForecastRefresher` forecasts and how often: the ``family`` (None: the
    worm family with the most sources, any family when no worm was seen), a forecast after
    ``every`` new sources, the ``monitor`` that watched, the ``preset`` and ``seed`` of the
    fit (or a ``fit`` function instead of :func:`wormsign.forecast.api.forecast`), and
    ``note``, which gets the one-line failure reports."""

    family: str | None = None
    every: int = DEFAULT_EVERY
    monitor: Monitor | None = None
    preset: str | None = None
    seed: int = 1
    note: Callable[[str], None] | None = None
    fit: Fit | None = None


class RefreshKw(TypedDict, total=False):
    """:class:`RefreshOptions` as keyword arguments of :class:`ForecastRefresher`."""

    family: str | None
    every: int
    monitor: Monitor | None
    preset: str | None
    seed: int
    note: Callable[[str], None] | None
    fit: Fit | None


class ForecastRefresher:
    """See the module docstring; ``options`` (:class:`RefreshOptions`), or the keyword
    ``overrides`` of its fields, say what and how often."""

    def __init__(self, path: str, options: RefreshOptions | None = None,
                 **overrides: Unpack[RefreshKw]) -> None:
        opts = dataclasses.replace(options or RefreshOptions(), **overrides)
        family, every, monitor, note = opts.family, opts.every, opts.monitor, opts.note
        if every < 1:
            raise ConfigError(f"--forecast-every must be at least 1, not {every}")
        folder = Path(path).parent
        if not folder.is_dir():
            raise ConfigError("the folder of the forecast file does not exist", path=path)
        self.path = path
        self.family = family
        self.every = every
        self.monitor = monitor
        self.note = note or (lambda _m: None)
        self.fit = opts.fit or _api_fit(opts.preset, opts.seed)
        self.families: dict[str, _Family] = {}
        self.untimed = 0
        self.written = 0
        self.failed = 0
        self._at_last: dict[str, int] = {}       # sources of each family at its last forecast
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- state -------------------------------------------------------------------------
    def add(self, alerts: list[Alert]) -> None:
        """Take in one committed batch, then start a forecast when one is due."""
        for a in alerts:
            if a.timestamp is None:
                self.untimed += 1
                continue
            ts = a.timestamp.timestamp()
            fam = self.families.get(a.family)
            if fam is None:
                fam = self.families[a.family] = _Family()
            if a.source_ip not in fam.first or ts < fam.first[a.source_ip]:
                fam.first[a.source_ip] = ts
            fam.probes[int(ts)] += 1
        self.maybe_refresh()

    def chosen(self) -> str | None:
        """The family forecast: ``family``, else the worm family with the most sources."""
        if self.family is not None:
            return self.family if self.family in self.families else None
        return binning.main_family({f: len(v.first) for f, v in self.families.items()})

    def due(self) -> str | None:
        """The family whose forecast is due (``every`` new sources since the last), or None."""
        name = self.chosen()
        if name is None:
            return None
        n = len(self.families[name].first)
        return name if n - self._at_last.get(name, 0) >= self.every else None

    def observations(self, name: str) -> Observations:
        """What the watch has seen of family ``name`` so far."""
        fam = self.families[name]
        first = np.fromiter(fam.first.values(), dtype=np.float64, count=len(fam.first))
        times = np.fromiter(fam.probes.keys(), dtype=np.float64, count=len(fam.probes))
        counts = np.fromiter(fam.probes.values(), dtype=np.float64, count=len(fam.probes))
        notes = ["observations from wormsign watch: first alert of each source, alerts per "
                 "interval"]
        if self.untimed:
            notes.append(f"{self.untimed} alert(s) without a timestamp left out")
        info = binning.ObservationInfo(family=name, monitor=self.monitor,
                                       inputs=("wormsign watch",), notes=notes,
                                       skipped=self.untimed)
        return binning.observations(first, probe_times=times, probe_counts=counts, info=info)

    # -- forecasting -------------------------------------------------------------------
    def maybe_refresh(self) -> bool:
        """Start a forecast in the background when one is due and none is running."""
        if self._thread is not None and self._thread.is_alive():
            return False
        name = self.due()
        if name is None:
            return False
        self._at_last[name] = len(self.families[name].first)
        obs = self.observations(name)
        self._thread = threading.Thread(target=self._refresh, args=(obs,),
                                        name="wormsign-forecast", daemon=True)
        self._thread.start()
        return True

    def _refresh(self, obs: Observations) -> None:
        try:
            doc: dict[str, Any] = self.fit(obs).to_json()
            text = json.dumps(doc, indent=2, ensure_ascii=True, allow_nan=False) + "\n"
            write_atomic(self.path, text)
        except Exception as exc:  # a forecast never stops the watch: counted and reported
            with self._lock:
                self.failed += 1
            why = " ".join(str(exc).split())[:200] or type(exc).__name__
            self.note(f"forecast of {obs.family} failed ({type(exc).__name__}: {why}); "
                      "the watch goes on")
            return
        with self._lock:
            self.written += 1

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running forecast to finish; False when it is still running after
        ``timeout`` seconds (the file then keeps the previous forecast)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True
