"""The public surface: what users import, so that refactors do not silently drop it."""

from __future__ import annotations

import importlib

import pytest

from wormsign.cli.main import COMMANDS

SURFACE = {
    "wormsign": ["WormsignError", "__version__"],
    "wormsign.errors": ["WormsignError", "InputError", "LogFormatError", "ConfigError",
                        "StoreError", "RuleError", "Problem"],
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
