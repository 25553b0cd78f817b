"""Connection inputs: which format a file is, and reading it as
:class:`~wormsign.logs.conn.ConnBatch` columns.

Formats, by id (:data:`READERS`): ``zeek-conn`` (Zeek conn.log, TSV with ``#fields``),
``zeek-conn-json`` (the same as JSON lines), ``eve-flow`` (Suricata eve.json ``flow``
events; other event types are counted and passed over), ``pcap-conn`` (pcap or pcapng:
connection attempts and how they ended, from the packets).

    from wormsign.logs import connread
    stats = connread.ConnStats()
    for batch in connread.read_connections("conn.log.gz", stats=stats):
        ...  # numpy columns: batch.src, batch.dst, batch.dport, batch.outcome, ...

Each batch's ``path`` is the input's absolute path (as a request's), its ``format`` the
reader's id. A bad row or value is skipped and counted in :class:`ConnStats`, never raised;
an input that cannot be read at all (missing, a directory, binary where text belongs, a
corrupt archive, not a connection format) raises one :class:`~wormsign.errors.InputError`
naming the file. Text inputs may be compressed (gzip, bzip2, xz) and are bounded by
:class:`~wormsign.logs.source.Limits`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator

from wormsign.errors import InputError, LogFormatError
from wormsign.logs import eveflow, pcapconn, zeekconn
from wormsign.logs.conn import ConnBatch
from wormsign.logs.connstats import SKIP_REASONS, ConnStats
from wormsign.logs.pcap import is_pcap
from wormsign.logs.source import DEFAULT_LIMITS, Input, Limits, open_input, read_chunks

__all__ = ["FORMATS", "READERS", "SKIP_REASONS", "ConnStats", "read_connections",
           "sniff_connections"]

Reader = Callable[[Input, ConnStats, Limits], Iterator[ConnBatch]]
#: Reader of each connection format, by id.
READERS: dict[str, Reader] = {
    zeekconn.FORMAT_TSV: zeekconn.read_tsv,
    zeekconn.FORMAT_JSON: zeekconn.read_json,
    eveflow.FORMAT: eveflow.read_flows,
    pcapconn.FORMAT: pcapconn.read_capture,
}
FORMATS = tuple(READERS)

_SNIFF_BYTES = 1 << 20
_EVE_FLOW = re.compile(rb'"event_type"\s*:\s*"flow"')


def _as_input(path: str | Input) -> Input:
    return path if isinstance(path, Input) else Input(path, allow_special=True)


def _sniff_text(sample: bytes) -> str | None:
    lines = sample.split(b"\n")[:-1] or sample.split(b"\n")
    for raw in lines[:64]:
        line = raw.rstrip(b"\r")
        if line.startswith(b"#path"):
            return zeekconn.FORMAT_TSV if line[5:].strip() == b"conn" else None
        if line.startswith(b"#fields"):
            names = line[7:].split()
            ok = {b"id.orig_h", b"id.resp_h", b"conn_state"} <= set(names)
            return zeekconn.FORMAT_TSV if ok else None
    if _EVE_FLOW.search(sample):
        return eveflow.FORMAT
    for raw in lines[:64]:
        obj = zeekconn.load_object(raw) if raw.strip()[:1] == b"{" else None
        if obj is None:
            continue
        has_id = "id.orig_h" in obj or isinstance(obj.get("id"), dict)
        if has_id and ("conn_state" in obj or obj.get("_path") == "conn"):
            return zeekconn.FORMAT_JSON
    return None


def sniff_connections(path: str | Input) -> str | None:
    """The connection format of ``path`` (an id of :data:`READERS`), or None when it is
    none of them or cannot be read. Standard input (``-``) is not sniffed (None): reading
    it would consume it.

    A capture, or an eve.json holding flow events beside http events, is also a request
    source for :mod:`wormsign.logs.formats` / :mod:`wormsign.logs.pcap`: a caller wanting
    both the connections and the requests reads it both ways."""
    inp = _as_input(path)
    if inp.is_stdin:
        return None
    try:
        with open_input(inp) as stream:
            head = stream.peek(4096)
            if is_pcap(head) or pcapconn.gzipped_capture(head):
                return pcapconn.FORMAT
            chunks: Generator[bytes, None, None] = read_chunks(  # type: ignore[assignment]
                inp, chunk_size=_SNIFF_BYTES, stream=stream)
            try:
                sample = next(chunks, b"")
            finally:
                chunks.close()
    except (InputError, OSError):
        return None
    return _sniff_text(sample)


def read_connections(path: str | Input, *, format: str | None = None,
                     limits: Limits | None = None, stats: ConnStats | None = None,
                     ) -> Iterator[ConnBatch]:
    """Batches of connection attempts from ``path`` (``format`` forces a reader).

    ``stats`` receives the counts (rows, skips by reason, IPv6, out of order, ...). Raises
    :class:`~wormsign.errors.LogFormatError` when the input is no connection format (or not
    the forced one) and :class:`~wormsign.errors.InputError` when it cannot be read."""
    inp = _as_input(path)
    st = stats if stats is not None else ConnStats()
    fmt = format if format is not None else sniff_connections(inp)
    if fmt is None:
        if not inp.is_stdin:
            with open_input(inp):  # a missing file or a directory says so, not "format"
                pass
        raise LogFormatError("not a connection log (Zeek conn.log TSV or JSON, Suricata EVE "
                             "flow events, pcap or pcapng)", path=inp.display)
    reader = READERS.get(fmt)
    if reader is None:
        raise LogFormatError(f"unknown connection format {fmt!r} (one of "
                             f"{', '.join(FORMATS)})", path=inp.display)
    yield from reader(inp, st, limits if limits is not None else DEFAULT_LIMITS)
