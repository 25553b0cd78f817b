"""Connection readers, whole process: Zeek conn.log records/s and pcap MB/s.

    python benchmarks/bench_conn.py [--records 2000000] [--pcap-mb 200]
                                    [--json-records 200000] [--dir DIR]

Writes a synthetic conn.log (TSV, Zeek 6 fields, a scan-heavy mix of outcomes) and two
captures (scan-heavy: mostly lone SYNs; mixed: answered connections with payload) with
:mod:`wormsign.logs.connwrite`, then times a fresh Python process that reads each through
:func:`wormsign.logs.connread.read_connections` (start-up, imports and compiled-kernel
loading included). The baseline in the same run is the shell pipeline people use on a
conn.log (``zeek-cut id.orig_h id.resp_h id.resp_p conn_state | sort -u``, as ``grep -v
'^#' | cut -f 3,5,6,12 | sort -u``). Bars (issue #12): >= 1 M records/s, >= 100 MB/s.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wormsign.logs import connwrite
from wormsign.logs.conn import ESTABLISHED, REFUSED, UNANSWERED, ConnBatch

_READ = """
import sys, time
from wormsign.logs.connread import ConnStats, read_connections
stats = ConnStats()
n = sum(len(b) for b in read_connections(sys.argv[1], stats=stats))
print(n, stats.lines, stats.total_skipped)
"""


def _batch(n: int, seed: int, *, scan_share: float, payload: bool) -> ConnBatch:
    """Scanners (lone SYNs to random addresses: mostly unanswered, some refused) and
    clients (answered connections), in time order."""
    rng = np.random.default_rng(seed)
    scan = rng.random(n) < scan_share
    outcome = np.where(scan, rng.choice([UNANSWERED, REFUSED], n, p=[0.8, 0.2]),
                       rng.choice([ESTABLISHED, REFUSED], n, p=[0.95, 0.05])).astype(np.uint8)
    ob = np.where(outcome == ESTABLISHED, rng.integers(0, 4000 if payload else 600, n), -1)
    rb = np.where(outcome == ESTABLISHED, rng.integers(0, 60000 if payload else 3000, n), -1)
    return ConnBatch(
        np.sort(rng.uniform(1.6e9, 1.6e9 + 86400, n)).round(6),
        rng.integers(0x0A000000, 0x0A00FFFF, n, dtype=np.uint32),
        rng.integers(1, 2**32, n, dtype=np.uint32),
        rng.integers(1024, 65536, n).astype(np.int32),
        rng.choice(np.array([23, 80, 443, 445, 135, 2323], np.int32), n),
        np.where(rng.random(n) < 0.9, 6, 17).astype(np.uint8), outcome,
        ob.astype(np.int64), rb.astype(np.int64), np.zeros(n, np.uint8),
        np.arange(n, dtype=np.int64))


def _replicate(src: Path, dst: Path, size: int, skip_head: int) -> None:
    """``dst`` = ``src`` then its body (after ``skip_head`` bytes) again until ``size``."""
    data = src.read_bytes()
    body = data[skip_head:]
    with open(dst, "wb") as f:
        f.write(data)
        written = len(data)
        while written < size:
            f.write(body)
            written += len(body)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str] | str, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process and its children, its output)."""
    c, t = _cpu(), time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env,
                         shell=isinstance(cmd, str))
    return time.perf_counter() - t, _cpu() - c, out.stdout.strip()


def _read_seconds(path: Path, env: dict[str, str]) -> tuple[float, float, str]:
    _timed([sys.executable, "-c", _READ, str(path)], env)  # warm the page cache once
    return min((_timed([sys.executable, "-c", _READ, str(path)], env) for _ in range(2)),
               key=lambda x: x[0])


def bench_conn_log(d: Path, records: int, env: dict[str, str]) -> None:
    part = d / "part.log"
    reps = -(-records // 250_000)
    unit = records // reps
    connwrite.write_zeek_tsv(_batch(unit, 1, scan_share=0.7, payload=False), part,
                             header=False)
    log = d / "conn.log"
    head = d / "head.log"
    connwrite.write_zeek_tsv(ConnBatch.empty(), head)
    header = head.read_bytes().rsplit(b"#close", 1)[0]
    tmp = d / "body.log"
    _replicate(part, tmp, part.stat().st_size * reps, 0)
    with open(log, "wb") as f:
        f.write(header)
        with open(tmp, "rb") as body:
            while chunk := body.read(1 << 24):
                f.write(chunk)
    tmp.unlink()
    size = log.stat().st_size
    secs, cpu, out = _read_seconds(log, env)
    n = int(out.split()[0])
    base, base_cpu, _ = _timed(f"grep -v '^#' {log} | cut -f 3,5,6,12 | sort -u > /dev/null",
                               {**env, "LC_ALL": "C"})
    print(f"conn.log: {n:,} records, {size / 1e6:.0f} MB: whole process {secs:.2f} s wall "
          f"= {n / secs / 1e6:.2f} M records/s, {cpu:.2f} s CPU = {n / cpu / 1e6:.2f} M "
          f"records/s per CPU second; baseline grep|cut|sort -u {base:.2f} s wall "
          f"({base_cpu:.2f} s CPU) = {n / base / 1e6:.2f} M records/s; ratio (baseline / "
          f"ours) {base / secs:.2f}x wall, {base_cpu / cpu:.2f}x CPU (bar 1 M records/s: "
          f"{'met' if n / secs >= 1e6 else 'NOT met'} on wall time)")


def bench_json(d: Path, records: int, env: dict[str, str]) -> None:
    """The JSON readers (Python per line: no bar, figures for the record)."""
    b = _batch(records, 3, scan_share=0.7, payload=False)
    for name, write in (("zeek-conn-json", connwrite.write_zeek_json),
                        ("eve-flow", connwrite.write_eve_flow)):
        path = d / f"{name}.json"
        write(b, path)
        secs, cpu, out = _read_seconds(path, env)
        n = int(out.split()[0])
        print(f"{name}: {n:,} records, {path.stat().st_size / 1e6:.0f} MB: whole process "
              f"{secs:.2f} s wall = {n / secs / 1e3:.0f} k records/s, {cpu:.2f} s CPU = "
              f"{n / cpu / 1e3:.0f} k records/s per CPU second")
        path.unlink()


def bench_pcap(d: Path, megabytes: int, env: dict[str, str]) -> None:
    for name, share, payload, conns in (("scan-heavy", 0.9, False, 60_000),
                                        ("mixed", 0.3, True, 1_000)):
        part = d / f"{name}-part.pcap"
        connwrite.write_pcap(_batch(conns, 2, scan_share=share, payload=payload), part)
        cap = d / f"{name}.pcap"
        _replicate(part, cap, megabytes * 10**6, 24)
        size = cap.stat().st_size
        secs, cpu, out = _read_seconds(cap, env)
        attempts, packets = (int(x) for x in out.split()[:2])
        print(f"pcap {name}: {size / 1e6:.0f} MB, {packets:,} packets, {attempts:,} "
              f"attempts: whole process {secs:.2f} s wall = {size / secs / 1e6:.0f} MB/s "
              f"({packets / secs / 1e6:.2f} M packets/s), {cpu:.2f} s CPU = "
              f"{size / cpu / 1e6:.0f} MB/s per CPU second (bar 100 MB/s: "
              f"{'met' if size / secs >= 1e8 else 'NOT met'} on wall time)")
        cap.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--pcap-mb", type=int, default=200)
    ap.add_argument("--json-records", type=int, default=200_000)
    ap.add_argument("--dir", default=None, help="where to write the inputs (default: a temp dir)")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall time suffers "
          "when the machine is shared; CPU time is the process's own)")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        d = Path(tmp)
        bench_conn_log(d, args.records, env)
        bench_pcap(d, args.pcap_mb, env)
        bench_json(d, args.json_records, env)


if __name__ == "__main__":
    main()
