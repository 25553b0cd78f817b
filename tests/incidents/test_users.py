"""Users, roles, passwords and API tokens in the store; the actor of every action."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from wormsign.errors import ConflictError, InvalidError, NotFoundError
from wormsign.incidents import Store
from wormsign.incidents import schema as t
from wormsign.incidents import users as u
from wormsign.incidents.actor import acting_as, current_actor

PASSWORD = "correct horse battery"


def test_passwords_are_stored_as_argon2_hashes(store: Store) -> None:
    u.add_user(store, "ana", "admin", PASSWORD)
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(t.users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert u.verify_password(store, "ana", PASSWORD) is not None
    assert u.verify_password(store, "ana", PASSWORD + "x") is None
    assert u.verify_password(store, "nobody", PASSWORD) is None


def test_tokens_are_stored_as_hashes_and_revocable(store: Store) -> None:
    u.add_user(store, "ana", "admin")
    token = u.create_token(store, "ana", "laptop")
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.user_tokens)).all()
    assert len(rows) == 1 and token not in str(tuple(rows[0]))
    user = u.user_for_token(store, token)
    assert user is not None and user.name == "ana" and user.role == "admin"
    assert u.user_for_token(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    before = u.get_user(store, "ana").epoch
    (listed,) = u.list_tokens(store, "ana")
    u.revoke_token(store, "ana", listed.id)
    assert u.user_for_token(store, token) is None
    assert u.get_user(store, "ana").epoch == before + 1  # sessions end with the revocation
    with pytest.raises(NotFoundError):
        u.revoke_token(store, "ana", listed.id)


def test_disabling_ends_tokens_and_bumps_the_epoch(store: Store) -> None:
    u.add_user(store, "ana", "admin")
    u.add_user(store, "bo", "analyst", PASSWORD)
    token = u.create_token(store, "bo")
    epoch = u.get_user(store, "bo").epoch
    bo = u.disable_user(store, "bo")
    assert not bo.active and bo.epoch == epoch + 1
    assert u.user_for_token(store, token) is None
    assert u.verify_password(store, "bo", PASSWORD) is None
    with pytest.raises(ConflictError):
        u.create_token(store, "bo")
    u.enable_user(store, "bo")
    assert u.user_for_token(store, token) is not None


def test_the_first_user_is_an_admin_and_the_last_admin_stays(store: Store) -> None:
    with pytest.raises(InvalidError, match="first user"):
        u.add_user(store, "vic", "viewer")
    assert not u.has_users(store)
    u.add_user(store, "ana", "admin")
    assert u.has_users(store)
    with pytest.raises(ConflictError, match="last active admin"):
        u.disable_user(store, "ana")
    with pytest.raises(ConflictError, match="last active admin"):
        u.set_role(store, "ana", "viewer")
    u.add_user(store, "bo", "admin")
    assert u.set_role(store, "ana", "viewer").role == "viewer"


@pytest.mark.parametrize("name", ["", "a b", "-x", "x" * 65, "ana\n", "évé"])
def test_bad_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(InvalidError):
        u.add_user(store, name, "admin")


def test_reserved_names_duplicates_roles_and_short_passwords(store: Store) -> None:
    with pytest.raises(ConflictError):
        u.add_user(store, "token", "admin")
    u.add_user(store, "ana", "admin")
    with pytest.raises(ConflictError):
        u.add_user(store, "ana", "viewer")
    with pytest.raises(InvalidError):
        u.add_user(store, "bo", "root")
    with pytest.raises(InvalidError):
        u.add_user(store, "bo", "viewer", "short")


def test_roles_are_ordered() -> None:
    assert u.role_at_least("admin", "analyst") and u.role_at_least("analyst", "viewer")
    assert not u.role_at_least("viewer", "analyst") and not u.role_at_least(None, "viewer")
    assert not u.role_at_least("root", "viewer")


def test_every_action_records_its_actor(store: Store) -> None:
    assert current_actor() is None
    with acting_as("ana"):
        iid = store.create_incident("case")
        with acting_as("bo"):
            store.close_incident(iid)
        assert current_actor() == "ana"
    store.record_action(iid, "note", "nobody said who")
    actors = [(a.kind, a.actor) for a in store.list_actions(iid)]
    assert actors == [("created", "ana"), ("closed", "bo"), ("note", None)]
    summary = store.get_incident_summary(iid)
    assert [a["actor"] for a in summary["actions"]] == ["ana", "bo", None]


def test_changes_of_people_name_who_made_them(store: Store) -> None:
    with acting_as("root-operator"):
        u.add_user(store, "ana", "admin")
    with acting_as("ana"):
        u.add_user(store, "bo", "analyst", PASSWORD)
        token_id = (u.create_token(store, "bo", "ci"), u.list_tokens(store, "bo")[0].id)[1]
        u.set_role(store, "bo", "viewer")
        u.revoke_token(store, "bo", token_id)
        u.disable_user(store, "bo")
    got = [(e.actor, e.kind, e.user, e.detail) for e in u.user_events(store)]
    assert got == [("root-operator", "added", "ana", "admin"),
                   ("ana", "added", "bo", "analyst"),
                   ("ana", "token-created", "bo", f"#{token_id} (ci)"),
                   ("ana", "role", "bo", "analyst -> viewer"),
                   ("ana", "token-revoked", "bo", f"#{token_id}"),
                   ("ana", "disabled", "bo", "")]
