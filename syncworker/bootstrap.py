"""The composition root: the one place that turns settings into a `ServiceContext`, and the only module that
imports concrete adapters.

Every entry point (CLI commands, `serve`, the Procrastinate worker, the demo) calls `build_context`; tests call
the same function with their doubles (`db=`, `adapter_factory=`). Services see only the `ClientSystem` port
through `ctx.adapter(tenant_id, system)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncworker.config import Settings
from syncworker.services.context import AdapterFactory, ServiceContext

if TYPE_CHECKING:
    from adapters.base import ClientSystem
    from syncworker.store.db import Database


def build_context(settings: Settings | None = None, *, db: Database | None = None,
                  adapter_factory: AdapterFactory | None = None) -> ServiceContext:
    """A context on `settings` (default: loaded and validated from the config folder and environment), its
    database (or `db`) and the real adapters (or `adapter_factory`)."""
    from syncworker.store.db import Database

    settings = settings or Settings.load()
    return ServiceContext(db or Database(settings.database_url), settings, adapter_factory or adapter_for)


def adapter_for(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
    """The adapter for a tenant's connection to `system`, built from the settings tree and its stored tokens."""
    from syncworker.services.systems import check_system, token_store

    check_system(system)
    if system == "aps":  # the practice's own SQL database: no tokens, a stored connection
        from syncworker.services.aps_connection import aps_adapter

        return aps_adapter(ctx, tenant_id)
    store = token_store(ctx, tenant_id, system)
    if system == "xpm":
        from adapters.xpm.client import XpmClient

        return XpmClient.from_settings(store, ctx.settings.xpm)
    from adapters.errors import NotConnected
    from adapters.ratelimit import shared_limiter
    from adapters.xero.client import XeroContactsClient
    from adapters.xero_identity.tokens import TokenManager

    xero = ctx.settings.xero
    if not xero.client_id or not xero.client_secret:
        raise NotConnected("SYNCWORKER_XERO_CLIENT_ID and SYNCWORKER_XERO_CLIENT_SECRET must be set")
    tokens = TokenManager(store, client_id=xero.client_id, client_secret=xero.client_secret,
                          identity_url=xero.identity_url)
    # One limiter per Xero organisation, shared by every adapter in this process (limits are per tenant).
    return XeroContactsClient(tokens, api_url=xero.api_url,
                              limiter=shared_limiter(f"xero-tenant:{tokens.remote_tenant_id}"))
