"""Log lines for the watch tests: Apache combined, with labelled worm requests."""

from __future__ import annotations

from datetime import UTC, datetime

from wormsign.logs.synth import CODE_RED, NIMDA

T0 = datetime(2001, 9, 18, 13, 0, 0, tzinfo=UTC)


def combined(ip: str, url: str, t: float, method: str = "GET", status: int = 404) -> bytes:
    """One Apache combined line, ``t`` seconds after :data:`T0`."""
    ts = datetime.fromtimestamp(T0.timestamp() + t, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'{ip} - - [{ts}] "{method} {url} HTTP/1.0" {status} 120 "-" '
            f'"Mozilla/4.0 (compatible; MSIE 5.5)"\n').encode()


def benign(i: int, t: float) -> bytes:
    return combined(f"198.51.100.{i % 200 + 1}", f"/index{i}.html", t, status=200)


def code_red(i: int, t: float) -> bytes:
    """A Code Red request from a distinct-ish source (``i`` picks the source)."""
    return combined(f"203.0.{i // 250 % 250}.{i % 250 + 1}", CODE_RED, t)


def nimda_burst(ip: str, t: float, n: int = 16) -> list[bytes]:
    return [combined(ip, NIMDA[k % len(NIMDA)], t + k * 0.1) for k in range(n)]
