"""IIS configuration exports: adsutil.vbs listings (IIS 4/5), MetaBase.xml (IIS 6) and
applicationHost.config (IIS 7+). XML is parsed with :mod:`defusedxml`, DTDs refused."""

from __future__ import annotations

import re
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import XMLParser

from wormsign.fleet.audit_base import ConfigAudit

MD_ACCESS_EXECUTE = 0x4
MD_DIRBROW_ENABLED = 0x80000000

_PROP = re.compile(r"^\s*(\w+)\s*:\s*\((\w+)\)\s*(.*?)\s*$")
_ITEM = re.compile(r'^\s+"(.*)"\s*$')
_KEY = re.compile(r"^\s*\[(/[^\]]*)\]\s*$")
_POWERED = re.compile(r"x-powered-by|x-aspnet-version", re.I)
# the IIS 5.0 registry switch (W3SVC\Parameters) as reg.exe / regedit exports print it
_DISABLE_DAV = re.compile(r"\bDisableWebDAV\"?\s*(?:[=:]|REG_DWORD)\s*(?:\(\w+\)\s*)?"
                          r"(?:dword:|0x)?0*([01])\b", re.I)
_HTTPEXT = re.compile(r"(?:^|[\s\"])([01])\s*,[^,\"]*\\httpext\.dll", re.I)


def _scriptmap_ext(entry: str) -> str:
    return entry.split(",", 1)[0].strip().lower()


def _vdir_of(key: str) -> str:
    """``/w3svc/1/root/scripts`` → ``/scripts``; ``/LM/W3SVC/1/ROOT`` → ``/``."""
    low = key.rstrip("/")
    m = re.search(r"/root(/.*)?$", low, re.I)
    if m is None:
        return low or "/"
    return m.group(1) or "/"


def audit_adsutil(text: str, path: str) -> ConfigAudit:
    """Audit ``adsutil.vbs ENUM`` output."""
    audit = ConfigAudit(path, "adsutil")
    key = "/"
    in_list: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if in_list is not None:
            m = _ITEM.match(line)
            if m:
                if in_list == "ScriptMaps":
                    audit.map_ext(_scriptmap_ext(m.group(1)), n)
                elif in_list == "HttpCustomHeaders" and _POWERED.search(m.group(1)):
                    audit.add("verbose-banner", n, f"custom header {m.group(1)!r} discloses "
                              "the platform", "note")
                continue
            in_list = None
        dm = _DISABLE_DAV.search(line)
        if dm:
            audit.webdav(dm.group(1) == "0", n, f"DisableWebDAV={dm.group(1)}")
            continue
        km = _KEY.match(line)
        if km:
            key = km.group(1)
            if "urlscan" in key.lower():
                audit.urlscan = audit.urlscan or n
            continue
        pm = _PROP.match(line)
        if pm is None:
            continue
        name, typ, value = pm.groups()
        val = value.strip().strip('"')
        if typ.upper() == "LIST":
            in_list = name
        elif (name == "AccessExecute" and val.lower() == "true") or (
            name == "AccessFlags" and _int(val) & MD_ACCESS_EXECUTE
        ):
            audit.exec_vdir(_vdir_of(key), n)
        elif (name == "EnableDirBrowsing" and val.lower() == "true") or (
            name == "DirBrowseFlags" and _int(val) & MD_DIRBROW_ENABLED
        ):
            audit.add("directory-browsing", n, f"directory browsing enabled on {_vdir_of(key)}")
        elif name == "FilterLoadOrder" and "urlscan" in val.lower():
            audit.urlscan = audit.urlscan or n
    return audit


def _int(text: str) -> int:
    try:
        return int(text.split()[0], 0)
    except (ValueError, IndexError):
        return 0


class _Elements:
    """An XML target recording (tag, attributes, line) for every element, with depth."""

    def __init__(self) -> None:
        self.parser: Any = None
        self.items: list[tuple[str, dict[str, str], int, tuple[str, ...]]] = []
        self._stack: list[str] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        line = int(self.parser.parser.CurrentLineNumber)
        self.items.append((tag.rsplit("}", 1)[-1], dict(attrib), line, tuple(self._stack)))
        self._stack.append(tag.rsplit("}", 1)[-1])

    def end(self, tag: str) -> None:
        self._stack.pop()

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        pass


def _elements(text: str, audit: ConfigAudit) -> list[tuple[str, dict[str, str], int,
                                                             tuple[str, ...]]] | None:
    target = _Elements()
    parser = XMLParser(target=target, forbid_dtd=True)
    target.parser = parser
    try:
        parser.feed(text.encode("utf-8"))
        parser.close()
    except DefusedXmlException as exc:
        audit.error = f"refused XML construct: {exc}"
        return None
    except Exception as exc:  # expat ParseError
        pos = getattr(exc, "position", None)
        audit.error = f"invalid XML at line {pos[0] if pos else '?'}: {exc}"
        return None
    return target.items


def _entry_line(lines: list[str], start: int, needle: str) -> int:
    """The line at or after ``start`` (1-based) whose text contains ``needle``."""
    low = needle.lower()
    for i in range(start - 1, min(len(lines), start + 400)):
        if low in lines[i].lower():
            return i + 1
    return start


def audit_xml(text: str, path: str, fmt: str) -> ConfigAudit:
    """Audit IIS 6 MetaBase.xml (``fmt='metabase'``) or IIS 7+ applicationHost.config."""
    audit = ConfigAudit(path, fmt)
    items = _elements(text, audit)
    if items is None:
        return audit
    lines = text.splitlines()
    handler_ext: dict[str, str] = {}
    location = "/"
    for tag, attrs, line, stack in items:
        low = {k.lower(): v for k, v in attrs.items()}
        if fmt == "metabase":
            _metabase_element(audit, tag, low, line, lines)
            continue
        if tag == "location":
            location = "/" + low.get("path", "").split("/", 1)[-1] if "/" in low.get(
                "path", "") else "/"
        elif tag == "add" and stack and stack[-1] == "handlers":
            p = low.get("path", "")
            m = re.fullmatch(r"\*(\.\w+)", p.strip())
            if m:
                handler_ext[low.get("name", p)] = m.group(1).lower()
                audit.map_ext(m.group(1), line)
        elif tag == "remove" and stack and stack[-1] == "handlers":
            ext = handler_ext.get(low.get("name", ""))
            if ext:
                audit.unmap_ext(ext)
        elif tag == "clear" and stack and stack[-1] == "handlers":
            audit.mappings.clear()
        elif tag == "handlers" and "execute" in low.get("accesspolicy", "").lower():
            audit.exec_vdir(location, line)
        elif tag in ("add", "remove") and stack and stack[-1] in ("modules", "globalModules") \
                and low.get("name", "").lower() == "webdavmodule":
            audit.webdav(tag == "add", line, f"<{tag} name=\"WebDAVModule\">")
        elif tag == "authoring" and stack and stack[-1] == "webdav" and "enabled" in low:
            audit.webdav(low["enabled"].lower() == "true", line,
                         f"<webdav><authoring enabled=\"{low['enabled']}\">")
        elif tag == "directoryBrowse" and low.get("enabled", "").lower() == "true":
            audit.add("directory-browsing", line, f"directory browsing enabled on {location}")
        elif tag == "add" and stack and stack[-1] == "customHeaders" and _POWERED.search(
                low.get("name", "")):
            audit.add("verbose-banner", line, f"custom header {low.get('name')!r} discloses "
                      "the platform", "note")
        elif tag == "requestFiltering" and low.get("removeserverheader", "").lower() == "false":
            audit.add("verbose-banner", line, "removeServerHeader is false: the Server header "
                      "names IIS and its version", "note")
        elif tag == "add" and stack and stack[-1] == "fileExtensions" and \
                low.get("allowed", "").lower() == "false":
            audit.denied.setdefault(low.get("fileextension", "").lower(), line)
        elif tag == "filter" and "urlscan" in (low.get("name", "") + low.get("path", "")).lower():
            audit.urlscan = audit.urlscan or line
    return audit


def _metabase_element(audit: ConfigAudit, tag: str, low: dict[str, str], line: int,
                      lines: list[str]) -> None:
    loc = low.get("location", "")
    maps = low.get("scriptmaps")
    if maps:
        for entry in re.split(r"\s+(?=[.*][\w]*,)", maps.strip()):
            ext = entry.split(",", 1)[0].strip().lower()
            if ext.startswith("."):
                audit.map_ext(ext, _entry_line(lines, line, ext + ","))
    flags = low.get("accessflags", "")
    if "accessexecute" in flags.lower() or _int(flags) & MD_ACCESS_EXECUTE:
        audit.exec_vdir(_vdir_of(loc), _entry_line(lines, line, "AccessFlags"))
    browse = low.get("dirbrowseflags", "")
    if "enabledirbrowsing" in browse.lower() or _int(browse) & MD_DIRBROW_ENABLED:
        audit.add("directory-browsing", _entry_line(lines, line, "DirBrowseFlags"),
                  f"directory browsing enabled on {_vdir_of(loc)}")
    headers = low.get("httpcustomheaders", "")
    if _POWERED.search(headers):
        audit.add("verbose-banner", _entry_line(lines, line, "X-Powered-By"),
                  "custom header X-Powered-By discloses the platform", "note")
    dav = _HTTPEXT.search(low.get("websvcextrestrictionlist", ""))
    if dav:
        audit.webdav(dav.group(1) == "1", _entry_line(lines, line, "httpext.dll"),
                     "WebSvcExtRestrictionList: the WebDAV extension (httpext.dll) is "
                     + ("allowed" if dav.group(1) == "1" else "prohibited"))
    if "urlscan" in (loc + low.get("filterloadorder", "") + low.get("filterpath", "")).lower():
        audit.urlscan = audit.urlscan or line
    del tag
