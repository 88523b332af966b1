"""The Xero platform's identity service behind the `IdentityProvider` port: the authorize URL, the code
exchange, live tokens through a `TokenManager`, and the tenants a grant covers (GET /connections)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.base import RemoteTenant, TokenSet, TokenStore
from adapters.xero_identity.tokens import (
    DEFAULT_API_URL,
    DEFAULT_IDENTITY_URL,
    TokenManager,
    authorize_base_for,
    authorize_url,
    exchange_code,
    list_connections,
)


@dataclass(frozen=True)
class XeroIdentity:
    client_id: str
    client_secret: str = field(repr=False)
    identity_url: str = DEFAULT_IDENTITY_URL
    api_url: str = DEFAULT_API_URL
    authorize_base: str | None = None  # None: derived from identity_url (login.xero.com, or a simulator's host)

    def authorize_url(self, redirect_uri: str, scopes: Sequence[str], state: str) -> str:
        return authorize_url(self.client_id, redirect_uri, tuple(scopes), state,
                             authorize_base_for(self.identity_url, self.authorize_base))

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        return exchange_code(code, client_id=self.client_id, client_secret=self.client_secret,
                             redirect_uri=redirect_uri, identity_url=self.identity_url)

    def access_token(self, store: TokenStore) -> str:
        return self.token_manager(store).access_token()

    def token_manager(self, store: TokenStore) -> TokenManager:
        return TokenManager(store, client_id=self.client_id, client_secret=self.client_secret,
                            identity_url=self.identity_url)

    def tenants(self, access_token: str, tenant_type: str) -> list[RemoteTenant]:
        return [RemoteTenant(c.tenant_id, c.tenant_name, c.tenant_type)
                for c in list_connections(self.api_url, access_token, tenant_type)]
