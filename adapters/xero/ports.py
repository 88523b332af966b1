"""What the Xero adapter needs from its collaborators, stated as small protocols.

`adapters.xero_identity.tokens.TokenManager` and `adapters.ratelimit` satisfy these by shape, so the adapter
does not import them and tests can pass trivial fakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class AccessTokens(Protocol):
    """A tenant's Xero access tokens (shape of `adapters.xero_identity.tokens.TokenManager`)."""

    @property
    def remote_tenant_id(self) -> str: ...  # sent as Xero-Tenant-Id

    def access_token(self) -> str: ...  # a valid (refreshed when due) access token

    def force_refresh(self, rejected_access_token: str | None = None) -> str:
        """Refresh after a 401 and return the new access token (or one another worker already got)."""
        ...


class CallLimiter(Protocol):
    """Client-side pacing for one tenant's calls (shape of `adapters.ratelimit.RateLimiter`). `slot()` blocks
    until a call may start and is held for the whole call; it may raise DailyLimitReached."""

    def slot(self) -> AbstractContextManager[object]: ...


class LimiterFeedback(Protocol):
    """Optional methods a limiter may have; the adapter calls whichever exist."""

    def observe(self, headers: Mapping[str, str]) -> None: ...  # every response's headers

    def pause(self, seconds: float) -> None: ...  # a minute/concurrency 429: hold every caller

    def park_until_day_reset(self, resume_at: datetime) -> None: ...  # a daily 429
