"""Fleet inventories: CSV, JSON, YAML and nmap ``-sV`` XML, read into :class:`Host` records.

Schema (the same fields in every format; CSV header names, JSON/YAML keys):

``host``         (required) the name the reports use; unique within an inventory
``software``     (required) product, e.g. ``IIS``, ``Microsoft IIS httpd``, ``Apache``, ``nginx``
``version``      (required column; the cell may be empty: the verdict is then ``unknown``)
``address``      IP address
``os``           operating system, e.g. ``Windows 2000 Server SP2`` (a service pack named here
                 counts as an installed patch: ``WIN2000-SP2``)
``patches``      ``;``-separated bulletin or hotfix ids, ``MS01-033;Q300972`` (a list in
                 JSON/YAML). An empty cell or ``none`` means "none installed"; ``?`` or
                 ``unknown``, or no ``patches`` column at all, means "not reported"
``exposure``     ``internet`` or ``internal``; empty means ``unknown`` (ranked between them)
``role``         free text (``web``, ``intranet``...); maintenance windows can target a role
``criticality``  ``low`` | ``medium`` | ``high`` | ``critical`` or a number 0–10 (5 = medium)
``config``       path, relative to the inventory file, of the host's web-server configuration
                 export (see :mod:`wormsign.fleet.audit`)
``components``   modules and libraries with versions, as a Server banner writes them:
                 ``mod_ssl/2.8.9 OpenSSL/0.9.6b`` (a list in JSON/YAML); nmap's ``extrainfo``

JSON is a list of objects or ``{"hosts": [...]}``; YAML the same. nmap XML (``nmap -sV -oX``):
one host per open port whose service product is a web server; the host is named by its first
hostname or address (``name:port`` when it has several web ports), ``os`` from ``ostype``,
exposure ``unknown`` unless the reader is told otherwise.

Bad rows (missing host or software, unknown exposure, duplicate host, wrong number of cells)
are skipped and reported with their line numbers in :attr:`Inventory.skipped`; they are never
fatal. An unreadable file is a :class:`~wormsign.errors.ConfigError`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from wormsign.errors import ConfigError
from wormsign.fleet.files import MAX_INVENTORY_BYTES, read_limited
from wormsign.fleet.inventory_base import (
    CRITICALITY,
    EXPOSURES,
    OPTIONAL,
    REQUIRED,
    Host,
    HostCollector,
    Inventory,
    RowError,
    SkippedRow,
    make_host,
)
from wormsign.fleet.nmap import read_nmap_bytes

__all__ = ["CRITICALITY", "EXPOSURES", "OPTIONAL", "READERS", "REQUIRED", "Host",
           "HostCollector", "Inventory", "Reader", "RowError", "SkippedRow", "load_inventory",
           "make_host", "read_csv_text", "read_json_text", "read_nmap_bytes", "read_yaml_text",
           "sniff_format"]

# --------------------------------------------------------------------------- CSV


def read_csv_text(text: str, base_dir: Path | None = None, source: str = "<csv>") -> Inventory:
    """Parse CSV inventory text (header row first)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    col = HostCollector()
    try:
        header = next(reader)
    except StopIteration:
        raise ConfigError("empty inventory: no header row", path=source, line=1) from None
    except csv.Error as exc:
        raise ConfigError(f"bad CSV header: {exc}", path=source, line=1) from None
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    missing = [r for r in REQUIRED if r not in names]
    if missing:
        raise ConfigError(f"inventory header lacks {', '.join(missing)} "
                          f"(needs at least {','.join(REQUIRED)})", path=source, line=1)
    has_patches = "patches" in names
    width = len(names)
    prev_end = reader.line_num
    while True:
        start = prev_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            col.skipped.append(SkippedRow(start, f"bad CSV: {exc}"))
            prev_end = reader.line_num
            continue
        prev_end = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if row[0].lstrip().startswith("#"):
            continue
        if len(row) != width:
            col.skipped.append(SkippedRow(start, f"expected {width} cells, found {len(row)}"))
            continue
        fields: dict[str, Any] = dict(zip(names, row, strict=True))
        if not has_patches:
            fields["patches"] = None
        col.add(fields, start, base_dir)
    return Inventory(source, "csv", col.hosts, col.skipped)


# --------------------------------------------------------------------------- JSON


def _json_items(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """The elements of the top-level host list with the line each starts on."""
    dec = json.JSONDecoder()
    ws = " \t\r\n"

    def skip(i: int) -> int:
        while i < len(text) and text[i] in ws:
            i += 1
        return i

    def err(msg: str, i: int) -> ConfigError:
        return ConfigError(msg, path=source, line=text.count("\n", 0, i) + 1)

    i = skip(0)
    if i < len(text) and text[i] == "{":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", path=source, line=exc.lineno) from None
        except RecursionError:
            raise err("invalid JSON: nested too deeply", i) from None
        if not isinstance(doc.get("hosts"), list):
            raise err("a JSON inventory is a list of hosts or {\"hosts\": [...]}", i)
        key = text.find('"hosts"')
        i = text.find("[", key)
    if i >= len(text) or text[i] != "[":
        raise err("a JSON inventory is a list of hosts or {\"hosts\": [...]}", i)
    i = skip(i + 1)
    line, pos = 1, 0
    if i < len(text) and text[i] == "]":
        return
    while i < len(text):
        line += text.count("\n", pos, i)
        pos = i
        try:
            value, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", path=source, line=exc.lineno) from None
        except RecursionError:
            raise err("invalid JSON: nested too deeply", i) from None
        yield line, value
        i = skip(end)
        if i < len(text) and text[i] == ",":
            i = skip(i + 1)
        elif i < len(text) and text[i] == "]":
            return
        else:
            raise err("invalid JSON: expected , or ] between hosts", i)
    raise err("invalid JSON: unterminated host list", i)


def read_json_text(text: str, base_dir: Path | None = None, source: str = "<json>") -> Inventory:
    """Parse a JSON inventory."""
    col = HostCollector()
    for line, item in _json_items(text, source):
        if not isinstance(item, dict):
            col.skipped.append(SkippedRow(line, "a host must be an object"))
            continue
        col.add(item, line, base_dir)
    return Inventory(source, "json", col.hosts, col.skipped)


# --------------------------------------------------------------------------- YAML


def read_yaml_text(text: str, base_dir: Path | None = None, source: str = "<yaml>") -> Inventory:
    """Parse a YAML inventory (safe loader only)."""
    import yaml

    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"invalid YAML: {problem}", path=source) from None
    try:
        root = loader.get_single_node()
        if root is not None and isinstance(root, yaml.MappingNode):
            for k, v in root.value:
                if isinstance(k, yaml.ScalarNode) and k.value == "hosts":
                    root = v
                    break
        if not isinstance(root, yaml.SequenceNode):
            line = 1 if root is None else root.start_mark.line + 1
            raise ConfigError("a YAML inventory is a list of hosts or hosts: [...]",
                              path=source, line=line)
        col = HostCollector()
        for node in root.value:
            line = node.start_mark.line + 1
            item = loader.construct_object(node, deep=True)
            if not isinstance(item, dict):
                col.skipped.append(SkippedRow(line, "a host must be a mapping"))
                continue
            col.add(item, line, base_dir)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=source,
                          line=None if mark is None else mark.line + 1) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", path=source) from None
    finally:
        loader.dispose()
    return Inventory(source, "yaml", col.hosts, col.skipped)


# --------------------------------------------------------------------------- dispatch


def sniff_format(path: str, text: str) -> str:
    """``csv``, ``json``, ``yaml`` or ``nmap`` from the extension, else from the content."""
    ext = Path(path).suffix.lower()
    by_ext = {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".xml": "nmap"}
    if ext in by_ext:
        return by_ext[ext]
    head = text.lstrip()[:512]
    if head.startswith("<"):
        return "nmap"
    if head.startswith(("[", "{")):
        return "json"
    first = head.splitlines()[0] if head else ""
    if "," in first and "host" in first.lower():
        return "csv"
    return "yaml"


def _nmap(data: bytes, text: str, base: Path, source: str) -> Inventory:
    return read_nmap_bytes(data, source)


Reader = Callable[[bytes, str, Path, str], Inventory]
READERS: dict[str, Reader] = {
    "csv": lambda data, text, base, src: read_csv_text(text, base, src),
    "json": lambda data, text, base, src: read_json_text(text, base, src),
    "yaml": lambda data, text, base, src: read_yaml_text(text, base, src),
    "nmap": _nmap,
}
"""Inventory readers by format name: ``(raw bytes, decoded text, base dir, source) ->
Inventory``. Register a reader here to add a format (``--format`` lists these)."""


def load_inventory(path: str, fmt: str | None = None, exposure: str | None = None) -> Inventory:
    """Read an inventory file in any supported format (``fmt`` forces one).

    ``exposure`` sets the exposure of hosts whose inventory says nothing (nmap scans).
    """
    p = Path(path)
    data = read_limited(path, MAX_INVENTORY_BYTES, "inventory", allow_pipe=True)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    fmt = fmt or sniff_format(path, text)
    reader = READERS.get(fmt)
    if reader is None:
        raise ConfigError(f"unknown inventory format {fmt!r}: use {', '.join(READERS)}")
    inv = reader(data, text, p.parent, path)
    if exposure is not None:
        if exposure not in EXPOSURES:
            raise ConfigError(f"exposure {exposure!r}: use internet or internal")
        inv.hosts = [replace(h, exposure=exposure) if h.exposure == "unknown" else h
                     for h in inv.hosts]
    return inv
