"""Benchmark: assess a 100,000-host inventory, 1,000 hosts with configuration files (≤ 10 s).

    python benchmarks/bench_assess.py [--hosts 100000] [--configs 1000] [--repeat 3]

Generates a synthetic fleet in a temporary directory (seeded), then times, in the same run:

- baseline: reading the inventory CSV with the standard ``csv`` module into lists (the least
  any assessment must do);
- ``assess()`` end to end (inventory parsing and validation, 1,000 configuration audits,
  300,000 verdicts, ranking, patch plan) with the closed-form outbreak model, and again with
  the default model source (the simulator when importable, a one-off cost independent of the
  fleet size);
- rendering the ``--json`` contract to text.

Also exposes ``test_bench_assess`` for pytest with a generous bound (a smaller fleet).
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "examples" / "fleet" / "configs"


def make_fleet(out: Path, hosts: int, configs: int, seed: int = 7) -> Path:
    """Write ``inventory.csv`` and ``configs/cfgNNNN.*`` under ``out``; returns the CSV path."""
    rng = np.random.default_rng(seed)
    templates = sorted(p for p in CONFIG_DIR.iterdir() if p.is_file())
    texts = [p.read_text(encoding="utf-8") for p in templates]
    (out / "configs").mkdir(parents=True, exist_ok=True)
    cfg_names = []
    for i in range(configs):
        k = int(rng.integers(len(templates)))
        text = texts[k]
        if templates[k].suffix == ".txt" and rng.random() < 0.3:
            text = "\n".join(ln for ln in text.splitlines() if ".ida," not in ln
                             and ".idq," not in ln) + "\n"
        name = f"configs/cfg{i:04d}{templates[k].suffix or '.conf'}"
        (out / name).write_text(text, encoding="utf-8")
        cfg_names.append((name, k))
    software = [("IIS", "5.0"), ("IIS", "4.0"), ("IIS", "6.0"), ("Apache", "1.3.20"),
                ("nginx", "1.24.0"), ("Microsoft IIS httpd", "5.0")]
    patch_sets = ["", "MS01-033", "MS01-044", "Q300972;MS00-078", "?", "MS02-018", "none"]
    oses = ["Windows 2000 Server SP1", "Windows 2000 Server SP2", "Windows 2000 Server SP3",
            "Windows NT 4.0 SP6a", "Linux"]
    sw = rng.integers(len(software), size=hosts)
    pa = rng.integers(len(patch_sets), size=hosts)
    os_ = rng.integers(len(oses), size=hosts)
    ex = rng.random(hosts)
    cr = rng.integers(0, 11, size=hosts)
    with_cfg = set(rng.choice(hosts, size=min(configs, hosts), replace=False).tolist())
    cfg_iter = iter(cfg_names)
    path = out / "inventory.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["host", "address", "software", "version", "os", "patches", "exposure",
                    "role", "criticality", "config"])
        for i in range(hosts):
            s, v = software[sw[i]]
            cfg = next(cfg_iter)[0] if i in with_cfg else ""
            w.writerow([f"h{i:06d}.example.test", f"10.{i >> 16 & 255}.{i >> 8 & 255}."
                        f"{i & 255}", s, v, oses[os_[i]], patch_sets[pa[i]],
                        "internet" if ex[i] < 0.2 else "internal", "web",
                        str(int(cr[i])), cfg])
    return path


def _time(fn: object, repeat: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times), result


def run(hosts: int, configs: int, repeat: int) -> dict[str, float]:
    from wormsign.fleet.assess import assess
    from wormsign.fleet.kb import load_kb

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        inv = make_fleet(Path(tmp), hosts, configs)
        gen = time.perf_counter() - t0
        kb = load_kb()

        def baseline() -> int:
            with inv.open(newline="", encoding="utf-8") as f:
                return len(list(csv.reader(f)))

        base, _ = _time(baseline, repeat)
        closed, rep = _time(lambda: assess(str(inv), kb=kb, outbreak_source="closed-form",
                                           max_per_wave=5000), repeat)
        auto, rep_auto = _time(lambda: assess(str(inv), kb=kb, max_per_wave=5000), 1)
        js, _ = _time(lambda: rep.write_json(io.StringIO()), 1)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "wormsign", "assess", str(inv), "--json",
                               "--outbreak-model", "closed-form"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        cli = time.perf_counter() - t0
        assert proc.returncode in (0, 1), proc.stderr
        counts = rep.counts()  # type: ignore[attr-defined]
        src = rep_auto.urgency.for_model(None).source  # type: ignore[attr-defined]
    print(f"fleet: {hosts:,} hosts, {configs:,} configuration files (generated in {gen:.1f} s)")
    print(f"baseline  csv.reader of the inventory      {base:7.2f} s")
    print(f"assess    closed-form outbreak model        {closed:7.2f} s "
          f"({closed / base:.1f}x baseline; best of {repeat})")
    print(f"assess    default model source              {auto:7.2f} s ({src})")
    print(f"render    --json contract                   {js:7.2f} s")
    print(f"cli       wormsign assess --json (closed-form) {cli:6.2f} s end to end, "
          "interpreter start included")
    print("verdicts  " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    print(f"plan      {len(rep.plan)} waves")  # type: ignore[attr-defined]
    return {"baseline": base, "assess": closed, "assess_auto": auto, "json": js, "cli": cli}


def test_bench_assess() -> None:
    """A 20,000-host fleet with 200 configs must assess well within a generous bound."""
    figures = run(20_000, 200, 1)
    assert figures["assess"] < 30.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--hosts", type=int, default=100_000)
    ap.add_argument("--configs", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    figures = run(a.hosts, a.configs, a.repeat)
    target = 10.0
    ok = figures["assess"] <= target
    print(f"target    <= {target:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
