"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, DateTime, Engine, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from syncworker.store.crypto import SecretKeyError, identifier_norm

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
