"""The one HTTP core for the Xero-platform APIs (Practice Manager, Accounting, ...): the request loop every
adapter on those APIs shares, with override hooks for what differs (as singer-sdk's `RESTStream` owns
`_request` / `validate_response` and a concrete stream states only its format).

Every request:
- waits for a slot of the tenant's limiter (5 concurrent / 60 a minute / 5,000 a day) and feeds every
  response's `X-MinLimit-Remaining` / `X-DayLimit-Remaining` back into it;
- carries `Authorization: Bearer <token>`, `Xero-Tenant-Id`, `Accept` and `User-Agent`, and explicit
  (connect, read) timeouts (a call may pass its own read timeout: a 15,000-client detailed listing takes
  minutes);
- is answered by one of:

| answer | what the core does |
|---|---|
| 2xx | `parse(resp)` (subclass: XML envelope, JSON); an unparseable body is `MalformedResponse`, retried like a 5xx |
| 401 | refresh the token ONCE (`force_refresh`) and repeat. A second 401, with a token minted a moment ago, means the grant no longer authorises calls for this tenant: `ReconnectRequired` (not retried; the run fails with "reconnect required") |
| 403 | the token is valid but this tenant/scope is not authorised (the connection was removed, or the app lost the scope): no refresh (it cannot add a connection), `ReconnectRequired` |
| 404 | `NotFound` |
| 429 minute / app-minute / concurrent | pause every caller of the tenant for `Retry-After` (concurrent: 1 s) and retry, up to `rate_limit_attempts` |
| 429 day | never retried: the limiter parks the tenant and `DailyLimitReached(resume_at)` is raised; later calls of the tenant raise it at once without spending a call |
| 429 without `X-Rate-Limit-Problem` | `Retry-After` above `DAY_RETRY_AFTER_THRESHOLD` (120 s, two minute windows) is the day limit; shorter is a minute limit |
| 5xx, timeout, connection reset, body cut short | retried with capped exponential backoff plus jitter (tenacity), `attempts` tries in all, then `TransientError` |
| other 4xx | `rejection(resp)` (subclass: XPM's `<ErrorDescription>`, Xero's validation errors), not retried |

Writes that are not idempotent (`idempotent=False`, e.g. XPM `client.api/add`, Xero `PUT /Contacts`) are
repeated only when the request certainly did not run (429, 503, the connection never opened); after a read
timeout or a reset their outcome is unknown, so they raise `TransientError(retriable=False)` rather than risk a
duplicate.

Stats: one fixed set of names (`STAT_NAMES`), the same for every system, so reports and benchmarks read them
without knowing the adapter. `calls` counts every request that left this process (retries and the repeat after
a refresh included): that is what the tenant's budget pays.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

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

log = logging.getLogger(__name__)

# An unlabelled 429 whose Retry-After is longer than two minute windows can only be the day limit.
DAY_RETRY_AFTER_THRESHOLD = 120.0
# The largest body read whole (streamed listings are read incrementally and bounded by their reader): more is
# refused unread when Content-Length says so, else cut off where it passes the limit; never retried.
MAX_BODY_BYTES = 128 * 1024 * 1024
# A day 429 without Retry-After: look again in an hour (one call an hour at most while parked).
DAY_DEFAULT_RESUME = 3600.0

STAT_NAMES: tuple[str, ...] = (
    "calls",                # requests sent (what the budget pays)
    "retries",              # attempts repeated after a failure or a minute 429
    "rate_limited_minute",  # 429 minute / app-minute / concurrent
    "rate_limited_day",     # 429 day (the tenant is parked)
    "http_5xx",             # 5xx answers
    "timeouts",             # connect or read timeouts
    "connection_errors",    # refused, reset, body cut short
    "token_refreshes",      # forced refreshes after a 401
    "malformed",            # 2xx bodies we could not parse
    "rejected",             # 4xx (not 401/429) and envelope errors: the request itself was refused
)


class CallStats:
    """Counters with a fixed set of names (a typo is an error, not a new counter), plus the day budget the
    server last reported (`X-DayLimit-Remaining`)."""

    __slots__ = ("_counts", "day_remaining")

    def __init__(self) -> None:
        self._counts = dict.fromkeys(STAT_NAMES, 0)
        self.day_remaining: int | None = None

    def __getitem__(self, name: str) -> int:
        self._known(name)
        return self._counts[name]

    def __setitem__(self, name: str, value: int) -> None:
        self._known(name)
        self._counts[name] = value

    def _known(self, name: str) -> None:
        if name not in self._counts:
            raise KeyError(f"unknown call stat {name!r}; the names are {', '.join(STAT_NAMES)}")

    def add(self, name: str, n: int = 1) -> None:
        self[name] = self[name] + n

    def as_dict(self) -> dict[str, int]:
        out = dict(self._counts)
        if self.day_remaining is not None:
            out["day_remaining"] = self.day_remaining
        return out


def usage_since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What one part of a run spent: counters as differences, `day_remaining` as the latest level."""
    out = {k: v - before.get(k, 0) for k, v in after.items() if k != "day_remaining"}
    if "day_remaining" in after:
        out["day_remaining"] = after["day_remaining"]
    return out


class AccessTokens(Protocol):
    """A tenant's access tokens (shape of `adapters.xero_identity.tokens.TokenManager`)."""

    @property
    def remote_tenant_id(self) -> str: ...
    def access_token(self) -> str: ...
    def force_refresh(self, rejected_access_token: str | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one logical call tries. 5xx/timeouts/resets/malformed bodies: `attempts` tries in all, with
    exponential backoff (`backoff_initial` doubling up to `backoff_max`) plus up to `jitter` seconds.
    Minute/concurrency 429s: wait Retry-After (at most `max_retry_after`) plus jitter, up to
    `rate_limit_attempts` tries. A day 429 is never retried."""

    attempts: int = 4
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    rate_limit_attempts: int = 5
    max_retry_after: float = DAY_RETRY_AFTER_THRESHOLD
    jitter: float = 1.0

    def backoff(self, failures: int) -> float:
        """The wait after the `failures`-th failed attempt (1, 2, ...): capped exponential plus jitter."""
        return min(self.backoff_initial * 2 ** max(failures - 1, 0), self.backoff_max) + random.uniform(0, self.jitter)


class _ServerTrouble(TransientError):
    """5xx, timeout, reset: the request may have run."""


class _NotSent(_ServerTrouble):
    """The request certainly did not run (the connection never opened, 503): safe to repeat any write."""


class _RateLimited(TransientError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _TokenUnavailable(TransientError):
    """No access token: the token manager already retried its own call; nothing was sent."""


T = TypeVar("T")


class XeroPlatformHttp(Generic[T]):
    """The request loop. Subclasses set `accept`/`user_agent` and override `parse` (2xx body -> T),
    `rejection` (4xx -> error) and, if they must, `validate` (a 2xx that is really an error)."""

    accept = "application/json"
    user_agent = "syncworker/0.1"
    system = "Xero"  # for messages

    def __init__(
        self,
        tokens: AccessTokens,
        *,
        base_url: str = "",
        limiter: Any = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.tokens = tokens
        self.base_url = base_url.rstrip("/") + "/" if base_url else ""
        self.limiter = limiter
        self.session = session or requests.Session()
        self.timeout = timeout
        self.retry = retry
        self.max_body_bytes = max_body_bytes
        self._sleep, self._now = sleep, now
        self.stats = CallStats()
        self.last_server_date: datetime | None = None

    def write_calls_left(self) -> int | None:
        """The tenant's day budget (`X-DayLimit-Remaining` as last seen; before any answer, the limiter's daily
        limit less this client's calls) less the limiter's `write_reserve`; None without a limiter."""
        limits = getattr(self.limiter, "limits", None)
        if limits is None:
            return None
        left = self.stats.day_remaining if self.stats.day_remaining is not None else \
            limits.per_day - self.stats["calls"]
        return max(0, left - limits.write_reserve)

    def write_calls_per_day(self) -> int | None:
        limits = getattr(self.limiter, "limits", None)
        return None if limits is None else max(0, limits.per_day - limits.write_reserve)

    # --- hooks ---
    def parse(self, resp: requests.Response) -> T:
        """The 2xx body as the caller wants it. Raise `MalformedResponse` for a body that cannot be read
        (retried) or `RemoteRejected` for an error inside a 2xx envelope (not retried)."""
        return resp  # type: ignore[return-value]

    def rejection(self, resp: requests.Response, where: str) -> AdapterError:
        """The error for a 4xx other than 401/403/404/429."""
        return RemoteRejected(f"{where}: HTTP {resp.status_code}{_correlation(resp)}")

    def not_found(self, resp: requests.Response, where: str) -> AdapterError:
        return NotFound(f"{where}: not found (HTTP 404)")

    # --- the request loop ---
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        body: bytes | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        read_timeout: float | None = None,
        stream: bool = False,
    ) -> T:
        """One logical call. With `stream=True` the checked response is returned unparsed and unread (the
        caller reads it incrementally and owns failures mid-body)."""
        failures = {"server": 0, "rate": 0}
        where = f"{method} {path.split('?')[0]}"

        def attempt() -> T:
            try:
                resp = self._attempt(method, path, params, body, json, headers, read_timeout, stream)
                return resp if stream else self._parse(resp)  # type: ignore[return-value]
            except _RateLimited:
                failures["rate"] += 1
                raise
            except (_ServerTrouble, MalformedResponse):
                failures["server"] += 1
                raise

        def may_retry(exc: BaseException) -> bool:
            if isinstance(exc, _TokenUnavailable):
                return False
            if isinstance(exc, _RateLimited | _NotSent):
                return True
            return idempotent and isinstance(exc, _ServerTrouble | MalformedResponse) and exc.retriable

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None or not may_retry(exc):
                return True
            if isinstance(exc, _RateLimited):
                return failures["rate"] >= self.retry.rate_limit_attempts
            return failures["server"] >= self.retry.attempts

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _RateLimited):
                return min(exc.retry_after, self.retry.max_retry_after) + random.uniform(0, self.retry.jitter)
            return self.retry.backoff(failures["server"])

        def before_sleep(state: RetryCallState) -> None:
            self.stats.add("retries")
            exc = state.outcome.exception() if state.outcome else None
            log.info("%s %s retried after %s (attempt %d)", self.system, where, type(exc).__name__,
                     state.attempt_number)

        retrying = Retrying(stop=stop, wait=wait, sleep=self._sleep, reraise=True, before_sleep=before_sleep,
                            retry=retry_if_exception_type((_RateLimited, _ServerTrouble, MalformedResponse)))
        try:
            return retrying(attempt)
        except (_ServerTrouble, MalformedResponse) as exc:
            if not idempotent and not isinstance(exc, _NotSent):
                raise TransientError(f"{where}: outcome unknown ({exc}); check the record before repeating "
                                     "the write", retriable=False) from exc
            raise

    def _parse(self, resp: requests.Response) -> T:
        try:
            return self.parse(resp)
        except MalformedResponse:
            self.stats.add("malformed")
            raise
        except RemoteRejected:
            self.stats.add("rejected")
            raise

    def _attempt(self, method: str, path: str, params: Any, body: bytes | None, json: Any,
                 headers: Mapping[str, str] | None, read_timeout: float | None, stream: bool) -> requests.Response:
        token = _token(self.tokens.access_token)
        resp = self._send(method, path, params, body, json, headers, token, read_timeout, stream)
        if resp.status_code == 401:
            resp.close()
            self.stats.add("token_refreshes")
            token = _token(lambda: self.tokens.force_refresh(token))
            resp = self._send(method, path, params, body, json, headers, token, read_timeout, stream)
            if resp.status_code == 401:
                resp.close()
                raise ReconnectRequired(f"{self.system} refused a freshly refreshed access token (HTTP 401): "
                                        "the connection must be authorised again")
        self._check(method, path, resp)
        return resp

    def _send(self, method: str, path: str, params: Any, body: bytes | None, json: Any,
              extra: Mapping[str, str] | None, token: str, read_timeout: float | None,
              stream: bool) -> requests.Response:
        headers = {"Accept": self.accept, "User-Agent": self.user_agent, **(extra or {}),
                   "Authorization": f"Bearer {token}", "Xero-Tenant-Id": self.tokens.remote_tenant_id}
        url = path if path.startswith(("http://", "https://")) else self.base_url + path.lstrip("/")
        timeout = (self.timeout[0], read_timeout or self.timeout[1])
        where = f"{method} {path.split('?')[0]}"
        slot = self.limiter.slot() if self.limiter is not None else contextlib.nullcontext()
        with slot:
            self.stats.add("calls")
            try:
                resp = self.session.request(method, url, params=params, data=body, json=json, headers=headers,
                                            timeout=timeout, stream=True)
            except requests.ConnectTimeout as exc:
                self.stats.add("timeouts")
                raise _NotSent(f"{where}: connect timeout") from exc
            except requests.Timeout as exc:
                self.stats.add("timeouts")
                raise _ServerTrouble(f"{where}: read timeout after {timeout[1]:g}s") from exc
            except requests.ConnectionError as exc:
                self.stats.add("connection_errors")
                if _never_connected(exc):
                    raise _NotSent(f"{where}: cannot connect") from exc
                raise _ServerTrouble(f"{where}: connection reset") from exc
            except requests.RequestException as exc:  # e.g. ChunkedEncodingError: the body was cut short
                self.stats.add("connection_errors")
                raise _ServerTrouble(f"{where}: {type(exc).__name__}") from exc
        self._observe(resp)
        if not stream:
            self._read_body(resp, where)
        return resp

    def _read_body(self, resp: requests.Response, where: str) -> None:
        """Read the body whole (as `resp.content`), but no more than `max_body_bytes`, decompressed."""
        too_large = MalformedResponse(f"{where}: answer larger than {self.max_body_bytes // 1024 // 1024} MB",
                                      retriable=False)
        declared = (resp.headers.get("Content-Length") or "").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            resp.close()
            raise too_large
        chunks, size = [], 0
        try:
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > self.max_body_bytes:
                    resp.close()
                    raise too_large
                chunks.append(chunk)
        except requests.RequestException as exc:  # e.g. ChunkedEncodingError: the body was cut short
            self.stats.add("connection_errors")
            raise _ServerTrouble(f"{where}: {type(exc).__name__}") from exc
        resp._content = b"".join(chunks)  # what `resp.content` returns from now on

    def _observe(self, resp: requests.Response) -> None:
        day_left = resp.headers.get("X-DayLimit-Remaining")
        if day_left is not None and day_left.strip().isdigit():
            self.stats.day_remaining = int(day_left)
        _tell(self.limiter, "observe", resp.headers)
        value = resp.headers.get("Date")
        if value:
            with contextlib.suppress(TypeError, ValueError):
                self.last_server_date = parsedate_to_datetime(value).astimezone(UTC)

    def _check(self, method: str, path: str, resp: requests.Response) -> None:
        status = resp.status_code
        if status < 300:
            return
        where = f"{method} {path.split('?')[0]}"
        if status == 429:
            resp.close()
            self._rate_limited(resp, where)
        if status >= 500:
            self.stats.add("http_5xx")
            resp.close()
            if status == 503:  # Xero: "service unavailable / organisation offline": refused before running
                raise _NotSent(f"{where}: HTTP 503{_correlation(resp)}")
            raise _ServerTrouble(f"{where}: HTTP {status}{_correlation(resp)}")
        self.stats.add("rejected")
        if status == 404:
            raise self.not_found(resp, where)
        if status == 403:
            raise ReconnectRequired(f"{where}: {self.system} refused access to this tenant (HTTP 403): the "
                                    "connection was removed or lacks a scope; connect the tenant again")
        raise self.rejection(resp, where)

    def _rate_limited(self, resp: requests.Response, where: str) -> None:
        problem = (resp.headers.get("X-Rate-Limit-Problem") or "").lower()
        retry_after = retry_after_seconds(resp.headers.get("Retry-After"), self._now())
        is_day = "day" in problem or (not problem and (retry_after or 0) > DAY_RETRY_AFTER_THRESHOLD)
        if is_day:
            self.stats.add("rate_limited_day")
            resume_at = self._now() + timedelta(seconds=retry_after if retry_after is not None else DAY_DEFAULT_RESUME)
            _tell(self.limiter, "park_until_day_reset", resume_at)
            raise DailyLimitReached(f"{where}: {self.system} daily call limit reached", resume_at=resume_at)
        self.stats.add("rate_limited_minute")
        # "concurrent" comes without Retry-After: a slot frees within a call's time, not a minute.
        wait = retry_after if retry_after is not None else (1.0 if "concurrent" in problem else 60.0)
        wait = min(wait, self.retry.max_retry_after)
        _tell(self.limiter, "pause", wait)
        raise _RateLimited(f"{where}: {problem or 'minute'} rate limit (Retry-After {wait:g}s)", wait)


def _token(get: Callable[[], str]) -> str:
    try:
        return get()
    except TransientError as exc:
        raise _TokenUnavailable(f"no access token: {exc}") from exc


def _tell(limiter: Any, method: str, *args: Any) -> None:
    hook = getattr(limiter, method, None)
    if hook is not None:
        hook(*args)


def _correlation(resp: requests.Response) -> str:
    cid = resp.headers.get("Xero-Correlation-Id")
    return f" (Xero-Correlation-Id {cid})" if cid else ""


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (relative to `now`)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - now).total_seconds())


def _never_connected(exc: requests.ConnectionError) -> bool:
    # urllib3 wraps "could not open the socket" as NewConnectionError; anything else may have been sent.
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "Name or service not known" in text


def iter_stream_errors(chunks: Iterator[bytes], where: str) -> Iterator[bytes]:
    """Chunks of a streamed body, with a failure mid-body mapped to `TransientError` (retriable)."""
    try:
        yield from chunks
    except requests.RequestException as exc:
        raise TransientError(f"{where}: body cut short ({type(exc).__name__})") from exc
