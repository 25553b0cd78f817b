"""Issue #12's bars on generated data with known truth (netsynth, seeded).

TRW finds >= 95 % of the scanners that made >= 10 probes and flags <= 1 % of the benign
sources; the strategy is named right for >= 90 % of the scanners with >= 200 probes. Each
seed's figures are printed (``pytest -s``) so a run shows what was measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from wormsign.detect.netsynth import OWN_NETWORK, synth_network
from wormsign.detect.network import NetworkConfig, analyse_batches


@pytest.mark.parametrize("seed", [3, 4, 20])
def test_bars_on_synthetic_traffic(seed: int) -> None:
    b, truth = synth_network(seed)
    pieces = [b.take(np.arange(i, min(i + 40_000, len(b)))) for i in range(0, len(b), 40_000)]
    r = analyse_batches(pieces, NetworkConfig(own=(OWN_NETWORK,)))
    found = {s.ip: s for s in r.scanners}
    scanners = [s for s in truth.scanners if s.probes >= 10]
    benign = [ip for ip, role in truth.roles.items()
              if role in ("benign", "inside-benign", "flood")]
    big = [s for s in truth.scanners if s.probes >= 200]
    detected = sum(s.ip in found for s in scanners) / len(scanners)
    flagged = sum(ip in found for ip in benign) / len(benign)
    right = sum(s.ip in found and found[s.ip].strategy.name == s.strategy
                for s in big) / len(big)
    print(f"seed {seed}: TRW found {detected:.3f} of {len(scanners)} scanners >= 10 probes, "
          f"flagged {flagged:.4f} of {len(benign)} benign; strategy right for {right:.3f} "
          f"of {len(big)} scanners >= 200 probes")
    err = np.array([abs(found[s.ip].rate / s.rate - 1.0) for s in truth.scanners  # type: ignore[operator]
                    if s.probes >= 50 and s.ip in found and found[s.ip].rate])
    print(f"  rate: median relative error {np.median(err):.3f}, 90th percentile "
          f"{np.quantile(err, 0.9):.3f} over {len(err)} scanners >= 50 probes")
    assert np.median(err) < 0.1 and np.quantile(err, 0.9) < 0.3
    assert detected >= 0.95
    assert flagged <= 0.01
    assert right >= 0.90
    (inside,) = r.inside
    (turned,) = [s for s in truth.scanners if s.inside]
    assert inside.ip == turned.ip
    started = inside.evidence.scan_started_at
    assert started is not None and turned.start <= started <= turned.start + 60
    (flood,) = r.floods
    assert str(flood.target) and flood.start <= truth.flood_start + 60
    assert flood.end >= truth.flood_end - 60


def test_generator_is_seeded() -> None:
    from wormsign.detect.netsynth import SynthConfig

    cfg = SynthConfig(scanners=10, clients=20, flood_sources=5, inside_clients=2, hours=0.2)
    a, ta = synth_network(5, cfg)
    b, tb = synth_network(5, cfg)
    assert ta == tb and np.array_equal(a.dst, b.dst) and np.array_equal(a.time, b.time)
    c, _ = synth_network(6, cfg)
    assert not np.array_equal(a.dst[: len(c)], c.dst[: len(a)])
