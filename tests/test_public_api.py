"""The public surface: what users import, so that refactors do not silently drop it."""

from __future__ import annotations

import importlib

import pytest

from wormsign.cli.main import COMMANDS

SURFACE = {
    "wormsign": ["WormsignError", "__version__"],
    "wormsign.errors": ["WormsignError", "InputError", "LogFormatError", "ConfigError",
                        "StoreError", "RuleError", "Problem", "MissingExtraError"],
    "wormsign.sim.scenario": ["RANGES", "LIMITS", "check_runs", "check_seed"],
    "wormsign.sim.montecarlo": ["run_many", "check_scheduler_address"],
    "wormsign.fleet.files": ["read_limited", "confine", "OutsideRoot"],
    "wormsign.cli.main": ["main", "require_extra", "COMMAND_EXTRAS", "EXTRA_MODULES"],
    "wormsign.logs": ["FORMATS", "LogFormat", "Request", "register"],
    "wormsign.rules": ["load_pack", "Rule", "RulePack", "Family", "Condition", "Burst"],
    "wormsign.detect": ["scan_paths", "ScanReport", "FileStats", "Alert"],
    "wormsign.sim": ["Scenario", "load_preset", "list_presets", "simulate"],
    "wormsign.fleet": ["assess", "load_inventory", "load_kb"],
    "wormsign.incidents": ["Store", "ingest_paths"],
}


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_exported(module: str) -> None:
    mod = importlib.import_module(module)
    for name in SURFACE[module]:
        assert hasattr(mod, name), f"{module}.{name}"
    exported = getattr(mod, "__all__", None)
    if exported is not None:
        assert all(hasattr(mod, n) for n in exported)


def test_every_cli_command_module_exists() -> None:
    for name, module in COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(mod.register), name


def test_every_extra_named_by_the_cli_exists_in_pyproject() -> None:
    """The `pip install 'wormsign[EXTRA]'` hints name extras that really exist."""
    import tomllib
    from pathlib import Path

    from wormsign.cli.main import COMMAND_EXTRAS, EXTRA_MODULES

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert set(EXTRA_MODULES) <= set(extras)
    assert set(COMMAND_EXTRAS.values()) <= set(extras)
