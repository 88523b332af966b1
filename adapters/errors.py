"""Errors every adapter raises, so the application can react without knowing the system."""

from __future__ import annotations

from datetime import datetime


class AdapterError(Exception):
    """A call to the external system failed. `retriable` says whether trying later may succeed."""

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


class TransientError(AdapterError):
    """5xx, timeout, connection reset: retried with backoff inside the adapter, raised when retries run out."""

    retriable = True


class RemoteRejected(AdapterError):
    """The system refused the request (4xx, or XPM `<Status>ERROR</Status>` on HTTP 200)."""


class NotFound(RemoteRejected):
    pass


class ReadOnly(RemoteRejected):
    """The system (or this tenant's connection to it) takes no writes of this kind, e.g. APS while the tenant
    has not allowed writes: what would have been written stays local, and that is not a failure."""


class MalformedResponse(AdapterError):
    """The system answered with something we cannot parse (bad XML/JSON, missing envelope)."""

    retriable = True


class DailyLimitReached(AdapterError):
    """The per-tenant daily call limit is spent: stop the run as partial; resume at `resume_at` (UTC)."""

    def __init__(self, message: str, *, resume_at: datetime | None) -> None:
        super().__init__(message, retriable=False)
        self.resume_at = resume_at


class ReconnectRequired(AdapterError):
    """The grant is revoked or expired (`invalid_grant`): an operator must connect the tenant again."""


class NotConnected(AdapterError):
    """The tenant has no credentials for this system yet."""
