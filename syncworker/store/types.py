"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, DateTime, Engine, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from syncworker.store.crypto import SecretKeyError, identifier_norm, is_sealed, map_identifiers

if TYPE_CHECKING:
    from syncworker.store.crypto import FieldSealer


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns timezone-aware UTC datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class MaskedJSON(TypeDecorator[Any]):
    """JSON whose private identifiers (tax file numbers) are masked to their last digits when written: the
    audit log is append-only, so what it must not hold can never enter it, whichever path writes it."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        from syncworker.store.crypto import mask_identifiers

        return mask_identifiers(value)


def use_sealer(engine: Engine, sealer: FieldSealer | None) -> None:
    """The key `SealedIdentifier` and `KeyedHash` columns use on this engine (None: no key configured)."""
    engine.dialect.syncworker_sealer = sealer  # type: ignore[attr-defined]


def sealer_for(dialect: Any, doing: str) -> FieldSealer:
    """The engine's sealer, or SecretKeyError saying how to get one."""
    sealer = getattr(dialect, "syncworker_sealer", None)
    if sealer is None:
        raise SecretKeyError(f"tax numbers are encrypted at rest and SYNCWORKER_SECRET_KEY is not set, so they "
                             f"cannot be {doing}: create a key with `syncworker keygen` and put it in the environment")
    return sealer


class SealedIdentifier(TypeDecorator[str]):
    """A private identifier (a tax file number) stored Fernet-encrypted; the ORM reads and writes the plain
    value, so domain code and the matcher see it as before. Without a key nothing can be written or read."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        return sealer_for(dialect, "stored").seal(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        return sealer_for(dialect, "read").open(value)


class KeyedHash(TypeDecorator[str]):
    """The keyed hash (HMAC) of a private identifier, stored beside its ciphertext: written and compared by
    giving the plain value (`Client.tax_number_hash == "123 456 782"`), read back as the hash."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None or _is_hash(value):
            return value
        if identifier_norm(value) is None:
            return None
        return sealer_for(dialect, "stored").index(value)


def _is_hash(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


class SealedJSON(TypeDecorator[Any]):
    """JSON (a remote record's payload) whose private identifiers are stored sealed: every value under an
    identifier's key (`tax_number`, `TaxNumber`, `TFN`, `tax_file_number`... in any case, at any depth; a
    number as its text) is encrypted on the way in and opened on the way out, so readers see the record as
    pulled. Masked values (`******123`, as XPM sends them) stay as they are."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return map_identifiers(value, lambda v: sealer_for(dialect, "stored").seal(v) if _sealable(v) else v)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return map_identifiers(value, lambda v: sealer_for(dialect, "read").open(v) if is_sealed(v) else v)


def _sealable(value: str) -> bool:
    return identifier_norm(value) is not None and not is_sealed(value)


class PrivateText(str):
    """The JSON text of a private identifier's value (a tax number's merge base or conflict side): a
    `SealedText` column stores it sealed. `store.models` marks the values of rows about such a field."""

    __slots__ = ()


class SealedText(TypeDecorator[str]):
    """Text that is stored sealed when it is a `PrivateText` and read back (opened) as one; other text is
    stored as it is. Merge bases and conflict values of every field share these columns: only the rows about
    a private identifier need (and pay for) encryption."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if isinstance(value, PrivateText) and not is_sealed(value):
            return sealer_for(dialect, "stored").seal(value)
        return value

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if is_sealed(value):
            return PrivateText(sealer_for(dialect, "read").open(value))  # type: ignore[arg-type]
        return value
