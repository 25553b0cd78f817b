"""docs/forecast.md documents the whole --json contract: every key Forecast.to_json writes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from tests.forecast import obs_fakes

from wormsign.forecast.api import forecast
from wormsign.forecast.observations import Monitor, Observations, TimeBase

DOC = (Path(__file__).resolve().parents[2] / "docs" / "forecast.md").read_text("utf-8")
TABLE_KEYS = set(re.findall(r"^\| `([a-z_0-9]+)` \|", DOC, flags=re.M))


def _doc(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    obs_fakes.install(monkeypatch)
    edges = np.arange(11, dtype=np.float64) * 600.0
    obs = Observations(monitor=Monitor(256, ("192.0.2.0/24",)), timebase=TimeBase("seconds"),
                       edges=edges, new_sources=np.arange(10, dtype=np.float64),
                       probes=np.arange(10, dtype=np.float64) * 3, family="code-red",
                       now=6000.0)
    return forecast(obs, inventory=[("www", "192.0.2.1")]).to_json()


def test_every_top_level_key_is_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _doc(monkeypatch)
    assert doc["status"] == "ok" and doc["hosts"] and doc["alarm"] and doc["curve"]
    missing = sorted(set(doc) - TABLE_KEYS)
    assert missing == [], f"docs/forecast.md does not document {missing}"


def test_nested_keys_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _doc(monkeypatch)
    nested: list[str] = []
    for key in ("monitor", "evidence", "alarm"):
        nested += list(doc[key])  # type: ignore[call-overload]
    nested += list(doc["hosts"][0])  # type: ignore[index]
    nested += [k.rsplit("_p", 1)[0] for k in doc["curve"]]  # type: ignore[union-attr]
    for k in set(nested):
        assert f'"{k}"' in DOC or f"`{k}" in DOC, k
