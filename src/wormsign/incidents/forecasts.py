"""Forecasts of an incident's outbreak: its observations, and stored forecast documents.

    from wormsign.incidents.forecasts import observations_for, compute, attach, latest

    obs = observations_for(store, iid, family="code-red")   # what the incident's logs saw
    fid, doc = compute(store, iid, family="code-red")        # fit (forecast.api), stored
    latest(store, iid)                                        # the newest stored document

The observations are the first time each external source of the family was seen in the
incident's alerts (internal sources are left out: a worm inside the network reaches its own
servers far more often than the internet-wide outbreak would) and the alerts (probes) of
those sources per interval. Intervals have a round width (1 s ... 1 d) giving at most 200
of them (:mod:`wormsign.forecast.binning`); times are ISO 8601 (the time base's origin is
the first interval's start), and the last interval ends at the last alert of the family.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from wormsign.errors import ConfigError, InvalidError
from wormsign.forecast import binning
from wormsign.forecast.observations import Monitor, Observations, TimeBase
from wormsign.incidents import schema as t

if TYPE_CHECKING:
    from wormsign.forecast.result import Forecast
    from wormsign.incidents.store import Store, StoredForecast

MAX_DOCUMENT = 8 * 1024 * 1024
"""Largest forecast document stored (a curve of a few thousand points is well under 1 MB)."""
SCHEMA_PREFIX = "wormsign.forecast/"
STATUSES = ("ok", "not-enough-evidence")


def _family_counts(store: Store, incident_id: int) -> dict[str, int]:
    """External sources with a first-seen time, per family."""
    sf = t.source_families
    q = (sa.select(sf.c.family, sa.func.count())
         .where(sf.c.incident_id == incident_id, sf.c.internal == 0,
                sf.c.first_seen.is_not(None))
         .group_by(sf.c.family))
    with store.engine.connect() as conn:
        return {str(f): int(n) for f, n in conn.execute(q)}


def choose_family(store: Store, incident_id: int, family: str | None = None) -> str:
    """``family`` when the incident has timestamped external alerts of it; without one, the
    worm family (else any family) with the most such sources. :class:`ConfigError` when
    there is none."""
    store.get_incident(incident_id)
    counts = _family_counts(store, incident_id)
    if family is not None:
        if not counts.get(family):
            raise ConfigError(f"incident {incident_id} has no timestamped alerts of "
                              f"{family[:64]!r} from external sources")
        return family
    if not counts:
        raise ConfigError(f"incident {incident_id} has no timestamped alerts from external "
                          "sources to forecast from")
    name = binning.main_family(counts)
    assert name is not None
    return name


def _first_seen(store: Store, incident_id: int, family: str) -> tuple[np.ndarray, int, int]:
    """Sorted first-seen times (unix s) of the family's external sources, and how many
    sources were internal or had no time."""
    sf = t.source_families
    q = (sa.select(sf.c.first_seen, sf.c.internal)
         .where(sf.c.incident_id == incident_id, sf.c.family == family))
    times: list[float] = []
    internal = untimed = 0
    with store.engine.connect() as conn:
        for first, inside in conn.execute(q):
            if inside:
                internal += 1
            elif first is None:
                untimed += 1
            else:
                times.append(float(first))
    return np.sort(np.asarray(times, dtype=np.float64)), internal, untimed


def _family_alerts(store: Store, incident_id: int, family: str) -> sa.ColumnElement[bool]:
    a = t.alerts
    return sa.and_(a.c.incident_id == incident_id, a.c.family == family, a.c.internal == 0,
                   a.c.ts.is_not(None))


def _last_alert(store: Store, incident_id: int, family: str) -> float | None:
    with store.engine.connect() as conn:
        v = conn.execute(sa.select(sa.func.max(t.alerts.c.ts))
                         .where(_family_alerts(store, incident_id, family))).scalar()
    return None if v is None else float(v)


def _probes(store: Store, incident_id: int, family: str, edges: np.ndarray) -> np.ndarray:
    """Alerts of the family's external sources per interval (``edges`` in unix s; every
    interval but the last is one round width long)."""
    a = t.alerts
    start = int(edges[0])
    width = int(edges[1] - edges[0])
    slot = (a.c.ts - start) // width
    q = (sa.select(slot, sa.func.count())
         .where(_family_alerts(store, incident_id, family)).group_by(slot))
    out = np.zeros(edges.size - 1, dtype=np.float64)
    with store.engine.connect() as conn:
        for i, n in conn.execute(q):
            out[min(max(int(i), 0), out.size - 1)] += float(n)
    return out


def observations_for(store: Store, incident_id: int, *, family: str | None = None,
                     monitor: Monitor | None = None) -> Observations:
    """What the incident's logs saw of ``family`` (see the module doc) as
    :class:`Observations`. ``monitor`` says what was watched (default: one address).

    :class:`~wormsign.errors.NotFoundError` for a missing incident, :class:`ConfigError`
    when it has no timestamped external alerts of the family.
    """
    name = choose_family(store, incident_id, family)
    first, internal, untimed = _first_seen(store, incident_id, name)
    last = max(float(first[-1]), _last_alert(store, incident_id, name) or float(first[-1]))
    edges = binning.round_edges(float(first[0]), last)
    notes = [f"observations from incident {incident_id}: first alert of each external "
             f"source of {name}, and their alerts per interval"]
    if family is None:
        notes.append(f"family {name} chosen: the worm with the most sources (use --family)")
    if internal:
        notes.append(f"{internal} internal source(s) left out (a worm prefers its own network)")
    if untimed:
        notes.append(f"{untimed} source(s) without a timestamp left out")
    info = binning.ObservationInfo(family=name, monitor=monitor,
                                   inputs=(f"incident {incident_id}",), notes=notes,
                                   skipped=internal + untimed)
    return binning.observations(first, edges=edges,
                                probes=_probes(store, incident_id, name, edges), info=info)


def _document_text(forecast_json: Mapping[str, Any]) -> tuple[str, str, str]:
    """(family, status, JSON text) of a forecast document; :class:`InvalidError` when it is
    not one."""
    if not isinstance(forecast_json, Mapping):
        raise InvalidError("a forecast must be a JSON object")
    schema = forecast_json.get("schema")
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_PREFIX):
        raise InvalidError("not a forecast document (no wormsign.forecast schema)")
    status = forecast_json.get("status")
    if status not in STATUSES:
        raise InvalidError(f"forecast status must be one of {', '.join(STATUSES)}")
    family = forecast_json.get("family")
    if family is not None and (not isinstance(family, str) or len(family) > 64):
        raise InvalidError("forecast family must be a name of at most 64 characters")
    try:
        text = json.dumps(forecast_json, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidError(f"forecast is not storable JSON: {exc}") from None
    if len(text) > MAX_DOCUMENT:
        raise InvalidError(f"forecast document larger than {MAX_DOCUMENT:,} bytes")
    return family or "", str(status), text


def attach(store: Store, incident_id: int, forecast_json: Mapping[str, Any]) -> int:
    """Store a forecast document (``Forecast.to_json()``) with the incident; its id."""
    family, status, text = _document_text(forecast_json)
    return store.add_forecast(incident_id, family, status, text)


def latest_record(store: Store, incident_id: int,
                  family: str | None = None) -> StoredForecast | None:
    """The newest stored forecast of the incident (of ``family``), with its row data."""
    store.get_incident(incident_id)
    return store.latest_forecast(incident_id, family)


def latest(store: Store, incident_id: int, family: str | None = None) -> dict[str, Any] | None:
    """The newest stored forecast document of the incident (of ``family``), or None."""
    rec = latest_record(store, incident_id, family)
    if rec is None:
        return None
    doc = json.loads(rec.document)
    return doc if isinstance(doc, dict) else None


Fit = Callable[..., "Forecast"]


def _api_forecast(obs: Observations, **kw: Any) -> Forecast:
    # wormsign.forecast.api (helper "obs") is loaded by name so that this module type-checks
    # on its own; after the merge a plain import does the same.
    api = importlib.import_module("wormsign.forecast.api")
    result: Forecast = api.forecast(obs, **kw)
    return result


def compute(store: Store, incident_id: int, *, family: str | None = None,
            preset: str | None = None, monitor: Monitor | None = None, seed: int = 1,
            fit: Fit | None = None) -> tuple[int, dict[str, Any]]:
    """Forecast the incident's outbreak (:func:`wormsign.forecast.api.forecast`, or
    ``fit``) from :func:`observations_for` and store it; ``(stored id, document)``."""
    obs = observations_for(store, incident_id, family=family, monitor=monitor)
    result = (fit or _api_forecast)(obs, preset=preset, seed=seed)
    doc = result.to_json()
    return attach(store, incident_id, doc), doc


ROWS = (("infected_now", "infected now"), ("t50", "half infected (t50)"),
        ("t90", "90 % infected (t90)"), ("final_size", "final size"),
        ("peak_new_per_min", "peak new infections/min"))


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)[:40]
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def estimate_rows(doc: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, estimate, p5, p95) of a forecast document's outcomes, as text (times as the
    document writes them); empty when the forecast has no numbers."""
    rows = []
    for key, label in ROWS:
        iv = doc.get(key)
        if isinstance(iv, Mapping):
            rows.append((label, _cell(iv.get("estimate")), _cell(iv.get("p5")),
                         _cell(iv.get("p95"))))
    return rows


def headline(doc: Mapping[str, Any]) -> str:
    """One line: family, status (and why not), method, evidence."""
    ev = doc.get("evidence") if isinstance(doc.get("evidence"), Mapping) else {}
    assert isinstance(ev, Mapping)
    fam = str(doc.get("family") or "unknown family")[:64]
    if doc.get("status") != "ok":
        return f"{fam}: not enough evidence ({str(doc.get('reason') or '')[:200]})"
    return (f"{fam}: {doc.get('method')} fit on {ev.get('sources', 0)} sources, "
            f"{ev.get('probes', 0)} probes, evidence {ev.get('from')} to {ev.get('to')}")


def parse_monitor(text: str | None) -> Monitor | None:
    """``--monitor`` text as a :class:`Monitor` (:func:`wormsign.forecast.readers.parse_monitor`,
    loaded by name, see :func:`_api_forecast`)."""
    if not text:
        return None
    readers = importlib.import_module("wormsign.forecast.readers")
    monitor: Monitor | None = readers.parse_monitor(text)
    return monitor


CURVE_KEYS = ("seen_p5", "seen_p50", "seen_p95", "infected_p5", "infected_p50",
              "infected_p95")


def _floats(values: Any, n: int) -> np.ndarray | None:
    if not isinstance(values, list) or len(values) != n:
        return None
    out = np.full(n, np.nan)
    for i, v in enumerate(values):
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[i] = float(v)
    return out


def _times(values: list[Any], kind: str) -> np.ndarray:
    tb = TimeBase("iso" if kind == "iso" else "seconds")
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, str | int | float) and not isinstance(v, bool):
            try:
                out[i] = tb.parse(v)
            except ConfigError:
                continue
    return out


def curve_arrays(doc: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The curve of an ``ok`` forecast document as arrays: ``t`` (unix s for an ISO
    document, else seconds as written) and :data:`CURVE_KEYS` (NaN where missing); None
    when the document has no usable curve."""
    curve = doc.get("curve")
    if doc.get("status") != "ok" or not isinstance(curve, Mapping):
        return None
    raw_t = curve.get("t")
    if not isinstance(raw_t, list) or len(raw_t) < 2:
        return None
    out = {"t": _times(raw_t, str(doc.get("time_base")))}
    for key in CURVE_KEYS:
        arr = _floats(curve.get(key), len(raw_t))
        if arr is None:
            return None
        out[key] = arr
    keep = np.isfinite(out["t"])
    if int(keep.sum()) < 2:
        return None
    return {k: v[keep] for k, v in out.items()}


def _observed(store: Store, incident_id: int, family: str) -> dict[str, list[float]]:
    """The incident's cumulative sources of ``family`` at each interval end (unix s)."""
    try:
        obs = observations_for(store, incident_id, family=family)
    except ConfigError:
        return {"t": [], "sources": []}
    assert obs.new_sources is not None
    t_end = obs.edges[1:] + obs.timebase.origin
    return {"t": [float(x) for x in t_end],
            "sources": [float(x) for x in np.cumsum(obs.new_sources)]}


def forecast_view(store: Store, incident_id: int,
                  family: str | None = None) -> dict[str, Any] | None:
    """What reports and the dashboard show of the incident's latest forecast (of ``family``,
    by default the incident's main worm family, else any): the document, its estimate rows,
    its curve and the incident's observed cumulative sources (unix s times when the
    document's time base is ISO); None when no forecast is stored."""
    if family is None:
        try:
            family = choose_family(store, incident_id)
        except ConfigError:
            family = None
    doc = latest(store, incident_id, family) if family else None
    doc = doc or latest(store, incident_id)
    if doc is None:
        return None
    fam = doc.get("family") if isinstance(doc.get("family"), str) else None
    absolute = doc.get("time_base") == "iso"
    observed = _observed(store, incident_id, fam) if fam and absolute else {"t": [],
                                                                           "sources": []}
    now = None
    ev = doc.get("evidence")
    if isinstance(ev, Mapping) and ev.get("to") is not None:
        now_arr = _times([ev.get("to")], str(doc.get("time_base")))
        now = float(now_arr[0]) if np.isfinite(now_arr[0]) else None
    return {"document": doc, "family": fam, "headline": headline(doc),
            "rows": estimate_rows(doc), "curve": curve_arrays(doc), "observed": observed,
            "absolute": absolute, "now": now,
            "notes": [str(n) for n in doc.get("notes") or []][:20]}
