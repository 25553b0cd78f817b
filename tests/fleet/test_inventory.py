from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wormsign.errors import ConfigError
from wormsign.fleet.inventory import load_inventory, read_csv_text, read_json_text

from .conftest import ROOT, line_of


def test_csv_sample_hosts_and_skipped_rows(sample: Path) -> None:
    text = (sample / "inventory.csv").read_text()
    inv = load_inventory(str(sample / "inventory.csv"))
    names = [h.host for h in inv.hosts]
    assert "www1.example.test" in names and "static.example.test" in names
    skipped = {s.line: s.error for s in inv.skipped}
    assert line_of(text, "test.example.test") in skipped
    assert "dmz" in skipped[line_of(text, "test.example.test")]
    assert "host is empty" in skipped[line_of(text, ",192.0.2.98")]
    assert "cells" in skipped[line_of(text, "broken.example.test")]
    assert len(inv.hosts) + len(inv.skipped) == len(text.strip().splitlines()) - 1


def test_csv_fields_patches_and_config(sample: Path) -> None:
    inv = load_inventory(str(sample / "inventory.csv"))
    by = {h.host: h for h in inv.hosts}
    assert by["www2.example.test"].patches == ("MS01-033",)
    assert by["www1.example.test"].patches == ()          # empty cell: none installed
    assert by["partner.example.test"].patches is None     # "?": not reported
    assert by["files.example.test"].patches == ()         # "none"
    assert by["shop.example.test"].product == "microsoft-iis"
    assert by["www3.example.test"].product == "apache-httpd"
    assert by["shop.example.test"].criticality > by["www1.example.test"].criticality
    cfg = by["www1.example.test"].config
    assert cfg is not None and Path(cfg).is_file()


def test_csv_without_patches_column_means_not_reported() -> None:
    inv = read_csv_text("host,software,version\na,IIS,5.0\n")
    assert inv.hosts[0].patches is None
    assert inv.hosts[0].exposure == "unknown"


def test_csv_line_numbers_survive_multiline_cells() -> None:
    text = 'host,software,version,os\na,IIS,5.0,"Windows\n2000"\n,IIS,5.0,x\nb,IIS,5.0,y\n'
    inv = read_csv_text(text)
    assert [s.line for s in inv.skipped] == [4]
    assert [h.line for h in inv.hosts] == [2, 5]


def test_csv_duplicate_host_names_first_line() -> None:
    inv = read_csv_text("host,software,version\na,IIS,5.0\na,IIS,4.0\n")
    assert len(inv.hosts) == 1
    assert inv.skipped[0].line == 3 and "line 2" in inv.skipped[0].error


def test_csv_header_must_name_required_columns() -> None:
    with pytest.raises(ConfigError) as exc:
        read_csv_text("name,software\na,IIS\n", source="inv.csv")
    assert "host" in str(exc.value) and "inv.csv:1" in str(exc.value)


def test_csv_bad_criticality_is_a_skipped_row() -> None:
    inv = read_csv_text("host,software,version,criticality\na,IIS,5.0,urgent\nb,IIS,5,11\n")
    assert [s.line for s in inv.skipped] == [2, 3]


def test_json_inventory_lines() -> None:
    text = ('{"hosts": [\n  {"host": "a", "software": "IIS", "version": "5.0",\n'
            '   "patches": ["MS01-033"]},\n  {"software": "IIS"},\n  7\n]}\n')
    inv = read_json_text(text)
    assert inv.hosts[0].patches == ("MS01-033",)
    assert [(s.line, "host" in s.error or "object" in s.error) for s in inv.skipped] == [
        (4, True), (5, True)]


def test_json_syntax_error_names_line(tmp_path: Path) -> None:
    p = tmp_path / "inv.json"
    p.write_text('[\n{"host": "a", "software": "IIS", "version": "5.0"},\n{"host": }\n]')
    with pytest.raises(ConfigError) as exc:
        load_inventory(str(p))
    assert exc.value.line == 3


def test_yaml_inventory(sample: Path) -> None:
    inv = load_inventory(str(sample / "inventory.yaml"))
    assert [h.host for h in inv.hosts] == ["www1.example.test", "intranet.example.test"]
    assert inv.hosts[1].patches == ("Q269862",)
    text = (sample / "inventory.yaml").read_text()
    assert inv.hosts[1].line == line_of(text, "host: intranet")


def test_yaml_bad_entries_are_skipped(tmp_path: Path) -> None:
    p = tmp_path / "inv.yml"
    p.write_text("- host: a\n  software: IIS\n  version: '5.0'\n- just text\n- host: b\n")
    inv = load_inventory(str(p))
    assert [h.host for h in inv.hosts] == ["a"]
    assert [s.line for s in inv.skipped] == [4, 5]


def test_nmap_inventory(sample: Path) -> None:
    inv = load_inventory(str(sample / "nmap-scan.xml"), exposure="internet")
    by = {h.host: h for h in inv.hosts}
    assert by["www1.example.test"].product == "microsoft-iis"
    assert by["www1.example.test"].version == "5.0"
    assert by["192.0.2.11"].product == "apache-httpd"          # no hostname: the address
    assert all(h.exposure == "internet" for h in inv.hosts)
    assert len(inv.hosts) == 2                                   # ssh ignored


def test_nmap_refuses_dtds_and_entities(tmp_path: Path) -> None:
    p = tmp_path / "evil.xml"
    p.write_text('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaa">]>\n'
                 "<nmaprun>&a;</nmaprun>\n")
    with pytest.raises(ConfigError) as exc:
        load_inventory(str(p))
    assert "evil.xml" in str(exc.value)


def test_nmap_broken_xml_names_line(tmp_path: Path) -> None:
    p = tmp_path / "scan.xml"
    p.write_text("<nmaprun>\n<host>\n</nmaprun>\n")
    with pytest.raises(ConfigError) as exc:
        load_inventory(str(p))
    assert exc.value.line == 3


def test_missing_inventory_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_inventory(str(tmp_path / "nope.csv"))


def test_shipped_sample_matches_generator(sample: Path) -> None:
    shipped = ROOT / "examples" / "fleet"
    for p in sample.rglob("*"):
        if p.is_file():
            rel = p.relative_to(sample)
            assert (shipped / rel).read_text() == p.read_text(), rel
    assert "SYNTHETIC" in (shipped / "SYNTHETIC.txt").read_text()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([*'ab,";\n\r\t =#x1.\x00', "IIS", "5.0"]),
                max_size=80))
def test_csv_reader_never_crashes(parts: list[str]) -> None:
    inv = read_csv_text("host,software,version,patches\n" + "".join(parts))
    for s in inv.skipped:
        assert s.line >= 2
    for h in inv.hosts:
        assert h.host and h.software


_JSON_PIECES = ['{"hosts": [', "[", "]", "}", "{", ",", '"host": "a"', '"software": "IIS"',
                '"version": 5', ":", "\n", " ", "null", '"patches": [1]', "7", '"x"']


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_JSON_PIECES), max_size=25))
def test_json_reader_fails_only_with_config_error(pieces: list[str]) -> None:
    try:
        inv = read_json_text("".join(pieces))
    except ConfigError as exc:
        assert exc.line is None or exc.line >= 1
        return
    assert all(s.line >= 1 for s in inv.skipped)


def test_readers_are_a_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wormsign.fleet import inventory

    def tsv(data: bytes, text: str, base: Path, src: str) -> inventory.Inventory:
        return read_csv_text(text.replace("\t", ","), base, src)

    monkeypatch.setitem(inventory.READERS, "tsv", tsv)
    p = tmp_path / "inv.tsv"
    p.write_text("host\tsoftware\tversion\na\tIIS\t5.0\n")
    assert [h.host for h in load_inventory(str(p), fmt="tsv").hosts] == ["a"]
    with pytest.raises(ConfigError) as exc:
        load_inventory(str(p), fmt="xls")
    assert "tsv" in str(exc.value)
