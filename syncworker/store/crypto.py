"""Encryption at rest for credentials, with the key from SYNCWORKER_SECRET_KEY (a Fernet key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken

if TYPE_CHECKING:
    from syncworker.store.db import Database


class SecretKeyError(RuntimeError):
    pass


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class Cipher:
    def __init__(self, key: str | None) -> None:
        if not key:
            raise SecretKeyError(
                "SYNCWORKER_SECRET_KEY is not set: it encrypts credentials at rest. "
                "Create one with `syncworker keygen` and put it in the environment."
            )
        try:
            self._fernet = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SecretKeyError("SYNCWORKER_SECRET_KEY is not a valid key (32 url-safe base64 bytes)") from None

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            raise SecretKeyError(
                "stored credentials cannot be decrypted with SYNCWORKER_SECRET_KEY (was the key changed?)"
            ) from None


def check_secret_key(key: str | None, sample: bytes | None) -> str | None:
    """What is wrong with the key for the credentials stored (None when it will do): not set while
    credentials exist, not a valid key, or not the key they were encrypted with. `sample` is one stored
    ciphertext (None when no tenant is connected yet)."""
    if sample is None and not key:
        return None  # nothing to decrypt yet; `connect` refuses without a key
    try:
        cipher = Cipher(key)
        if sample is not None:
            cipher.decrypt(sample)
    except SecretKeyError as exc:
        return str(exc)
    return None


def secret_key_problem(db: Database, key: str | None) -> str | None:
    """`check_secret_key` against one of the credentials stored in `db`."""
    from sqlalchemy import select

    from syncworker.store.models import TenantSystem

    with db.read() as s:
        sample = s.scalar(select(TenantSystem.credentials).where(TenantSystem.credentials.is_not(None)).limit(1))
    return check_secret_key(key, sample)
