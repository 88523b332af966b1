"""HTTP for the Xero adapter: a `requests`-based stand-in for xero-python's urllib3 REST client.

xero-python's AccountingApi shapes requests (paths, query names, headers, model serialisation) well, but its
transport has no timeout by default, no retry on 429 or 5xx, raises a bare exception on token trouble and
cannot be intercepted by `responses`. So the SDK's `ApiClient.rest_client` is replaced with this object,
which adds: explicit timeouts, the bearer token from our TokenManager (one forced refresh on 401), the
optional client-side limiter, and Xero's error semantics mapped onto `adapters.errors`.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from adapters.errors import (
    AdapterError,
    DailyLimitReached,
    MalformedResponse,
    NotFound,
    ReconnectRequired,
    RemoteRejected,
    TransientError,
)
from adapters.xero.errors import XeroValidationError
from adapters.xero.ports import AccessTokens, CallLimiter

LIMIT_HEADERS = ("X-DayLimit-Remaining", "X-MinLimit-Remaining", "X-AppMinLimit-Remaining")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one logical call tries. 5xx/timeouts/resets: `attempts` tries with exponential backoff and
    jitter. Minute/concurrency 429s: wait Retry-After plus jitter, up to `rate_limit_attempts` tries.
    A daily 429 is never retried (the tenant is parked until `resume_at`)."""

    attempts: int = 4
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    rate_limit_attempts: int = 5
    max_retry_after: float = 90.0  # a longer minute-limit Retry-After is clamped; Xero's window is 60 s
    jitter: float = 0.5


class _ServerTrouble(TransientError):
    """5xx, timeout or reset on one attempt (retried)."""


class _RateLimited(TransientError):
    """Minute, app-minute or concurrency 429 on one attempt (retried after Retry-After)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class XeroResponse:
    """What xero-python's ApiClient expects back from a REST client (urllib3-response shape)."""

    def __init__(self, resp: requests.Response) -> None:
        self.status = resp.status_code
        self.reason = resp.reason
        self.data = resp.content
        self._headers = resp.headers

    def getheaders(self) -> Mapping[str, str]:
        return self._headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name, default)

    def json(self) -> Any:
        try:
            return json.loads(self.data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedResponse(f"Xero sent invalid JSON (HTTP {self.status}, {len(self.data)} bytes)") \
                from exc


def _retry_after(resp: requests.Response, default: float) -> float:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", default)))
    except ValueError:
        return default


def _validation_error(resp: requests.Response) -> AdapterError:
    try:
        body = resp.json()
    except ValueError:
        return RemoteRejected(f"Xero rejected the request: HTTP {resp.status_code}")
    elements = [e for e in body.get("Elements") or [] if isinstance(e, dict)]
    messages = [str(v.get("Message")) for e in elements for v in e.get("ValidationErrors") or []
                if isinstance(v, dict) and v.get("Message")]
    if not messages and body.get("Message"):
        messages = [str(body["Message"])]
    return XeroValidationError(messages, elements)


class XeroRestClient:
    """Drop-in for `xero_python.rest.RESTClientObject` (only `request` is used by ApiClient, through the
    verb helpers)."""

    def __init__(self, tokens: AccessTokens, *, timeout: float | tuple[float, float],
                 retry: RetryPolicy, limiter: CallLimiter | None = None,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.tokens = tokens
        self.timeout = timeout
        self.retry = retry
        self.limiter = limiter
        self.session = session or requests.Session()
        self.sleep = sleep
        self.now = now
        self.stats: Counter[str] = Counter()
        self.remaining: dict[str, int] = {}  # last X-*Limit-Remaining values seen

    # ApiClient calls these
    def GET(self, url: str, headers: Any = None, query_params: Any = None, **kw: Any) -> XeroResponse:  # noqa: N802
        return self.request("GET", url, query_params=query_params, headers=headers, **kw)

    def POST(self, url: str, headers: Any = None, query_params: Any = None, **kw: Any) -> XeroResponse:  # noqa: N802
        return self.request("POST", url, query_params=query_params, headers=headers, **kw)

    def PUT(self, url: str, headers: Any = None, query_params: Any = None, **kw: Any) -> XeroResponse:  # noqa: N802
        return self.request("PUT", url, query_params=query_params, headers=headers, **kw)

    def request(self, method: str, url: str, query_params: Any = None, headers: Any = None, body: Any = None,
                post_params: Any = None, _preload_content: bool = True,
                _request_timeout: Any = None) -> XeroResponse:
        params = [(k, str(v).lower() if isinstance(v, bool) else v) for k, v in (query_params or [])]
        failures: Counter[type] = Counter()  # per logical call, by kind of retried failure

        def attempt() -> XeroResponse:
            try:
                return self._attempt(method, url, params, dict(headers or {}), body)
            except (_ServerTrouble, _RateLimited) as exc:
                failures[type(exc)] += 1
                raise

        def stop(state: RetryCallState) -> bool:
            if isinstance(state.outcome.exception() if state.outcome else None, _RateLimited):
                return failures[_RateLimited] >= self.retry.rate_limit_attempts
            return failures[_ServerTrouble] >= self.retry.attempts

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            jitter = random.uniform(0, self.retry.jitter)
            if isinstance(exc, _RateLimited):
                return min(exc.retry_after, self.retry.max_retry_after) + jitter
            backoff = self.retry.backoff_initial * 2 ** max(failures[_ServerTrouble] - 1, 0)
            return min(backoff, self.retry.backoff_max) + jitter

        def before_sleep(state: RetryCallState) -> None:
            self.stats["retries"] += 1

        retrying = Retrying(stop=stop, wait=wait, sleep=self.sleep, reraise=True, before_sleep=before_sleep,
                            retry=retry_if_exception_type((_ServerTrouble, _RateLimited)))
        return retrying(attempt)

    def _attempt(self, method: str, url: str, params: list, headers: dict, body: Any) -> XeroResponse:
        token = self.tokens.access_token()
        resp = self._send(method, url, params, headers, body, token)
        if resp.status_code == 401:  # expired or revoked access token: refresh once, then give up
            self.stats["token_refreshes"] += 1
            resp = self._send(method, url, params, headers, body, self.tokens.force_refresh(token))
            if resp.status_code == 401:
                raise ReconnectRequired("Xero refused a freshly refreshed access token (HTTP 401)")
        return self._check(resp)

    def _send(self, method: str, url: str, params: list, headers: dict, body: Any,
              token: str) -> requests.Response:
        headers = {**headers, "Authorization": f"Bearer {token}"}
        self.stats["http_calls"] += 1
        try:
            if self.limiter is None:
                resp = self._http(method, url, params, headers, body)
            else:
                with self.limiter.slot():
                    resp = self._http(method, url, params, headers, body)
        except requests.Timeout as exc:
            self.stats["timeouts"] += 1
            raise _ServerTrouble(f"Xero {method} timed out after {self.timeout} s") from exc
        except requests.RequestException as exc:  # refused, reset, or a body cut short (ChunkedEncodingError)
            self.stats["connection_errors"] += 1
            raise _ServerTrouble(f"Xero {method} connection failed: {type(exc).__name__}") from exc
        self._observe(resp)
        return resp

    def _http(self, method: str, url: str, params: list, headers: dict, body: Any) -> requests.Response:
        return self.session.request(method, url, params=params, headers=headers,
                                    json=body if body is not None else None, timeout=self.timeout)

    def _observe(self, resp: requests.Response) -> None:
        for name in LIMIT_HEADERS:
            value = resp.headers.get(name)
            if value is not None and value.strip().lstrip("-").isdigit():
                self.remaining[name] = int(value)
        self._tell_limiter("observe", resp.headers)

    def _tell_limiter(self, method: str, *args: Any) -> None:
        hook = getattr(self.limiter, method, None)
        if hook is not None:
            hook(*args)

    def _check(self, resp: requests.Response) -> XeroResponse:
        status = resp.status_code
        if status < 300:
            return XeroResponse(resp)
        self.stats[f"http_{status}"] += 1
        if status == 429:
            problem = resp.headers.get("X-Rate-Limit-Problem", "").lower()
            # Without a problem header, a Retry-After longer than any minute window can only be the day.
            unlabelled_long = not problem and _retry_after(resp, 0.0) > self.retry.max_retry_after
            if "day" in problem or unlabelled_long:
                wait = _retry_after(resp, 3600.0)
                resume_at = self.now() + timedelta(seconds=wait)
                self._tell_limiter("park_until_day_reset", resume_at)
                raise DailyLimitReached(f"Xero daily call limit reached; retry after {wait:.0f} s",
                                        resume_at=resume_at)
            # Concurrency 429s carry no Retry-After: a short pause is enough.
            wait = _retry_after(resp, 1.0 if "concurrent" in problem else 60.0)
            self._tell_limiter("pause", min(wait, self.retry.max_retry_after))
            raise _RateLimited(f"Xero rate limit ({problem or 'unspecified'})", wait)
        if status >= 500:
            raise _ServerTrouble(f"Xero server error HTTP {status}")
        if status == 400:
            raise _validation_error(resp)
        if status == 404:
            raise NotFound("Xero has no such resource (HTTP 404)")
        if status == 403:
            raise ReconnectRequired("Xero refused access to this tenant (HTTP 403): reconnect it")
        raise RemoteRejected(f"Xero rejected the request: HTTP {status}")
