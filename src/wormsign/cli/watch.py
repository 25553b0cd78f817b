"""``wormsign watch``: follow logs as they are written, alert live, feed an incident."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from wormsign.errors import ConfigError
from wormsign.logs.formats import FORMATS
from wormsign.logs.text import safe
from wormsign.rules.loader import load_pack
from wormsign.units import parse_duration

FORECAST_WAIT = 90.0  # at the end: how long a running forecast may still take


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "watch", help="follow web-server logs live (tail -F) and alert as worms arrive",
        description="Follow files and directories as `tail -F` does (rotation by rename and "
        "by copy-truncate, new files in directories; compressed rotations are not read "
        "again), detect worm requests as they are written and show them live; with "
        "--incident, store them in the incident (idempotent, resumes after a crash without "
        "losing or doubling a line) and keep its blocklist current. SIGTERM or Ctrl-C ends "
        "it cleanly (exit status 0).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="log file or directory")
    p.add_argument("--incident", type=int, metavar="ID", help="store alerts in this incident")
    p.add_argument("--db", help="incident store: path or URL (default $WORMSIGN_DB)")
    p.add_argument("--format", choices=sorted(FORMATS), help="force the log format")
    p.add_argument("--rules", action="append", default=[], metavar="PATH",
                   help="extra rule file or directory (repeatable)")
    p.add_argument("--poll-interval", default="0.5", metavar="S",
                   help="time between polls when no file-system event arrives (seconds, "
                   "or with a unit: 2s, 1m; default 0.5)")
    p.add_argument("--hold", default=None, metavar="S",
                   help="wall-clock time a possible Nimda request waits for its burst "
                   "(seconds, or 90s, 2m; default: the burst window, 60)")
    p.add_argument("--from-end", action="store_true",
                   help="start existing files at their end (as tail -f), not at their start")
    p.add_argument("--plain", action="store_true",
                   help="one line per alert even on a terminal (no live view)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-alert output")
    p.add_argument("--forecast", metavar="FILE",
                   help="keep a forecast of the outbreak (`wormsign forecast --json` "
                   "document) in FILE, refreshed as new sources arrive (written atomically)")
    p.add_argument("--forecast-family", metavar="F",
                   help="family to forecast (default: the worm with the most sources)")
    p.add_argument("--forecast-every", type=int, default=50, metavar="N",
                   help="refresh after N new sources of the family (default 50)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    args.poll_interval = parse_duration(str(args.poll_interval), what="--poll-interval")
    if not args.poll_interval > 0 or args.poll_interval > 3600:
        raise ConfigError("--poll-interval must be a number of seconds in (0, 3600]")
    if args.hold is not None:
        args.hold = parse_duration(str(args.hold), what="--hold")
        if args.hold > 86400:
            raise ConfigError("--hold must be a number of seconds in [0, 86400]")
    from wormsign.watch.runner import Watcher
    from wormsign.watch.view import LiveView, PlainOutput

    pack = load_pack(args.rules)
    plain = PlainOutput(quiet=args.quiet)
    refresher = _refresher(args, plain.note)
    live_view = sys.stdout.isatty() and not args.plain and not args.quiet
    sink: Any = None
    checkpoint: Any = None
    if args.incident is not None:
        from wormsign.cli.access import authorize
        from wormsign.incidents import Store
        from wormsign.watch.store import StoreSink
        with Store.open(args.db) as store:
            authorize(store, "watch")
        sink = StoreSink.open(args.db, args.incident, args.paths, note=plain.note)
        checkpoint = sink.checkpoint
    elif args.db:
        raise ConfigError("--db needs --incident (without it nothing is stored)")
    stop = threading.Event()
    try:
        watcher = Watcher(args.paths, checkpoint=checkpoint, pack=pack, fmt=args.format,
                          poll_interval=args.poll_interval, from_end=args.from_end,
                          hold=args.hold, on_note=plain.note,
                          on_commit=sink.after_commit if sink is not None else None)
        handler = watcher.stop_signal(stop)
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        if live_view:
            title = "wormsign watch " + " ".join(args.paths)
            with LiveView(title, watcher.totals) as view:
                watcher.on_alerts = _also(view.alerts, refresher)
                watcher.note = view.note
                watcher.follower.note = view.note
                watcher.run(stop, tick=view.tick)
        else:
            watcher.on_alerts = _also(plain.alerts, refresher)
            watcher.run(stop)
    finally:
        if refresher is not None and not refresher.wait(FORECAST_WAIT):
            plain.note(f"a forecast was still running after {FORECAST_WAIT:.0f} s: "
                       f"{args.forecast} keeps the previous one")
        if sink is not None:
            sink.close()
    t = watcher.totals
    stored = f", {t.stored:,} new in incident {args.incident}" if sink is not None else ""
    if refresher is not None:
        stored += (f", {refresher.written} forecast(s) written to {safe(args.forecast)}"
                   + (f", {refresher.failed} failed" if refresher.failed else ""))
    print(f"wormsign watch: {t.lines:,} lines read, {t.alerts:,} alerts{stored}",
          file=sys.stderr)
    return 0


def _refresher(args: argparse.Namespace, note: Callable[[str], None]) -> Any:
    if not args.forecast:
        if args.forecast_family or args.forecast_every != 50:
            raise ConfigError("--forecast-family and --forecast-every need --forecast FILE")
        return None
    from wormsign.watch.forecast import ForecastRefresher
    return ForecastRefresher(args.forecast, family=args.forecast_family,
                             every=args.forecast_every, note=note)


def _also(show: Callable[[list[Any]], None], refresher: Any) -> Callable[[list[Any]], None]:
    """``show`` the committed alerts, then hand them to the forecast refresher."""
    if refresher is None:
        return show

    def both(alerts: list[Any]) -> None:
        show(alerts)
        refresher.add(alerts)
    return both
