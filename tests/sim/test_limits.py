"""Every scenario parameter has a documented range, checked before any work is done."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wormsign.errors import ConfigError
from wormsign.sim import Scenario, list_presets, load_preset
from wormsign.sim.montecarlo import band_points, check_scheduler_address, run_many
from wormsign.sim.scenario import LIMITS, RANGES, check_runs, check_seed

ROOT = Path(__file__).resolve().parents[2]
SMALL = Scenario(address_bits=20, vulnerable=1000, scan_rate=1.0, initial=1, hours=0.1)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_every_range_is_enforced_at_both_ends(name: str) -> None:
    lo, hi, lo_open = RANGES[name]
    integer = isinstance(getattr(SMALL, name), int) and not isinstance(lo, float)
    above = hi + 1 if integer else hi * 2 + 1
    with pytest.raises(ConfigError, match=name):
        dataclasses.replace(SMALL, **{name: above})
    below = lo if lo_open else (lo - 1 if integer else lo - abs(lo) - 1e-3)
    with pytest.raises(ConfigError, match=name):
        dataclasses.replace(SMALL, **{name: below})
    with pytest.raises(ConfigError, match=rf"{name} must be a finite number|{name}"):
        dataclasses.replace(SMALL, **{name: float("nan")})


@pytest.mark.parametrize("changes, needle", [
    ({"exclude": ("0.0.0.0/0",)}, "excluded blocks leave 0 addresses"),
    ({"exclude": ("0.0.0.0/1", "128.0.0.0/1")}, "excluded blocks leave 0 addresses"),
    ({"exclude": ("0.0.0.0/2",) * 3 + ("64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2")},
     "excluded blocks leave 0"),
    ({"model": "two-factor", "tf_eta": 1e308}, "tf_eta must be within"),
    ({"scan_rate": 1e300}, "scan_rate must be within"),
    ({"step_s": 1e-9, "hours": 9600.0}, "step_s must be within"),
    ({"step_s": 0.01, "hours": 9600.0}, "output values"),
    ({"dt_s": 1e-5, "hours": 9600.0}, "kernel operations"),
    ({"strategy": "sequential", "address_bits": 8, "vulnerable": 128, "scan_rate": 1000.0,
      "hours": 10.0}, "sequence-walker steps"),
    ({"strategy": "local-preference", "address_bits": 32, "vulnerable": 360_000,
      "scan_rate": 1e6, "step_s": 0.0288}, "kernel operations"),
    ({"telescopes": ("44.0.0.0/8",) * 17}, "telescopes"),
    ({"patch_rate": ((0.0, float("inf")),)}, "patch_rate"),
    ({"removal_rate": tuple((float(i), 0.1) for i in range(1001))}, "at most 1,000"),
    ({"start": "0001-01-01T00:30:00+01:00"}, "out of range"),
    ({"start": "9999-12-31T23:00:00Z", "calendar": True}, "start must be within"),
    ({"flood_target": "x}; table inet pwn"}, "flood_target"),
    ({"vulnerable": 2.5}, "whole number"),
    ({"local_probs": (float("nan"), 0.5, 0.5)}, "local_probs"),
])
def test_hostile_parameters_are_refused_up_front(changes: dict[str, object],
                                                 needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        dataclasses.replace(Scenario(), **changes)


def test_presets_and_defaults_are_within_the_limits() -> None:
    for name in list_presets():
        est = load_preset(name).work_estimate()
        assert est["cells"] <= LIMITS["cells"] / 10, name
        assert est["work"] <= LIMITS["work"], name
        assert est["events"] <= LIMITS["events"], name
    assert not Scenario().work_problems()


def test_monte_carlo_request_limits() -> None:
    for runs in (0, -1, int(LIMITS["runs"]) + 1, 1_000_000_000):
        with pytest.raises(ConfigError, match="runs must be within"):
            check_runs(runs)
        with pytest.raises(ConfigError, match="runs must be within"):
            run_many(SMALL, runs)
    with pytest.raises(ConfigError, match="workers"):
        check_runs(2, workers=0)
    for seed in (-1, 2**64, 10**30):
        with pytest.raises(ConfigError, match="seed"):
            check_seed(seed)
    check_runs(int(LIMITS["runs"]), workers=4, seed=2**64 - 1)
    # many runs keep fewer band points each, so the ensemble stays bounded in memory
    assert band_points(SMALL, 1) == 1000
    assert band_points(SMALL, int(LIMITS["runs"])) * int(LIMITS["runs"]) * 9 <= 20_000_000


def test_an_ensemble_is_bounded_by_its_total_work() -> None:
    from wormsign.sim.scenario import check_ensemble

    heavy = load_preset("code-red-ii")
    check_ensemble(heavy, 100)
    with pytest.raises(ConfigError, match="10,000 runs"):
        check_ensemble(heavy, 10_000)
    with pytest.raises(ConfigError, match="runs of about"):
        run_many(heavy, 10_000, seed=1)
    check_ensemble(Scenario(), 10_000)


@pytest.mark.parametrize("address", ["local", "tcp://", "tcp://host", "host:0",
                                     "host:99999", "tcp://a b:1", "http://x:1", ""])
def test_bad_scheduler_addresses_are_one_line_errors(address: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        check_scheduler_address(address)


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "scheduler:8786",
                                     "tls://[::1]:8786", "inproc://192.0.2.2/1/2"])
def test_good_scheduler_addresses_pass(address: str) -> None:
    check_scheduler_address(address)


def _alias_bomb(levels: int) -> str:
    """YAML whose last anchor expands to 10**levels strings (shared in memory, not on print)."""
    out = ["- &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        out.append(f"- &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(out)


def test_preset_files_cannot_hang_or_explode(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    # an alias bomb in a text field: refused as not text, never expanded by str()
    bomb.write_text("sources:\n" + textwrap.indent(_alias_bomb(9), "  ")
                    + "\ndescription: *l8\n")
    with pytest.raises(ConfigError, match=r"bomb\.yaml"):
        load_preset(str(bomb))
    nested = tmp_path / "nested.yaml"
    nested.write_text("sources: [[[x]]]\n")
    with pytest.raises(ConfigError, match=r"nested\.yaml"):
        load_preset(str(nested))
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml"):
        load_preset(str(deep))
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_preset(str(link))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_density_file_is_refused_without_blocking(tmp_path: Path) -> None:
    from wormsign.sim.population import load_density

    fifo = tmp_path / "density.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_density(str(fifo))


def test_the_compile_notice_sees_a_cold_cache(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        from wormsign.sim.engine import compile_cache_cold
        print(compile_cache_cold())
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty-cache"),
           "PYTHONPATH": str(ROOT / "src")}
    # a fresh cache directory holds no compiled kernel: the notice is due
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    assert done.stdout.strip() == "True"


def test_the_cli_prints_the_notice_when_the_cache_is_cold(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import wormsign.sim.engine as engine
    from wormsign.cli.main import main

    monkeypatch.setattr(engine, "compile_cache_cold", lambda: True)
    rc = main(["simulate", "--address-bits", "16", "--vulnerable", "100", "--initial", "1",
               "--hours", "0.01", "--seed", "1", "--json"])
    err = capsys.readouterr().err
    assert rc == 0
    assert "compiling the simulator (first run only, about a minute)" in err
    monkeypatch.setattr(engine, "compile_cache_cold", lambda: False)
    main(["simulate", "--address-bits", "16", "--vulnerable", "100", "--initial", "1",
          "--hours", "0.01", "--seed", "1", "--json"])
    assert "compiling" not in capsys.readouterr().err


def test_docs_list_every_range() -> None:
    doc = (ROOT / "docs" / "sim.md").read_text()
    for name, (lo, hi, lo_open) in RANGES.items():
        row = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        line = next((x for x in doc.splitlines() if x.startswith(f"| `{name}` |")), "")
        assert line.endswith(f"| {row} |"), name
