"""What is kept of a password: argon2id at the library's recommended cost."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from tagport.store import crypto


def test_passwords_are_kept_as_argon2id_at_the_recommended_cost(
    cheap_password_hashes: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crypto, "_HASHER", cheap_password_hashes)  # the real one, not the tests'
    stored = crypto.hash_password("s3cret")
    p = RFC_9106_LOW_MEMORY
    assert stored.startswith(f"$argon2id$v=19$m={p.memory_cost},t={p.time_cost},p={p.parallelism}$")
    assert crypto.password_matches(stored, "s3cret")
    assert not crypto.password_matches(stored, "S3cret")
    assert not crypto.password_matches(None, "s3cret")
