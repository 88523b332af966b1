"""Connecting a tenant to a Xero-family system: register a grant (an existing refresh token or an
authorization code), rotate it once through the token manager so the stored token is the live one, and
choose the remote tenant from GET /connections. The identity service is the `IdentityProvider` port
(`ctx.identity()`), built by the composition root."""

from __future__ import annotations

from typing import Any

from adapters.base import IdentityProvider, TokenSet
from syncworker.config import Settings
from syncworker.services.context import ServiceContext
from syncworker.services.systems import check_system, token_store
from syncworker.services.tenants import get_tenant

TENANT_TYPES = {"xpm": "PRACTICEMANAGER", "xero": "ORGANISATION"}
SCOPES = {"xpm": ["offline_access", "practicemanager"],
          "xero": ["offline_access", "accounting.contacts", "accounting.settings.read"]}


def scopes_for(system: str, settings: Settings | None = None) -> list[str]:
    """XPM's scopes come from config/xpm.yaml (the settings tree's `.xpm`); Xero accounting's are fixed here."""
    if system == "xpm":
        return list((settings or Settings.load()).xpm.scopes)
    return list(SCOPES[system])


class ConnectError(ValueError):
    pass


def identity(ctx: ServiceContext) -> IdentityProvider:
    """The identity service connecting talks to; the app's credentials must be set first."""
    s = ctx.settings
    if not s.xero_client_id or not s.xero_client_secret:
        raise ConnectError("SYNCWORKER_XERO_CLIENT_ID and SYNCWORKER_XERO_CLIENT_SECRET must be set to connect")
    return ctx.identity()


def connect_with_refresh_token(ctx: ServiceContext, tenant_name: str, system: str, refresh_token: str,
                               *, remote_tenant_id: str | None = None) -> dict[str, Any]:
    check_system(system)
    idp = identity(ctx)
    with ctx.db.session() as s:
        tenant_id = get_tenant(s, tenant_name).id
    grant = TokenSet(access_token=None, refresh_token=refresh_token, expires_at=None,
                     scope=scopes_for(system, ctx.settings))
    return _register(ctx, idp, tenant_id, system, grant, remote_tenant_id)


def connect_with_code(ctx: ServiceContext, tenant_name: str, system: str, code: str, redirect_uri: str,
                      *, remote_tenant_id: str | None = None) -> dict[str, Any]:
    check_system(system)
    idp = identity(ctx)
    with ctx.db.session() as s:
        tenant_id = get_tenant(s, tenant_name).id
    return _register(ctx, idp, tenant_id, system, idp.exchange_code(code, redirect_uri), remote_tenant_id)


def _register(ctx: ServiceContext, idp: IdentityProvider, tenant_id: int, system: str, tokens: TokenSet,
              remote_tenant_id: str | None) -> dict[str, Any]:
    store = token_store(ctx, tenant_id, system)
    version = store.current_version()
    tokens.version = version
    if not store.compare_and_swap(version, tokens):
        raise ConnectError("the connection changed while connecting; try again")
    conns = idp.tenants(idp.access_token(store), TENANT_TYPES[system])
    if remote_tenant_id:
        chosen = [c for c in conns if c.tenant_id == remote_tenant_id]
        if not chosen:
            raise ConnectError(f"the grant has no {TENANT_TYPES[system]} tenant {remote_tenant_id}")
    elif len(conns) == 1:
        chosen = conns
    elif not conns:
        raise ConnectError(f"the grant gives access to no {TENANT_TYPES[system]} tenant")
    else:
        names = ", ".join(f"{c.tenant_name} ({c.tenant_id})" for c in conns)
        raise ConnectError(f"the grant covers several tenants: {names}; choose one with --remote-tenant")
    live = store.load()
    assert live is not None
    live.remote_tenant_id = chosen[0].tenant_id
    if not store.compare_and_swap(live.version, live):
        raise ConnectError("the connection changed while connecting; try again")
    return {"system": system, "remote_tenant_id": chosen[0].tenant_id, "remote_tenant_name": chosen[0].tenant_name}
