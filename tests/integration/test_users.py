"""Users, owner search and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tagport.domain.catalog import UserSpec
from tagport.errors import InvalidInput, PermissionDenied, Unauthenticated
from tagport.services import tokens, users
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database


def add(db: Database, operator: Actor, login: str, display: str) -> None:
    users.add_user(db, operator, UserSpec(name=login, display_name=display))


def test_owner_search_matches_login_or_display_name_case_insensitively(
    db: Database, operator: Actor
) -> None:
    add(db, operator, "alice", "Alice Wang")
    add(db, operator, "bwang", "Bo Li")
    add(db, operator, "carol", "Carol Zhang")
    assert [u.name for u in users.search(db, "WANG")] == ["alice", "bwang"]
    assert [u.name for u in users.search(db, "zhang")] == ["carol"]
    assert [u.name for u in users.search(db, "_")] == []  # a literal _, not a wildcard
    assert [u.name for u in users.search(db, None)] == ["alice", "bwang", "carol", "operator"]


def test_adding_an_existing_login_is_refused(db: Database, operator: Actor) -> None:
    add(db, operator, "alice", "Alice")
    with pytest.raises(InvalidInput, match="a user with this login exists"):
        add(db, operator, "alice", "Alice again")


def test_only_a_super_admin_adds_users(db: Database, operator: Actor) -> None:
    add(db, operator, "alice", "Alice")
    alice = users.actor_for(db, "alice")
    with pytest.raises(PermissionDenied, match="only a super admin"):
        add(db, alice, "mallory", "M")


def test_tokens_authenticate_their_owner_until_they_expire(db: Database, operator: Actor) -> None:
    add(db, operator, "alice", "Alice")
    token = tokens.create_token(db, operator, "alice", "ci", days=1).token
    assert tokens.authenticate(db, token).login == "alice"
    with db.uow() as uow:
        stored = uow.session.scalars(select(t.ApiToken)).one()
        assert token not in (stored.digest, stored.name)
    later = t.utcnow() + timedelta(days=2)
    with pytest.raises(PermissionDenied, match="invalid, expired or revoked token"):
        tokens.authenticate(db, token, now=later)
    with pytest.raises(PermissionDenied, match="invalid, expired or revoked token"):
        tokens.authenticate(db, token + "x")


def test_a_user_creates_tokens_only_for_themselves(db: Database, operator: Actor) -> None:
    add(db, operator, "alice", "Alice")
    alice = users.actor_for(db, "alice")
    assert tokens.create_token(db, alice, "alice", "mine")
    with pytest.raises(PermissionDenied):
        tokens.create_token(db, alice, "operator", "theirs")


def test_unknown_acting_user_is_refused(db: Database) -> None:
    with pytest.raises(PermissionDenied, match="unknown user 'ghost'"):
        users.actor_for(db, "ghost")


def test_an_unknown_login_costs_a_password_hash_like_a_wrong_password(
    db: Database, operator: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing tells a guesser which logins exist: every refused login hashes once."""
    from tagport.services import sessions
    from tagport.store import crypto

    add(db, operator, "alice", "Alice")
    users.set_password(db, operator, "alice", "a long enough password")
    hashed: list[str | None] = []
    real = crypto.password_matches

    def counting(stored: str | None, password: str) -> bool:
        hashed.append(stored)
        return real(stored, password)

    monkeypatch.setattr(sessions, "password_matches", counting)
    throttle = sessions.LoginThrottle()
    for login in ("nobody", "alice"):
        with pytest.raises(Unauthenticated, match="wrong login or password"):
            sessions.log_in(db, login, "wrong password", 1, throttle, "127.0.0.1")
    assert len(hashed) == 2 and hashed[0] is None and hashed[1] is not None
