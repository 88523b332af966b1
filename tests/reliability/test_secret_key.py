"""A secret key that cannot decrypt the stored credentials is reported at start-up and by /health (503),
instead of /health staying green while every run fails as an internal error."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.jobs.inprocess import InProcessExecutor
from syncworker.services.context import ServiceContext
from syncworker.store.crypto import Cipher, generate_key, secret_key_problem
from syncworker.store.db import Database
from syncworker.store.models import TenantSystem
from tests.factories import make_tenant


def health(db: Database, key: str | None) -> tuple[int, dict[str, object]]:
    ctx = ServiceContext(db, Settings(database_url=db.url, secret_key=key))
    executor = InProcessExecutor(ctx, workers=1)
    try:
        with TestClient(create_app(ctx, executor)) as client:
            r = client.get("/health")
            return r.status_code, r.json()
    finally:
        executor.shutdown()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_health_and_start_up_check_the_key_against_the_stored_credentials(db: Database) -> None:
    key = generate_key()
    assert health(db, None)[0] == 200  # nothing stored yet: no key needed
    tenant = make_tenant(db, "Keyed")
    with db.session() as s:
        s.add(TenantSystem(tenant_id=tenant, system="xpm", status="connected",
                           credentials=Cipher(key).encrypt(b'{"refresh_token": "r"}')))
    assert health(db, key) == (200, {"status": "ok", "database": "reachable", "schema": "current",
                                     "secret_key": "ok"})
    for wrong in (None, "not-a-key", generate_key()):
        status, body = health(db, wrong)
        assert status == 503 and body["secret_key"] == "unusable", body
        assert secret_key_problem(db, wrong) == body["detail"]
    assert "cannot be decrypted" in str(secret_key_problem(db, generate_key()))
