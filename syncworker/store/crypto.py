"""Encryption at rest for credentials, with the key from SYNCWORKER_SECRET_KEY (a Fernet key)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


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
