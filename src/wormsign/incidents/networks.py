"""Address classification for incidents: internal (RFC 1918 and own networks) and allowlisted.

An internal host that shows up as the *source* of worm requests is a victim that is scanning
others: it needs cleaning, not only blocking. Allowlisted networks (own networks, partners)
are never put on a blocklist.

Addresses are attacker-written text (an X-Forwarded-For field, an eve.json ``src_ip``), and
``ipaddress`` itself accepts zone ids (``2a00::1%x}``) that break firewall rules. So there is
one way from text to an address: :func:`parse_ip` (objects) and :func:`canonical` (its
``str()``), used by the classifier, the blocklist, every exporter, and :func:`parse_network`
for ``--own``/``--allow`` and the API.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from wormsign import units
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
    got = _version_int(text)
    if got is None:
        return None
    return ipaddress.IPv4Address(got[1]) if got[0] == 4 else ipaddress.IPv6Address(got[1])


def _version_int(text: object) -> tuple[int, int] | None:
    """(4 or 6, the address as an integer) of an address written as one, else None; an
    IPv4-mapped IPv6 address is IPv4. ``inet_pton`` is strict (four decimal octets without
    leading zeros; IPv6 without a zone, which :data:`_IP_CHARS` refuses anyway) and five
    times faster than ``ipaddress`` on strings."""
    if not isinstance(text, str) or "/" in text or not _IP_CHARS.fullmatch(text):
        return None
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text))
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
    except OSError:
        return None
    if value >> 32 == 0xFFFF:  # ::ffff:a.b.c.d
        return 4, value & 0xFFFFFFFF
    return 6, value


def canonical(text: object, *, networks: bool = False) -> str | None:
    """``str(parse_ip(text))``, or None: the only form of an address an export writes.

    Fast paths for the common case (150,000 times per blocklist): a dotted quad that
    ``inet_pton`` accepts is already canonical (four decimal octets, no leading zeros), and
    an IPv6 address outside ``::/96`` is written by ``inet_ntop`` exactly as ``ipaddress``
    writes it (RFC 5952: lower case, the first longest run of two or more zero groups
    compressed; the tests check the two agree). Everything else goes through
    :func:`parse_ip`."""
    if isinstance(text, str) and "/" not in text and 2 <= len(text) <= 45:
        if ":" not in text:
            try:
                socket.inet_pton(socket.AF_INET, text)
            except (OSError, ValueError):
                return None
            return text
        if "%" in text or not _IP_CHARS.fullmatch(text):
            return None
        try:
            packed = socket.inet_pton(socket.AF_INET6, text)
        except OSError:
            return None
        if packed[:12] != bytes(12) and packed[:12] != _MAPPED:
            return socket.inet_ntop(socket.AF_INET6, packed)
    got = parse_ip(text, networks=networks)
    return None if got is None else str(got)


_MAPPED = bytes(10) + b"\xff\xff"


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
        internal = [parse_network(n) for n in PRIVATE_NETWORKS] + list(self.own)
        never = [parse_network(n) for n in NEVER_BLOCK] + internal + list(self.allow)
        self._cache: dict[str, tuple[bool, bool]] = {}
        self._internal = {v: _Spans(n for n in internal if n.version == v) for v in (4, 6)}
        self._never = {v: _Spans(n for n in never if n.version == v) for v in (4, 6)}

    @classmethod
    def from_cidrs(cls, own: Iterable[str] = (), allow: Iterable[str] = ()) -> Classifier:
        return cls([parse_network(c) for c in own], [parse_network(c) for c in allow])

    def _classify(self, text: str) -> tuple[bool, bool]:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        got = _version_int(text)
        if got is None:
            result = (False, True)  # not an address: never blocked, never a victim
        else:
            result = (got[1] in self._internal[got[0]], got[1] in self._never[got[0]])
        if len(self._cache) < 1_000_000:
            self._cache[text] = result
        return result

    def is_internal(self, address: str) -> bool:
        """True for RFC 1918 / unique-local addresses and the incident's own networks."""
        return self._classify(address)[0]

    def is_blockable(self, address: str) -> bool:
        """False for internal, allowlisted, special-purpose addresses and non-addresses."""
        return not self._classify(address)[1]


class _Spans:
    """Networks of one family as merged integer ranges: membership is one bisection."""

    def __init__(self, nets: Iterable[IPNetwork]) -> None:
        spans: list[list[int]] = []
        for lo, hi in sorted((int(n.network_address), int(n.broadcast_address)) for n in nets):
            if spans and lo <= spans[-1][1] + 1:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
        self._los = [x[0] for x in spans]
        self._his = [x[1] for x in spans]

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self._los, value) - 1
        return i >= 0 and value <= self._his[i]


def parse_duration(text: str) -> int:
    """Whole seconds in a positive duration such as ``3600``, ``90m``, ``12h``, ``7d`` or
    ``2w`` (a bare number is seconds); read by :func:`wormsign.units.parse_duration`."""
    seconds = round(units.parse_duration(text, default_unit="s"))
    if seconds <= 0:
        raise ConfigError(f"not a positive duration: {text!r} (use e.g. 12h, 7d, 2w)")
    return seconds
