"""The match key of one request as several sensors record it.

The same request reaches an access log, the server's error log, a Zeek ``http.log``, a
Suricata EVE ``http`` event and a packet capture, each written its own way. What they share,
after normalisation, is the *match key* (documented in ``docs/events.md``):

- the **source** address (every reader keeps it through ``canonical_ip``);
- the **sensor**: records of one kind of sensor (:func:`sensor_of`) never merge with each
  other, so identical requests repeated by one source stay as many events as one sensor saw;
- the **time**, within a tolerance, after each input's clock offset is corrected;
- the **method**, compared only where both records have one (an error log that names a
  missing file has none);
- the **path** after normalisation (:func:`split_target`: any ``scheme://host`` cut off,
  percent-decoded as the server resolves it, lower case, ``\\`` as ``/``); the **query** is
  compared only where both records logged one, and a query that is the start of the other
  (a sensor that cut a long request) matches it.

An Apache error log names the *file* it did not find (``/var/www/html/default.ida``, or for
some requests only the first missing directory, ``/var/www/html/scripts``), not the URL. Such
a path is *partial*: its document root is learnt per input as the prefix that most of its
paths share with full URL paths seen by the other sensors (:func:`learn_docroot`), and it
matches a URL path that is the rest of it or lies below it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wormsign.logs.normalize import canonical

#: Sensor kinds, from the most to the least telling about a request (the primary evidence of
#: an event is taken from the best rule, then the earliest kind here).
SENSORS = ("access-log", "pcap", "zeek-http", "suricata-eve", "error-log")
#: Formats whose file-path records are partial (no method, no query, a filesystem path).
FILE_PATH_FORMATS = frozenset({"apache-error"})


def sensor_of(fmt: str) -> str:
    """The sensor kind of a log format (one of :data:`SENSORS`)."""
    f = fmt.lower()
    if f.endswith("-error") or f in ("apache-error", "nginx-error"):
        return "error-log"
    if f.startswith("zeek"):
        return "zeek-http"
    if f.startswith("suricata") or f == "eve":
        return "suricata-eve"
    if f.startswith("pcap"):
        return "pcap"
    return "access-log"


def split_target(url: str) -> tuple[str, str | None]:
    """The normalised path and query (None when there was no ``?``) of a request target."""
    u = url.strip()
    head = u[:16].lower()
    if head.startswith(("http://", "https://")):
        rest = u[u.index("//") + 2:]
        slash = rest.find("/")
        u = rest[slash:] if slash >= 0 else "/"
    path, sep, query = u.partition("?")
    return canonical(path) or "/", canonical(query) if sep else None


def is_partial(fmt: str, method: str | None) -> bool:
    """Whether a record names a file path instead of a URL (an error log's missing file)."""
    return method is None and fmt in FILE_PATH_FORMATS


def learn_docroot(partial: Mapping[str, int], full: Iterable[str]) -> str | None:
    """The document root of one error log: the prefix that, cut from its file paths
    (``partial``: path -> records), most often leaves a URL path other sensors saw."""
    full_set = set(full)
    if not full_set:
        return None
    roots: Counter[str] = Counter()
    for e, n in partial.items():
        for i in _slashes(e):
            if i and e[i:] in full_set:
                roots[e[:i]] += n
                break
    return roots.most_common(1)[0][0] if roots else None


def _slashes(e: str) -> list[int]:
    return [i for i, c in enumerate(e) if c == "/"]


def rooted(path: str, docroot: str | None) -> str | None:
    """``path`` with ``docroot`` cut off (None when it does not start with it)."""
    if docroot is None or not path.startswith(docroot):
        return None
    rest = path[len(docroot):]
    return rest if rest.startswith("/") else None


def under(prefix: str, path: str) -> bool:
    """Whether URL ``path`` is ``prefix`` or lies below it."""
    p = prefix.rstrip("/")
    return path in (prefix, p) or path.startswith(p + "/")


def partial_matches(file_path: str, is_rooted: bool, url_path: str, *,
                    exact: bool = False) -> bool:
    """Whether an error log's (partial) path stands for the URL path ``url_path``: the
    rooted rest is ``url_path`` or (unless ``exact``) above it; without a known root, some
    tail of the file path starting at a ``/`` is."""
    def fits(rest: str) -> bool:
        return rest == url_path if exact else under(rest, url_path)

    if is_rooted:
        return fits(file_path)
    return any(fits(file_path[i:]) for i in _slashes(file_path) if len(file_path) - i > 1)


def queries_match(a: str, b: str) -> bool:
    """Two logged queries of one request: equal, or one cut short of the other."""
    return a.startswith(b) or b.startswith(a)


__all__ = ["FILE_PATH_FORMATS", "SENSORS", "MatchKey", "is_partial", "learn_docroot",
           "partial_matches", "queries_match", "rooted", "sensor_of", "split_target", "under"]


@dataclass(frozen=True)
class MatchKey:
    """The settable parts of the match key: ``tolerance`` (seconds between two records of
    one request, after offsets), ``max_skew`` (largest clock offset, beyond whole zones,
    looked for), ``min_pairs`` (records that must meet before an offset is applied; an input
    with fewer shared records needs half of them, at least two), and
    ``zones`` (look for whole quarter-hour offsets as well)."""

    tolerance: float = 2.0
    max_skew: float = 120.0
    min_pairs: int = 5
    zones: bool = True

    def __post_init__(self) -> None:
        if not self.tolerance >= 0 or not self.max_skew >= 0 or self.min_pairs < 1:
            raise ValueError("tolerance and max_skew must be >= 0 and min_pairs >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {"tolerance_s": self.tolerance, "max_skew_s": self.max_skew,
                "min_pairs": self.min_pairs, "zones": self.zones}
