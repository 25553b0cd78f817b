"""Configuration audit of web-server configuration exports; every finding names file and line.

Formats (recognised from the content; see :func:`sniff_config`):

``adsutil``   IIS 4/5 metabase as ``cscript adsutil.vbs ENUM /P`` or ``ENUM_ALL`` prints it:
              ``[/w3svc/1/root/scripts]`` key headers, ``Name : (TYPE) value`` properties,
              ``ScriptMaps : (LIST) (n Items)`` followed by one quoted entry per line
``metabase``  IIS 6 ``MetaBase.xml`` (``IIsWebService``/``IIsWebVirtualDir`` elements)
``iis7``      IIS 7+ ``applicationHost.config`` / ``web.config`` (``system.webServer``)
``apache``    Apache ``httpd.conf``
``nginx``     ``nginx.conf``
``java``      Java settings, class paths and log4j2 configuration that name log4j-core jars or
              switch message lookups off (see :mod:`wormsign.fleet.audit_java`)

Finding rules (``Finding.rule``):

``mapping-ida`` ``mapping-idq``   the Indexing Service ISAPI extension is mapped (MS01-033,
                                  Code Red)
``mapping-printer``               Internet Printing ISAPI (.printer) is mapped
``mapping-htr``                   the legacy .htr (ism.dll) mapping is present
``executable-vdir``               a virtual directory grants execute permission (/scripts and
                                  /msadc are what Nimda and Code Red II's backdoor use)
``directory-browsing``            directory listings are enabled
``verbose-banner``                the server announces product and version details
``webdav-enabled``                WebDAV is served: IIS ``DisableWebDAV=0``, the IIS 6 WebDAV
                                  web service extension allowed, the IIS 7+ WebDAVModule or
                                  authoring enabled, Apache ``Dav On`` (MS03-007 on IIS 5.0)
``webdav-disabled``               WebDAV is switched off (``DisableWebDAV=1``, the extension
                                  prohibited, the module removed, authoring disabled)
``sslv2-enabled``                 Apache ``SSLProtocol`` accepts SSLv2 (Slapper's handshake)
``log4j-core-jar``                a log4j-core jar and its version (Log4Shell)
``log4j-nolookups``               ``formatMsgNoLookups`` set: a withdrawn, insufficient
                                  Log4Shell mitigation (a note)

Besides findings the audit keeps facts the verdicts need: the set of mapped extensions,
extensions denied by request filtering, whether URLScan is loaded, executable directories,
whether WebDAV is on or off (and where), software components with versions (log4j-core).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from wormsign.errors import ConfigError
from wormsign.fleet.audit_base import RULE_TEXT, RULES, WATCHED, WHY, ConfigAudit, Finding
from wormsign.fleet.audit_iis import audit_adsutil, audit_xml
from wormsign.fleet.audit_java import SIGNS, audit_java
from wormsign.fleet.audit_unix import audit_apache, audit_nginx
from wormsign.fleet.files import MAX_CONFIG_BYTES, OutsideRoot, confine, read_limited

__all__ = ["AUDITORS", "RULES", "RULE_TEXT", "WATCHED", "WHY", "ConfigAudit", "Finding",
           "audit_file", "audit_text", "sniff_config"]


def sniff_config(text: str) -> str | None:
    """The configuration format of ``text``, or None when none fits."""
    head = text[:20000]
    if SIGNS.search(head) and not re.search(r"^\s*\[/w3svc|<MBProperty|IIsWebService|"
                                           r"<system\.webServer|^\s*(ServerRoot|Listen)\b",
                                           head, re.I | re.M):
        return "java"
    if re.search(r"^\s*\w+\s*:\s*\((STRING|INTEGER|BOOLEAN|LIST|EXPANDSZ|MULTISZ|BINARY)\)",
                 head, re.MULTILINE) or re.search(r"^\s*\[/w3svc", head, re.I | re.M):
        return "adsutil"
    if "<configuration" in head or "<system.webServer" in head:
        if any(k in head for k in ("IIsWebService", "IIsConfigObject", "IIs_Global",
                                      "XML_Metabase", "<MBProperty", "IIsWebVirtualDir")):
            return "metabase"  # IIS 6 MetaBase.xml, whole or an `iiscnfg /export` of a part
        return "iis7"
    if "IIsWebService" in head or "<MBProperty" in head or "IIsWebVirtualDir" in head:
        return "metabase"
    if re.search(r"^\s*(ServerRoot|LoadModule|Listen|DocumentRoot|<Directory|<VirtualHost)\b",
                 head, re.MULTILINE):
        return "apache"
    if re.search(r"^\s*(http|server|events|worker_processes)\b[^;\n]*[{;]", head, re.M):
        return "nginx"
    return None


def audit_text(text: str, path: str, fmt: str | None = None) -> ConfigAudit:
    """Audit one configuration export given as text."""
    fmt = fmt or sniff_config(text)
    if fmt is None:
        return ConfigAudit(path, "unknown", error="unrecognised configuration format")
    auditor = AUDITORS.get(fmt)
    if auditor is None:
        return ConfigAudit(path, fmt, error=f"no auditor for format {fmt!r}")
    return auditor(text, path).finish()


def _xml(fmt: str) -> Callable[[str, str], ConfigAudit]:
    def run(text: str, path: str) -> ConfigAudit:
        return audit_xml(text, path, fmt)

    return run


AUDITORS: dict[str, Callable[[str, str], ConfigAudit]] = {
    "adsutil": audit_adsutil, "metabase": _xml("metabase"), "iis7": _xml("iis7"),
    "apache": audit_apache, "nginx": audit_nginx, "java": audit_java,
}
"""Configuration auditors by format name: ``(text, path) -> ConfigAudit`` (before
:meth:`ConfigAudit.finish`). Register one here to add a format; :func:`sniff_config` decides
which format a file is in."""


def audit_file(path: str, fmt: str | None = None, root: Path | None = None) -> ConfigAudit:
    """Audit one configuration file; a missing, unreadable or refused file is an audit with
    ``error`` set (the host's verdicts then say the configuration evidence is missing).

    With ``root`` the file must lie inside that folder (see :func:`confine`); only regular
    files of at most :data:`MAX_CONFIG_BYTES` are read.
    """
    try:
        if root is not None:
            path = str(confine(path, root))
        data = read_limited(path, MAX_CONFIG_BYTES, "configuration")
    except OutsideRoot as exc:
        return ConfigAudit(path, "unknown", error=f"refused: {exc.message}")
    except ConfigError as exc:
        return ConfigAudit(path, "unknown", error=exc.message)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return audit_text(text, path, fmt)
