"""Log readers: every input format becomes :class:`~wormsign.logs.record.Request` records.

Formats are registered by id in :data:`wormsign.logs.formats.FORMATS` (Apache/nginx access
and error logs, IIS W3C, Zeek http.log, Suricata eve.json); packet captures are read by
``pcap``. Connection inputs (Zeek conn.log, Suricata EVE flows, pcap/pcapng connection
outcomes) become :class:`~wormsign.logs.conn.ConnBatch` columns through ``connread``
(``connwrite`` writes them back). ``source`` opens files, directories, stdin and compressed
input within :class:`~wormsign.logs.source.Limits` (line length, decompression budget, no
FIFOs or devices met in folders); ``text`` keeps attacker-controlled text safe;
``normalize`` gives URLs the canonical forms rules match on and addresses the only form that
may leave a reader (:func:`~wormsign.logs.normalize.canonical_ip`); ``synth`` writes the
labelled synthetic sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wormsign._lazy import exports

if TYPE_CHECKING:
    from wormsign.logs.formats import FORMATS, LogFormat, register
    from wormsign.logs.normalize import canonical_ip, canonical_network
    from wormsign.logs.record import Request
    from wormsign.logs.source import Limits, ReadStats, open_input, read_chunks

__all__ = ["FORMATS", "Limits", "LogFormat", "ReadStats", "Request", "canonical_ip",
           "canonical_network", "open_input", "read_chunks", "register"]

#: Where each name of ``__all__`` lives: imported on first use, so that a submodule (the C
#: helpers, for the early pre-scan of ``wormsign scan``) loads without the readers.
_HOMES = {"FORMATS": "formats", "LogFormat": "formats", "register": "formats",
          "canonical_ip": "normalize", "canonical_network": "normalize", "Request": "record",
          "Limits": "source", "ReadStats": "source", "open_input": "source",
          "read_chunks": "source"}


__getattr__, __dir__ = exports(__name__, _HOMES, globals())
