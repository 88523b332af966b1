"""Credentials are encrypted at rest and replaced only by compare-and-swap."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.base import TokenSet
from syncworker.store.crypto import Cipher, SecretKeyError, generate_key
from syncworker.store.db import Database
from syncworker.store.models import TenantSystem
from syncworker.store.tokens import DbTokenStore
from tests.factories import make_tenant


def _tokens(refresh: str) -> TokenSet:
    return TokenSet(access_token="acc-" + refresh, refresh_token=refresh,
                    expires_at=datetime(2030, 1, 1, tzinfo=UTC), scope=["offline_access", "practicemanager"],
                    remote_tenant_id="tenant-uuid")


def test_round_trip_and_encrypted_at_rest(db: Database) -> None:
    store = DbTokenStore(db, Cipher(generate_key()), make_tenant(db), "xpm")
    assert store.load() is None
    assert store.compare_and_swap(0, _tokens("rt-secret-1"))
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token == "rt-secret-1" and loaded.version == 1
    assert loaded.scope == ["offline_access", "practicemanager"] and loaded.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    with db.session() as s:
        raw = s.scalar(sa.select(TenantSystem.credentials))
    assert b"rt-secret-1" not in raw


def test_compare_and_swap_lets_one_writer_win(db: Database) -> None:
    store = DbTokenStore(db, Cipher(generate_key()), make_tenant(db), "xpm")
    store.compare_and_swap(0, _tokens("rt-1"))
    assert store.compare_and_swap(1, _tokens("rt-2a"))
    assert not store.compare_and_swap(1, _tokens("rt-2b"))  # stale version: the other worker won
    assert store.load().refresh_token == "rt-2a"  # type: ignore[union-attr]


def test_reconnect_required_is_recorded(db: Database) -> None:
    store = DbTokenStore(db, Cipher(generate_key()), make_tenant(db), "xpm")
    store.compare_and_swap(0, _tokens("rt-1"))
    store.mark_reconnect_required("invalid_grant: the grant was revoked")
    with db.session() as s:
        row = s.scalar(sa.select(TenantSystem))
        assert row.status == "reconnect_required" and "revoked" in row.status_reason


def test_wrong_key_is_a_clear_error(db: Database) -> None:
    tenant = make_tenant(db)
    DbTokenStore(db, Cipher(generate_key()), tenant, "xpm").compare_and_swap(0, _tokens("rt-1"))
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        DbTokenStore(db, Cipher(generate_key()), tenant, "xpm").load()


def test_missing_key_is_a_clear_error() -> None:
    with pytest.raises(SecretKeyError, match="SYNCWORKER_SECRET_KEY is not set"):
        Cipher(None)
