"""The composition root: the one place that turns settings into a `ServiceContext`, and the only module that
imports concrete adapters.

Every entry point (CLI commands, `serve`, the Procrastinate worker, the demo) calls `build_context`; tests call
the same function with their doubles (`db=`, `adapter_factory=`, `identity_factory=`, `aps_opener=`). Services see
only the ports of `adapters/base.py`: `ClientSystem` through `ctx.adapter(tenant_id, system)` (or
`ctx.open_aps(connection)` while connecting APS) and `IdentityProvider` through `ctx.identity()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncworker.config import Settings
from syncworker.services.context import AdapterFactory, ApsOpener, IdentityFactory, ServiceContext

if TYPE_CHECKING:
    from adapters.base import ClientSystem
    from adapters.xero_identity.identity import XeroIdentity
    from syncworker.services.aps_connection import ApsConnection
    from syncworker.store.db import Database


def build_context(settings: Settings | None = None, *, db: Database | None = None,
                  adapter_factory: AdapterFactory | None = None, identity_factory: IdentityFactory | None = None,
                  aps_opener: ApsOpener | None = None) -> ServiceContext:
    """A context on `settings` (default: loaded and validated from the config folder and environment), its
    database (or `db`) and the real adapters and identity service (or the doubles given)."""
    from syncworker.store.db import Database

    settings = settings or Settings.load()
    db = db or Database(settings.database_url, secret_key=settings.secret_key)
    return ServiceContext(db, settings, adapter_factory=adapter_factory or adapter_for,  # lends `db` the settings' key
                          identity_factory=identity_factory or identity_for, aps_opener=aps_opener or open_aps)


def adapter_for(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
    """The adapter for a tenant's connection to `system`, built from the settings tree and its stored tokens."""
    from syncworker.services.systems import check_system, token_store

    check_system(system)
    if system == "aps":  # the practice's own SQL database: no tokens, a stored connection
        from syncworker.services.aps_connection import load_connection

        return ctx.open_aps(load_connection(ctx, tenant_id))
    store = token_store(ctx, tenant_id, system)
    if system == "xpm":
        from adapters.xpm.client import XpmClient

        return XpmClient.from_settings(store, ctx.settings.xpm)
    from adapters.ratelimit import shared_limiter
    from adapters.xero.client import XeroContactsClient

    xero = ctx.settings.xero
    tokens = identity_for(ctx.settings).token_manager(store)
    # One limiter per Xero organisation, shared by every adapter in this process (limits are per tenant).
    return XeroContactsClient(tokens, api_url=xero.api_url,
                              limiter=shared_limiter(f"xero-tenant:{tokens.remote_tenant_id}"))


def identity_for(settings: Settings) -> XeroIdentity:
    """The Xero platform's OAuth2 identity service (XPM and Xero accounting) on the settings tree's `.xero`."""
    from adapters.errors import NotConnected
    from adapters.xero_identity.identity import XeroIdentity

    xero = settings.xero
    if not xero.client_id or not xero.client_secret:
        raise NotConnected("SYNCWORKER_XERO_CLIENT_ID and SYNCWORKER_XERO_CLIENT_SECRET must be set")
    return XeroIdentity(xero.client_id, xero.client_secret, identity_url=xero.identity_url, api_url=xero.api_url,
                        authorize_base=xero.authorize_url)


def open_aps(connection: ApsConnection) -> ClientSystem:
    """The APS adapter on `connection`: its database, its mapping (the stored text, else config/aps.yaml as it is
    now) and the fields the tenant allows writing. Raises `MappingError` naming a table or column it lacks."""
    from adapters.aps.client import ApsClient
    from adapters.aps.mapping import ApsMapping

    if connection.mapping_text is None:
        mapping = ApsMapping.load()
    else:
        mapping = ApsMapping.parse(connection.mapping_text, source=connection.mapping_source or "the stored APS mapping")
    return ApsClient(connection.database_url, mapping, writable_fields=connection.writable_fields)
