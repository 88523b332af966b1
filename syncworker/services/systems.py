"""Which external systems exist and how a tenant's connection to one is built."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from adapters.base import ClientSystem
from syncworker.store.crypto import Cipher
from syncworker.store.tokens import DbTokenStore

if TYPE_CHECKING:
    from syncworker.services.context import ServiceContext

SYSTEMS = ("xpm", "xero", "aps")


class UnknownSystem(ValueError):
    pass


def check_system(system: str) -> str:
    if system not in SYSTEMS:
        raise UnknownSystem(f"unknown system {system!r}: expected one of {', '.join(SYSTEMS)}")
    return system


def token_store(ctx: ServiceContext, tenant_id: int, system: str) -> DbTokenStore:
    return DbTokenStore(ctx.db, Cipher(ctx.settings.secret_key), tenant_id, system)


def default_adapter_factory(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
    check_system(system)
    if system == "aps":  # the practice's own SQL database: no tokens, a stored connection
        from syncworker.services.aps_connection import aps_adapter

        return aps_adapter(ctx, tenant_id)
    store = token_store(ctx, tenant_id, system)
    s = ctx.settings
    if system == "xpm":
        from adapters.xpm.client import XpmClient
        from adapters.xpm.settings import XpmSettings

        xpm = replace(
            XpmSettings.load(), xpm_url=s.xpm_url, identity_url=s.xero_identity_url, api_url=s.xero_api_url,
            client_id=s.xero_client_id, client_secret=s.xero_client_secret,
        )
        return XpmClient.from_settings(store, xpm)
    from adapters.errors import NotConnected
    from adapters.ratelimit import shared_limiter
    from adapters.xero.client import XeroContactsClient
    from adapters.xero_identity.tokens import TokenManager

    if not s.xero_client_id or not s.xero_client_secret:
        raise NotConnected("SYNCWORKER_XERO_CLIENT_ID and SYNCWORKER_XERO_CLIENT_SECRET must be set")
    tokens = TokenManager(store, client_id=s.xero_client_id, client_secret=s.xero_client_secret,
                          identity_url=s.xero_identity_url)
    # One limiter per Xero organisation, shared by every adapter in this process (limits are per tenant).
    return XeroContactsClient(tokens, api_url=s.xero_api_url,
                              limiter=shared_limiter(f"xero-tenant:{tokens.remote_tenant_id}"))
