"""Synthetic, clearly labelled web-server logs for demos, tests and benchmarks.

Background traffic plus Code Red (19 July 2001), Code Red II (4 August), Nimda (18 September)
and the look-alikes a detector must not call Nimda (a lowercase-``get`` bot, a Nikto run, a
lone traversal probe), written as Apache combined, IIS W3C extended (decoded one level, as IIS
logs it) and Apache error logs. Every value is generated from a seeded generator; nothing here
is real traffic. The worm requests are the strings worms sent, as they appear in logs: text,
not exploit code.

Outbreak logs (``wormsign demo``): :func:`worm_probes` turns a simulated outbreak (per step:
the probe rate reaching one address and the hosts infected so far) into the Code Red probes
each of a few servers receives, :func:`infection_addresses` gives every infected host a
stable synthetic address, and :func:`write_outbreak_logs` writes each server's log (IIS W3C or
Apache combined) with background traffic, named ``synthetic-*``.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote_to_bytes

import numpy as np
import numpy.typing as npt

from wormsign.errors import ConfigError
from wormsign.logs.normalize import canonical_ip

CODE_RED_TAIL = (
    "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u9090"
    "%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a"
)
CODE_RED = "/default.ida?" + "N" * 224 + CODE_RED_TAIL
CODE_RED_II = "/default.ida?" + "X" * 224 + CODE_RED_TAIL
NIMDA = (
    "/scripts/root.exe?/c+dir",
    "/MSADC/root.exe?/c+dir",
    "/c/winnt/system32/cmd.exe?/c+dir",
    "/d/winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir",
    "/_vti_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir",
    "/_mem_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir",
    "/msadc/..%255c../..%255c../..%255c/..%c1%1c../..%c1%1c../..%c1%1c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c0%2f../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c1%9c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%%35c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%25%35%63../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%252f../winnt/system32/cmd.exe?/c+dir",
)
NIKTO_EXTRA = (
    "/cgi-bin/phf?Qalias=x%0a/bin/cat%20/etc/passwd", "/scripts/samples/details.idc",
    "/iisadmpwd/aexp2.htr", "/NULL.printer", "/_vti_bin/shtml.exe/_vti_rpc", "/../../../etc/passwd",
    "/msadc/msadcs.dll", "/cgi-bin/test-cgi", "/admin/", "/robots.txt", "/scripts/tools/newdsn.exe",
)
_PAGES = ("/", "/index.html", "/about/", "/news/2001/07/index.html", "/products/widgets.html",
          "/images/logo.gif", "/images/banner.jpg", "/css/site.css", "/js/menu.js",
          "/cgi-bin/search.pl?q=web+server", "/support/faq.html", "/contact.html",
          "/downloads/catalog.pdf", "/favicon.ico")
_AGENTS = ("Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.0)",
           "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
           "Mozilla/5.0 (X11; U; Linux i686; en-US; rv:0.9.2) Gecko/20010726 Netscape6/6.1",
           "Mozilla/4.77 [en] (Windows NT 5.0; U)", "Googlebot/2.1 (+http://www.googlebot.com/bot.html)",
           "Lynx/2.8.4rel.1 libwww-FM/2.14")
LABEL = "wormsign SYNTHETIC sample - generated, not real traffic"


@dataclass(frozen=True)
class Event:
    """One generated request."""

    when: datetime
    ip: str
    method: str
    url: str
    status: int
    size: int
    agent: str
    referer: str
    proto: str = "HTTP/1.0"


def _ip(rng: random.Random) -> str:
    while True:
        a = rng.randrange(1, 224)
        if a not in (10, 127):
            return f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def events(background: int = 20000, seed: int = 2001, code_red: int = 300,
           code_red_ii: int = 80, nimda: int = 25,
           start: datetime = datetime(2001, 7, 18, tzinfo=UTC),
           end: datetime = datetime(2001, 9, 20, tzinfo=UTC)) -> list[Event]:
    """All events, sorted by time."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    out: list[Event] = []
    visitors = [_ip(rng) for _ in range(max(50, background // 40))]
    for _ in range(background):
        t = start + timedelta(seconds=rng.random() * span)
        page = rng.choice(_PAGES)
        ok = rng.random() < 0.93
        out.append(Event(t, rng.choice(visitors), "GET", page, 200 if ok else 404,
                         rng.randrange(200, 40000) if ok else 280, rng.choice(_AGENTS),
                         "http://www.example.com/" if rng.random() < 0.5 else "-", "HTTP/1.1"))

    def burst_of(kind: str, n: int, t0: datetime, hours: float) -> None:
        for _ in range(n):
            ip = _ip(rng)
            t = t0 + timedelta(seconds=rng.random() * hours * 3600)
            if kind == "nimda":
                for i, url in enumerate(NIMDA):
                    t += timedelta(milliseconds=rng.randrange(80, 400))
                    status = 400 if "%%" in url else 404
                    out.append(Event(t, ip, "GET", url, status, 300, "-", "-"))
                    del i
            else:
                url = CODE_RED if kind == "code-red" else CODE_RED_II
                for _ in range(rng.choice((1, 1, 1, 2))):
                    out.append(Event(t, ip, "GET", url, rng.choice((404, 404, 404, 400, 200)),
                                     300, "-", "-"))
                    t += timedelta(minutes=rng.randrange(1, 90))

    burst_of("code-red", code_red, datetime(2001, 7, 19, 10, tzinfo=UTC), 14)
    burst_of("code-red-ii", code_red_ii, datetime(2001, 8, 4, 6, tzinfo=UTC), 30)
    burst_of("nimda", nimda, datetime(2001, 9, 18, 13, tzinfo=UTC), 30)
    # Look-alikes that are not Nimda.
    bot = _ip(rng)
    t = datetime(2001, 8, 20, 3, 12, tzinfo=UTC)
    for url in NIMDA[8:12]:
        out.append(Event(t, bot, "get", url, 400, 300, "-", "-", ""))
        t += timedelta(seconds=1)
    nikto = _ip(rng)
    t = datetime(2001, 9, 19, 22, 0, tzinfo=UTC)
    for url in list(NIKTO_EXTRA) * 3 + list(NIMDA) + list(NIKTO_EXTRA) * 3:
        out.append(Event(t, nikto, "GET", url, 404, 280, "Mozilla/4.75 (Nikto/1.10 )", "-"))
        t += timedelta(milliseconds=150)
    out.append(Event(datetime(2001, 8, 30, 17, 5, tzinfo=UTC), _ip(rng), "GET",
                     "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir", 404, 300, "-", "-"))
    out.sort(key=lambda e: e.when)
    return out


def combined_lines(evs: list[Event]) -> Iterator[str]:
    """Apache combined log lines."""
    for e in evs:
        ts = e.when.strftime("%d/%b/%Y:%H:%M:%S +0000")
        req = f"{e.method} {e.url} {e.proto}".rstrip()
        yield f'{e.ip} - - [{ts}] "{req}" {e.status} {e.size} "{e.referer}" "{e.agent}"\n'


def _iis_once(url: str) -> bytes:
    """How IIS writes a URL: decoded one level (``%255c`` → ``%5c``, ``%c0%af`` → raw bytes)."""
    raw = unquote_to_bytes(url.replace("+", "%2B")).replace(b" ", b"+")
    return b"".join(b"%%%02X" % c if c < 0x20 or c == 0x7F else bytes([c]) for c in raw)


def iis_lines(evs: list[Event]) -> Iterator[bytes]:
    """IIS W3C extended lines, with a header change part-way through (a service restart)."""
    fields_a = ("date time c-ip cs-username s-ip s-port cs-method cs-uri-stem cs-uri-query "
                "sc-status cs(User-Agent)")
    fields_b = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
                "cs(User-Agent) sc-status sc-bytes")
    half = len(evs) // 2
    for i, e in enumerate(evs):
        if i in (0, half):
            fields = fields_a if i == 0 else fields_b
            yield (f"#Software: Microsoft Internet Information Services 5.0 ({LABEL})\n"
                   f"#Version: 1.0\n#Date: {e.when:%Y-%m-%d %H:%M:%S}\n#Fields: {fields}\n"
                   ).encode()
        stem, _, query = e.url.partition("?")
        row = {
            "date": e.when.strftime("%Y-%m-%d").encode(),
            "time": e.when.strftime("%H:%M:%S").encode(),
            "c-ip": e.ip.encode(), "cs-username": b"-", "s-ip": b"192.0.2.80", "s-port": b"80",
            "cs-method": e.method.encode(), "cs-uri-stem": _iis_once(stem) or b"/",
            "cs-uri-query": _iis_once(query) if query else b"-",
            "sc-status": str(e.status).encode(),
            "cs(User-Agent)": e.agent.replace(" ", "+").encode(), "sc-bytes": str(e.size).encode(),
        }
        names = (fields_a if i < half else fields_b).split()
        yield b" ".join(row[n] for n in names) + b"\n"


def error_lines(evs: list[Event]) -> Iterator[bytes]:
    """Apache 1.3-style error-log lines for the worm requests (404s and 400s)."""
    for e in evs:
        if e.status not in (400, 404) or e.agent not in ("-",):
            continue
        ts = e.when.strftime("%a %b %d %H:%M:%S %Y").encode()
        path = unquote_to_bytes(e.url.partition("?")[0])
        esc = b"".join(bytes([c]) if 0x20 < c < 0x7F else b"\\x%02x" % c for c in path)
        if e.method != "GET":
            msg = b"Invalid method in request " + f"{e.method} {e.url}".encode()
        elif e.status == 400:
            msg = b"Invalid URI in request " + f"{e.method} {e.url} HTTP/1.0".encode()
        else:
            msg = b"File does not exist: /var/www/html" + esc
        yield b"[" + ts + b"] [error] [client " + e.ip.encode() + b"] " + msg + b"\n"


def write_sample(out_dir: str | Path, background: int = 20000, seed: int = 2001) -> list[Path]:
    """Write the three sample logs into ``out_dir``; returns their paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    evs = events(background=background, seed=seed)
    paths = [d / "synthetic-access.log", d / "synthetic-iis-w3c.log", d / "synthetic-error.log"]
    with open(paths[0], "w", encoding="utf-8") as f:
        f.writelines(combined_lines(evs))
    with open(paths[1], "wb") as fb:
        fb.writelines(iis_lines(evs))
    with open(paths[2], "wb") as fb:
        fb.writelines(error_lines(evs))
    return paths


#: Scanner requests for the worm-heavy log: a Nikto-style run and lone traversal probes.
_SCANNER_URLS = (*NIKTO_EXTRA, "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
                 "/default.ida?" + "A" * 240, "/NULL.printer", "/iisadmpwd/aexp2.htr")
_NIKTO_AGENT = "Mozilla/4.75 (Nikto/1.10 )"


def _session(rng: random.Random, ip: str) -> list[tuple[str, str, str, str]]:
    """One worm source's requests, in order: ``(ip, method+url+version, status, agent)``."""
    kind = rng.random()
    if kind < 0.55:
        url = CODE_RED if rng.random() < 0.75 else CODE_RED_II
        return [(ip, f"GET {url} HTTP/1.0", rng.choice(("404", "404", "400", "200")), "-")
                for _ in range(rng.choice((1, 1, 2, 3)))]
    if kind < 0.80:
        urls = list(NIMDA)
        if rng.random() < 0.4:  # a partial burst: the worm was cut off, or the log rotated
            urls = urls[:rng.randrange(4, 12)]
        return [(ip, f"GET {u} HTTP/1.0", "400" if "%%" in u else "404", "-") for u in urls]
    if kind < 0.92:
        return [(ip, f"GET {u} HTTP/1.1", "404", _NIKTO_AGENT)
                for u in rng.sample(_SCANNER_URLS, rng.randrange(3, len(_SCANNER_URLS)))]
    u = rng.choice(_SCANNER_URLS[-4:])
    return [(ip, f"GET {u} HTTP/1.0", "404", "-")]


def worm_heavy_lines(lines: int = 1_000_000, share: float = 0.18, seed: int = 2001,
                     active: int = 8) -> Iterator[str]:
    """A combined log of ``lines`` lines in which about ``share`` are worm requests: Code Red
    and Code Red II (1-3 requests per source), full and partial Nimda bursts, Nikto-style
    scanners and lone probes, from tens of thousands of sources, on a background of ordinary
    browsing. Synthetic (seeded, generated): for benchmarks of worm-storm scanning."""
    rng = random.Random(seed)
    visitors = [_ip(rng) for _ in range(5000)]
    sessions = [_session(rng, _ip(rng))[::-1] for _ in range(active)]
    t0 = datetime(2001, 9, 18, 0, 0, tzinfo=UTC).timestamp()
    stamp_cache: dict[int, str] = {}
    clock = 0.0
    for _ in range(lines):
        clock += rng.random() * 0.1
        sec = int(t0 + clock)
        ts = stamp_cache.get(sec)
        if ts is None:
            stamp_cache.clear()
            ts = stamp_cache[sec] = datetime.fromtimestamp(sec, UTC).strftime(
                "%d/%b/%Y:%H:%M:%S +0000")
        if rng.random() < share:
            k = rng.randrange(active)
            ip, req, status, agent = sessions[k].pop()
            if not sessions[k]:
                sessions[k] = _session(rng, _ip(rng))[::-1]
            yield f'{ip} - - [{ts}] "{req}" {status} 300 "-" "{agent}"\n'
        else:
            ok = rng.random() < 0.93
            yield (f'{rng.choice(visitors)} - - [{ts}] "GET {rng.choice(_PAGES)} HTTP/1.1" '
                   f'{200 if ok else 404} {rng.randrange(200, 40000) if ok else 280} '
                   f'"http://www.example.com/" "{rng.choice(_AGENTS)}"\n')


def distinct_sources_lines(sources: int = 2_000_000) -> Iterator[str]:
    """One Code Red request from each of ``sources`` distinct addresses (synthetic): the
    memory benchmark for scans with millions of sources."""
    start = int(datetime(2001, 7, 19, 10, 0, tzinfo=UTC).timestamp())
    for i in range(sources):
        ts = datetime.fromtimestamp(start + i // 50, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        a = 11 + (i >> 24)
        yield (f'{a}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255} - - [{ts}] '
               f'"GET {CODE_RED} HTTP/1.0" 404 300 "-" "-"\n')


def write_worm_heavy(path: str | Path, lines: int = 1_000_000, share: float = 0.18,
                     seed: int = 2001) -> Path:
    """Write :func:`worm_heavy_lines` to ``path``; returns the path."""
    p = Path(path)
    with open(p, "w", encoding="utf-8") as f:
        buf: list[str] = []
        for line in worm_heavy_lines(lines, share, seed):
            buf.append(line)
            if len(buf) >= 10000:
                f.writelines(buf)
                buf.clear()
        f.writelines(buf)
    return p


# --------------------------------------------------------------------------------------------
# Outbreak logs: what a few servers log while a simulated outbreak runs (``wormsign demo``).
# The logs layer knows nothing of the simulator: the outbreak arrives as plain arrays.

#: Blocks no synthetic source address is drawn from: unroutable, private, multicast and
#: reserved space, and the documentation ranges the sample organisation lives in.
_NOT_SOURCES = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16",
                "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3")
_ADDRESS_CHUNK = 1 << 16
OUTBREAK_PREFIX = "synthetic-"
"""Every outbreak log's file name starts with this."""


@dataclass(frozen=True)
class ServerProbes:
    """The worm probes one server received: ``times`` (seconds from the outbreak's start,
    sorted) and ``sources`` (each probe's sender, as its index in infection order)."""

    times: npt.NDArray[np.float64]
    sources: npt.NDArray[np.int64]


@dataclass(frozen=True)
class SyntheticServer:
    """One server that writes a log: its name, the address it answers on, and its log
    format (``iis`` for IIS W3C extended, ``apache`` for Apache combined)."""

    name: str
    address: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in ("iis", "apache"):
            raise ConfigError(f"server log kind must be iis or apache, not {self.kind!r}")
        if canonical_ip(self.address) != self.address:
            raise ConfigError(f"server address must be one canonical address: {self.address!r}")


def infection_addresses(n: int, seed: int = 2001) -> npt.NDArray[np.uint32]:
    """``n`` distinct synthetic public IPv4 addresses (as 32-bit numbers), the k-th for the
    k-th host infected: a stable address per host, so that a host that probes twice shows
    the same source twice. The k-th address depends only on ``seed`` and k, not on ``n``.
    Private, reserved and documentation space is never drawn."""
    if n < 0:
        raise ConfigError(f"cannot draw {n} addresses")
    rng = np.random.default_rng(seed)
    blocks = [ipaddress.IPv4Network(c) for c in _NOT_SOURCES]
    out = np.zeros(0, dtype=np.uint32)
    while out.size < n:
        draw = rng.integers(0, 2**32, size=_ADDRESS_CHUNK, dtype=np.uint64)
        keep = np.ones(draw.size, dtype=bool)
        for b in blocks:
            lo = int(b.network_address)
            keep &= (draw < lo) | (draw >= lo + b.num_addresses)
        merged = np.concatenate([out, draw[keep].astype(np.uint32)])
        _, first = np.unique(merged, return_index=True)
        out = merged[np.sort(first)]
    return out[:n]


def worm_probes(t: npt.NDArray[np.float64], rate_per_address: npt.NDArray[np.float64],
                ever_infected: npt.NDArray[np.float64], servers: int,
                seed: int = 2001) -> tuple[ServerProbes, ...]:
    """The probes each of ``servers`` addresses receives in an outbreak given per output step
    (``t``: the end of each step in seconds, the first step starting at 0).

    In each step every server receives Poisson(``rate_per_address`` x step length) probes at
    uniform times inside the step; each probe's sender is drawn uniformly from the hosts
    infected by the end of the step (``ever_infected``, in infection order), so first-seen
    times follow the outbreak and busy senders repeat. Removed hosts cannot be told apart in
    these arrays: with removal, the senders are drawn from every host ever infected."""
    t = np.asarray(t, dtype=np.float64)
    rate = np.asarray(rate_per_address, dtype=np.float64)
    ever = np.asarray(ever_infected, dtype=np.float64)
    if not t.shape == rate.shape == ever.shape or t.ndim != 1:
        raise ConfigError("t, rate_per_address and ever_infected need one value per step")
    if servers < 0:
        raise ConfigError(f"cannot simulate {servers} servers")
    step = np.diff(t, prepend=0.0)
    if np.any(step <= 0) or not np.all(np.isfinite(rate)) or np.any(rate < 0):
        raise ConfigError("steps must be increasing and probe rates finite and non-negative")
    lam = rate * step
    hosts = np.floor(np.maximum(ever, 0.0))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(servers):
        counts = rng.poisson(lam)
        counts[hosts < 1] = 0  # nobody is infected yet: nobody can probe
        idx = np.repeat(np.arange(t.size), counts)
        times = t[idx] - step[idx] * rng.random(idx.size)
        senders = np.floor(rng.random(idx.size) * hosts[idx]).astype(np.int64)
        order = np.argsort(times, kind="stable")
        out.append(ServerProbes(times[order], senders[order]))
    return tuple(out)


def background_events(n: int, start: datetime, seconds: float,
                      rng: np.random.Generator) -> list[Event]:
    """``n`` ordinary page requests at uniform times within ``seconds`` from ``start``, from
    a pool of returning visitors (synthetic addresses)."""
    visitors = infection_addresses(max(20, n // 30), int(rng.integers(2**32)))
    offs = np.sort(rng.random(n) * seconds)
    who = rng.integers(0, visitors.size, n)
    page = rng.integers(0, len(_PAGES), n)
    agent = rng.integers(0, len(_AGENTS), n)
    ok = rng.random(n) < 0.93
    size = rng.integers(200, 40000, n)
    ref = rng.random(n) < 0.5
    return [Event(start + timedelta(seconds=float(offs[i])),
                  str(ipaddress.IPv4Address(int(visitors[who[i]]))), "GET", _PAGES[page[i]],
                  200 if ok[i] else 404, int(size[i]) if ok[i] else 280, _AGENTS[agent[i]],
                  "http://www.example.com/" if ref[i] else "-", "HTTP/1.1")
            for i in range(n)]


def probe_events(probes: ServerProbes, addresses: npt.NDArray[np.uint32],
                 start: datetime) -> list[Event]:
    """One Code Red request per probe, from the sender's synthetic address."""
    return [Event(start + timedelta(seconds=float(t)), str(ipaddress.IPv4Address(int(a))),
                  "GET", CODE_RED, 404, 300, "-", "-")
            for t, a in zip(probes.times, addresses[probes.sources], strict=True)]


def iis_server_lines(evs: list[Event], server_ip: str) -> Iterator[bytes]:
    """IIS W3C extended lines of one server, with one header that says it is synthetic."""
    fields = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port c-ip cs(User-Agent) "
              "sc-status sc-bytes")
    when = evs[0].when if evs else datetime(2001, 7, 19, tzinfo=UTC)
    yield (f"#Software: Microsoft Internet Information Services 5.0\n#Version: 1.0\n"
           f"#Date: {when:%Y-%m-%d %H:%M:%S}\n#Remark: {LABEL}\n#Fields: {fields}\n").encode()
    sip = server_ip.encode()
    for e in evs:
        stem, _, query = e.url.partition("?")
        yield b" ".join((
            e.when.strftime("%Y-%m-%d %H:%M:%S").encode(), sip, e.method.encode(),
            _iis_once(stem) or b"/", _iis_once(query) if query else b"-", b"80", e.ip.encode(),
            e.agent.replace(" ", "+").encode(), str(e.status).encode(), str(e.size).encode(),
        )) + b"\n"


def _file_name(server: SyntheticServer) -> str:
    stem = re.sub(r"[^A-Za-z0-9.-]", "_", server.name).strip(".") or "server"
    return f"{OUTBREAK_PREFIX}{stem}-{'iis-w3c' if server.kind == 'iis' else 'access'}.log"


def write_outbreak_logs(out_dir: str | Path, servers: Sequence[SyntheticServer],
                        probes: Sequence[ServerProbes], addresses: npt.NDArray[np.uint32],
                        start: datetime, seconds: float, background: int = 1000,
                        seed: int = 2001) -> list[Path]:
    """Write one log per server into ``out_dir``: ``background`` ordinary requests plus its
    worm probes (``probes[i]`` for ``servers[i]``; senders' addresses from ``addresses``),
    over ``seconds`` from ``start``. Files are named ``synthetic-<server>-...log``; IIS logs
    also say so in a ``#Remark:`` header (Apache's combined format has no comment lines).
    Returns the paths, in the order of ``servers``."""
    if len(servers) != len(probes):
        raise ConfigError("one probe record per server is needed")
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for server, got in zip(servers, probes, strict=True):
        evs = background_events(background, start, seconds, rng)
        evs += probe_events(got, addresses, start)
        evs.sort(key=lambda e: e.when)
        path = d / _file_name(server)
        with open(path, "wb") as f:
            if server.kind == "iis":
                f.writelines(iis_server_lines(evs, server.address))
            else:
                f.writelines(line.encode() for line in combined_lines(evs))
        paths.append(path)
    return paths
