"""Xero OAuth2 for every Xero-platform adapter (XPM now, Xero contacts later): the authorize URL, the
code exchange, the tenant list, and a `TokenManager` that hands out access tokens without ever losing
the grant.

Why not xero-python's `OAuth2Token` / `ApiClient.refresh_oauth2_token()`: it has no locking and no
cross-process coordination (two workers refreshing the same rotating token kill the grant), its HTTP
calls have no timeout by default, and a failed refresh raises a bare `Exception`. We keep its identity
*models* (`xero_python.identity.models.Connection`) and do the two small HTTP calls with `requests`,
with explicit timeouts.

Token rules (xpm_aps_xero.md §2.2, §4; https://developer.xero.com/faq/oauth2):
- access tokens live 30 minutes: refresh `refresh_margin` before expiry;
- refresh tokens rotate on every use: exactly one refresh per tenant at a time (an in-process lock,
  the store's optional `refresh_lock()` for other processes, and compare-and-swap on `TokenSet.version`;
  when the swap loses, reload and use the token the other worker stored);
- the new refresh token is persisted before the new access token is handed out;
- a refresh whose response was lost (timeout, reset) is retried with the same old token: Xero honours it
  for 30 minutes and answers with the same successor;
- `invalid_grant` means the grant is gone: mark the tenant "reconnect required" and raise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from xero_python.identity.models import Connection

from adapters.base import TokenSet, TokenStore
from adapters.errors import MalformedResponse, NotConnected, ReconnectRequired, RemoteRejected, TransientError
from adapters.http_core import RetryPolicy

log = logging.getLogger(__name__)
TOKEN_RETRY = RetryPolicy()  # the API calls' policy: one retry behaviour for every Xero-platform call

DEFAULT_IDENTITY_URL = "https://identity.xero.com"
DEFAULT_API_URL = "https://api.xero.com"
# The authorize page lives on login.xero.com, the token endpoint on identity.xero.com.
DEFAULT_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
REFRESH_GRACE = timedelta(minutes=30)
PRACTICE_MANAGER_TENANT_TYPE = "PRACTICEMANAGER"
XPM_SCOPES = ("offline_access", "practicemanager")


def utcnow() -> datetime:
    return datetime.now(UTC)


def token_url(identity_url: str) -> str:
    return identity_url.rstrip("/") + "/connect/token"


def authorize_base_for(identity_url: str, configured: str | None = None) -> str:
    """Where to send the browser. Xero serves it on login.xero.com; a simulator serves it on the identity
    host under the same path, so an overridden identity URL implies the same host for authorize."""
    if configured and configured.rstrip("/") != DEFAULT_AUTHORIZE_URL:
        return configured
    if identity_url.rstrip("/") == DEFAULT_IDENTITY_URL:
        return DEFAULT_AUTHORIZE_URL
    return identity_url.rstrip("/") + "/identity/connect/authorize"


def authorize_url(
    client_id: str,
    redirect_uri: str,
    scopes: list[str] | tuple[str, ...],
    state: str,
    authorize_base: str = DEFAULT_AUTHORIZE_URL,
) -> str:
    query = urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": " ".join(scopes), "state": state,
    })
    return f"{authorize_base}?{query}"


def _timeouts(timeout: float) -> tuple[float, float]:
    return (min(10.0, timeout), timeout)


def _token_set_from_response(
    payload: Any, now: datetime, *, previous: TokenSet | None = None
) -> TokenSet:
    if not isinstance(payload, dict) or not payload.get("access_token") or not payload.get("refresh_token"):
        raise MalformedResponse("token endpoint answered without access_token/refresh_token")
    try:
        expires_in = int(payload.get("expires_in", 1800))
    except (TypeError, ValueError) as exc:
        raise MalformedResponse("token endpoint answered a non-numeric expires_in") from exc
    scope = str(payload.get("scope") or "").split() or (list(previous.scope) if previous else [])
    return TokenSet(
        access_token=payload["access_token"],
        refresh_token=payload["refresh_token"],
        expires_at=now + timedelta(seconds=expires_in),
        scope=scope,  # a list: xero-python-style " ".join(scope) on a str would send characters
        remote_tenant_id=previous.remote_tenant_id if previous else None,
        version=previous.version if previous else 0,
        previous_refresh_token=previous.refresh_token if previous else None,
        rotated_at=now if previous else None,
    )


def _error_code(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"http_{resp.status_code}"
    return str(body.get("error") or f"http_{resp.status_code}") if isinstance(body, dict) else f"http_{resp.status_code}"


def exchange_code(
    code: str,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    identity_url: str = DEFAULT_IDENTITY_URL,
    session: requests.Session | None = None,
    clock: Callable[[], datetime] = utcnow,
    timeout: float = 30.0,
) -> TokenSet:
    """Trade a one-time authorization code for the first token set (version 0: not stored yet). Codes are
    single use, so a lost response is not retried: the operator starts `connect` again."""
    http = session or requests.Session()
    try:
        resp = http.post(
            token_url(identity_url),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            auth=(client_id, client_secret), headers={"Accept": "application/json"}, timeout=_timeouts(timeout),
        )
    except requests.RequestException as exc:
        raise TransientError(f"code exchange failed: {type(exc).__name__}") from exc
    if resp.status_code != 200:
        raise RemoteRejected(f"code exchange rejected: {_error_code(resp)}")
    return _token_set_from_response(_json(resp), clock())


def list_connections(
    api_url: str,
    access_token: str,
    tenant_type: str | None = PRACTICE_MANAGER_TENANT_TYPE,
    *,
    session: requests.Session | None = None,
    timeout: float = 30.0,
) -> list[Connection]:
    """GET /connections, keeping those of `tenant_type` (compared case-insensitively; None keeps all).
    The Identity spec documents only "ORGANISATION, PRACTICE" while XPM tenants answer PRACTICEMANAGER, so
    the type is a parameter, not an enum."""
    http = session or requests.Session()
    try:
        resp = http.get(
            api_url.rstrip("/") + "/connections",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=_timeouts(timeout),
        )
    except requests.RequestException as exc:
        raise TransientError(f"GET /connections failed: {type(exc).__name__}") from exc
    if resp.status_code == 401:
        raise RemoteRejected("GET /connections: access token rejected (401)")
    if resp.status_code >= 500:
        raise TransientError(f"GET /connections: HTTP {resp.status_code}")
    if resp.status_code != 200:
        raise RemoteRejected(f"GET /connections: HTTP {resp.status_code}")
    rows = _json(resp)
    if not isinstance(rows, list):
        raise MalformedResponse("GET /connections did not return a list")
    conns = [
        Connection(
            id=r.get("id"), tenant_id=r.get("tenantId"), auth_event_id=r.get("authEventId"),
            tenant_type=r.get("tenantType"), tenant_name=r.get("tenantName"),
            created_date_utc=_parse_xero_datetime(r.get("createdDateUtc")),
            updated_date_utc=_parse_xero_datetime(r.get("updatedDateUtc")),
        )
        for r in rows if isinstance(r, dict)
    ]
    if tenant_type is None:
        return conns
    return [c for c in conns if (c.tenant_type or "").upper() == tenant_type.upper()]


def _parse_xero_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).rstrip("Z")
    head, _, frac = text.partition(".")
    try:
        parsed = datetime.fromisoformat(head)
    except ValueError:
        return None
    micros = int((frac + "000000")[:6]) if frac.isdigit() else 0
    return parsed.replace(microsecond=micros, tzinfo=UTC)


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise MalformedResponse(f"expected JSON from {resp.url or 'Xero Identity'}") from exc


_process_locks: dict[tuple[str, str, str], threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(key: tuple[str, str, str]) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


class TokenManager:
    """Access tokens for one tenant connection, refreshed safely. Share one per tenant per process (two
    managers for the same tenant also serialise: the in-process lock is keyed by app and tenant)."""

    def __init__(
        self,
        store: TokenStore,
        *,
        client_id: str,
        client_secret: str,
        identity_url: str = DEFAULT_IDENTITY_URL,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = utcnow,
        refresh_margin: timedelta = timedelta(minutes=2),
        timeout: float = 30.0,
        retry: RetryPolicy = TOKEN_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self._client_id, self._client_secret = client_id, client_secret
        self._token_url = token_url(identity_url)
        self._session = session or requests.Session()
        self._clock, self._margin, self._timeout = clock, refresh_margin, timeout
        self._retry, self._sleep = retry, sleep
        self.refreshes = 0  # successful refreshes by this manager (for stats)

    # --- public API ---
    def access_token(self) -> str:
        current = self._load()
        if self._usable(current):
            assert current.access_token is not None
            return current.access_token
        return self._refresh(seen_version=current.version)

    def force_refresh(self, rejected_access_token: str | None = None) -> str:
        """After a 401. When `rejected_access_token` is given and another worker has already replaced it
        with a usable token, that token is returned without another refresh."""
        current = self._load()
        if (
            rejected_access_token is not None
            and current.access_token not in (None, rejected_access_token)
            and self._usable(current)
        ):
            assert current.access_token is not None
            return current.access_token
        return self._refresh(seen_version=current.version, force=True)

    @property
    def remote_tenant_id(self) -> str:
        tenant = self._load().remote_tenant_id
        if not tenant:
            raise NotConnected("no Xero tenant chosen for this connection; run `syncworker connect` again")
        return tenant

    # --- refresh ---
    def _refresh(self, *, seen_version: int, force: bool = False) -> str:
        with self._locks():
            current = self._load()
            if current.version != seen_version and self._usable(current):
                assert current.access_token is not None
                return current.access_token  # another worker refreshed while we waited for the lock
            if not force and self._usable(current):
                assert current.access_token is not None
                return current.access_token
            payload = self._post_refresh(current)
            fresh = _token_set_from_response(payload, self._clock(), previous=current)
            # Persist before use: if this write fails we never hand out the new access token, and the old
            # refresh token still works for the 30-minute grace (the server answers the same successor).
            if self.store.compare_and_swap(current.version, replace(fresh, version=current.version + 1)):
                self.refreshes += 1
                return fresh.access_token or ""
            winner = self._load()
            log.info("token refresh lost the compare-and-swap; using the token stored by another worker")
            if self._usable(winner):
                assert winner.access_token is not None
                return winner.access_token
            raise TransientError("token store changed during refresh and holds no usable access token")

    def _post_refresh(self, current: TokenSet) -> dict[str, Any]:
        try:
            return self._post_with_grace(current.refresh_token)
        except _InvalidGrant:
            # The previous token's successor may be what was lost (e.g. restored from an old copy): within
            # the grace period the server still honours the previous token.
            prev, rotated = current.previous_refresh_token, current.rotated_at
            if prev and rotated and self._clock() - rotated < REFRESH_GRACE:
                try:
                    return self._post_with_grace(prev)
                except _InvalidGrant:
                    pass
            reason = "Xero refused the refresh token (invalid_grant): the grant was revoked or expired"
            self.store.mark_reconnect_required(reason)
            raise ReconnectRequired(reason) from None

    def _post_with_grace(self, refresh_token: str) -> dict[str, Any]:
        """POST the refresh grant, retrying the SAME token when the answer is lost or the server fails, with
        the API calls' retry policy (`adapters.http_core.RetryPolicy`: attempts, capped backoff, jitter); the
        grace period makes that safe for 30 minutes from the first attempt."""
        started = self._clock()
        last_problem = "no attempt"
        for attempt in range(max(1, self._retry.attempts)):
            if attempt:
                if self._clock() - started >= REFRESH_GRACE:
                    break
                self._sleep(self._retry.backoff(attempt))
            try:
                resp = self._session.post(
                    self._token_url,
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                    auth=(self._client_id, self._client_secret),
                    headers={"Accept": "application/json"},
                    timeout=_timeouts(self._timeout),
                )
            except requests.RequestException as exc:
                last_problem = type(exc).__name__
                continue
            if resp.status_code == 200:
                payload = _json(resp)
                if isinstance(payload, dict):
                    return payload
                raise MalformedResponse("token endpoint answered a non-object")
            if resp.status_code >= 500 or resp.status_code == 429:
                last_problem = f"HTTP {resp.status_code}"
                continue
            error = _error_code(resp)
            if error == "invalid_grant":
                raise _InvalidGrant()
            raise RemoteRejected(f"token endpoint rejected the refresh: {error}")
        raise TransientError(f"token refresh failed after retries ({last_problem}); the stored token is unchanged")

    # --- helpers ---
    def _load(self) -> TokenSet:
        current = self.store.load()
        if current is None:
            raise NotConnected("no Xero credentials for this tenant; run `syncworker connect`")
        return current

    def _usable(self, ts: TokenSet) -> bool:
        return bool(ts.access_token) and ts.expires_at is not None and self._clock() < ts.expires_at - self._margin

    def _locks(self) -> AbstractContextManager[None]:
        current = self.store.load()
        tenant = (current.remote_tenant_id if current else None) or f"store-{id(self.store)}"
        return _both(_process_lock((self._token_url, self._client_id, tenant)), self._store_lock())

    def _store_lock(self) -> AbstractContextManager[Any]:
        # Optional hook: a store may offer a cross-process lock (e.g. SELECT ... FOR UPDATE on the token
        # row) so only one worker anywhere calls the token endpoint; CAS still guards without it.
        lock = getattr(self.store, "refresh_lock", None)
        return lock() if callable(lock) else nullcontext()


class _InvalidGrant(Exception):
    pass


@contextmanager
def _both(first: threading.Lock, second: AbstractContextManager[Any]) -> Iterator[None]:
    with first, second:
        yield
