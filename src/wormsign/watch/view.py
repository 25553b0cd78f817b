"""What a person sees while ``wormsign watch`` runs.

:class:`Tally` counts per family (requests, sources, requests in the last minute) and the
newest sources. :class:`LiveView` draws it with rich when stdout is a terminal;
:class:`PlainOutput` writes one line per alert otherwise (pipes, log files). Every string that
came from a log goes through :func:`wormsign.logs.text.safe` first.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

from wormsign.detect.alert import Alert
from wormsign.logs.text import safe
from wormsign.watch.runner import WatchTotals

NEW_SOURCES_SHOWN = 8


@dataclass
class _Family:
    requests: int = 0
    sources: set[str] = field(default_factory=set)
    recent: deque[tuple[float, int]] = field(default_factory=deque)

    def per_minute(self, now: float) -> int:
        while self.recent and self.recent[0][0] < now - 60:
            self.recent.popleft()
        return sum(n for _, n in self.recent)


class Tally:
    """Per-family counts and the newest sources seen."""

    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}
        self.new_sources: deque[tuple[str, str, str]] = deque(maxlen=NEW_SOURCES_SHOWN)
        self.seen: set[str] = set()

    def add(self, alerts: list[Alert], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        per: dict[str, int] = {}
        for a in alerts:
            fam = self.families.setdefault(a.family, _Family())
            fam.requests += 1
            fam.sources.add(a.source_ip)
            per[a.family] = per.get(a.family, 0) + 1
            if a.source_ip not in self.seen:
                self.seen.add(a.source_ip)
                when = a.timestamp.isoformat() if a.timestamp is not None else "-"
                self.new_sources.append((a.source_ip, a.family, when))
        for name, n in per.items():
            self.families[name].recent.append((now, n))

    def rows(self, now: float | None = None) -> list[tuple[str, int, int, int]]:
        """``(family, requests, sources, requests in the last minute)``, busiest first."""
        now = time.monotonic() if now is None else now
        out = [(name, f.requests, len(f.sources), f.per_minute(now))
               for name, f in self.families.items()]
        return sorted(out, key=lambda r: (-r[1], r[0]))


def alert_line(a: Alert) -> str:
    """One alert as one escaped line."""
    when = a.timestamp.isoformat() if a.timestamp is not None else "-"
    return safe(f"{when} {a.source_ip} {a.family} {a.rule_id} {a.file_path}:{a.line} "
                f"{a.method or '-'} {a.url}")


class PlainOutput:
    """One line per alert and per note (pipes and files)."""

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None,
                 quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet

    def alerts(self, alerts: list[Alert]) -> None:
        if self.quiet:
            return
        self.out.write("".join(alert_line(a) + "\n" for a in alerts))
        self.out.flush()

    def note(self, message: str) -> None:
        self.err.write(f"wormsign watch: {safe(message)}\n")
        self.err.flush()


class LiveView:
    """A rich live table of families, new sources and totals (terminals)."""

    def __init__(self, title: str, totals: WatchTotals, console: Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.title = safe(title)
        self.totals = totals
        self.tally = Tally()
        self.notes: deque[str] = deque(maxlen=3)
        self.console = console or Console()
        self.live = Live(self._render(), console=self.console, refresh_per_second=2,
                         transient=False)

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render())
        self.live.stop()

    def alerts(self, alerts: list[Alert]) -> None:
        self.tally.add(alerts)

    def note(self, message: str) -> None:
        self.notes.append(safe(message))

    def tick(self) -> None:
        self.live.update(self._render())

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        t = self.totals
        head = Text(f"{self.title}  lines {t.lines:,}  alerts {t.alerts:,}"
                    + (f"  stored {t.stored:,}" if t.commits else ""))
        fams = Table(box=None, header_style="bold")
        for col in ("FAMILY", "REQUESTS", "SOURCES", "PER MIN"):
            fams.add_column(col, justify="left" if col == "FAMILY" else "right")
        for name, req, src, pm in self.tally.rows():
            fams.add_row(Text(safe(name)), f"{req:,}", f"{src:,}", f"{pm:,}")
        new = Table(box=None, header_style="bold")
        for col in ("NEW SOURCE", "FAMILY", "FIRST SEEN"):
            new.add_column(col)
        for ip, fam, when in reversed(self.tally.new_sources):
            new.add_row(Text(safe(ip)), Text(safe(fam)), Text(when))
        parts: list[Any] = [head, fams, new]
        parts += [Text(n, style="yellow") for n in self.notes]
        return Group(*parts)
