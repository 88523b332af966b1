"""Xero accounting contacts adapter (a `ClientSystem`) and its loopback simulator (`.simulator`)."""

from adapters.xero.client import API_URL_ENV, DEFAULT_API_URL, XeroContactsClient
from adapters.xero.errors import DuplicateContactName, XeroValidationError
from adapters.xero.mapping import LINK_KEY_MAX, check_link_key, link_key_of, with_link_key
from adapters.xero.ports import AccessTokens, CallLimiter
from adapters.xero.transport import RetryPolicy

__all__ = [
    "API_URL_ENV", "DEFAULT_API_URL", "LINK_KEY_MAX", "AccessTokens", "CallLimiter", "DuplicateContactName",
    "RetryPolicy", "XeroContactsClient", "XeroValidationError", "check_link_key", "link_key_of",
    "with_link_key",
]
