"""Xero accounting contacts adapter (a `ClientSystem`); its loopback simulator is `simulators.xero`.

    client = XeroContactsClient(token_manager, api_url=None, limiter=shared_limiter("xero:" + tenant_id))
    for page in client.iter_client_pages(modified_since=watermark, resume_from=checkpoint): ...
    client.get_client(id) / get_clients(ids) / get_by_link_key(key) / search_clients(text)
    client.create_client(with_link_key(profile, key)) / update_client(id, changes) / archive_client(id)
    client.set_link_key(id, key); link_key_of(profile)
"""

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
