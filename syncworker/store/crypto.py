"""Encryption at rest for credentials and private identifiers, with the key from SYNCWORKER_SECRET_KEY (a
Fernet key)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Text, cast, column, select, table

if TYPE_CHECKING:
    from syncworker.store.db import Database


KEY_CHECK_REFRESH_S = 300.0  # how long /health trusts its last search for a sealed tax number


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
            self._key = key.encode("ascii")
            self._fernet = Fernet(self._key)
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
    """`check_secret_key` against one of the credentials stored in `db`, then against one sealed tax number
    (read as stored, not through the column type): a client's, else a merge base's or conflict's, else one in
    a remote record's payload, so a wrong key is caught here rather than by the first read that opens one.
    The search for a sealed value reads whole tables when none is there: the start-up check runs it once;
    `/health`, probed every few seconds, asks a `KeyCheck`, which repeats it only now and then."""
    return _key_problem(db, key, _sealed_sample(db))


class KeyCheck:
    """`secret_key_problem` for `GET /health`, cheap enough for a probe every few seconds: the stored
    credential (one row of a small table) is read on every call, but the sealed tax number it is tried on
    is looked for at most once per `refresh_s` per process. That search ends at the first sealed value, yet
    when nothing is sealed it reads every cached record's payload (15,000 clients × each system), which a
    probe must not cost. A value found stays good evidence of the key it was sealed with (nothing re-seals
    with another key); the refresh only notices data sealed since, or gone, within minutes.

    Probes run in threads of their own and arrive together (at start, and when the refresh is due, just when
    a slow database makes the search slowest), so one of them searches while the others answer with the value
    found last, or wait for that search when none is found yet. The search's time is claimed before it runs,
    so one that fails (the database dropped) is not retried by every probe: the last value found is kept."""

    def __init__(self, db: Database, key: str | None, *, refresh_s: float = KEY_CHECK_REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._db, self._key, self._refresh_s, self._clock = db, key, refresh_s, clock
        self._found: tuple[str | None] | None = None  # (the sealed value found,), None until a search succeeds
        self._next_search = -math.inf  # when the value found is due to be looked for again
        self._searching = threading.Lock()

    def problem(self) -> str | None:
        return _key_problem(self._db, self._key, self._sealed())

    def _sealed(self) -> str | None:
        """The sealed value to try the key on: the last found, searched for again by one probe once due."""
        found = self._found
        if found is None:
            self._searching.acquire()  # nothing to answer with yet: wait for the probe searching, if any
        elif self._clock() < self._next_search or not self._searching.acquire(blocking=False):
            return found[0]  # not due, or another probe is searching: the last value will do
        try:
            now = self._clock()
            if self._found is not None and now < self._next_search:  # found while this probe waited
                return self._found[0]
            self._next_search = now + self._refresh_s
            self._found = (_sealed_sample(self._db),)
            return self._found[0]
        finally:
            self._searching.release()


def _key_problem(db: Database, key: str | None, sealed: str | None) -> str | None:
    from syncworker.store.models import TenantSystem

    with db.read() as s:
        sample = s.scalar(select(TenantSystem.credentials).where(TenantSystem.credentials.is_not(None)).limit(1))
    problem = check_secret_key(key, sample)
    if problem is None and sealed is not None:
        try:
            FieldSealer(key).open(sealed)
        except SecretKeyError as exc:
            return str(exc) if key else "SYNCWORKER_SECRET_KEY is not set: stored tax numbers are encrypted with one"
    return problem


def _sealed_sample(db: Database) -> str | None:
    """One sealed value as stored, looking where it is cheapest first (each query stops at its first hit)."""
    columns = [("clients", "tax_number"), ("field_sync_state", "base_value"), ("sync_conflicts", "local_value"),
               ("sync_conflicts", "remote_value")]
    with db.read() as s:
        for name, col in columns:
            c = column(col)
            if (found := s.scalar(select(c).select_from(table(name, c)).where(c.startswith(SEALED_PREFIX))
                                  .limit(1))) is not None:
                return found
        payload = column("payload")
        text = s.scalar(select(cast(payload, Text)).select_from(table("remote_records", payload))
                        .where(cast(payload, Text).contains('"' + SEALED_PREFIX)).limit(1))
    found_in: list[str] = []
    map_identifiers(json.loads(text) if text else None, lambda v: found_in.append(v) or v)
    return next((v for v in found_in if is_sealed(v)), None)


# --- government identifiers at rest (tax file numbers) ---
# Tax file numbers are private (the Australian TFN rule requires them protected; a TFN is never shown in
# full to anyone who does not need it), so the local database holds them encrypted, with a keyed hash
# beside the ciphertext for lookups. ABNs, ACNs and NZBNs are on public registers and stay readable: the
# matcher and the operators use them as they are.
SEALED_PREFIX = "sealed:v1:"
# The field names migrations 0007 and 0009 looked for, as they were written; the code decides with the one
# rule below, `is_identifier_key`.
IDENTIFIER_FIELDS = frozenset({"tax_number", "tfn", "TaxNumber"})
# The names a tax file number goes by, in a payload or as a field's name, whatever their case and
# separators: ours (`tax_number`), XPM's and Xero's (`TaxNumber`), APS's column (`TFN`), and those an adapter
# or mapping could use (`tax_file_number`, NZ's `IRDNumber`).
IDENTIFIER_KEYS = frozenset({"taxnumber", "tfn", "taxfilenumber", "irdnumber", "ird"})
VISIBLE_DIGITS = 3


class FieldSealer:
    """Encrypts and indexes private identifiers with keys derived from SYNCWORKER_SECRET_KEY (HKDF-SHA256):
    one for Fernet encryption, one for HMAC-SHA256, so the hash reveals nothing about the encryption key and
    a stolen database cannot be brute-forced without the key (a TFN has only 9 digits)."""

    def __init__(self, key: str | None) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derived_key(key, b"syncworker identifier encryption v1")))
        self._mac_key = derived_key(key, b"syncworker identifier index v1")

    def seal(self, value: str) -> str:
        return SEALED_PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED_PREFIX):
            return stored  # written before encryption (the migration seals these)
        try:
            return self._fernet.decrypt(stored[len(SEALED_PREFIX):].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError(
                "stored tax numbers cannot be decrypted with SYNCWORKER_SECRET_KEY (was the key changed?)"
            ) from None

    def index(self, value: str | None) -> str | None:
        """The keyed hash of an identifier's normal form (letters and digits, upper case); None for blank or
        masked values (`******123` says nothing about the rest)."""
        norm = identifier_norm(value)
        if norm is None:
            return None
        return hmac.new(self._mac_key, norm.encode("ascii"), hashlib.sha256).hexdigest()

    def mac(self, value: str) -> str:
        """The keyed hash of an identifier exactly as written (a content hash counts spelling changes)."""
        return hmac.new(self._mac_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


class UnusableSealer:
    """Stands in for a `FieldSealer` when the configured key is invalid: every use says why."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def seal(self, value: str) -> str:
        raise SecretKeyError(self.problem)

    open = index = mac = seal


def identifier_norm(value: str | None) -> str | None:
    if not value or "*" in value:
        return None
    norm = "".join(ch for ch in value.upper() if ch.isascii() and ch.isalnum())
    return norm or None


def mask_identifier(value: Any) -> Any:
    """`******789`: only the last digits of a private identifier, for audit entries, logs and screens."""
    if value is None or value == "":
        return value
    text = str(value)
    if text.startswith(SEALED_PREFIX):
        return "******"
    tail = "".join(ch for ch in text if ch.isalnum())[-VISIBLE_DIGITS:]
    return "******" + tail


# Eight or nine digits, maybe grouped in threes by spaces or hyphens, standing alone: how a TFN (or an IRD
# number) looks in free text such as a remote system's error message.
_TAX_NUMBER_LIKE = re.compile(r"(?<![\w.:/+-])\d{3}[ -]?\d{3}[ -]?\d{2,3}(?![\w.:/-])")


def mask_tax_numbers(text: str) -> str:
    """`text` with every number shaped like a tax file number masked to its last digits (`******217`)."""
    return _TAX_NUMBER_LIKE.sub(lambda m: mask_identifier(m.group()), text)


def shown_value(field: str, value: Any) -> Any:
    """A field's value as a report or screen shows it: a private identifier's masked (`******789`), by the
    same rule that seals it (`is_identifier_key`), so no spelling of its name shows it whole."""
    return mask_identifier(value) if is_identifier_key(field) else value


def is_identifier_key(key: Any) -> bool:
    """Whether a JSON key or a field's name names a private identifier (`tax_number`, `TFN`, `TaxFileNumber`,
    `IRDNumber`...): the one rule for sealing, hashing, masking and showing one."""
    return isinstance(key, str) and _names_identifier(key)


@functools.lru_cache(maxsize=4096)  # payloads repeat the same few dozen keys; this runs on every one
def _names_identifier(key: str) -> bool:
    return "".join(ch for ch in key.lower() if ch.isalnum()) in IDENTIFIER_KEYS


def mask_identifiers(data: Any) -> Any:
    """`data` (an audit entry's JSON) with every private identifier masked: values under an identifier's key,
    and the values of a `{"field": "tax_number", ...}` entry."""
    if isinstance(data, list):
        return [mask_identifiers(v) for v in data]
    if not isinstance(data, dict):
        return data
    about_identifier = is_identifier_key(data.get("field"))
    out: dict[str, Any] = {}
    for k, v in data.items():
        if is_identifier_key(k) or (about_identifier and k not in ("field", "resolution", "take")):
            out[k] = _masked(v)
        else:
            out[k] = mask_identifiers(v)
    return out


def _masked(value: Any) -> Any:
    """A value under an identifier's key, masked: each one in a list too (as `map_identifiers` seals them);
    an object under the key is masked by its own keys."""
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return mask_identifiers(value) if isinstance(value, dict) else mask_identifier(value)


def map_identifiers(data: Any, change: Callable[[str], str]) -> Any:
    """`data` (a remote record's payload) with `change` applied to every value under a private identifier's
    key (`is_identifier_key`), at any depth: how `store.types.SealedJSON` seals and opens them. A number
    there (a TFN sent as JSON `876543217`) is changed as its text."""
    if isinstance(data, list):
        return [map_identifiers(v, change) for v in data]
    if not isinstance(data, dict):
        return data
    return {k: _change_scalar(v, change) if is_identifier_key(k) else map_identifiers(v, change)
            for k, v in data.items()}


def _change_scalar(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return change(str(value))
    if isinstance(value, list):
        return [_change_scalar(v, change) for v in value]
    return map_identifiers(value, change)  # an object under the key: its own keys decide


def keyed_identifiers(data: Any, sealer: Callable[[], FieldSealer]) -> Any:
    """`data` (a remote record's payload) with each private identifier replaced by its keyed hash: what its
    content hash is taken of, since a plain hash of a record whose other fields are readable gives its nine
    digits away to anyone who tries them all. Masked values stay (`sealer` is asked for only when needed)."""
    return map_identifiers(data, lambda v: "hmac:" + sealer().mac(v) if identifier_norm(v) is not None else v)


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def derived_key(key: str | None, label: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from SYNCWORKER_SECRET_KEY (HKDF-SHA256 with `label`), so that it
    reveals nothing about the keys derived for others. SecretKeyError (from `Cipher`) without a valid key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    master = base64.urlsafe_b64decode(Cipher(key)._key)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(master)
