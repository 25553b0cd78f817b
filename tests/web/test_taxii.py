"""The read-only TAXII 2.1 collections of ``wormsign serve``, read with ``taxii2-client``
from a live loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import stix2

from web.helpers import LiveServer, alert, write_alerts
from wormsign.incidents import Store, ingest_paths
from wormsign.incidents.blocklist import refresh
from wormsign.incidents.tlp import MARKINGS, set_tlp
from wormsign.incidents.triage import mark
from wormsign.web import Settings, create_app
from wormsign.web.taxii import collection_id

taxii = pytest.importorskip("taxii2client.v21")

TOKEN = "taxii-test-token-with-enough-entropy-42"


class Bearer(requests.auth.AuthBase):
    def __call__(self, r: Any) -> Any:
        r.headers["Authorization"] = f"Bearer {TOKEN}"
        return r


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Store, int]]:
    d = tmp_path_factory.mktemp("taxii")
    with Store.open(f"sqlite:///{d / 't.db'}") as store:
        iid = store.create_incident("taxii case")
        alerts = [alert(i, f"198.51.100.{i % 7 + 1}", ("code-red", "nimda")[i % 2])
                  for i in range(40)]
        ingest_paths(store, iid, [write_alerts(d / "a.jsonl", alerts)])
        refresh(store, iid)
        set_tlp(store, iid, "green")
        mark(store, iid, "source", "198.51.100.1", "false-positive", actor="t")
        settings = Settings(upload_dir=str(d / "up"), token=TOKEN,
                            allowed_hosts=("127.0.0.1", "localhost"))
        with LiveServer(create_app(settings, store=store)) as srv:
            yield srv, store, iid


def test_taxii2_client_reads_the_incident_collection(
        served: tuple[LiveServer, Store, int]) -> None:
    srv, _store, iid = served
    server = taxii.Server(f"{srv.url}/taxii2/", auth=Bearer())
    assert server.title == "wormsign"
    root = server.api_roots[0]
    cols = {c.id: c for c in root.collections}
    col = cols[collection_id(iid)]
    assert col.can_read and not col.can_write
    env = col.get_objects()
    bundle = stix2.parse({"type": "bundle", "id": "bundle--" + collection_id(iid),
                          "objects": env["objects"]}, allow_custom=False)
    types = {o.type for o in bundle.objects}
    assert {"marking-definition", "indicator", "malware", "sighting"} <= types
    assert all(o.object_marking_refs == [MARKINGS["green"]] for o in bundle.objects
               if o.type != "marking-definition")
    patterns = " ".join(o.pattern for o in bundle.objects if o.type == "indicator")
    assert "198.51.100.2" in patterns and "'198.51.100.1'" not in patterns  # suppressed
    # pages, one object by id, the manifest
    pages = list(taxii.as_pages(col.get_objects, per_request=5))
    assert sum(len(p.get("objects", [])) for p in pages) == len(env["objects"])
    one = env["objects"][3]
    assert col.get_object(one["id"])["objects"] == [one]
    man = col.get_manifest()
    assert {m["id"] for m in man["objects"]} == {o["id"] for o in env["objects"]}
    only = col.get_objects(type="malware")
    assert {o["type"] for o in only["objects"]} == {"malware"}


def test_taxii_is_read_only_and_needs_the_token(served: tuple[LiveServer, Store, int]) -> None:
    srv, _store, iid = served
    url = f"{srv.url}/taxii2/api/collections/{collection_id(iid)}/objects/"
    assert requests.get(url, timeout=10, allow_redirects=False).status_code == 401
    r = requests.post(url, json={"objects": []}, auth=Bearer(), timeout=10,
                      headers={"Content-Type": "application/taxii+json;version=2.1"})
    assert r.status_code == 405
    r = requests.get(f"{srv.url}/taxii2/api/collections/nope/objects/", auth=Bearer(),
                     timeout=10, headers={"Accept": "application/taxii+json;version=2.1"})
    assert r.status_code == 404 and r.headers["content-type"].startswith(
        "application/taxii+json")


def test_dashboard_page_shows_suppression(served: tuple[LiveServer, Store, int],
                                          tmp_path: Path) -> None:
    srv, _store, iid = served
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    r = s.get(f"{srv.url}/incidents/{iid}", timeout=10)
    assert r.status_code == 200
    assert 'id="suppressed"' in r.text and "false-positive" in r.text
