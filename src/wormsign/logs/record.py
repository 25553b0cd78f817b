"""The one normalised record every log reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Request:
    """One web request (or request-like event) seen in a log.

    ``url`` is the request target as the log wrote it, path and query joined with ``?``
    (for IIS W3C logs ``cs-uri-stem`` and ``cs-uri-query``; ``+`` in those fields is kept).
    Text fields are already decoded to ``str`` (invalid UTF-8 replaced, never raised).
    """

    timestamp: datetime | None
    source_ip: str
    method: str | None
    url: str
    status: int | None = None
    protocol: str | None = None
    user_agent: str | None = None
    host: str | None = None
    size: int | None = None
    referer: str | None = None
    message: str | None = None
    path: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    format: str = field(default="", compare=False)
