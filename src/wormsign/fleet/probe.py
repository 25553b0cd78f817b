"""``probe``: a non-destructive remote check of web servers the user names, and only those.

Three requests per URL, nothing that overflows or changes anything:

1. ``GET <url>`` — the ``Server`` banner (``Microsoft-IIS/5.0``, or ``Apache/1.3.26 (Unix)
   mod_ssl/2.8.9 OpenSSL/0.9.6b``, whose components the verdicts judge too);
2. ``GET <url>/NULL.ida`` — an IIS with the ``.ida`` script map active answers with the
   Indexing Service's error page ("The IDQ file ... NULL.ida could not be found"), which shows
   the extension Code Red attacks is reachable without sending any overflow (the classic
   non-destructive check; Nessus-era scanners probed a banner or this page);
3. ``OPTIONS <url>/`` — a server that serves WebDAV says so in a ``DAV`` header
   (``DAV: 1, 2``), ``MS-Author-Via: DAV`` or WebDAV methods (PROPFIND, SEARCH, LOCK ...) in
   ``Allow`` / ``Public``: the surface MS03-007 (CVE-2003-0109) is reached through, shown
   without sending a WebDAV request. An answer without them is ``webdav: false``; no answer
   (an error) is ``null``.

Redirects are never followed (they could lead to a host the user did not name), proxies from
the environment are ignored, bodies are read up to 64 KiB, a semaphore bounds concurrency and
every request has a timeout. TLS certificates are verified unless ``verify=False``.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from wormsign import __version__
from wormsign.errors import ConfigError
from wormsign.fleet.files import MAX_INVENTORY_BYTES, read_limited
from wormsign.fleet.verdict import ProbeEvidence

DAV_METHODS = ("PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH")
IDQ_PAGE = re.compile(rb"The\s+IDQ\s+file\b.{0,400}?could\s+not\s+be\s+found", re.I | re.S)
MAX_BODY = 65536
USER_AGENT = f"wormsign-probe/{__version__} (non-destructive .ida and WebDAV check)"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one URL showed."""

    url: str
    host: str
    banner: str
    status: int | None
    ida_reachable: bool | None
    evidence: tuple[str, ...]
    error: str = ""
    webdav: bool | None = None
    dav_methods: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        if self.ida_reachable is None:
            return "error"
        return "ida-reachable" if self.ida_reachable else "ida-not-reachable"

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "host": self.host, "banner": self.banner,
                "status": self.status, "verdict": self.verdict,
                "ida_reachable": self.ida_reachable, "webdav": self.webdav,
                "dav_methods": list(self.dav_methods), "evidence": list(self.evidence),
                "error": self.error}


def check_url(url: str) -> tuple[str, str]:
    """(base URL without trailing slash, host) for an http(s) URL; ConfigError otherwise."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises ValueError for a port outside 0..65535
    except ValueError as exc:
        raise ConfigError(f"not a usable URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), parts.hostname


async def _get(client: httpx.AsyncClient, url: str,
               method: str = "GET") -> tuple[httpx.Response, bytes]:
    async with client.stream(method, url) as resp:
        body = b""
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) >= MAX_BODY:
                break
        return resp, body[:MAX_BODY]


async def _probe_one(client: httpx.AsyncClient, sem: asyncio.Semaphore, url: str) -> ProbeResult:
    base, host = check_url(url)
    async with sem:
        try:
            first, _ = await _get(client, base + "/")
            banner = first.headers.get("server", "")
            ida_url = base + "/NULL.ida"
            resp, body = await _get(client, ida_url)
        except httpx.HTTPError as exc:
            msg = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return ProbeResult(url, host, "", None, None, (), msg)
        webdav, methods, dav_ev = await _options(client, base + "/")
    banner = banner or resp.headers.get("server", "")
    found = IDQ_PAGE.search(body) is not None
    ev = [f"GET / → Server: {banner or '(none)'}",
          f"GET /NULL.ida → {resp.status_code}"
          + (": IIS Indexing Service 'IDQ file could not be found' page" if found else ""),
          dav_ev]
    return ProbeResult(url, host, banner, resp.status_code, found, tuple(ev), "", webdav,
                       methods)


async def _options(client: httpx.AsyncClient, url: str,
                   ) -> tuple[bool | None, tuple[str, ...], str]:
    """(WebDAV served?, the WebDAV methods announced, evidence) from ``OPTIONS url``."""
    try:
        resp, _ = await _get(client, url, "OPTIONS")
    except httpx.HTTPError as exc:
        return None, (), f"OPTIONS / → no answer ({type(exc).__name__})"
    return dav_from_headers(resp.status_code, resp.headers)


def dav_from_headers(status: int, headers: Any) -> tuple[bool, tuple[str, ...], str]:
    """What an OPTIONS answer's headers say about WebDAV (``headers``: a mapping with
    case-insensitive ``get``, e.g. httpx's)."""
    allowed = {m.strip().upper() for h in ("allow", "public")
               for m in str(headers.get(h, "") or "").split(",")}
    methods = tuple(m for m in DAV_METHODS if m in allowed)
    dav = str(headers.get("dav", "") or "").strip()
    author = "dav" in str(headers.get("ms-author-via", "") or "").lower()
    on = bool(dav or methods or author)
    shown = [f"DAV: {dav[:40]}"] if dav else []
    shown += ["MS-Author-Via: DAV"] if author else []
    shown += [f"methods {', '.join(methods)}"] if methods else []
    text = f"OPTIONS / → {status}: " + ("WebDAV served (" + "; ".join(shown) + ")" if on
                                          else "no WebDAV header or method")
    return on, methods, text


async def probe_async(urls: Sequence[str], concurrency: int = 8, timeout: float = 5.0,
                      verify: bool | ssl.SSLContext = True) -> list[ProbeResult]:
    """Probe every URL (in the given order), at most ``concurrency`` at a time."""
    for u in urls:
        check_url(u)
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    if not timeout > 0:
        raise ConfigError("timeout must be > 0 seconds")
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), verify=verify,
                                 follow_redirects=False, trust_env=False, limits=limits,
                                 headers={"User-Agent": USER_AGENT}) as client:
        return list(await asyncio.gather(*(_probe_one(client, sem, u) for u in urls)))


def probe(urls: Sequence[str], concurrency: int = 8, timeout: float = 5.0,
          verify: bool = True, ca_file: str | None = None) -> list[ProbeResult]:
    """Synchronous :func:`probe_async`; ``ca_file`` adds a trusted CA bundle."""
    ctx: bool | ssl.SSLContext = verify
    if verify and ca_file:
        try:
            ctx = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load CA file: {exc}", path=ca_file) from None
    return asyncio.run(probe_async(urls, concurrency, timeout, ctx))


def load_probe_evidence(path: str) -> dict[str, ProbeEvidence]:
    """Host → evidence from the JSON that ``wormsign probe --json`` writes."""
    data = read_limited(path, MAX_INVENTORY_BYTES, "probe results", allow_pipe=True)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"cannot read probe results: {exc}", path=path) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, list):
        raise ConfigError("probe results must be {\"results\": [...]}", path=path)
    out: dict[str, ProbeEvidence] = {}
    for r in results:
        if not isinstance(r, dict) or not isinstance(r.get("host"), str):
            continue
        reach = r.get("ida_reachable")
        dav = r.get("webdav")
        ev = ProbeEvidence(reach if isinstance(reach, bool) else None, str(r.get("banner", "")),
                           f"probe of {r.get('url', r['host'])}",
                           dav if isinstance(dav, bool) else None)
        prev = out.get(r["host"])
        # Several probes of one host: the strongest evidence wins (reachable > not > unknown).
        rank = {True: 2, False: 1, None: 0}
        if prev is None or (rank[ev.ida_reachable], rank[ev.webdav]) > (
                rank[prev.ida_reachable], rank[prev.webdav]):
            out[r["host"]] = ev
    return out
