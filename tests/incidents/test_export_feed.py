"""The blocklist feed: plain format, CIDR aggregation, ETags that change exactly when the
content would, a cache that serves a poll without rendering, no audit noise."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from incidents.helpers import make_alert, write_jsonl
from wormsign.errors import StoreError
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents import schema as t
from wormsign.incidents.blocklist import Entry, aggregate, entries, refresh
from wormsign.incidents.exporters import (
    FEED_FORMATS,
    RENDER_MAX_AGE,
    blocklist_etag,
    export,
    render_blocklist,
)

NOW = 1_000_000_000


def _add_sources(store: Store, iid: int, sources: list[str], family: str = "code-red") -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(t.source_families), [
            {"incident_id": iid, "source_ip": s, "family": family, "internal": 0,
             "alerts": 2, "first_seen": NOW - 100, "last_seen": NOW - 50} for s in sources])


@pytest.fixture
def feed(store: Store) -> tuple[Store, int]:
    iid = store.create_incident("feed")
    _add_sources(store, iid, [f"198.51.100.{i}" for i in range(8)]
                 + ["203.0.113.9", "2001:db8::1", "2001:db8::"])
    refresh(store, iid, "1d", now=NOW)
    return store, iid


def test_plain_is_one_canonical_address_per_line(feed: tuple[Store, int]) -> None:
    store, iid = feed
    text = render_blocklist(store, iid, "plain", now=NOW).text
    assert text.splitlines() == [*(f"198.51.100.{i}" for i in range(8)), "203.0.113.9",
                                 "2001:db8::", "2001:db8::1"]
    agg = render_blocklist(store, iid, "plain", aggregated=True, now=NOW).text
    assert agg.splitlines() == ["198.51.100.0/29", "203.0.113.9", "2001:db8::/127"]


def test_aggregate_merges_members_and_keeps_the_earliest_expiry() -> None:
    def e(addr: str, fam: str, events: int, exp: int) -> Entry:
        return Entry(addr, fam, events, 10, 20 + events, 5, exp)

    items = [e("192.0.2.0", "nimda", 1, 500), e("192.0.2.1", "nimda", 2, 300),
             e("192.0.2.2", "code-red", 4, 900), e("192.0.2.3", "nimda", 8, 700),
             e("192.0.2.9", "nimda", 1, 400), e("2001:db8::2", "nimda", 3, 600),
             e("2001:db8::3", "nimda", 3, 650)]
    got = {x.address: x for x in aggregate(items)}
    assert set(got) == {"192.0.2.0/30", "192.0.2.9", "2001:db8::2/127"}
    block = got["192.0.2.0/30"]
    assert (block.family, block.events, block.expires_at, block.last_seen) == (
        "nimda", 15, 300, 28)
    assert got["192.0.2.9"] == items[4]
    assert got["2001:db8::2/127"].ip == ipaddress.ip_network("2001:db8::2/127")
    covered = {str(a) for x in got.values() for a in ipaddress.ip_network(x.address)}
    assert covered == {x.address for x in items}


def test_etag_is_stable_until_the_content_changes(feed: tuple[Store, int],
                                                  tmp_path: Path) -> None:
    store, iid = feed
    first = render_blocklist(store, iid, "nftables", now=NOW)
    assert first.etag.startswith('"') and first.etag.endswith('"') and len(first.etag) > 30
    assert blocklist_etag(store, iid, "nftables", now=NOW) == first.etag
    # time passing without an expiry crossed: same ETag
    assert blocklist_etag(store, iid, "nftables", now=NOW + 600) == first.etag
    # each format and option has its own
    tags = {blocklist_etag(store, iid, f, now=NOW) for f in FEED_FORMATS}
    assert len(tags) == len(FEED_FORMATS)
    assert blocklist_etag(store, iid, "nftables", aggregated=True, now=NOW) != first.etag
    # an entry expiring changes it
    assert blocklist_etag(store, iid, "nftables", now=NOW + 86400) != first.etag
    # new evidence and a refresh change it
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl",
                                          [make_alert(0, "192.0.2.200", "nimda")])])
    refresh(store, iid, "1d", now=NOW)
    second = render_blocklist(store, iid, "nftables", now=NOW)
    assert second.etag != first.etag and "192.0.2.200" in second.text


def test_an_edit_the_fingerprint_misses_shows_within_the_max_age(
        feed: tuple[Store, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand edit that keeps every aggregate of the rows equal (not what a refresh does) is
    seen once the rows' digest is taken again, after RENDER_MAX_AGE seconds at most."""
    from wormsign.incidents import exporters

    store, iid = feed
    clock = [1000.0]
    monkeypatch.setattr(exporters, "_clock", lambda: clock[0])
    before = render_blocklist(store, iid, "plain", now=NOW)
    bl = t.blocklist
    with store.begin() as conn:
        conn.execute(bl.update().where(bl.c.incident_id == iid,
                                       bl.c.address == "203.0.113.9")
                     .values(address="203.0.113.8"))
    assert blocklist_etag(store, iid, "plain", now=NOW) == before.etag
    clock[0] += RENDER_MAX_AGE + 1
    after = render_blocklist(store, iid, "plain", now=NOW)
    assert after.etag != before.etag and "203.0.113.8" in after.text
    assert "203.0.113.9" not in after.text


def test_a_refresh_that_swaps_rows_changes_the_etag(feed: tuple[Store, int]) -> None:
    """Removing one source (newly allowlisted) and adding another in one refresh keeps the
    row count; the ETag still changes."""
    store, iid = feed
    before = blocklist_etag(store, iid, "plain", now=NOW)
    store.add_networks(iid, ["203.0.113.9/32"], "allow")
    _add_sources(store, iid, ["203.0.113.8"])
    got = refresh(store, iid, "1d", now=NOW)
    assert (got["added"], got["removed"]) == (1, 1)
    after = render_blocklist(store, iid, "plain", now=NOW)
    assert after.etag != before and "203.0.113.8" in after.text


def test_a_poll_is_served_from_the_cache(feed: tuple[Store, int]) -> None:
    store, iid = feed
    a = render_blocklist(store, iid, "suricata", now=NOW)
    assert render_blocklist(store, iid, "suricata", now=NOW + 5) is a
    assert render_blocklist(store, iid, "iptables", now=NOW + 5) is not a
    assert render_blocklist(store, iid, "suricata", now=NOW + 6) is a  # another format kept it
    later = render_blocklist(store, iid, "suricata", now=NOW + RENDER_MAX_AGE + 1)
    assert later is not a and later.etag == a.etag


def test_the_feed_is_read_only(feed: tuple[Store, int]) -> None:
    store, iid = feed
    actions = len(store.list_actions(iid))
    rows = len(entries(store, iid, now=NOW, include_expired=True))
    for fmt in FEED_FORMATS:
        render_blocklist(store, iid, fmt, now=NOW)
    assert len(store.list_actions(iid)) == actions
    assert len(entries(store, iid, now=NOW, include_expired=True)) == rows
    export(store, iid, "plain", now=NOW, refresh_first=False)
    assert len(store.list_actions(iid)) == actions + 1


def test_bad_format_and_unknown_incident(feed: tuple[Store, int]) -> None:
    store, iid = feed
    with pytest.raises(StoreError, match="unknown feed format"):
        render_blocklist(store, iid, "pf", now=NOW)
    with pytest.raises(StoreError, match="use stream"):
        blocklist_etag(store, iid, "stix", now=NOW)
    with pytest.raises(StoreError):
        render_blocklist(store, iid + 999, "plain", now=NOW)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.one_of(
    st.integers(0, 300).map(lambda i: ipaddress.IPv4Address(0xC6336400 + i)),
    st.integers(0, 70).map(lambda i: ipaddress.IPv6Address((0x20010DB8 << 96) + i))),
    min_size=1, max_size=80))
def test_aggregate_equals_collapse_addresses(addrs: set[ipaddress._BaseAddress]) -> None:
    items = [Entry(str(a), "nimda", 1, 1, 2, 1, 100) for a in addrs]
    want = []
    for v in (4, 6):
        nets = [ipaddress.ip_network(a) for a in addrs if a.version == v]
        for n in ipaddress.collapse_addresses(nets):  # type: ignore[type-var]
            want.append(str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n))
    assert [e.address for e in aggregate(items)] == want
