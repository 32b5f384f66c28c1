"""Secrets at rest: data source passwords encrypted with a key derived from settings, API and
session tokens kept as SHA-256 digests, login passwords as argon2id hashes."""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tagport.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) keyed by SHA-256 of the configured secret key."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @functools.cached_property
    def _fernet(self) -> Fernet:
        # cryptography loads on the first secret used: most commands read none (~30 ms saved).
        from cryptography.fernet import Fernet

        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(self._secret).digest()))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken:
            raise ConfigError(
                "a stored secret cannot be decrypted: TAGPORT_SECRET_KEY (or <home>/secret.key) "
                "differs from the key it was encrypted with"
            ) from None


def token_digest(token: str) -> str:
    """What is stored of an API token: its SHA-256, so a leaked database leaks no token."""
    return hashlib.sha256(token.encode()).hexdigest()


_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (salted; what is stored)."""
    return _HASHER.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash; False without one. Runs a hash either way,
    so that an unknown login takes as long as a wrong password."""
    if stored is None:
        _HASHER.hash(password)
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
