"""The registry of log formats and per-file format detection.

Each format knows how to validate a chunk of lines quickly (counting the lines no parser
accepts) and how to parse one line into a :class:`~wormsign.logs.record.Request`. Register a
new format by adding a :class:`LogFormat` to :data:`FORMATS` (or with :func:`register`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from wormsign.errors import LogFormatError
from wormsign.logs import clf, errorlog, eve, iis, zeek
from wormsign.logs.record import Request


class LogFormat(Protocol):
    """What the scanner needs from a log format."""

    @property
    def name(self) -> str:
        """The format id (``--format``)."""

    @property
    def description(self) -> str:
        """One line for humans."""

    def sniff(self, lines: list[bytes]) -> int:
        """How many of these sample lines look like this format."""

    def new_state(self) -> Any:
        """Per-file parsing context (IIS header changes, ...)."""

    def validate(self, buf: bytes, base_line: int, state: Any, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
        """``(lines, bad, first_bad_absolute_line_numbers)`` for a chunk of whole lines."""

    def parse(self, raw: bytes, line: int, state: Any, path: str) -> Request | None:
        """Parse one line (None when it is not a request)."""


_CLF3 = re.compile(rb'^[^ ]+ [^ ]+ [^ ]+ \[[^\]]*\] "')
_CLF4 = re.compile(rb'^[^ ]+ [^ ]+ [^ ]+ [^ ]+ \[[^\]]*\] "')
_COMBINED_TAIL = re.compile(rb'" (?:\d{3}|-) (?:\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class AccessLog:
    """Apache/nginx common and combined logs (3 prefix tokens) or vhost-prefixed (4)."""

    name: str
    description: str
    prefix_tokens: int
    combined: bool | None = None

    def sniff(self, lines: list[bytes]) -> int:
        pat = _CLF4 if self.prefix_tokens == 4 else _CLF3
        hits = [ln for ln in lines if pat.match(ln)]
        if self.combined is None:
            return len(hits)
        with_tail = sum(1 for ln in hits if _COMBINED_TAIL.search(ln))
        return with_tail if self.combined else len(hits) - with_tail

    def new_state(self) -> None:
        return None

    def validate(self, buf: bytes, base_line: int, state: Any, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
        lines, bad, first = clf.validate(buf, self.prefix_tokens, max_bad)
        return lines, bad, [base_line + n for n in first]

    def parse(self, raw: bytes, line: int, state: Any, path: str) -> Request | None:
        return clf.parse_line(raw, self.prefix_tokens, path, line, self.name)


@dataclass(frozen=True)
class IISW3C:
    """IIS W3C extended log files."""

    name: str = "iis-w3c"
    description: str = "IIS W3C extended (#Fields: header, any column order)"

    def sniff(self, lines: list[bytes]) -> int:
        if any(ln.startswith(b"#Fields:") for ln in lines):
            return len(lines)
        return 0

    def new_state(self) -> iis.IISState:
        return iis.IISState()

    def validate(self, buf: bytes, base_line: int, state: Any, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
        return iis.validate(buf, base_line, state, max_bad)

    def parse(self, raw: bytes, line: int, state: Any, path: str) -> Request | None:
        return iis.parse_line(raw, state, path, line)


@dataclass(frozen=True)
class ApacheError:
    """Apache error logs (1.3 and 2.x)."""

    name: str = "apache-error"
    description: str = "Apache error log (1.3, 2.0, 2.2, 2.4 styles)"

    def sniff(self, lines: list[bytes]) -> int:
        return sum(1 for ln in lines if errorlog.LINE.match(ln))

    def new_state(self) -> None:
        return None

    def validate(self, buf: bytes, base_line: int, state: Any, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
        return errorlog.validate(buf, base_line, max_bad)

    def parse(self, raw: bytes, line: int, state: Any, path: str) -> Request | None:
        return errorlog.parse_line(raw, path, line)


@dataclass(frozen=True)
class NginxError:
    """nginx error logs (requests that failed: missing files, bad requests)."""

    name: str = "nginx-error"
    description: str = "nginx error log"

    def sniff(self, lines: list[bytes]) -> int:
        return sum(1 for ln in lines if errorlog.NGINX_LINE.match(ln))

    def new_state(self) -> None:
        return None

    def validate(self, buf: bytes, base_line: int, state: Any, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
        return errorlog.nginx_validate(buf, base_line, max_bad)

    def parse(self, raw: bytes, line: int, state: Any, path: str) -> Request | None:
        return errorlog.nginx_parse_line(raw, path, line)


@dataclass(frozen=True)
class ZeekHTTP:
    """Zeek http.log, tab-separated with #fields headers."""

    name: str = "zeek-http"
    description: str = "Zeek http.log (TSV)"

    def sniff(self, lines: list[bytes]) -> int:
        head = any(ln.startswith(b"#fields") and b"uri" in ln for ln in lines)
        return len(lines) if head else 0

    def new_state(self) -> iis.IISState:
        return iis.IISState()

    def validate(self, buf: bytes, base_line: int, state: Any, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
        return zeek.validate_tsv(buf, base_line, state, max_bad)

    def parse(self, raw: bytes, line: int, state: Any, path: str) -> Request | None:
        return zeek.parse_tsv(raw, state, path, line)


@dataclass(frozen=True)
class ZeekHTTPJSON:
    """Zeek http.log written as JSON lines."""

    name: str = "zeek-http-json"
    description: str = "Zeek http.log (JSON)"

    def sniff(self, lines: list[bytes]) -> int:
        return sum(1 for ln in lines if ln.startswith(b"{") and b'"uri"' in ln
                   and (b'"id.orig_h"' in ln or b'"orig_h"' in ln))

    def new_state(self) -> None:
        return None

    def validate(self, buf: bytes, base_line: int, state: Any, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
        return zeek.validate_json(buf, base_line, max_bad, required="")

    def parse(self, raw: bytes, line: int, state: Any, path: str) -> Request | None:
        return zeek.parse_json(raw, path, line)


@dataclass(frozen=True)
class SuricataEve:
    """Suricata eve.json (http events, and the http part of alerts)."""

    name: str = "suricata-eve"
    description: str = "Suricata eve.json"

    def sniff(self, lines: list[bytes]) -> int:
        return sum(1 for ln in lines if ln.startswith(b"{") and b'"event_type"' in ln)

    def new_state(self) -> eve.EveState:
        return eve.EveState()

    def validate(self, buf: bytes, base_line: int, state: Any, max_bad: int,
                 ) -> tuple[int, int, list[int]]:
        return zeek.validate_json(buf, base_line, max_bad, required="event_type",
                                  source_key="src_ip")

    def parse(self, raw: bytes, line: int, state: Any, path: str) -> Request | None:
        return eve.parse(raw, state, path, line)


FORMATS: dict[str, LogFormat] = {}


def register(fmt: LogFormat) -> None:
    """Make a format available to detection and to ``--format``."""
    FORMATS[fmt.name] = fmt


for _fmt in (
    AccessLog("combined", "Apache/nginx combined", 3, combined=True),
    AccessLog("common", "Apache/nginx common (CLF)", 3, combined=False),
    AccessLog("vhost_combined", "Apache vhost_combined / nginx with $host prefix", 4),
    IISW3C(),
    ApacheError(),
    NginxError(),
    ZeekHTTP(),
    ZeekHTTPJSON(),
    SuricataEve(),
):
    register(_fmt)


def get(name: str) -> LogFormat:
    """The format registered as ``name`` (a clear error listing the known ones otherwise)."""
    if name == "pcap":
        raise LogFormatError("pcap input is recognised by its magic number, not forced")
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise LogFormatError(f"unknown format {name!r} (known: {known})") from None


def detect(sample: bytes, path: str) -> LogFormat:
    """Pick the format that accepts most of the first lines of a file."""
    lines = [ln for ln in sample.split(b"\n")[:200] if ln.strip()]
    if sample and b"\n" in sample and len(sample) >= 65536:
        lines = lines[:-1]  # the last line of a partial sample may be cut
    if not lines:
        return FORMATS["combined"]
    best, score = None, 0
    for fmt in FORMATS.values():
        s = fmt.sniff(lines)
        if s > score:
            best, score = fmt, s
    if best is None or score * 5 < len(lines):
        raise LogFormatError("not a log format wormsign knows (use --format to force one)",
                             path=path)
    return best
