"""What the Xero adapter needs from its collaborators, stated as small protocols.

`adapters.xero_identity.tokens.TokenManager` and `adapters.ratelimit` satisfy these by shape, so the adapter
does not import them and tests can pass trivial fakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable


@runtime_checkable
class AccessTokens(Protocol):
    """A tenant's Xero access tokens (shape of `adapters.xero_identity.tokens.TokenManager`)."""

    @property
    def remote_tenant_id(self) -> str: ...  # sent as Xero-Tenant-Id

    def access_token(self) -> str: ...  # a valid (refreshed when due) access token

    def force_refresh(self) -> str: ...  # refresh now (after a 401) and return the new access token


class CallLimiter(Protocol):
    """Client-side pacing for one tenant's calls. `slot()` blocks until a call may start and is held for the
    duration of the call (so it can cap concurrency too)."""

    def slot(self) -> AbstractContextManager[object]: ...


class ObservingLimiter(CallLimiter, Protocol):
    """Optional extension: told the X-*Limit-Remaining headers of every response."""

    def observe(self, remaining: Mapping[str, int]) -> None: ...
