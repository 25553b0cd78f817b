"""Offline enrichment of an incident's sources: country and AS from MaxMind-format databases
the user provides, optional reverse DNS, and whether a source is inside the incident's own
networks.

Databases: any MaxMind DB file with the GeoLite2 / DB-IP lite layout (country:
``country.iso_code``, or ``registered_country.iso_code``; AS: ``autonomous_system_number``
and ``autonomous_system_organization``); one file may hold both. Nothing is fetched from the
network; reverse DNS is off unless asked for, runs on a few threads, and gives up on each
address after ``rdns_timeout`` seconds. Results are cached in the store (``enrichment``
table, one row per address) and shown in the report, the dashboard and the MISP export.
Without a database every reader says so (:data:`NOT_CONFIGURED`) and everything else works.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from wormsign.errors import ConfigError, MissingExtraError
from wormsign.incidents import schema as t
from wormsign.incidents.networks import canonical
from wormsign.incidents.store import Store, now_s

NOT_CONFIGURED = "no enrichment configured"
#: Environment variables naming the databases when no path is given.
ENV_COUNTRY = "WORMSIGN_GEOIP_COUNTRY"
ENV_ASN = "WORMSIGN_GEOIP_ASN"
RDNS_WORKERS = 16
MAX_RDNS = 10_000


@dataclass(frozen=True)
class Enrichment:
    """What is known about one address (None: not known)."""

    address: str
    country: str | None = None
    asn: int | None = None
    as_org: str | None = None
    rdns: str | None = None
    inside: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        """``US, AS64500 Example Org`` (empty when nothing is known)."""
        parts = [self.country or "",
                 (f"AS{self.asn}" + (f" {self.as_org}" if self.as_org else ""))
                 if self.asn else ""]
        return ", ".join(p for p in parts if p)


def _open(path: str | os.PathLike[str]) -> Any:
    try:
        import maxminddb
    except ModuleNotFoundError as exc:
        raise MissingExtraError("enrichment needs the 'enrich' extra (pip install "
                                "'wormsign[enrich]'): maxminddb is not installed") from exc
    try:
        return maxminddb.open_database(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"not a MaxMind database: {exc}", path=str(path)) from exc


def _country(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return None
    for key in ("country", "registered_country"):
        v = rec.get(key)
        if isinstance(v, dict) and isinstance(v.get("iso_code"), str):
            return str(v["iso_code"])[:8]
        if isinstance(v, str) and 0 < len(v) <= 8:  # flat layouts (e.g. ipinfo lite)
            return v
    return None


def _asn(rec: Any) -> tuple[int | None, str | None]:
    if not isinstance(rec, dict):
        return None, None
    num = rec.get("autonomous_system_number")
    org = rec.get("autonomous_system_organization")
    return (int(num) if isinstance(num, int) and num >= 0 else None,
            str(org)[:200] if isinstance(org, str) else None)


class Enricher:
    """Open databases; :meth:`lookup` many addresses at once. Close it when done."""

    def __init__(self, country_db: str | None = None, asn_db: str | None = None) -> None:
        country_db = country_db or os.environ.get(ENV_COUNTRY) or None
        asn_db = asn_db or os.environ.get(ENV_ASN) or None
        self.names = [Path(p).name for p in (country_db, asn_db) if p]
        self._country = _open(country_db) if country_db else None
        self._asn = (self._country if asn_db == country_db
                     else _open(asn_db) if asn_db else None)

    @property
    def configured(self) -> bool:
        return self._country is not None or self._asn is not None

    def close(self) -> None:
        for db in {id(x): x for x in (self._country, self._asn) if x is not None}.values():
            db.close()

    def __enter__(self) -> Enricher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, addresses: Iterable[str]) -> Iterator[Enrichment]:
        """Country and AS of each address (those the databases cannot parse are skipped)."""
        for a, cc, asn, org in self.rows(addresses):
            yield Enrichment(a, cc, asn, org)

    def rows(self, addresses: Iterable[str],
             ) -> Iterator[tuple[str, str | None, int | None, str | None]]:
        """:meth:`lookup` as plain tuples (address, country, AS number, AS organisation):
        the bulk path, with no object per address."""
        cget = self._country.get if self._country is not None else None
        aget = self._asn.get if self._asn is not None else None
        same = self._asn is self._country
        for a in addresses:
            try:
                rec = cget(a) if cget is not None else None
                arec = rec if same else (aget(a) if aget is not None else None)
            except ValueError:  # not an address, or IPv6 in an IPv4-only database
                continue
            asn, org = _asn(arec) if arec is not None else (None, None)
            yield a, _country(rec) if rec is not None else None, asn, org


def reverse_dns(addresses: Sequence[str], timeout: float) -> dict[str, str]:
    """PTR names of up to :data:`MAX_RDNS` addresses; each lookup may take ``timeout``
    seconds at most (those that take longer, or fail, have no name)."""
    out: dict[str, str] = {}
    todo = list(addresses)[:MAX_RDNS]
    if not todo:
        return out
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=RDNS_WORKERS)
    try:
        futures = {a: pool.submit(socket.gethostbyaddr, a) for a in todo}
        for a, f in futures.items():
            try:
                name = f.result(timeout=timeout)[0]
            except (OSError, concurrent.futures.TimeoutError, UnicodeError):
                continue
            if name and all(c.isprintable() for c in name):
                out[a] = name[:253]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return out


def sources(store: Store, incident_id: int) -> list[str]:
    """The incident's distinct sources as stored (ingest stores them canonical; anything
    else is refused by the database readers and never cached)."""
    sf = t.source_families
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(sf.c.source_ip).where(
            sf.c.incident_id == incident_id).distinct()).scalars().all())


def enrich_incident(store: Store, incident_id: int, enricher: Enricher, *,
                    rdns: bool = False, rdns_timeout: float = 1.0) -> dict[str, int]:
    """Look up every source of the incident and cache the answers; returns counts
    (``sources``, ``country``, ``asn``, ``rdns``)."""
    store.get_incident(incident_id)
    addrs = sources(store, incident_id)
    rows = list(enricher.rows(addrs))
    names = reverse_dns([r[0] for r in rows], rdns_timeout) if rdns else {}
    save(store, rows, names, ", ".join(enricher.names))
    return {"sources": len(addrs), "country": sum(1 for r in rows if r[1]),
            "asn": sum(1 for r in rows if r[2]), "rdns": len(names)}


CACHE_COLUMNS = ("address", "country", "asn", "as_org", "rdns", "db", "looked_up_at")


def save(store: Store, rows: Sequence[tuple[str, str | None, int | None, str | None]],
         names: dict[str, str], db: str) -> None:
    """Insert or replace cache rows ``(address, country, asn, as_org)`` in one transaction
    (one compiled statement handed to the driver's ``executemany``)."""
    if not rows:
        return
    stamp = now_s()
    db = db[:255]
    data = [(a, cc, asn, org, names.get(a), db, stamp) for a, cc, asn, org in rows]
    e = t.enrichment
    stmt = store.insert(e)
    stmt = stmt.on_conflict_do_update(
        index_elements=["address"], set_={c: stmt.excluded[c] for c in CACHE_COLUMNS[1:]})
    sql = str(stmt.compile(dialect=store.engine.dialect, column_keys=list(CACHE_COLUMNS)))
    with store.begin() as conn:
        for i in range(0, len(data), 20_000):
            part: list[Any] = data[i:i + 20_000]
            if store.dialect != "sqlite":
                part = [dict(zip(CACHE_COLUMNS, r, strict=True)) for r in part]
            conn.exec_driver_sql(sql, part)


def cached(store: Store, incident_id: int, addresses: Iterable[str],
           ) -> dict[str, Enrichment]:
    """The cached enrichment of some addresses, with ``inside`` from the incident's own
    networks (addresses never looked up have only that)."""
    cls = store.classifier(incident_id)
    want = [a for a in {canonical(x) for x in addresses} if a is not None]
    e = t.enrichment
    out = {a: Enrichment(a, inside=cls.is_internal(a)) for a in want}
    with store.engine.connect() as conn:
        for i in range(0, len(want), 500):
            for r in conn.execute(sa.select(e.c.address, e.c.country, e.c.asn, e.c.as_org,
                                            e.c.rdns).where(e.c.address.in_(want[i:i + 500]))):
                out[r[0]] = Enrichment(r[0], r[1], r[2], r[3], r[4], out[r[0]].inside)
    return out


def configured(store: Store) -> bool:
    """Whether anything was ever enriched in this store (else :data:`NOT_CONFIGURED`)."""
    with store.engine.connect() as conn:
        return conn.execute(sa.select(t.enrichment.c.address).limit(1)).first() is not None


def labels(store: Store, incident_id: int, addresses: Iterable[str]) -> dict[str, str]:
    """``US, AS64500 Example Org`` per address with anything cached, keyed by the address as
    given (for pages and reports)."""
    got = cached(store, incident_id, addresses)
    out = {}
    for a in addresses:
        c = canonical(a)
        e = got.get(c) if c is not None else None
        if e is not None and e.label():
            out[a] = e.label()
    return out
