"""Cases found by a user review: real nmap files, several probes per host, odd versions."""

from __future__ import annotations

import json
from pathlib import Path

from wormsign.fleet import assess, load_inventory
from wormsign.fleet.probe import load_probe_evidence

from .conftest import CODE_RED_ERA

ROOT = Path(__file__).resolve().parents[2]


def test_nmap_file_with_its_doctype_line(tmp_path: Path) -> None:
    text = (ROOT / "examples/fleet/nmap-scan.xml").read_text()
    text = text.replace('<?xml version="1.0" encoding="UTF-8"?>\n',
                        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n', 1)
    p = tmp_path / "scan.xml"
    p.write_text(text)
    inv = load_inventory(str(p), exposure="internet")
    assert any(h.software.lower().startswith("iis") or "iis" in h.software.lower()
               for h in inv.hosts)


def test_entities_in_nmap_xml_stay_refused(tmp_path: Path) -> None:
    import pytest

    from wormsign.errors import WormsignError

    p = tmp_path / "evil.xml"
    p.write_text('<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY x "boom">]>\n'
                 "<nmaprun>&x;</nmaprun>\n")
    with pytest.raises(WormsignError):
        load_inventory(str(p), exposure="internet")


def test_any_probe_that_reached_ida_counts(tmp_path: Path) -> None:
    p = tmp_path / "probe.json"
    p.write_text(json.dumps({"results": [
        {"host": "127.0.0.1", "url": "http://127.0.0.1:1/", "ida_reachable": True},
        {"host": "127.0.0.1", "url": "http://127.0.0.1:2/", "ida_reachable": False},
    ]}))
    assert load_probe_evidence(str(p))["127.0.0.1"].ida_reachable is True


def test_unreadable_version_is_unknown_not_safe(tmp_path: Path) -> None:
    p = tmp_path / "inv.csv"
    p.write_text("host,software,version,patches,exposure\n"
                 "a,IIS,five,,internet\nb,IIS,?,,internet\nc,IIS,5.0,,internet\n")
    doc = assess(str(p)).to_json()
    # the IIS advisories; the others are not-affected because of the product, not the version
    statuses = {h["host"]: {f["status"] for f in h["findings"] if f["id"] in CODE_RED_ERA}
                for h in doc["hosts"]}
    assert statuses["a"] == {"unknown"} and statuses["b"] == {"unknown"}
    assert "not-affected" not in statuses["c"]


def test_unusable_probe_urls_are_config_errors() -> None:
    import pytest

    from wormsign.errors import ConfigError
    from wormsign.fleet.probe import check_url

    for bad in ("http://127.0.0.1:99999/", "http://[::1", "ftp://127.0.0.1/"):
        with pytest.raises(ConfigError):
            check_url(bad)


def test_partial_metabase_export_is_audited_as_iis6() -> None:
    from wormsign.fleet.audit import sniff_config

    text = ('<?xml version="1.0"?>\n<configuration xmlns="urn:microsoft-catalog:'
            'XML_Metabase_V64_0">\n<MBProperty>\n<IIsWebVirtualDir Location="/LM/W3SVC/1/ROOT/'
            'msadc" AccessFlags="AccessExecute | AccessRead"/>\n</MBProperty>\n</configuration>\n')
    assert sniff_config(text) == "metabase"
