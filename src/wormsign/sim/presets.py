"""Named scenarios shipped as YAML data (``presets/*.yaml``), each with its sources."""

from __future__ import annotations

from importlib import resources
from typing import Any

from wormsign.errors import ConfigError, Problem, ValidationError
from wormsign.fleet.files import MAX_SMALL_BYTES, read_limited
from wormsign.sim.population import _read_yaml, decode_utf8
from wormsign.sim.scenario import Scenario


def _dir() -> Any:
    return resources.files("wormsign.sim") / "presets"


def list_presets() -> list[str]:
    """Names of the packaged presets, sorted."""
    return sorted(p.name[:-5] for p in _dir().iterdir() if p.name.endswith(".yaml"))


def _load(name: str) -> tuple[str, dict[str, Any]]:
    if name.endswith((".yaml", ".yml")):
        path = name
        text = decode_utf8(read_limited(name, MAX_SMALL_BYTES, "preset"), name)
    else:
        ref = _dir() / f"{name}.yaml"
        if not ref.is_file():
            raise ConfigError(f"unknown preset {name!r}; known: {', '.join(list_presets())}")
        path, text = str(ref), ref.read_text(encoding="utf-8")
    data = _read_yaml(path, text)
    if not isinstance(data, dict):
        raise ValidationError([Problem(path, 1, "a preset must be a mapping of scenario "
                                       "parameters")], "preset")
    return path, data


def load_preset(name: str) -> Scenario:
    """The packaged preset ``name`` (see :func:`list_presets`), or a scenario YAML file path."""
    path, data = _load(name)
    data.pop("published", None)
    return Scenario.from_dict(data, path=path)


def published_figures(name: str) -> dict[str, Any]:
    """The published figures a preset is meant to land on (its ``published:`` mapping)."""
    _path, data = _load(name)
    pub = data.get("published") or {}
    return dict(pub) if isinstance(pub, dict) else {}
