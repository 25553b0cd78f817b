#!/usr/bin/env python3
"""Write SYNTHETIC, labelled connection logs with known truth (seeded, deterministic).

    python scripts/make_network_fixtures.py OUT_DIR [--seed 1] [--scanners 300]
        [--clients 2000] [--formats zeek,zeek-json,eve,pcap]

The traffic comes from :func:`wormsign.detect.netsynth.synth_network`: scanners with known
strategies (uniform, Code Red II's and Nimda's local preference, sequential), normal clients,
a flood of 198.137.240.91 and inside hosts (10.20.0.0/16), one of which turns scanner. It
is written through :mod:`wormsign.logs.connwrite` as

* ``conn.log`` (Zeek TSV), ``conn.json`` (Zeek JSON), ``eve.json`` (Suricata EVE flow),
* ``conn.pcap`` (a capture of a tenth of the scanners and clients: captures are large),
* ``truth.json``: every source's role, each scanner's strategy, shares, rate, probes and
  start, the flood's target and window, the inside network — and the word SYNTHETIC.

Then ``wormsign scan OUT_DIR/conn.log --own 10.20.0.0/16 --json`` can be checked against
``truth.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from wormsign.detect.netsynth import SynthConfig, synth_network
from wormsign.logs import connwrite

FORMATS = {"zeek": "conn.log", "zeek-json": "conn.json", "eve": "eve.json",
           "pcap": "conn.pcap"}


def write(out: Path, seed: int, cfg: SynthConfig, formats: list[str]) -> list[Path]:
    """Write the fixtures; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    batch, truth = synth_network(seed, cfg)
    written: list[Path] = []
    for fmt in formats:
        path = out / FORMATS[fmt]
        if fmt == "zeek":
            connwrite.write_zeek_tsv(batch, path)
        elif fmt == "zeek-json":
            connwrite.write_zeek_json(batch, path)
        elif fmt == "eve":
            connwrite.write_eve_flow(batch, path)
        else:
            small = SynthConfig(scanners=max(1, cfg.scanners // 10),
                                clients=max(1, cfg.clients // 10),
                                flood_sources=cfg.flood_sources, inside_clients=4,
                                hours=cfg.hours, max_probes=cfg.max_probes)
            pbatch, ptruth = synth_network(seed, small)
            connwrite.write_pcap(pbatch, path, seed=seed)
            (out / "truth-pcap.json").write_text(json.dumps(ptruth.to_dict(), indent=1))
            written.append(out / "truth-pcap.json")
        written.append(path)
    (out / "truth.json").write_text(json.dumps(
        truth.to_dict() | {"seed": seed, "config": dataclasses.asdict(cfg)}, indent=1))
    written.append(out / "truth.json")
    return written


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scanners", type=int, default=300)
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--formats", default="zeek,zeek-json,eve,pcap")
    args = p.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        p.error(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")
    cfg = SynthConfig(scanners=args.scanners, clients=args.clients)
    for path in write(args.out, args.seed, cfg, formats):
        print(path)


if __name__ == "__main__":
    main()
