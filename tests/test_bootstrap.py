"""The composition root: one place builds the ServiceContext and the concrete adapters; the service layer
imports neither it nor any concrete adapter."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from adapters.base import RemoteTenant, TokenSet, TokenStore
from adapters.errors import NotConnected
from syncworker.bootstrap import adapter_for, build_context, identity_for
from syncworker.config import Settings
from syncworker.services.connect import connect_with_code
from syncworker.services.systems import token_store
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from tests.factories import make_tenant


def test_the_service_context_imports_no_systems_no_root_and_no_adapter() -> None:
    probe = "import sys, json, syncworker.services.context\nprint(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                       timeout=60).stdout)
    assert "syncworker.services.systems" not in loaded and "syncworker.bootstrap" not in loaded
    assert not [m for m in loaded if m.startswith(("adapters.xpm", "adapters.xero", "adapters.aps", "simulators"))]


def test_tests_pass_their_doubles_to_the_same_function(sqlite_db: Database) -> None:
    double = object()
    ctx = build_context(Settings(database_url=sqlite_db.url), db=sqlite_db, adapter_factory=lambda *_: double)
    assert ctx.adapter(1, "xpm") is double and ctx.db is sqlite_db


def test_the_xpm_adapter_is_built_from_the_settings_tree(sqlite_db: Database) -> None:
    settings = replace(Settings.load(env={}), database_url=sqlite_db.url, xpm_url="http://127.0.0.1:9/xpm/",
                       xero_client_id="app", xero_client_secret="shh", secret_key=generate_key())
    ctx = build_context(settings, db=sqlite_db)
    tenant_id = make_tenant(sqlite_db, "Alpha")
    client = ctx.adapter(tenant_id, "xpm")
    assert type(client).__name__ == "XpmClient"
    assert client.page_size == settings.xpm.page_size  # type: ignore[attr-defined]
    with pytest.raises(NotConnected, match="SYNCWORKER_XERO_CLIENT_ID"):
        adapter_for(build_context(replace(settings, xero_client_id=None), db=sqlite_db), tenant_id, "xero")


class FakeIdentity:
    """An `IdentityProvider` double: hands out one grant covering one practice."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def authorize_url(self, redirect_uri: str, scopes: object, state: str) -> str:
        return f"https://login.test/authorize?state={state}"

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        self.calls.append(("exchange_code", code, redirect_uri))
        return TokenSet(access_token="at-1", refresh_token="rt-1", expires_at=None)

    def access_token(self, store: TokenStore) -> str:
        live = store.load()
        assert live is not None and live.refresh_token == "rt-1"  # the grant is stored before it is used
        self.calls.append(("access_token",))
        return "at-1"

    def tenants(self, access_token: str, tenant_type: str) -> list[RemoteTenant]:
        self.calls.append(("tenants", access_token, tenant_type))
        return [RemoteTenant("xpm-tenant-1", "The Practice", tenant_type)]


def test_connecting_talks_to_the_identity_service_the_root_supplies(sqlite_db: Database) -> None:
    idp = FakeIdentity()
    settings = Settings(database_url=sqlite_db.url, xero_client_id="app", xero_client_secret="shh",
                        secret_key=generate_key())
    ctx = build_context(settings, db=sqlite_db, identity_factory=lambda _settings: idp)
    tenant_id = make_tenant(sqlite_db, "Alpha")
    result = connect_with_code(ctx, "Alpha", "xpm", "code-1", "http://127.0.0.1:8765/callback")
    assert result == {"system": "xpm", "remote_tenant_id": "xpm-tenant-1", "remote_tenant_name": "The Practice"}
    assert idp.calls == [("exchange_code", "code-1", "http://127.0.0.1:8765/callback"), ("access_token",),
                         ("tenants", "at-1", "PRACTICEMANAGER")]
    stored = token_store(ctx, tenant_id, "xpm").load()
    assert stored is not None and stored.remote_tenant_id == "xpm-tenant-1"


def test_the_root_builds_the_xero_identity_service_from_the_settings_tree() -> None:
    settings = replace(Settings.load(env={}), xero_identity_url="http://127.0.0.1:9/identity", xero_client_id="app",
                       xero_client_secret="shh")
    url = identity_for(settings).authorize_url("http://127.0.0.1:8765/callback", ["offline_access"], "st-1")
    assert url.startswith("http://127.0.0.1:9/identity/identity/connect/authorize?") and "state=st-1" in url
    assert "client_id=app" in url
    with pytest.raises(NotConnected, match="SYNCWORKER_XERO_CLIENT_SECRET"):
        identity_for(replace(settings, xero_client_secret=None))
