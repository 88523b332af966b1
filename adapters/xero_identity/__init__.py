"""Xero OAuth2 shared by every Xero-platform adapter (XPM now, Xero contacts later)."""

from adapters.xero_identity.tokens import (
    DEFAULT_API_URL,
    DEFAULT_AUTHORIZE_URL,
    DEFAULT_IDENTITY_URL,
    PRACTICE_MANAGER_TENANT_TYPE,
    TokenManager,
    authorize_base_for,
    authorize_url,
    exchange_code,
    list_connections,
)

__all__ = [
    "DEFAULT_API_URL", "DEFAULT_AUTHORIZE_URL", "DEFAULT_IDENTITY_URL", "PRACTICE_MANAGER_TENANT_TYPE",
    "TokenManager", "authorize_base_for", "authorize_url", "exchange_code", "list_connections",
]
