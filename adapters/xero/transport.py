"""HTTP for the Xero accounting adapter: the shared Xero-platform core (`adapters/http_core.py`: limiter, bearer
token + Xero-Tenant-Id, one refresh on 401, the three kinds of 429, retries, stat names) plus only what Xero
accounting does differently:

- JSON both ways; a 2xx body that is not JSON is `MalformedResponse` (retried like a 5xx);
- a 400 is Xero's `ValidationException` envelope (`Elements[].ValidationErrors[].Message`), mapped to
  `XeroValidationError`;
- every write we send carries an `Idempotency-Key` (Xero replays the first answer to a repeated key), so a
  write is repeated after a reset or a timeout only when it has one.

It stands in for xero-python's urllib3 REST client (`ApiClient.rest_client`): the SDK's `AccountingApi` still
shapes the requests (paths, query names, headers, model serialisation) and calls the verb methods here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from adapters.errors import AdapterError, MalformedResponse, RemoteRejected
from adapters.http_core import AccessTokens, RetryPolicy, XeroPlatformHttp
from adapters.xero.errors import XeroValidationError

LIMIT_HEADERS = ("X-DayLimit-Remaining", "X-MinLimit-Remaining", "X-AppMinLimit-Remaining")
USER_AGENT = "syncworker-xero/0.1"

__all__ = ["LIMIT_HEADERS", "RetryPolicy", "XeroResponse", "XeroRestClient"]


class XeroResponse:
    """What xero-python's ApiClient expects back from a REST client (urllib3-response shape), with the JSON
    body already read (the core parses inside its retry loop, so a cut-short body is retried)."""

    def __init__(self, resp: requests.Response, body: Any) -> None:
        self.status = resp.status_code
        self.reason = resp.reason
        self.data = resp.content
        self._headers = resp.headers
        self._body = body

    def getheaders(self) -> Mapping[str, str]:
        return self._headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name, default)

    def json(self) -> Any:
        return self._body


def _validation_error(resp: requests.Response, where: str) -> AdapterError:
    try:
        body = resp.json()
    except ValueError:
        return RemoteRejected(f"{where}: Xero rejected the request (HTTP {resp.status_code})")
    if not isinstance(body, dict):
        return RemoteRejected(f"{where}: Xero rejected the request (HTTP {resp.status_code})")
    elements = [e for e in body.get("Elements") or [] if isinstance(e, dict)]
    messages = [str(v.get("Message")) for e in elements for v in e.get("ValidationErrors") or []
                if isinstance(v, dict) and v.get("Message")]
    if not messages and body.get("Message"):
        messages = [str(body["Message"])]
    return XeroValidationError(messages, elements)


class XeroRestClient(XeroPlatformHttp[XeroResponse]):
    """Drop-in for `xero_python.rest.RESTClientObject` (ApiClient uses only the verb methods)."""

    accept = "application/json"
    user_agent = USER_AGENT
    system = "Xero"

    def __init__(self, tokens: AccessTokens, *, timeout: float | tuple[float, float], retry: RetryPolicy,
                 limiter: Any = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        timeouts = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        super().__init__(tokens, limiter=limiter, session=session, timeout=timeouts, retry=retry, sleep=sleep,
                         now=now)
        self.remaining: dict[str, int] = {}  # last X-*Limit-Remaining values seen

    # --- what differs ---
    def parse(self, resp: requests.Response) -> XeroResponse:
        try:
            body = json.loads(resp.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedResponse(f"Xero sent invalid JSON (HTTP {resp.status_code}, {len(resp.content)} "
                                    "bytes)") from exc
        return XeroResponse(resp, body)

    def rejection(self, resp: requests.Response, where: str) -> AdapterError:
        if resp.status_code == 400:
            return _validation_error(resp, where)
        return super().rejection(resp, where)

    def _observe(self, resp: requests.Response) -> None:
        super()._observe(resp)
        for name in LIMIT_HEADERS:
            value = resp.headers.get(name)
            if value is not None and value.strip().lstrip("-").isdigit():
                self.remaining[name] = int(value)

    # --- the verbs xero-python's ApiClient calls ---
    def GET(self, url: str, headers: Any = None, query_params: Any = None, **kw: Any) -> XeroResponse:  # noqa: N802
        return self._call("GET", url, query_params, headers, None)

    def POST(self, url: str, headers: Any = None, query_params: Any = None, body: Any = None,  # noqa: N802
             **kw: Any) -> XeroResponse:
        return self._call("POST", url, query_params, headers, body)

    def PUT(self, url: str, headers: Any = None, query_params: Any = None, body: Any = None,  # noqa: N802
            **kw: Any) -> XeroResponse:
        return self._call("PUT", url, query_params, headers, body)

    def _call(self, method: str, url: str, query_params: Any, headers: Any, body: Any) -> XeroResponse:
        params = [(k, str(v).lower() if isinstance(v, bool) else v) for k, v in (query_params or [])]
        sent = {k: v for k, v in (headers or {}).items() if k.lower() not in ("accept", "xero-tenant-id")}
        # A repeated Idempotency-Key gets the first answer back, so such a write is safe to repeat.
        idempotent = method == "GET" or any(k.lower() == "idempotency-key" for k in sent)
        return self.request(method, url, params=params, json=body, headers=sent, idempotent=idempotent)
