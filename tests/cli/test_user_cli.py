"""``wormsign user`` and ``wormsign notify``, and the role check of every CLI command: a
matrix of command × role generated from the argument parser, so a new command is covered
(it needs an entry in CLI_ROLES, and a line here to run it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from wormsign.cli.access import CLI_ROLES, TOKEN_ENV, role_for
from wormsign.cli.main import build_parser, main
from wormsign.incidents import Store
from wormsign.incidents import users as u

RANKS = (None, "viewer", "analyst", "admin")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command and sub-command of the parser, by its CLI_ROLES key."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                key = f"{prefix} {name}".strip()
                out[key] = sub
                out.update(_leaves(sub, key))
    return out


def test_every_command_has_a_role_entry() -> None:
    commands = _leaves(build_parser())
    assert {"incident show", "user add", "notify run", "scan"} <= set(commands)
    missing = sorted(k for k in commands if k.split()[0] not in CLI_ROLES)
    assert not missing, f"add these commands to wormsign.cli.access.CLI_ROLES: {missing}"
    assert not set(CLI_ROLES) - set(commands), "CLI_ROLES names commands that do not exist"
    for key, sub in commands.items():  # a command that can open a store needs a role
        if any("--db" in a.option_strings for a in sub._actions):
            assert role_for(key) is not None, f"{key} can open a store: give it a role"


def _argv(key: str, tmp: Path) -> list[str] | None:
    """How to run each store command briefly (None: it would not end, only denials are
    tried). Incident 999 does not exist: an allowed command stops right after the check."""
    log = tmp / "access.log"
    log.write_text("")
    per = {
        "forecast": ["forecast", "--incident", "999"],
        "watch": None, "serve": ["serve", "--get", "/api/health"],
        "incident list": ["incident", "list"],
        "user list": ["user", "list"], "user whoami": ["user", "whoami"],
        "user log": ["user", "log"],
        "user add": ["user", "add", "newbie", "--role", "viewer"],
        "user disable": ["user", "disable", "target"], "user enable": ["user", "enable", "target"],
        "user role": ["user", "role", "target", "viewer"],
        "user password": ["user", "password", "target", "--remove"],
        "user token": ["user", "token", "target", "--list"],
        "notify add": ["notify", "add", "http://127.0.0.1:9/x"],
        "notify list": ["notify", "list"], "notify remove": ["notify", "remove", "999"],
        "notify run": ["notify", "run", "--once"], "notify queue": ["notify", "queue"],
        "notify retry": ["notify", "retry"],
    }
    if key in per:
        return per[key]
    command, _, action = key.partition(" ")
    if command == "triage":
        targs = {"mark": ["--source", "10.0.0.1", "--verdict", "confirmed"],
                 "suppress": ["--reason", "known scanner", "--source", "10.0.0.0/8"],
                 "unsuppress": ["some-rule"], "sync": [str(tmp / "wormsign-ignore.yml")]}
        return ["triage", action, "999", *targs.get(action, [])]
    assert command == "incident", f"teach the role test how to run {key!r}"
    extra = {"new": ["case"], "ingest": ["999", str(log)], "networks": ["999", "10.0.0.0/8"],
             "task": ["999", "1", "--note", "x"], "export": ["999", "--format", "csv"],
             "report": ["999", "--html", str(tmp / "r.html")]}
    return ["incident", action, *extra.get(action, ["999"])]


def test_every_store_command_checks_the_role(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("WORMSIGN_DB", str(db))
    tokens: dict[str, str] = {}
    with Store.open(str(db)) as store:
        for role in ("admin", "analyst", "viewer"):
            u.add_user(store, role, role)
            tokens[role] = u.create_token(store, role)
        u.add_user(store, "target", "viewer")
    tried = 0
    commands = _leaves(build_parser())
    for key, need in sorted(CLI_ROLES.items()):
        if need is None or _leaves(commands[key]):
            continue  # never opens the store, or a group (alone it prints its usage)
        argv = _argv(key, tmp_path)
        for role in RANKS:
            allowed = role is not None and u.role_at_least(role, need)
            if argv is None and allowed:
                continue
            if role is None:
                monkeypatch.delenv(TOKEN_ENV, raising=False)
            else:
                monkeypatch.setenv(TOKEN_ENV, tokens[role])
            rc, _, err = run(argv or ["watch", str(tmp_path / "access.log"),
                                      "--incident", "999"], capsys)
            tried += 1
            denied = "needs the" in err or f"needs {TOKEN_ENV}" in err
            assert denied == (not allowed), f"{role} {key}: rc {rc} {err}"
            if denied:
                assert rc == 2 and len(err.strip().splitlines()) == 1
    assert tried > 60


def test_a_store_without_users_is_one_persons(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "solo.db")
    assert run(["incident", "--db", db, "new", "solo"], capsys)[0] == 0
    rc, out, _ = run(["incident", "show", "1", "--db", db, "--json"], capsys)
    assert rc == 0 and json.loads(out)["actions"][0]["actor"].startswith("cli:")


def test_the_first_admin_gets_a_token_and_acts_with_it(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "team.db")
    rc, _, err = run(["user", "add", "ana", "--role", "viewer", "--db", db], capsys)
    assert rc == 2 and "first user must be an admin" in err
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a long enough password\n"))
    rc, out, _ = run(["user", "add", "ana", "--role", "admin", "--password-stdin", "--db", db],
                     capsys)
    token = out.strip().splitlines()[-1]
    assert rc == 0 and token.startswith("wsu_")
    monkeypatch.setenv(TOKEN_ENV, token)
    assert run(["user", "whoami", "--db", db], capsys)[1].strip() == "ana"
    assert run(["incident", "new", "case", "--db", db], capsys)[0] == 0
    rc, out, _ = run(["incident", "show", "1", "--db", db, "--json"], capsys)
    assert json.loads(out)["actions"][0]["actor"] == "ana"
    rc, out, _ = run(["user", "list", "--json", "--db", db], capsys)
    (ana,) = json.loads(out)["items"]
    assert ana["name"] == "ana" and ana["has_password"] and "password_hash" not in out
    rc, _, err = run(["user", "disable", "ana", "--db", db], capsys)
    assert rc == 2 and "last active admin" in err
    assert run(["user", "add", "bo", "--role", "viewer", "--db", db], capsys)[0] == 0
    rc, out, _ = run(["user", "log", "--json", "--db", db], capsys)
    log = [(e["actor"], e["kind"], e["user"]) for e in json.loads(out)["items"]]
    assert log[0][1:] == ("added", "ana") and log[0][0].startswith("cli:")
    assert log[1:] == [(log[0][0], "token-created", "ana"), ("ana", "added", "bo")]


def test_notify_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "n.db")
    monkeypatch.setenv("HOOK_KEY", "k" * 20)
    rc, out, _ = run(["notify", "add", "https://hooks.example.org/T0/B0/secret", "--event",
                      "new-family", "--secret-env", "HOOK_KEY", "--db", db], capsys)
    assert rc == 0 and "secret" not in out.replace("--secret", "")
    rc, out, _ = run(["notify", "list", "--json", "--db", db], capsys)
    (tg,) = json.loads(out)["items"]
    assert tg["events"] == ["new-family"] and tg["signed"] and "secret" not in tg["url"]
    rc, out, _ = run(["notify", "queue", "--json", "--db", db], capsys)
    assert json.loads(out)["counts"] == {"pending": 0, "delivered": 0, "failed": 0}
    rc, _, err = run(["notify", "add", "nope://x", "--db", db], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    rc, _, err = run(["notify", "add", "http://127.0.0.1/x", "--secret-env", "UNSET_VAR_X",
                      "--db", db], capsys)
    assert rc == 2 and "UNSET_VAR_X" in err


def test_serve_off_loopback_needs_a_token_or_people(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "srv.db")
    monkeypatch.delenv("WORMSIGN_TOKEN", raising=False)
    rc, _, err = run(["serve", "--host", "0.0.0.0", "--db", db, "--get", "/api/health"], capsys)
    assert rc == 2 and "without an access token" in err
    with Store.open(db) as store:
        u.add_user(store, "ana", "admin")
        monkeypatch.setenv(TOKEN_ENV, u.create_token(store, "ana"))
    rc, out, err = run(["serve", "--host", "0.0.0.0", "--db", db, "--get", "/api/health"],
                       capsys)
    # Not refused: the one request is answered, and asks for a login (people mode).
    assert rc == 1 and "authentication required" in out and not err
