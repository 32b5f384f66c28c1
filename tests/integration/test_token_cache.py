"""Tokens known for a few seconds (services/tokens.TokenCache): never after a revocation or a
change of the user made through this process, nor past their bound or the token's expiry."""

from __future__ import annotations

import pytest

from tagport.domain.catalog import Role, UserSpec
from tagport.errors import Unauthenticated
from tagport.services import tokens, users
from tagport.services.permissions import Actor
from tagport.store.db import Database


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def revoke_elsewhere(db: Database, operator: Actor, token_id: int) -> None:
    """Revoke a token as another process would: its writes move no generation here."""
    other = Database(db.url, None)
    try:
        tokens.revoke_token(other, operator, token_id)
    finally:
        other.dispose()


def known_token(db: Database, operator: Actor) -> tuple[tokens.NewToken, Clock, tokens.TokenCache]:
    """A new token of the operator, just authenticated by a cache of 2 s on a test clock."""
    made = tokens.create_token(db, operator, "operator", "ci", 1)
    clock = Clock()
    cache = tokens.TokenCache(2.0, clock=clock)
    cache.authenticate(db, made.token)
    return made, clock, cache


def test_a_token_revoked_through_this_process_is_refused_at_once(
    db: Database, operator: Actor
) -> None:
    made = tokens.create_token(db, operator, "operator", "ci", 1)
    cache = tokens.TokenCache(60, clock=Clock())
    assert cache.cached(db, made.token) is None
    assert cache.authenticate(db, made.token).login == "operator"
    assert cache.authenticate(db, made.token).login == "operator"  # noted once, now known
    assert cache.cached(db, made.token) == operator
    tokens.revoke_token(db, operator, made.view.id)
    assert cache.cached(db, made.token) is None
    with pytest.raises(Unauthenticated, match="invalid, expired or revoked token"):
        cache.authenticate(db, made.token)


def test_a_user_whose_roles_change_is_known_with_the_new_roles(
    db: Database, operator: Actor
) -> None:
    users.add_user(db, operator, UserSpec(name="ana"))
    made = tokens.create_token(db, operator, "ana", "ci", 1)
    cache = tokens.TokenCache(60, clock=Clock())
    cache.authenticate(db, made.token)
    assert cache.authenticate(db, made.token).is_super_admin is False
    users.set_roles(db, operator, "ana", [Role.SUPER_ADMIN])
    assert cache.cached(db, made.token) is None
    assert cache.authenticate(db, made.token).is_super_admin is True


def test_a_token_revoked_by_another_process_is_refused_after_the_bound(
    db: Database, operator: Actor
) -> None:
    made, clock, cache = known_token(db, operator)
    cache.authenticate(db, made.token)
    revoke_elsewhere(db, operator, made.view.id)
    assert cache.cached(db, made.token) == operator  # within the bound (docs/security.md)
    clock.now += 2.0
    assert cache.cached(db, made.token) is None
    with pytest.raises(Unauthenticated, match="invalid, expired or revoked token"):
        cache.authenticate(db, made.token)


def test_no_token_is_known_when_the_bound_is_zero(db: Database, operator: Actor) -> None:
    made = tokens.create_token(db, operator, "operator", "ci", 1)
    cache = tokens.TokenCache(0, clock=Clock())
    cache.authenticate(db, made.token)
    assert cache.cached(db, made.token) is None


def test_a_known_token_is_asked_about_again_once_in_the_second_half_of_its_bound(
    db: Database, operator: Actor
) -> None:
    made, clock, cache = known_token(db, operator)
    clock.now += 0.9
    assert not cache.refresh_due(made.token)
    clock.now += 0.2
    assert [cache.refresh_due(made.token) for _ in range(3)] == [True, False, False]
    assert cache.cached(db, made.token) == operator  # still answered while it is asked
    cache.authenticate(db, made.token)  # the refresh: known for a whole bound again
    clock.now += 1.5
    assert cache.cached(db, made.token) == operator
    assert not cache.refresh_due("tp_never-seen")


def test_a_token_found_revoked_by_a_refresh_is_forgotten_at_once(
    db: Database, operator: Actor
) -> None:
    made = tokens.create_token(db, operator, "operator", "ci", 1)
    cache = tokens.TokenCache(60, clock=Clock())
    cache.authenticate(db, made.token)
    revoke_elsewhere(db, operator, made.view.id)
    with pytest.raises(Unauthenticated):
        cache.authenticate(db, made.token)
    assert cache.cached(db, made.token) is None


def test_noting_a_tokens_last_use_keeps_what_caches_hold(db: Database, operator: Actor) -> None:
    made = tokens.create_token(db, operator, "operator", "ci", 1)
    before = db.generation
    tokens.authenticate(db, made.token)  # notes "last used": a write no cache shows
    assert db.generation == before
    assert tokens.list_tokens(db, operator)[0].last_used_at is not None
