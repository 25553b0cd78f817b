"""Sharing exports: the STIX bundle with TLP 2.0 markings (parsed by ``stix2``), the MISP
event (loaded by PyMISP's own loader, with its JSON schema), and suppressed sources left
out of both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stix2

from wormsign.errors import InvalidError
from wormsign.incidents import Store
from wormsign.incidents.exporters import export
from wormsign.incidents.ingest import ingest_paths
from wormsign.incidents.tlp import MARKINGS, get_tlp, set_tlp
from wormsign.incidents.triage import mark

from .helpers import make_alert, write_jsonl

SOURCES = ["198.51.100.7", "198.51.100.8", "2001:db8::5"]


@pytest.fixture
def incident(store: Store, tmp_path: Path) -> int:
    alerts = [make_alert(i, SOURCES[i % 3], ("code-red", "nimda", "code-red-ii")[i % 3])
              for i in range(30)]
    iid = store.create_incident('outbreak "<script>"')
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts)])
    return iid


def test_stix_bundle_marked_with_the_incident_tlp(store: Store, incident: int) -> None:
    assert get_tlp(store, incident) == "amber"
    set_tlp(store, incident, "TLP:GREEN", actor="erin")
    bundle = stix2.parse(export(store, incident, "stix"), allow_custom=False)
    marks = [o for o in bundle.objects if o.type == "marking-definition"]
    assert [m.id for m in marks] == [MARKINGS["green"]]
    assert marks[0].name == "TLP:GREEN"
    others = [o for o in bundle.objects if o.type != "marking-definition"]
    assert others and all(o.object_marking_refs == [MARKINGS["green"]] for o in others)
    # chosen per export too
    red = stix2.parse(export(store, incident, "stix", tlp="red"), allow_custom=False)
    assert {tuple(o.get("object_marking_refs", ())) for o in red.objects} == {
        (), (MARKINGS["red"],)}
    with pytest.raises(InvalidError):
        set_tlp(store, incident, "purple")
    assert any(a.kind == "sharing" and "erin" in a.detail for a in store.list_actions(incident))


def test_misp_event_loads_in_pymisp(store: Store, incident: int) -> None:
    from pymisp import MISPEvent

    set_tlp(store, incident, "amber+strict")
    text = export(store, incident, "misp")
    ev = MISPEvent()
    ev.load(text)
    assert "<script>" in ev.info  # JSON carries the name; MISP escapes on display
    ips = {a.value for a in ev.attributes if a.type == "ip-src"}
    assert ips == set(SOURCES)
    assert all(a.to_ids for a in ev.attributes if a.type in ("ip-src", "pattern-in-traffic"))
    assert not any(a.to_ids for a in ev.attributes if a.type == "vulnerability")
    assert {a.value for a in ev.attributes if a.type == "vulnerability"} >= {"CVE-2001-0500"}
    tags = {t.name for t in ev.tags}
    assert "tlp:amber+strict" in tags and 'wormsign:family="nimda"' in tags
    assert any(t.startswith("misp-galaxy:mitre-attack-pattern=") for t in tags)
    # every attribute's type is one MISP allows in its category (PyMISP's describeTypes)
    import pymisp
    types = json.loads((Path(pymisp.__file__).parent / "data" / "describeTypes.json")
                       .read_text())["result"]["category_type_mappings"]
    assert all(a.type in types[a.category] for a in ev.attributes)
    assert MISPEvent().load(ev.to_json()) is None  # what PyMISP writes, it reads back
    # stable ids: a re-export names the same attributes
    again = json.loads(export(store, incident, "misp"))["Event"]
    assert {a["uuid"] for a in again["Attribute"]} == {a.uuid for a in ev.attributes}


def test_suppressed_sources_not_shared(store: Store, incident: int) -> None:
    from pymisp import MISPEvent

    mark(store, incident, "source", "2001:db8::5", "benign-scanner", actor="x")
    ev = MISPEvent()
    ev.load(export(store, incident, "misp"))
    assert {a.value for a in ev.attributes if a.type == "ip-src"} == set(SOURCES[:2])
    bundle = stix2.parse(export(store, incident, "stix"), allow_custom=False)
    patterns = " ".join(o.pattern for o in bundle.objects if o.type == "indicator")
    assert "2001:db8::5" not in patterns and "198.51.100.7" in patterns


def test_later_worms_are_malware_with_their_cves(store: Store, tmp_path: Path) -> None:
    """A family the rule packs call a worm (here the 2003 WebDAV overflow) becomes a STIX
    malware object that exploits its rules' CVEs, and a MISP vulnerability attribute."""
    from dataclasses import replace

    base = make_alert(0, "198.51.100.9", "code-red")
    alerts = [replace(base, line=i + 1, family="webdav-overflow", rule_family="webdav-overflow",
                      rule_id="webdav-ntdll-overflow", method="SEARCH",
                      url="/" + "%u9090" * 300) for i in range(3)]
    iid = store.create_incident("webdav")
    ingest_paths(store, iid, [write_jsonl(tmp_path / "w.jsonl", alerts)])
    bundle = stix2.parse(export(store, iid, "stix"), allow_custom=False)
    malware = [o for o in bundle.objects if o.type == "malware"]
    assert [m.name for m in malware] and "WebDAV" in malware[0].name
    vulns = {o.name for o in bundle.objects if o.type == "vulnerability"}
    assert "CVE-2003-0109" in vulns
    rels = [o for o in bundle.objects if o.type == "relationship"
            and o.relationship_type == "exploits"]
    assert rels and rels[0].source_ref == malware[0].id
    misp = json.loads(export(store, iid, "misp"))
    values = {a["value"] for a in misp["Event"]["Attribute"] if a["type"] == "vulnerability"}
    assert "CVE-2003-0109" in values
