"""What reading connection inputs counted: rows kept, rows skipped by reason, and the rest.

Shared by every connection reader (:mod:`wormsign.logs.connread`); a bad row or value is
counted here, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Skip reasons the readers use (a row not put in the columns, counted under its reason).
SKIP_REASONS = {
    "columns": "a TSV row without as many fields as its #fields header",
    "no-header": "a TSV row before any #fields header",
    "missing-field": "no originator or responder address in the row or its header",
    "address": "an endpoint that is not exactly one IP address",
    "json": "a line that is not a JSON object",
    "truncated": "a packet record cut short by the end of the capture",
    "corrupt": "a capture record whose header cannot be true (the rest is unreadable)",
    "undecodable": "a packet whose link, IP or transport header cannot be read",
}


@dataclass
class ConnStats:
    """Counters filled in while connection inputs are read (one object may span files).

    ``records``: rows put in batches. ``lines``: lines (text) or packets (captures) read.
    ``skipped``: rows left out, by reason (:data:`SKIP_REASONS`). ``ipv6``: connections with
    an IPv6 endpoint, which the IPv4 columns cannot hold (left out, counted here, not as
    skipped). ``out_of_order``: rows earlier than a row before them (kept: Zeek writes a
    connection when it ends, so a conn.log is not in start-time order; analysis sorts).
    ``bad_values``: optional values (ports, byte counts, times) that could not be read and
    became unknown. ``overlong``: lines cut at the line-length limit. ``other_events``: JSON
    lines of another kind (EVE events that are not flows). ``packets``/``bytes_read`` for
    captures. ``late_answers``: captures' TCP flows that went on after their attempt was
    written out (two minutes silent: a new ``other`` row); ``flushed_early``: attempts written
    out before that because too many were open (see :mod:`wormsign.logs.pcapcarry`)."""

    records: int = 0
    lines: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    ipv6: int = 0
    out_of_order: int = 0
    bad_values: int = 0
    overlong: int = 0
    other_events: int = 0
    bytes_read: int = 0
    late_answers: int = 0
    flushed_early: int = 0

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` rows left out for ``reason``."""
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict[str, object]:
        """The counters as plain JSON-ready values."""
        return {"records": self.records, "lines": self.lines,
                "skipped": dict(sorted(self.skipped.items())), "ipv6": self.ipv6,
                "out_of_order": self.out_of_order, "bad_values": self.bad_values,
                "overlong": self.overlong, "other_events": self.other_events,
                "bytes_read": self.bytes_read, "late_answers": self.late_answers,
                "flushed_early": self.flushed_early}
