"""HTTP for XPM: auth headers, the per-tenant limiter, timeouts, retries and error mapping.

Every request:
- carries `Authorization: Bearer`, `Xero-Tenant-Id` and `Accept: application/xml`, and explicit
  (connect, read) timeouts;
- waits for a limiter slot (5 concurrent / 60 a minute / 5,000 a day per tenant) and feeds the
  `X-MinLimit-Remaining` / `X-DayLimit-Remaining` headers back;
- on 401 refreshes the token once (`TokenManager.force_refresh`) and repeats;
- on a minute 429 waits `Retry-After` plus jitter and retries (tenacity); on a day 429 never retries:
  the tenant is parked and `DailyLimitReached(resume_at)` is raised;
- retries 5xx, timeouts, connection resets and unparseable bodies with bounded exponential backoff
  (jittered), then raises `TransientError` / `MalformedResponse`;
- checks the XML envelope (`<Status>ERROR</Status>` arrives with HTTP 200 too).

Writes that are not idempotent (`client.api/add`, `addrelationship`, `clientgroup.api/add`) are retried
only when the request certainly did not run (429, 503, connect failure); after a read timeout or a reset
their outcome is unknown, so they raise `TransientError(retriable=False)` instead of risking a duplicate.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol
from xml.etree.ElementTree import Element

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from adapters.errors import (
    AdapterError,
    DailyLimitReached,
    MalformedResponse,
    NotFound,
    RemoteRejected,
    TransientError,
)
from adapters.ratelimit import RateLimiter
from adapters.xpm import xml

log = logging.getLogger(__name__)

USER_AGENT = "syncworker-xpm/0.1"
# Without X-Rate-Limit-Problem, a Retry-After longer than this is treated as the day limit (do not spin).
_DAY_RETRY_AFTER_THRESHOLD = 300.0


class AccessTokens(Protocol):
    def access_token(self) -> str: ...
    def force_refresh(self, rejected_access_token: str | None = None) -> str: ...
    @property
    def remote_tenant_id(self) -> str: ...


class _MinuteLimited(TransientError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"minute rate limit hit (Retry-After {retry_after:g}s)")
        self.retry_after = retry_after


class _NotSent(TransientError):
    """The request certainly did not reach the application (connect failure, 503): safe to repeat."""


class _TokenUnavailable(TransientError):
    """No access token: the token manager already retried its own call, so do not repeat it here; nothing
    was sent to XPM."""


class XpmTransport:
    def __init__(
        self,
        tokens: AccessTokens,
        *,
        base_url: str,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_retries: int = 5,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        jitter: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tokens = tokens
        self.base_url = base_url.rstrip("/") + "/"
        self.limiter = limiter or RateLimiter()
        self.session = session or requests.Session()
        self.timeouts = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._jitter = jitter
        self._sleep, self._now = sleep, now
        self.stats: Counter[str] = Counter()
        self.last_server_date: datetime | None = None

    # --- public ---
    def get(self, path: str, params: Mapping[str, str] | None = None) -> Element:
        return self.request("GET", path, params=params)

    def send(self, method: str, path: str, body: Element, *, idempotent: bool) -> Element:
        return self.request(method, path, body=xml.render(body), idempotent=idempotent)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotent: bool = True,
    ) -> Element:
        def retriable(exc: BaseException) -> bool:
            if isinstance(exc, _TokenUnavailable):
                return False
            if isinstance(exc, _MinuteLimited | _NotSent):
                return True
            return idempotent and isinstance(exc, TransientError | MalformedResponse) and exc.retriable

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(retriable),
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, path, params, body)
        except (TransientError, MalformedResponse) as exc:
            if not idempotent and not isinstance(exc, _MinuteLimited | _NotSent | _TokenUnavailable):
                raise TransientError(
                    f"{method} {path}: outcome unknown ({exc}); check the record before repeating the write",
                    retriable=False,
                ) from exc
            raise

    # --- one attempt ---
    def _attempt(self, method: str, path: str, params: Mapping[str, str] | None, body: bytes | None) -> Element:
        token = self._token(self.tokens.access_token)
        resp = self._send(method, path, params, body, token)
        if resp.status_code == 401:
            self.stats["unauthorized"] += 1
            token = self._token(lambda: self.tokens.force_refresh(token))
            resp = self._send(method, path, params, body, token)
        return self._interpret(method, path, resp)

    @staticmethod
    def _token(get: Callable[[], str]) -> str:
        try:
            return get()
        except TransientError as exc:
            raise _TokenUnavailable(f"no access token: {exc}") from exc

    def _send(
        self, method: str, path: str, params: Mapping[str, str] | None, body: bytes | None, token: str
    ) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Xero-Tenant-Id": self.tokens.remote_tenant_id,
            "Accept": "application/xml",
            "User-Agent": USER_AGENT,
        }
        if body is not None:
            headers["Content-Type"] = "application/xml; charset=utf-8"
        url = self.base_url + path.lstrip("/")
        with self.limiter.slot():
            self.stats["calls"] += 1
            self.stats[f"calls:{method}"] += 1
            try:
                resp = self.session.request(
                    method, url, params=params, data=body, headers=headers, timeout=self.timeouts
                )
            except requests.ConnectTimeout as exc:
                self.stats["timeouts"] += 1
                raise _NotSent(f"{method} {path}: connect timeout") from exc
            except requests.Timeout as exc:
                self.stats["timeouts"] += 1
                raise TransientError(f"{method} {path}: read timeout after {self.timeouts[1]:g}s") from exc
            except requests.ConnectionError as exc:
                self.stats["connection_errors"] += 1
                if _never_connected(exc):
                    raise _NotSent(f"{method} {path}: cannot connect") from exc
                raise TransientError(f"{method} {path}: connection reset") from exc
            except requests.RequestException as exc:  # e.g. ChunkedEncodingError: the body was cut short
                self.stats["connection_errors"] += 1
                raise TransientError(f"{method} {path}: {type(exc).__name__}") from exc
        self.limiter.observe(resp.headers)
        self._note_server_date(resp)
        return resp

    def _interpret(self, method: str, path: str, resp: requests.Response) -> Element:
        status = resp.status_code
        where = f"{method} {path}"
        if status == 429:
            self._rate_limited(resp, where)
        if status == 503:
            self.stats["http_5xx"] += 1
            raise _NotSent(f"{where}: HTTP 503")
        if status >= 500:
            self.stats["http_5xx"] += 1
            raise TransientError(f"{where}: HTTP {status}{self._correlation(resp)}")
        if status == 404:
            raise NotFound(f"{where}: {xml.error_description(resp.content) or 'not found'}")
        if status == 401:
            raise RemoteRejected(f"{where}: access token rejected after a refresh (401)")
        if status >= 400:
            detail = xml.error_description(resp.content) or f"HTTP {status}"
            raise RemoteRejected(f"{where}: {detail}{self._correlation(resp)}")
        try:
            return xml.parse_envelope(resp.content)
        except MalformedResponse:
            self.stats["malformed"] += 1
            raise
        except AdapterError:
            self.stats["status_error"] += 1
            raise

    def _rate_limited(self, resp: requests.Response, where: str) -> None:
        problem = (resp.headers.get("X-Rate-Limit-Problem") or "").lower()
        retry_after = _retry_after_seconds(resp.headers.get("Retry-After"))
        is_day = "day" in problem or (not problem and (retry_after or 0) > _DAY_RETRY_AFTER_THRESHOLD)
        if is_day:
            self.stats["rate_limited:day"] += 1
            resume_at = self._now() + timedelta(seconds=retry_after or 86_400)
            self.limiter.park_until_day_reset(resume_at)
            raise DailyLimitReached(f"{where}: daily call limit reached", resume_at=resume_at)
        self.stats["rate_limited:minute"] += 1
        # "concurrent" comes without Retry-After: a slot frees within a call's time, not a minute.
        wait = retry_after if retry_after is not None else (1.0 if "concurrent" in problem else 60.0)
        self.limiter.pause(wait)
        raise _MinuteLimited(wait)

    # --- tenacity hooks ---
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _MinuteLimited):
            return exc.retry_after + random.uniform(0, self._jitter)
        # Exponential backoff with jitter (spreads retries of several workers apart), capped.
        base = min(self._backoff_max, self._backoff_initial * 2 ** (state.attempt_number - 1))
        return base + random.uniform(0, self._jitter)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats["retries"] += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info("XPM call retried after %s (attempt %d)", exc, state.attempt_number)

    # --- helpers ---
    def _note_server_date(self, resp: requests.Response) -> None:
        value = resp.headers.get("Date")
        if value:
            with contextlib.suppress(TypeError, ValueError):
                self.last_server_date = parsedate_to_datetime(value).astimezone(UTC)

    @staticmethod
    def _correlation(resp: requests.Response) -> str:
        cid = resp.headers.get("Xero-Correlation-Id")
        return f" (Xero-Correlation-Id {cid})" if cid else ""


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _never_connected(exc: requests.ConnectionError) -> bool:
    # urllib3 wraps "could not open the socket" as NewConnectionError; anything else may have been sent.
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "Name or service not known" in text
