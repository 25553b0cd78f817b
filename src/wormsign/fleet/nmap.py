"""nmap ``-sV -oX`` XML as an inventory: one host per open web-server port.

Parsed with :mod:`defusedxml` (entity expansion and external entities refused): scan files
come from the network and are untrusted. Services whose product is not a web server are
ignored; a ``<host>`` with no address is a skipped row with its line number.
"""

from __future__ import annotations

from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import XMLParser

from wormsign.errors import ConfigError
from wormsign.fleet.inventory_base import HostCollector, Inventory, SkippedRow
from wormsign.fleet.products import normalise_product

WEB_PRODUCTS = ("microsoft-iis", "apache-httpd", "nginx")


class _Builder:
    """An XML target that keeps each <host>'s line, addresses, names and services."""

    def __init__(self) -> None:
        self.parser: Any = None
        self.hosts: list[dict[str, Any]] = []
        self._cur: dict[str, Any] | None = None
        self._port: dict[str, str] | None = None
        self._open = False

    def _line(self) -> int:
        return int(self.parser.parser.CurrentLineNumber)

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag == "host":
            self._cur = {"line": self._line(), "addr": "", "names": [], "services": [],
                         "os": ""}
        elif self._cur is None:
            return
        elif tag == "address" and attrib.get("addrtype", "ipv4") in ("ipv4", "ipv6"):
            self._cur["addr"] = self._cur["addr"] or attrib.get("addr", "")
        elif tag == "hostname":
            self._cur["names"].append(attrib.get("name", ""))
        elif tag == "port":
            self._port = {"port": attrib.get("portid", ""), "line": str(self._line())}
            self._open = False
        elif tag == "state" and self._port is not None:
            self._open = attrib.get("state") == "open"
        elif tag == "service" and self._port is not None:
            self._port.update({k: attrib.get(k, "") for k in
                               ("product", "version", "ostype", "name", "tunnel",
                                "extrainfo")})
        elif tag == "osmatch" and not self._cur["os"]:
            self._cur["os"] = attrib.get("name", "")

    def end(self, tag: str) -> None:
        if tag == "port" and self._cur is not None and self._port is not None:
            if self._open:
                self._cur["services"].append(self._port)
            self._port = None
        elif tag == "host" and self._cur is not None:
            self.hosts.append(self._cur)
            self._cur = None

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        pass


def read_nmap_bytes(data: bytes, source: str = "<nmap>") -> Inventory:
    """Parse nmap XML output into an inventory."""
    builder = _Builder()
    # nmap writes `<!DOCTYPE nmaprun>`: a DTD is fine, entities stay refused.
    parser = XMLParser(target=builder, forbid_dtd=False)
    builder.parser = parser
    try:
        parser.feed(data)
        parser.close()
    except DefusedXmlException as exc:
        raise ConfigError(f"refused XML construct: {exc}", path=source) from None
    except Exception as exc:  # expat's ParseError carries the position
        pos = getattr(exc, "position", None)
        raise ConfigError(f"invalid XML: {exc}", path=source,
                          line=pos[0] if pos else None) from None
    col = HostCollector()
    for h in builder.hosts:
        name = next((n for n in h["names"] if n), "") or h["addr"]
        if not name:
            col.skipped.append(SkippedRow(h["line"], "host has no address or hostname"))
            continue
        web = [s for s in h["services"]
               if normalise_product(s.get("product", "")) in WEB_PRODUCTS]
        for s in web:
            label = name if len(web) == 1 else f"{name}:{s['port']}"
            col.add({"host": label, "software": s.get("product", ""),
                     "version": s.get("version", ""), "address": h["addr"],
                     "os": h["os"] or s.get("ostype", ""), "patches": None,
                     "components": s.get("extrainfo", "")},
                    int(s["line"]), None)
    return Inventory(source, "nmap", col.hosts, col.skipped)
