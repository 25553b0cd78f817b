"""Fakes for the calls the demo makes into modules written elsewhere (the forecast readers
and API, assess's forecast input, the incident's stored forecasts), so that the pipeline is
tested whether or not they are installed. The fake forecast puts its estimates at known
instants, so that the comparison with the truth can be checked."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import sys
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wormsign.forecast.observations import Monitor, Observations, TimeBase
from wormsign.forecast.result import Forecast, Interval

#: Where the fake forecast puts t50 and t90 (Unix seconds), and its final size.
FAKE_T50 = datetime.fromisoformat("2001-07-19T17:00:00+00:00").timestamp()
FAKE_T90 = datetime.fromisoformat("2001-07-19T12:00:00+00:00").timestamp()
FAKE_FINAL = Interval(350_000.0, 300_000.0, 400_000.0)


@dataclass
class Calls:
    """What the fakes were called with."""

    load: list[dict[str, Any]] = field(default_factory=list)
    forecast: list[dict[str, Any]] = field(default_factory=list)
    assess: list[Mapping[str, Any] | None] = field(default_factory=list)
    attach: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)


def fake_load(calls: Calls, paths: list[str], *, family: str | None = None,
              monitor: Monitor | None = None, at: Any = None) -> Observations:
    """First-seen times of each source of ``family`` in alerts JSON Lines, hourly counts."""
    calls.load.append({"paths": paths, "family": family, "monitor": monitor, "at": at})
    first: dict[str, float] = {}
    for line in Path(paths[0]).read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["wormsign.family"] != family:
            continue
        t = datetime.fromisoformat(rec["@timestamp"].replace("Z", "+00:00")).timestamp()
        first[rec["source.ip"]] = min(t, first.get(rec["source.ip"], math.inf))
    times = np.sort(np.array(list(first.values())))
    origin = math.floor(times[0] / 3600) * 3600
    edges = np.arange(0.0, times[-1] - origin + 3601, 3600.0)
    counts = np.histogram(times - origin, bins=edges)[0].astype(np.float64)
    assert monitor is not None
    return Observations(monitor, TimeBase("iso", origin), edges, counts, None,
                        times - origin, family=family, inputs=tuple(paths))


def fake_forecast(calls: Calls, obs: Observations, **kw: Any) -> Forecast:
    calls.forecast.append(kw)
    o = obs.timebase.origin
    est = {"t50": Interval(FAKE_T50 - o, FAKE_T50 - o - 3600, FAKE_T50 - o + 3600),
           "t90": Interval(FAKE_T90 - o, FAKE_T90 - o - 600, FAKE_T90 - o + 600),
           "final_size": FAKE_FINAL}
    return Forecast("ok", "closed-form", obs, estimates=est, preset=kw.get("preset"),
                    seed=kw.get("seed"))


def _fake_in(mp: pytest.MonkeyPatch, module: str, name: str, value: Any) -> None:
    """``module.name`` replaced by ``value``: on the real module when it exists (others
    import more from it), else on a stand-in module."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        mod = types.ModuleType(module)
        mp.setitem(sys.modules, module, mod)
    mp.setattr(mod, name, value, raising=False)


@contextmanager
def installed_fakes() -> Iterator[Calls]:
    """The fakes installed for the duration of the ``with`` block."""
    calls = Calls()
    # the module, not the function that wormsign.fleet re-exports under the same name
    assess_mod = importlib.import_module("wormsign.fleet.assess")
    real_assess = assess_mod.assess

    def assess_with_forecast(inventory: Any, options: Any = None, **kw: Any) -> Any:
        opts = dataclasses.replace(options or assess_mod.AssessOptions(), **kw)
        calls.assess.append(opts.forecast)
        return real_assess(inventory, dataclasses.replace(opts, forecast=None))

    def attach(store: Any, incident_id: int, doc: Mapping[str, Any]) -> int:
        calls.attach.append((incident_id, doc))
        return 7

    with pytest.MonkeyPatch.context() as mp:
        _fake_in(mp, "wormsign.forecast.readers", "load",
                 lambda paths, **kw: fake_load(calls, paths, **kw))
        _fake_in(mp, "wormsign.forecast.api", "forecast",
                 lambda obs, **kw: fake_forecast(calls, obs, **kw))
        _fake_in(mp, "wormsign.incidents.forecasts", "attach", attach)
        mp.setattr(assess_mod, "assess", assess_with_forecast)
        yield calls


@pytest.fixture()
def fakes() -> Iterator[Calls]:
    """The fakes, for one test."""
    with installed_fakes() as calls:
        yield calls


@pytest.fixture(scope="module")
def fakes_module() -> Iterator[Calls]:
    """The fakes, for every test of a module from the first that asks on."""
    with installed_fakes() as calls:
        yield calls
