"""HTTP for XPM: the shared Xero-platform core (`adapters/http_core.py`: limiter, token, 401/403/429, retries,
stat names) plus only what XPM does differently:

- XML both ways (`Accept: application/xml`);
- the `<Response><Status>` envelope: `ERROR` arrives with HTTP 200 too, and a not-found is worded in
  `<ErrorDescription>` rather than a 404;
- which writes are idempotent is stated per call by the client (`client.api/add`, `addrelationship`,
  `clientgroup.api/add` are not: after a reset their outcome is unknown and they are not repeated;
  `client.api/update` is not repeated blindly either: the client reads the record back first).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

import requests

from adapters.errors import AdapterError, NotFound, RemoteRejected
from adapters.http_core import AccessTokens, RetryPolicy, XeroPlatformHttp
from adapters.ratelimit import RateLimiter
from adapters.xpm import xml

USER_AGENT = "syncworker-xpm/0.1"


class XpmTransport(XeroPlatformHttp[Element]):
    accept = "application/xml"
    user_agent = USER_AGENT
    system = "XPM"

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
        super().__init__(
            tokens, base_url=base_url, limiter=limiter or RateLimiter(), session=session,
            timeout=(connect_timeout, read_timeout), sleep=sleep, now=now,
            retry=RetryPolicy(attempts=max_retries + 1, backoff_initial=backoff_initial, backoff_max=backoff_max,
                              rate_limit_attempts=max_retries + 1, jitter=jitter),
        )

    # --- what differs ---
    def parse(self, resp: requests.Response) -> Element:
        return xml.parse_envelope(resp.content)

    def rejection(self, resp: requests.Response, where: str) -> AdapterError:
        detail = xml.error_description(resp.content) or f"HTTP {resp.status_code}"
        return RemoteRejected(f"{where}: {detail}")

    def not_found(self, resp: requests.Response, where: str) -> AdapterError:
        return NotFound(f"{where}: {xml.error_description(resp.content) or 'not found'}")

    # --- the calls the client makes ---
    def get(self, path: str, params: Mapping[str, str] | None = None) -> Element:
        return self.request("GET", path, params=params)

    def send(self, method: str, path: str, body: Element, *, idempotent: bool) -> Element:
        return self.request(method, path, body=xml.render(body), idempotent=idempotent,
                            headers={"Content-Type": "application/xml; charset=utf-8"})

    def open_stream(self, path: str, params: Mapping[str, str] | None = None, *,
                    read_timeout: float | None = None) -> requests.Response:
        """A GET whose body the caller reads incrementally (a detailed listing of a large practice)."""
        return self.request("GET", path, params=params, stream=True, read_timeout=read_timeout)  # type: ignore[return-value]
