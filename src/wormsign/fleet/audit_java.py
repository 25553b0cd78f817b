"""Java application settings that decide Log4Shell: log4j-core jars and message lookups.

Reads any text that names them, line by line: a ``setenv.sh`` / ``jvm.options`` / systemd
unit (``-Dlog4j2.formatMsgNoLookups=true``, ``LOG4J_FORMAT_MSG_NO_LOOKUPS=true``), a
``log4j2.component.properties``, a ``log4j2.xml`` pattern with ``%m{nolookups}``, a class path
or a jar listing (``log4j-core-2.14.1.jar``), a Gradle/Maven coordinate
(``org.apache.logging.log4j:log4j-core:2.14.1``).

Every log4j-core jar becomes a ``log4j-core-jar`` finding and a component of the audit (so the
verdicts judge its version); message lookups switched off become ``log4j-nolookups``, a note:
Apache Logging withdrew that setting as an insufficient mitigation.
"""

from __future__ import annotations

import re

from wormsign.fleet.audit_base import ConfigAudit

SIGNS = re.compile(r"log4j2?\.formatMsgNoLookups|LOG4J_FORMAT_MSG_NO_LOOKUPS|log4j-core[-:]\d"
                   r"|%(?:m|msg|message)\{nolookups\}", re.I)
"""Text that makes :func:`wormsign.fleet.audit.sniff_config` call a file ``java``."""

_NOLOOKUPS = re.compile(r"log4j2?\.formatMsgNoLookups\s*[=:]\s*[\"']?true"
                        r"|LOG4J_FORMAT_MSG_NO_LOOKUPS\s*[=:]\s*[\"']?true"
                        r"|%(?:m|msg|message)\{nolookups\}", re.I)
_JAR = re.compile(r"log4j-core[-:](\d+(?:\.\d+)*(?:-(?:alpha|beta|rc)\d*)?)(?:\.jar\b|\b)", re.I)


def audit_java(text: str, path: str) -> ConfigAudit:
    """Audit Java settings and class paths for log4j-core versions and message lookups."""
    audit = ConfigAudit(path, "java")
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", "//", "<!--")):
            continue
        if _NOLOOKUPS.search(line) and audit.nolookups is None:
            audit.nolookups = n
            audit.add("log4j-nolookups", n, "message lookups are disabled: this limits "
                      "Log4Shell but Apache Logging calls it insufficient; upgrade log4j-core",
                      "note")
        for m in _JAR.finditer(line):
            version = m.group(1)
            audit.component("log4j-core", version, n)
            audit.add("log4j-core-jar", n, f"log4j-core {version} is on the class path "
                      "(2.0-beta9 to 2.14.1 are Log4Shell-vulnerable; 2.17.1, 2.12.4 or 2.3.2 "
                      "fix every 2021 advisory)")
    return audit
