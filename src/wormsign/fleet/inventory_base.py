"""Inventory records and the row-to-host step every inventory reader shares.

Kept below :mod:`wormsign.fleet.inventory` (format sniffing and dispatch) and the format
readers such as :mod:`wormsign.fleet.nmap`, so a reader can build hosts without importing
the dispatcher that imports it. The names stay importable from ``wormsign.fleet.inventory``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wormsign.fleet.products import banner_components, normalise_product

REQUIRED = ("host", "software", "version")
OPTIONAL = ("address", "os", "patches", "exposure", "role", "criticality", "config",
            "components")
EXPOSURES = ("internet", "internal", "unknown")
CRITICALITY = {"low": 2.5, "medium": 5.0, "high": 7.5, "critical": 10.0}


@dataclass(frozen=True, slots=True)
class Host:
    """One inventoried host (one web server)."""

    host: str
    software: str
    version: str
    product: str
    address: str = ""
    os: str = ""
    patches: tuple[str, ...] | None = None
    exposure: str = "unknown"
    role: str = ""
    criticality: float = 5.0
    config: str | None = field(default=None)
    line: int = field(default=0, compare=False)
    components: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """A row that was not used, and why."""

    line: int
    error: str


@dataclass
class Inventory:
    """The hosts of one inventory file and the rows skipped."""

    source: str
    format: str
    hosts: list[Host]
    skipped: list[SkippedRow]


class RowError(ValueError):
    """A row cannot be used (message says why)."""


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"{name}: expected text, got {type(value).__name__}")
    return str(value).strip()


def _patches(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, list):
        items = [_text(v, "patches") for v in value]
    else:
        text = _text(value, "patches")
        if text.lower() in ("?", "unknown"):
            return None
        if text.lower() in ("", "none", "-"):
            return ()
        items = text.replace(",", ";").split(";")
    return tuple(dict.fromkeys(i.strip().upper() for i in items if i.strip()))


def _components(value: Any) -> tuple[tuple[str, str], ...]:
    """``mod_ssl/2.8.9 OpenSSL/0.9.6b`` (or a list of such tokens) as (product, version)."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    text = " ".join(_text(v, "components") for v in items)
    return tuple(banner_components(text).items())


def _criticality(value: Any) -> float:
    text = _text(value, "criticality").lower()
    if not text:
        return 5.0
    if text in CRITICALITY:
        return CRITICALITY[text]
    try:
        num = float(text)
    except ValueError:
        raise RowError(f"criticality {text!r}: use low, medium, high, critical or 0-10") from None
    if not 0 <= num <= 10:
        raise RowError(f"criticality {text!r} is outside 0-10")
    return num


def make_host(fields: Mapping[str, Any], line: int, base_dir: Path | None) -> Host:
    """A :class:`Host` from one row's fields; raises :class:`RowError` if unusable."""
    host = _text(fields.get("host"), "host")
    if not host:
        raise RowError("host is empty")
    software = _text(fields.get("software"), "software")
    if not software:
        raise RowError("software is empty")
    exposure = _text(fields.get("exposure"), "exposure").lower() or "unknown"
    if exposure == "external":
        exposure = "internet"
    if exposure not in EXPOSURES:
        raise RowError(f"exposure {exposure!r}: use internet or internal")
    config = _text(fields.get("config"), "config") or None
    if config is not None and base_dir is not None and not Path(config).is_absolute():
        config = str(base_dir / config)
    return Host(
        host=host, software=software, version=_text(fields.get("version"), "version"),
        product=normalise_product(software), address=_text(fields.get("address"), "address"),
        os=_text(fields.get("os"), "os"), patches=_patches(fields.get("patches")),
        exposure=exposure, role=_text(fields.get("role"), "role"),
        criticality=_criticality(fields.get("criticality")), config=config, line=line,
        components=_components(fields.get("components")),
    )


class HostCollector:
    """Rows become hosts; a bad or duplicate row becomes a :class:`SkippedRow`, never fatal."""

    def __init__(self) -> None:
        self.hosts: list[Host] = []
        self.skipped: list[SkippedRow] = []
        self._seen: dict[str, int] = {}

    def add(self, fields: Mapping[str, Any], line: int, base_dir: Path | None) -> None:
        try:
            h = make_host(fields, line, base_dir)
        except RowError as exc:
            self.skipped.append(SkippedRow(line, str(exc)))
            return
        first = self._seen.get(h.host)
        if first is not None:
            self.skipped.append(SkippedRow(line, f"host {h.host!r} already listed on line {first}"))
            return
        self._seen[h.host] = line
        self.hosts.append(h)
