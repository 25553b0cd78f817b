"""``wormsign probe URL...``: non-destructive banner, /NULL.ida and WebDAV (OPTIONS) check of
named servers."""

from __future__ import annotations

import argparse
import json
import sys

from wormsign.fleet.probe import probe
from wormsign.logs.text import safe


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "probe", help="non-destructive check of named web servers (banner, /NULL.ida, "
        "OPTIONS for WebDAV)",
        description="For each URL you name (and only those): read the Server banner and "
        "request /NULL.ida; an IIS whose .ida script map is active answers with its 'IDQ "
        "file could not be found' page; send OPTIONS / and report whether WebDAV is served "
        "(DAV header or WebDAV methods: the MS03-007 surface). Sends nothing that overflows "
        "or changes anything; never follows redirects. Exit status: 0 .ida reachable nowhere, "
        "1 reachable somewhere, 2 error.",
    )
    p.add_argument("urls", nargs="+", metavar="URL", help="http:// or https:// URL")
    p.add_argument("--concurrency", type=int, default=8, help="parallel hosts (default 8)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--ca-file", metavar="PEM", help="trust this CA bundle for TLS")
    p.add_argument("--json", action="store_true", help="JSON on stdout (input for "
                   "`wormsign assess --probe-results`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    results = probe(args.urls, concurrency=args.concurrency, timeout=args.timeout,
                    verify=not args.insecure, ca_file=args.ca_file)
    if args.json:
        json.dump({"results": [r.to_dict() for r in results]}, sys.stdout, indent=2,
                  ensure_ascii=True)
        sys.stdout.write("\n")
    else:
        for r in results:
            line = f"{r.url}  {r.verdict}"
            dav = {True: "on", False: "off", None: "?"}[r.webdav]
            line += f"  ({r.error})" if r.error else (f"  Server: {r.banner or '(none)'}"
                                                      f"  WebDAV: {dav}")
            print(safe(line))
    if any(r.ida_reachable for r in results):
        return 1
    return 2 if any(r.ida_reachable is None for r in results) else 0
