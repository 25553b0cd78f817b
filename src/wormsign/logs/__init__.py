"""Log readers: every input format becomes :class:`~wormsign.logs.record.Request` records.

Formats are registered by id in :data:`wormsign.logs.formats.FORMATS` (Apache/nginx access
and error logs, IIS W3C, Zeek http.log, Suricata eve.json); packet captures are read by
``pcap``. ``source`` opens files, directories, stdin and compressed input; ``text`` keeps
attacker-controlled text safe; ``normalize`` gives URLs the canonical forms rules match on;
``synth`` writes the labelled synthetic sample.
"""

from wormsign.logs.formats import FORMATS, LogFormat, register
from wormsign.logs.record import Request

__all__ = ["FORMATS", "LogFormat", "Request", "register"]
