"""Address classification for incidents: internal (RFC 1918 and own networks) and allowlisted.

An internal host that shows up as the *source* of worm requests is a victim that is scanning
others: it needs cleaning, not only blocking. Allowlisted networks (own networks, partners)
are never put on a blocklist.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from wormsign.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Private address space that is internal in every incident (RFC 1918, plus the IPv6 unique
#: local range RFC 4193).
PRIVATE_NETWORKS: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")

#: Space that is never worth blocking: loopback, link-local, unspecified, multicast.
NEVER_BLOCK: tuple[str, ...] = ("127.0.0.0/8", "0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4",
                                "255.255.255.255/32", "::1/128", "fe80::/10", "ff00::/8")


#: What an address or network can be made of; anything else (zone ids, spaces, text) is refused
#: before ``ipaddress`` sees it, since ``ipaddress`` accepts ``fe80::1%eth0`` and ``%x}``.
_IP_CHARS = re.compile(r"[0-9A-Fa-f:./]{2,49}")


def parse_ip(text: object, *, networks: bool = False) -> IPAddress | IPNetwork | None:
    """The one way from stored or typed text to an address: an ``ipaddress`` object or None.

    Only an address written as an address passes (no zone id ``%eth0``, no spaces or control
    characters, no other text); an IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is the IPv4
    address it carries. With ``networks`` a CIDR passes too (host bits are cleared; a /32 or
    /128 is the address itself). Exporters write ``str()`` of the result, never the input."""
    if not isinstance(text, str) or not _IP_CHARS.fullmatch(text):
        return None
    if "/" in text:
        if not networks:
            return None
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        net = _unmap_network(net)
        return net.network_address if net.prefixlen == net.max_prefixlen else net
    # inet_pton (strict: four decimal octets without leading zeros, or IPv6 without a zone)
    # is five times faster than ipaddress on strings; the object is built from its bytes.
    try:
        if ":" not in text:
            return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
        addr = ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, text))
    except OSError:
        return None
    return addr if addr.ipv4_mapped is None else addr.ipv4_mapped


def canonical(text: object, *, networks: bool = False) -> str | None:
    """``str(parse_ip(text))``, or None: the only form of an address an export writes.

    A dotted quad that ``inet_pton`` accepts is already canonical (four decimal octets, no
    leading zeros), so it is returned without building an object (the common case, 150,000
    times per blocklist); everything else goes through :func:`parse_ip`."""
    if isinstance(text, str) and 7 <= len(text) <= 15 and ":" not in text and "/" not in text:
        try:
            socket.inet_pton(socket.AF_INET, text)
        except (OSError, ValueError):
            return None
        return text
    got = parse_ip(text, networks=networks)
    return None if got is None else str(got)


def _unmap_network(net: IPNetwork) -> IPNetwork:
    """``::ffff:10.0.0.0/104`` is ``10.0.0.0/8``."""
    mapped = net.network_address.ipv4_mapped if net.version == 6 else None
    if isinstance(net, ipaddress.IPv6Network) and mapped is not None and net.prefixlen >= 96:
        return ipaddress.IPv4Network((mapped, net.prefixlen - 96))
    return net


def parse_network(text: str) -> IPNetwork:
    """Parse a CIDR (or a bare address) given by a person (``--own``, ``--allow``, the API);
    a bad value, a zone id (``2a00::1%eth0``) included, raises a one-line :class:`ConfigError`."""
    cleaned = text.strip() if isinstance(text, str) else text
    got = parse_ip(cleaned, networks=True)
    if got is None:
        shown = repr(text[:60] + ("..." if len(text) > 60 else "")) if isinstance(text, str) \
            else type(text).__name__
        why = " (a zone id such as %eth0 is not allowed)" if "%" in str(text) else ""
        raise ConfigError(f"not a network or address: {shown}{why}")
    return ipaddress.ip_network(got)


def parse_address(text: str) -> IPAddress | None:
    """The address in ``text`` (see :func:`parse_ip`), or None when it is not exactly one."""
    got = parse_ip(text)
    return got if isinstance(got, ipaddress.IPv4Address | ipaddress.IPv6Address) else None


@dataclass
class Classifier:
    """Decides whether an address is internal or allowlisted; caches per address."""

    own: list[IPNetwork] = field(default_factory=list)
    allow: list[IPNetwork] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._internal_nets = [parse_network(n) for n in PRIVATE_NETWORKS] + list(self.own)
        self._never = ([parse_network(n) for n in NEVER_BLOCK] + self._internal_nets
                       + list(self.allow))
        self._cache: dict[str, tuple[bool, bool]] = {}
        self._v4_internal = _ranges(self._internal_nets)
        self._v4_never = _ranges(self._never)

    @classmethod
    def from_cidrs(cls, own: Iterable[str] = (), allow: Iterable[str] = ()) -> Classifier:
        return cls([parse_network(c) for c in own], [parse_network(c) for c in allow])

    def _classify(self, text: str) -> tuple[bool, bool]:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        v4 = _v4_int(text)
        if v4 is not None:
            result = (any(lo <= v4 <= hi for lo, hi in self._v4_internal),
                      any(lo <= v4 <= hi for lo, hi in self._v4_never))
            if len(self._cache) < 1_000_000:
                self._cache[text] = result
            return result
        addr = parse_address(text)
        if addr is None:
            result = (False, True)  # not an address: never blocked, never a victim
        else:
            internal = any(addr in n for n in self._internal_nets if n.version == addr.version)
            never = any(addr in n for n in self._never if n.version == addr.version)
            result = (internal, never)
        if len(self._cache) < 1_000_000:
            self._cache[text] = result
        return result

    def is_internal(self, address: str) -> bool:
        """True for RFC 1918 / unique-local addresses and the incident's own networks."""
        return self._classify(address)[0]

    def is_blockable(self, address: str) -> bool:
        """False for internal, allowlisted, special-purpose addresses and non-addresses."""
        return not self._classify(address)[1]


def _ranges(nets: list[IPNetwork]) -> list[tuple[int, int]]:
    return [(int(n.network_address), int(n.broadcast_address)) for n in nets if n.version == 4]


def _v4_int(text: str) -> int | None:
    """A dotted-quad IPv4 address as an integer (fast path), or None."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for p in parts:
        if not p.isdigit() or len(p) > 3 or (len(p) > 1 and p[0] == "0"):
            return None
        octet = int(p)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``3600``, ``90m``, ``12h``, ``7d`` or ``2w``."""
    m = _DURATION.match(text)
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"not a positive duration: {text!r} (use e.g. 12h, 7d, 2w)")
    return int(m.group(1)) * _UNIT[m.group(2)]
