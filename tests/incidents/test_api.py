"""The public surface of wormsign.incidents (the web dashboard builds on it), playbook data,
and property tests of the escaping helpers."""

from __future__ import annotations

import gzip
import inspect
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wormsign.incidents as api
from incidents.helpers import make_alert
from wormsign.errors import ConfigError, ValidationError
from wormsign.incidents import Store, detect_kind, ingest_paths
from wormsign.incidents.exporters import _rule_string, csv_cell
from wormsign.incidents.playbook import PHASES, load_playbooks
from wormsign.logs.text import FORMULA_START

STORE_METHODS = ("open", "create_incident", "list_incidents", "get_incident", "close_incident",
                 "get_incident_summary", "list_alerts", "list_tasks", "update_task",
                 "add_networks", "list_actions")


def test_public_surface_is_documented() -> None:
    assert api.__doc__ and "Store.open" in api.__doc__
    for name in api.__all__:
        obj = getattr(api, name)
        assert inspect.getdoc(obj), name
    for name in STORE_METHODS:
        assert inspect.getdoc(getattr(Store, name)), name
    for name in ("export", "ingest_paths", "render_html", "render_pdf"):
        assert callable(getattr(api, name))


def test_builtin_playbooks_cover_the_worms() -> None:
    books = load_playbooks()
    assert set(books) >= {"code-red", "code-red-ii", "nimda"}
    for book in books.values():
        phases = {t.phase for t in book.tasks}
        assert {"contain", "eradicate", "patch", "verify", "monitor", "lessons"} <= phases
        assert all(t.description for t in book.tasks)
    crii = " ".join(t.description for t in books["code-red-ii"].tasks)
    assert "root.exe" in crii and "explorer.exe" in crii and "virtual roots" in crii
    cr = " ".join(t.description for t in books["code-red"].tasks)
    assert "reboot" in cr and "re-infected" in cr and "MS01-033" in " ".join(
        t.title for t in books["code-red"].tasks)
    assert PHASES[0] == "contain"


def test_bad_extra_playbook_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("id: x\nname: X\nfamilies: [x]\ntasks:\n"
                                     "  - {key: a, phase: dance, title: t}\n")
    with pytest.raises(ConfigError, match="phase") as exc:
        load_playbooks(tmp_path)
    assert str(tmp_path / "x.yaml") in str(exc.value)
    (tmp_path / "x.yaml").write_text("id: [\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        load_playbooks(tmp_path)


def test_playbooks_follow_the_evidence(store: Store, tmp_path: Path) -> None:
    iid = store.create_incident("pb")
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(make_alert(0, "198.51.100.1", "code-red").to_ecs()) + "\n")
    res = ingest_paths(store, iid, [path])
    assert res.families == ["code-red"]
    assert {t.playbook for t in store.list_tasks(iid)} == {"code-red"}
    assert ingest_paths(store, iid, [path], reread=True).tasks_added == 0
    path2 = tmp_path / "b.jsonl"
    path2.write_text(json.dumps(make_alert(1, "198.51.100.2", "nimda").to_ecs()) + "\n")
    assert ingest_paths(store, iid, [path2]).tasks_added == len(load_playbooks()["nimda"].tasks)
    task = store.update_task(iid, "nimda/patch.traversal", status="in-progress", owner="cy",
                             note="waiting for window")
    task = store.update_task(iid, task.id, note="patched web01")
    assert task.status == "in-progress" and task.owner == "cy"
    assert task.notes.count("\n") == 1 and task.notes.endswith("patched web01")


def test_gzipped_alerts_are_detected_and_ingested(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        for i in range(5):
            fh.write(json.dumps(make_alert(i, "198.51.100.3", "nimda").to_ecs()) + "\n")
    assert detect_kind(path) == "alerts"
    iid = store.create_incident("gz")
    assert ingest_paths(store, iid, [path]).added == 5


@given(st.text())
def test_csv_cell_never_starts_a_formula(text: str) -> None:
    cell = csv_cell(text)
    assert not cell.startswith(FORMULA_START) or cell.startswith("'")
    assert cell.endswith(text)


@given(st.text())
def test_suricata_strings_have_no_bare_specials(text: str) -> None:
    out = _rule_string(text)
    i = 0
    while i < len(out):
        if out[i] == "\\":
            assert out[i + 1] in '";\\'
            i += 2
            continue
        assert out[i] not in '";'
        i += 1


def test_playbook_with_several_problems_reports_each_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "id: x\n"                                   # 1
        "families: x\n"                             # 2: not a list
        "tasks:\n"                                  # 3
        "  - key: a\n"                              # 4
        "    phase: dance\n"                        # 5: unknown phase
        "    title: t\n"                            # 6
        "  - key: a\n"                              # 7: repeated key
        "    phase: patch\n"                        # 8
        "    title: again\n"                        # 9
        "    owner: bob\n")                         # 10: unknown key
    with pytest.raises(ValidationError) as exc:
        load_playbooks(tmp_path)
    where = str(tmp_path / "x.yaml")
    got = {(p.path, p.line) for p in exc.value.problems}
    assert got == {(where, 1), (where, 2), (where, 5), (where, 7), (where, 10)}, got
    text = str(exc.value)
    assert "5 problems in playbooks" in text and "lacks 'name'" in text
    assert f"{where}:5: error: task a: phase" in text
    assert "repeated (first at line 4)" in text
