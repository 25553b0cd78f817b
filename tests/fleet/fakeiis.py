"""A tiny fake web server on 127.0.0.1 that answers like IIS 5.0 (or like Apache).

``webdav=True`` makes OPTIONS answer as IIS 5.0 does with WebDAV on (``DAV: 1, 2``, the
WebDAV methods in ``Public``, ``MS-Author-Via: DAV``); otherwise OPTIONS lists plain methods.
Every request is recorded as (method, path) in ``.requests``; ``.paths`` has the GETs."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

IDQ_PAGE = (b"<HTML>The IDQ file C:\\Inetpub\\wwwroot\\NULL.ida could not be found.</HTML>")
NOT_FOUND = b"<html><body>The page cannot be found</body></html>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, opts: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.opts = opts
        self.paths: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.errors = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.errors += 1        # clients that hang up early (timeouts, TLS refusals)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    sys_version = ""

    def version_string(self) -> str:
        return str(self.server.opts.get("banner", "Microsoft-IIS/5.0"))

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_OPTIONS(self) -> None:
        srv = self.server
        with srv.lock:
            srv.requests.append(("OPTIONS", self.path))
        self.send_response(200)
        if srv.opts.get("webdav", False):
            self.send_header("DAV", "1, 2")
            self.send_header("MS-Author-Via", "DAV")
            self.send_header("Public", "OPTIONS, TRACE, GET, HEAD, DELETE, PUT, POST, COPY, "
                             "MOVE, MKCOL, PROPFIND, PROPPATCH, LOCK, UNLOCK, SEARCH")
        else:
            self.send_header("Allow", "GET, HEAD, POST, OPTIONS, TRACE")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            srv.paths.append(self.path)
            srv.requests.append(("GET", self.path))
            srv.active += 1
            srv.max_active = max(srv.max_active, srv.active)
        try:
            time.sleep(float(srv.opts.get("delay", 0.0)))
            redirect = srv.opts.get("redirect")
            if redirect:
                self.send_response(302)
                self.send_header("Location", f"{redirect}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.endswith("/NULL.ida") and srv.opts.get("mapped", True):
                body, code = IDQ_PAGE, 200
            else:
                body, code = NOT_FOUND, 404
            self.send_response(code)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with srv.lock:
                srv.active -= 1


@contextmanager
def fake_server(tls: ssl.SSLContext | None = None, **opts: Any) -> Iterator[_Server]:
    """Run a fake server; yields it (``.url`` is its base URL)."""
    srv = _Server(opts)
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    srv.url = f"{scheme}://127.0.0.1:{srv.server_address[1]}"  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)
