"""An inventory's ``config`` column cannot read outside its folder, hang, or eat memory, and
what inventories say reaches no output unescaped."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import wormsign.fleet.audit as audit_mod
from wormsign.cli.main import main
from wormsign.fleet.assess import AssessReport, assess
from wormsign.fleet.files import OutsideRoot, confine, read_limited
from wormsign.fleet.output import to_csv, to_sarif

from .conftest import CODE_RED_ERA

IIS5 = """[/W3SVC/1/ROOT]
ScriptMaps : (LIST) (2 Items)
  ".ida,C:\\WINNT\\System32\\idq.dll,7,GET,HEAD,POST"
  ".idq,C:\\WINNT\\System32\\idq.dll,7,GET,HEAD,POST"
"""
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                    "\u2066-\u2069]")


def _inventory(folder: Path, configs: list[str], software: str = "IIS") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["host,software,version,config"]
    rows += [f"h{i},{software},5.0,{c}" for i, c in enumerate(configs)]
    inv = folder / "inventory.csv"
    inv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return inv


def _errors(report: AssessReport) -> dict[str, str | None]:
    return {Path(p).name: a.error for p, a in report.audits.items()}


def test_traversal_and_absolute_configs_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(IIS5)
    inside = tmp_path / "fleet" / "configs" / "ok.txt"
    inside.parent.mkdir(parents=True)
    inside.write_text(IIS5)
    inv = _inventory(tmp_path / "fleet",
                     ["configs/ok.txt", "../secret.txt", str(secret), "../nothing-here.txt",
                      "/etc/passwd", "configs/../../secret.txt"])
    report = assess(str(inv), outbreak_source="closed-form")
    by_host = {h: report.audits[p] for h, p in report.host_audit.items()}
    assert by_host["h0"].error is None and by_host["h0"].mappings
    refused = [by_host[f"h{i}"].error for i in range(1, 6)]
    for err in refused:
        assert err is not None and err.startswith("refused: outside the allowed folder")
    # the existing secret and the missing file get the same answer: nothing is revealed
    assert by_host["h1"].error == by_host["h3"].error
    # the verdicts say the configuration evidence is missing, not what the file holds
    assert all(v.status == "unknown" for v in report.verdicts["h1"]
               if v.status != "patched" and v.id in CODE_RED_ERA)


def test_symbolic_links_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(IIS5)
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "link.txt").symlink_to(outside)
    inv = _inventory(fleet, ["link.txt"])
    report = assess(str(inv), outbreak_source="closed-form")
    (err,) = _errors(report).values()
    assert err is not None and err.startswith("refused")


def test_config_root_widens_the_allowed_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "iis5.txt"
    shared.parent.mkdir()
    shared.write_text(IIS5)
    inv = _inventory(tmp_path / "fleet", ["../shared/iis5.txt", "/etc/hostname"])
    report = assess(str(inv), outbreak_source="closed-form", config_root=tmp_path)
    errors = _errors(report)
    assert errors["iis5.txt"] is None
    assert (errors["hostname"] or "").startswith("refused")


def test_confine_names_no_existence() -> None:
    root = Path("/usr")
    with pytest.raises(OutsideRoot) as a:
        confine("../etc/passwd", root)
    with pytest.raises(OutsideRoot) as b:
        confine("../etc/no-such-file-here", root)
    assert a.value.message == b.value.message
    with pytest.raises(OutsideRoot):
        confine("bin\x00/../../etc", root)
    assert confine("bin", root) == Path("/usr/bin").resolve()


def test_dev_zero_and_fifos_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)
    (tmp_path / "zero.conf").symlink_to("/dev/zero")
    inv = _inventory(tmp_path, ["fifo.conf", "zero.conf"])
    report = assess(str(inv), outbreak_source="closed-form", config_root="/")
    for err in _errors(report).values():
        assert err is not None and "not a regular file" in err


def test_oversized_configs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.txt"
    big.write_text(IIS5 * 100)
    monkeypatch.setattr(audit_mod, "MAX_CONFIG_BYTES", 1000)
    inv = _inventory(tmp_path, ["big.txt"])
    report = assess(str(inv), outbreak_source="closed-form")
    (err,) = _errors(report).values()
    assert err is not None and "larger than 1,000 bytes" in err
    with pytest.raises(Exception, match="larger than 10 bytes"):
        read_limited(big, 10)


def test_inventory_fifo_on_the_command_line_is_read(tmp_path: Path) -> None:
    """`assess <(cat inventory.csv)`: a pipe named as the inventory is read (bounded)."""
    import threading

    fifo = tmp_path / "inv.csv"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as f:
            f.write("host,software,version\nh1,IIS,6.0\n")

    t = threading.Thread(target=feed)
    t.start()
    data = read_limited(fifo, 1000, "inventory", allow_pipe=True)
    t.join()
    assert data.startswith(b"host,software")


HOSTILE_TEXT = "IIS\x1b[2J\x1b]0;pwned\x07\u202eexe.txt\u2066\r\n=cmd"


def test_control_and_bidi_characters_are_escaped_in_every_output(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps([
        {"host": "evil\x1b[31m\u202e", "software": HOSTILE_TEXT, "version": "5.0\x1b",
         "patches": "Q1\u202e", "config": "c\x1b.txt"},
        {"host": "iis", "software": "IIS", "version": "5.0", "exposure": "dmz\x1b[1m"},
    ]), encoding="utf-8")
    report = assess(str(inv), outbreak_source="closed-form")
    text = to_csv(report)
    assert not UNSAFE.search(text)
    assert "\\x1b" in text and "\\u202e" in text
    sarif = json.dumps(to_sarif(report), ensure_ascii=True)
    assert not UNSAFE.search(sarif)
    csv_out, sarif_out = tmp_path / "o.csv", tmp_path / "o.sarif"
    for extra in ([], ["--json"]):
        rc = main(["assess", str(inv), "--outbreak-model", "closed-form", "--csv",
                   str(csv_out), "--sarif", str(sarif_out), *extra])
        out, err = capsys.readouterr()
        assert rc in (0, 1)
        assert not UNSAFE.search(out) and not UNSAFE.search(err)
        assert not UNSAFE.search(csv_out.read_text(encoding="utf-8").replace("\n", ""))
        assert not UNSAFE.search(sarif_out.read_text(encoding="utf-8"))
        if extra:
            doc = json.loads(out)
            assert doc["hosts"][0]["host"].startswith("evil")


def test_relative_inventory_path_reads_its_configs(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = tmp_path / "fleet"
    (fleet / "configs").mkdir(parents=True)
    (fleet / "configs" / "iis5.txt").write_text(IIS5)
    (fleet / "inv.csv").write_text("host,software,version,patches,config\n"
                                   "h,IIS,5.0,none,configs/iis5.txt\n")
    monkeypatch.chdir(tmp_path)
    report = assess("fleet/inv.csv", outbreak_source="closed-form")
    audit = report.audits[report.host_audit["h"]]
    assert audit.error is None and audit.format == "adsutil"
