"""Apache error logs, 1.3 and 2.x styles.

    [Thu Jul 19 10:23:45 2001] [error] [client 10.0.0.1] File does not exist: /www/default.ida
    [Thu Jul 19 10:23:45.123456 2001] [core:error] [pid 12:tid 34] [client 10.0.0.1:5678]
        AH00128: File does not exist: /var/www/html/scripts/root.exe      (one line)
    [Tue Sep 18 10:23:45 2001] [error] [client 10.0.0.1] Invalid method in request get
        /scripts/..%5c../winnt/system32/cmd.exe?/c+dir                    (one line)

Apache has decoded one level of ``%`` escapes in file paths and writes non-ASCII bytes as
``\\xNN``. Times carry no zone; they are read as UTC. Lines without a client (start-up notices)
are valid error-log lines but no request; so is a line whose client is not exactly one
address (``canonical_ip``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from wormsign.logs.clf import split_request
from wormsign.logs.lines import count_bad
from wormsign.logs.normalize import canonical_ip
from wormsign.logs.record import Request
from wormsign.logs.text import decode

LINE = re.compile(rb"\[(?:[A-Z][a-z]{2} )?[A-Z][a-z]{2} [ \d]\d [\d:.]+ \d{4}\] \[[^\]\n]*\]")
_PARSE = re.compile(
    r"^\[(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.\d+)? (\d{4})\]"
    r" \[([^\]]*)\](.*)$"
)
_CLIENT = re.compile(r"\[client ([0-9A-Fa-f.:]{1,60}?)(?::[0-9]{1,5})?\] ?")
_CLIENT_BYTES = re.compile(_CLIENT.pattern.encode())
_IN_REQUEST = re.compile(r"(?:in request|request failed: [^:]*:|request:) ?(.+)$")
# The first path after a message phrase ("File does not exist: /www/x", "client denied by
# server configuration: C:\\www\\x", "AH00128: File does not exist: /x", "request without
# hostname (see RFC2616 section 14.23): /", ...): a ": " after a letter, a space or a closing
# parenthesis, then a path. One look-behind instead of a lazy phrase keeps the search
# linear on long attacker-written messages.
_FILE_PATH = re.compile(r"(?<=[A-Za-z )]): ((?:/|[A-Za-z]:[\\/])\S*)")
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])}


def validate(buf: bytes, base_line: int, max_bad: int) -> tuple[int, int, list[int]]:
    """Count lines and those that are not error-log lines (absolute 1-based numbers); a line
    that names a client that is not exactly one address is not accepted either."""
    return count_bad(buf, base_line, max_bad, lambda line, _n: LINE.match(line) is not None
                     and _client_ok(line, b"[client ", _CLIENT_BYTES))


def _client_ok(line: bytes, marker: bytes, pattern: re.Pattern[bytes]) -> bool:
    """No client named, or a client that :func:`canonical_ip` keeps (read from the bytes:
    decoding a whole long line to check its client would cost per character)."""
    if marker not in line:
        return True
    m = pattern.search(line)
    return m is not None and canonical_ip(m.group(1).decode("ascii")) is not None


@lru_cache(maxsize=4096)
def _when(mon: str, day: str, hh: str, mm: str, ss: str, year: str) -> datetime | None:
    try:
        return datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except (ValueError, KeyError):
        return None


def parse_line(raw: bytes, path: str = "", line: int = 0) -> Request | None:
    """Parse an error-log line into a :class:`Request` when it names a client and a URL."""
    m = _PARSE.match(decode(raw.rstrip(b"\r\n")))
    if m is None:
        return None
    mon, day, hh, mm, ss, year, _level, rest = m.groups()
    client = _CLIENT.search(rest)
    if client is None:
        return None
    source = canonical_ip(client.group(1))
    if source is None:
        return None
    msg = rest[client.end():].strip()
    msg, _, referer = msg.partition(", referer: ")
    method: str | None = None
    proto: str | None = None
    url: str | None = None
    req = _IN_REQUEST.search(msg)
    if req is not None:
        method, url, proto = split_request(req.group(1).strip())
        if method is not None and not url:
            method, url = None, method
    else:
        fm = _FILE_PATH.search(msg)
        if fm is not None:
            url = fm.group(1).rstrip(",")
    if not url:
        return None
    return Request(
        timestamp=_when(mon, day, hh, mm, ss, year),
        source_ip=source,
        method=method,
        url=url,
        protocol=proto,
        referer=referer or None,
        message=msg,
        path=path,
        line=line,
        format="apache-error",
    )


# nginx error log:
#   2001/07/19 10:23:45 [error] 1234#0: *5 open() "/usr/share/nginx/html/default.ida" failed
#   (2: No such file or directory), client: 10.0.0.1, server: _, request: "GET /default.ida?NNN
#   HTTP/1.1", host: "www.example.com"                                       (one line)
NGINX_LINE = re.compile(rb"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\] ")
_NGINX = re.compile(
    r"^(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[([a-z]+)\] (.*)$"
)
_NGINX_CLIENT = re.compile(r", client: ([0-9A-Fa-f.:]{1,60})")
_NGINX_CLIENT_BYTES = re.compile(_NGINX_CLIENT.pattern.encode())
_NGINX_REQUEST = re.compile(r', request: "([^"]*)"?')
_NGINX_HOST = re.compile(r', host: "([^"]*)"')


def nginx_validate(buf: bytes, base_line: int, max_bad: int) -> tuple[int, int, list[int]]:
    """Count lines and those that are not nginx error-log lines (absolute 1-based numbers)."""
    return count_bad(buf, base_line, max_bad,
                     lambda line, _n: NGINX_LINE.match(line) is not None
                     and _client_ok(line, b", client: ", _NGINX_CLIENT_BYTES))


def nginx_parse_line(raw: bytes, path: str = "", line: int = 0) -> Request | None:
    """Parse an nginx error-log line that names a client and a request."""
    m = _NGINX.match(decode(raw.rstrip(b"\r\n")))
    if m is None:
        return None
    year, mon, day, hh, mm, ss, _level, msg = m.groups()
    client = _NGINX_CLIENT.search(msg)
    req = _NGINX_REQUEST.search(msg)
    if client is None or req is None:
        return None
    source = canonical_ip(client.group(1))
    if source is None:
        return None
    method, url, proto = split_request(req.group(1).replace("\\x22", '"'))
    if not url:
        return None
    host = _NGINX_HOST.search(msg)
    try:
        ts: datetime | None = datetime(int(year), int(mon), int(day), int(hh), int(mm),
                                       int(ss), tzinfo=UTC)
    except ValueError:
        ts = None
    return Request(
        timestamp=ts, source_ip=source, method=method, url=url, protocol=proto,
        host=host.group(1) if host else None, message=msg[:client.start()], path=path,
        line=line, format="nginx-error",
    )
