"""Memory stays flat: peak RSS reading captures of N and 4N packets, and TRW's state fed
a proxy-like source of D and 4D distinct destinations.

    python benchmarks/bench_conn_memory.py [--rows 100000] [--dests 1000000]
                                           [--sources 1000] [--dir DIR]

Captures: ``--rows`` connections (about 2.6 packets each, a scan-heavy mix written by
:func:`wormsign.logs.connwrite.write_pcap`), then four such days one after another. Each is
read in a fresh process through :func:`wormsign.logs.connread.read_connections` (batches
counted and let go), and, as the baseline in the same run, the whole-capture way it was read
before streaming (every packet's header held, then all attempts at once:
``pcapconn._read_frames`` + ``pcapconn.attempts``); the figure is the process's peak RSS
(``VmHWM``; not ``ru_maxrss``, which a child inherits from the benchmark across exec).
TRW: a :class:`wormsign.detect.netstate.SourceState` fed batches of 100,000
answered connections from one source (then from ``--sources`` clients in turn) to
``--dests`` and 4x as many distinct destinations, in a fresh process each: peak RSS and the
pairs remembered (caps: 4096 a source, 4 Mi in all).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_conn import _batch

from wormsign.logs import connwrite

_STREAM = """
def _hwm():
    with open("/proc/self/status") as f:
        return [int(x.split()[1]) for x in f if x.startswith("VmHWM")][0]
import sys
from wormsign.logs.connread import ConnStats, read_connections
stats = ConnStats()
n = sum(len(b) for b in read_connections(sys.argv[1], stats=stats))
print(n, stats.lines, _hwm())
"""
_WHOLE = """
def _hwm():
    with open("/proc/self/status") as f:
        return [int(x.split()[1]) for x in f if x.startswith("VmHWM")][0]
import sys
import numpy as np
from wormsign.logs import pcapconn
from wormsign.logs.source import Input, open_input
frame, flows = pcapconn.kernels()
state = np.zeros(7, dtype=np.int64)
with open_input(Input(sys.argv[1])) as s:
    pk, ts, _, _ = pcapconn._read_frames(s, s.peek(4), "x", state, frame)
n = len(pcapconn.attempts(pk, ts, "x", flows))
print(n, int(state[1]), _hwm())
"""
_TRW = """
def _hwm():
    with open("/proc/self/status") as f:
        return [int(x.split()[1]) for x in f if x.startswith("VmHWM")][0]
import sys
import numpy as np
from wormsign.detect.netstate import SourceState
from wormsign.logs.conn import ConnBatch
dests, sources = (int(x) for x in sys.argv[1].split(","))
step = 100_000
s = SourceState()
for i in range(0, dests, step):
    n = min(step, dests - i)
    s.feed(ConnBatch(
        1e9 + i + np.arange(n, dtype=np.float64),
        (0x0A000000 + (i + np.arange(n)) % sources).astype(np.uint32),
        (0x20000000 + i + np.arange(n)).astype(np.uint32), np.full(n, 40000, np.int32),
        np.full(n, 80, np.int32), np.full(n, 6, np.uint8), np.zeros(n, np.uint8),
        np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.zeros(n, np.uint8),
        np.arange(n, dtype=np.int64), "x", "zeek-conn"))
print(len(s.seen), s.forgotten, _hwm())
"""


def _run(script: str, arg: str) -> list[int]:
    out = subprocess.run([sys.executable, "-c", script, arg], capture_output=True, text=True,
                         check=True)
    return [int(x) for x in out.stdout.split()]


def _capture(path: Path, rows: int, days: int) -> int:
    """``days`` days of ``rows`` connections each, one after another; returns packets."""
    packets = 0
    with open(path, "wb") as f:
        for day in range(days):
            b = _batch(rows, day, scan_share=0.7, payload=False)
            b.time[:] = b.time + 86400.0 * day
            part = path.with_suffix(".part")
            packets += connwrite.write_pcap(b, part, seed=day)
            f.write(part.read_bytes()[0 if day == 0 else 24:])
            part.unlink()
    return packets


def bench_capture(d: Path, rows: int) -> None:
    peaks = {}
    for days in (1, 4):
        path = d / f"c{days}.pcap"
        packets = _capture(path, rows, days)
        n, _, stream_kb = _run(_STREAM, str(path))
        wn, _, whole_kb = _run(_WHOLE, str(path))
        assert n == wn, (n, wn)
        peaks[days] = (stream_kb, whole_kb)
        print(f"capture {packets:,} packets ({path.stat().st_size / 1e6:.0f} MB), {n:,} "
              f"attempts: peak RSS streaming {stream_kb / 1024:.0f} MiB, whole-capture "
              f"baseline {whole_kb / 1024:.0f} MiB")
        path.unlink()
    s1, w1 = peaks[1]
    s4, w4 = peaks[4]
    print(f"4x the packets: streaming peak x{s4 / s1:.2f}, whole-capture baseline "
          f"x{w4 / w1:.2f}")


def bench_trw(dests: int, sources: int) -> None:
    """One proxy-like source, then ``sources`` clients sharing the destinations (answered:
    all stay walking, so their pairs are kept up to the caps)."""
    for who, n in (("one source", 1), (f"{sources:,} sources", sources)):
        res = {}
        for k in (1, 4):
            pairs, forgotten, kb = _run(_TRW, f"{dests * k},{n}")
            res[k] = kb
            print(f"TRW state, {who}, {dests * k:,} distinct destinations: {pairs:,} pairs "
                  f"remembered, {forgotten:,} forgotten, peak RSS {kb / 1024:.0f} MiB")
        print(f"4x the destinations ({who}): TRW peak x{res[4] / res[1]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dests", type=int, default=1_000_000)
    ap.add_argument("--sources", type=int, default=1000)
    ap.add_argument("--dir", type=Path, default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        bench_capture(Path(tmp), a.rows)
    bench_trw(a.dests, a.sources)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
