"""Encryption of secrets at rest (data source passwords) with a key derived from settings."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from tagport.errors import ConfigError


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) keyed by SHA-256 of the configured secret key."""

    def __init__(self, secret: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret).digest()))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
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
