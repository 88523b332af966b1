"""Simulated Xero Identity: authorize, token (code and refresh grants, with rotation), revocation and
GET /connections, plus the small HTTP plumbing every Xero-platform simulator shares.

It is transport-neutral: a simulator's HTTP handler turns each request into a `SimRequest` and asks
`XeroIdentitySimulator.handle()`; a non-None `SimResponse` means the identity part answered. The XPM
simulator mounts it today; a Xero-accounting simulator can mount the same instance (one grant can cover
several tenants, as on Xero).

Behaviour, from the reference (xpm_aps_xero.md §1.2, §2.2):
- Auth code: single use, expires 5 minutes after issue; the redirect_uri must match the authorize call.
- Access token: 30 minutes (`expires_in: 1800`), a JWT-shaped bearer token.
- Refresh token: rotates on every use. Unused refresh tokens expire after 60 days.
- Grace period ("you can retry refreshing your existing refresh token for a grace period of 30 minutes"):
  a refresh token that was already exchanged can be exchanged again for 30 minutes, and the retry returns
  the SAME successor refresh token (and a fresh access token), so a client that lost the first response
  recovers the exact grant the server holds. Once the successor itself has been exchanged, the chain has
  moved on and the old token answers `invalid_grant` (this is what catches two workers refreshing the
  same token set without coordination). After the grace period: `invalid_grant`.
- Revocation (POST /connect/revocation, or a "revoked" fault): the whole grant and its connections are
  gone; refresh answers `400 {"error":"invalid_grant"}` and API calls with its access tokens get 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

ACCESS_TOKEN_TTL = 30 * 60
REFRESH_GRACE = 30 * 60
REFRESH_TOKEN_TTL = 60 * 24 * 3600
AUTH_CODE_TTL = 5 * 60


# --------------------------------------------------------------------------------------------------
# Shared plumbing


class SimClock:
    """Wall-clock time plus a manual offset, so tests can jump over expiry windows (`advance`) while
    real waits (Retry-After, slow responses) still behave. `frozen=True` stops the real-time part."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._start = start or datetime.now(UTC)
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._frozen = frozen
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed())

    def time(self) -> float:
        """Seconds since the epoch, like time.time()."""
        return self.now().timestamp()

    def elapsed(self) -> float:
        with self._lock:
            real = 0.0 if self._frozen else time.monotonic() - self._mono0
            return real + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass(slots=True)
class SimRequest:
    method: str
    path: str  # without the query string
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    @classmethod
    def from_target(cls, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes) -> SimRequest:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return cls(method.upper(), parts.path, query, {k.lower(): v for k, v in headers}, body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass(slots=True)
class SimResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Set by fault injection: close the socket without answering (the handler honours it).
    reset_connection: bool = False
    # Send the body at this many bytes a second, in chunks (a slow, large listing); 0 sends it at once.
    bytes_per_second: float = 0.0

    @classmethod
    def json(cls, status: int, payload: object, headers: dict[str, str] | None = None) -> SimResponse:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def xero_problem(status: int, title: str, detail: str) -> SimResponse:
    """The JSON problem body Xero's API gateway answers 401/403 with."""
    resp = SimResponse.json(
        status,
        {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4()), "Extensions": {}},
    )
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return resp


# --------------------------------------------------------------------------------------------------
# Identity state


@dataclass(slots=True)
class Tenant:
    tenant_id: str
    tenant_type: str  # "PRACTICEMANAGER", "ORGANISATION", ...
    tenant_name: str


@dataclass(slots=True)
class Connection:
    id: str
    tenant: Tenant
    created: datetime
    updated: datetime


@dataclass(slots=True)
class Grant:
    """One user's consent (an auth event): the token family and the tenants it connects."""

    auth_event_id: str
    scope: list[str]
    connections: dict[str, Connection]  # by tenant id
    revoked: bool = False


@dataclass(slots=True)
class RefreshRecord:
    grant: Grant
    issued_at: float
    successor: str | None = None
    rotated_at: float | None = None
    successor_access: tuple[str, float] | None = None


@dataclass(slots=True)
class AccessRecord:
    grant: Grant
    expires_at: float


@dataclass(slots=True)
class AuthCode:
    grant: Grant
    redirect_uri: str
    issued_at: float
    used: bool = False


class XeroIdentitySimulator:
    """Xero Identity for one app (client id/secret) and a fixed set of tenants the user can connect."""

    def __init__(
        self,
        clock: SimClock,
        tenants: list[Tenant],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_ttl: float = ACCESS_TOKEN_TTL,
        refresh_grace: float = REFRESH_GRACE,
        refresh_ttl: float = REFRESH_TOKEN_TTL,
        code_ttl: float = AUTH_CODE_TTL,
    ) -> None:
        self.clock = clock
        self.tenants = list(tenants)
        self.client_id = client_id or secrets.token_hex(16).upper()
        self.client_secret = client_secret or secrets.token_urlsafe(36)
        self.access_ttl, self.refresh_grace, self.refresh_ttl, self.code_ttl = access_ttl, refresh_grace, refresh_ttl, code_ttl
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.RLock()
        self._codes: dict[str, AuthCode] = {}
        self._refresh: dict[str, RefreshRecord] = {}
        self._access: dict[str, AccessRecord] = {}
        self._grants: list[Grant] = []
        self.token_calls: dict[str, int] = {"authorization_code": 0, "refresh_token": 0, "invalid_grant": 0}

    # ---- Python API for tests and demos ----
    def issue_refresh_token(self, scope: list[str] | None = None) -> str:
        """A fresh grant connecting every tenant, as if the user had consented in a browser."""
        with self._lock:
            grant = self._new_grant(scope or ["openid", "profile", "email", "offline_access", "practicemanager"])
            token = self._mint_refresh(grant)
            return token

    def authorize_code(self, redirect_uri: str, state: str | None = None, scope: list[str] | None = None) -> str:
        """The `code` a browser would bring back to redirect_uri after the user consents."""
        with self._lock:
            grant = self._new_grant(scope or ["openid", "profile", "email", "offline_access", "practicemanager"])
            code = secrets.token_urlsafe(32)
            self._codes[code] = AuthCode(grant, redirect_uri, self.clock.time())
            return code

    def revoke_all(self) -> int:
        """Revoke every live grant (the user disconnected the app). Returns how many were revoked."""
        with self._lock:
            live = [g for g in self._grants if not g.revoked]
            for grant in live:
                self._revoke(grant)
            return len(live)

    def expire_access_tokens(self) -> int:
        """Forget every access token issued so far, as Xero does when it rotates its signing keys or a token is
        cut short: the next API call gets a 401 although the client believes its token valid, and one refresh
        (the grant is untouched) must fix it. Returns how many were dropped."""
        with self._lock:
            dropped = len(self._access)
            self._access.clear()
            return dropped

    def check_api_access(self, token: str | None, tenant_id: str | None) -> SimResponse | None:
        """None when `token` is a live access token whose grant connects `tenant_id`; else the 401/403."""
        with self._lock:
            if not token:
                return xero_problem(401, "Unauthorized", "AuthenticationUnsuccessful")
            rec = self._access.get(token)
            if rec is None or rec.grant.revoked:
                return xero_problem(401, "Unauthorized", "AuthenticationUnsuccessful")
            if rec.expires_at <= self.clock.time():
                expired = datetime.fromtimestamp(rec.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%S")
                return xero_problem(401, "Unauthorized", f"TokenExpired: token expired at {expired}")
            if not tenant_id or tenant_id.strip().lower() not in rec.grant.connections:
                return xero_problem(403, "Forbidden", "AuthenticationUnsuccessful")
            return None

    def token_scopes(self, token: str | None) -> list[str]:
        """The scopes granted to a live access token ([] when unknown)."""
        with self._lock:
            rec = self._access.get(token or "")
            return list(rec.grant.scope) if rec is not None else []

    # ---- HTTP ----
    def handle(self, req: SimRequest) -> SimResponse | None:
        path = req.path.rstrip("/")
        if req.method == "GET" and path == "/identity/connect/authorize":
            return self._http_authorize(req)
        if req.method == "POST" and path == "/connect/token":
            return self._http_token(req)
        if req.method == "POST" and path == "/connect/revocation":
            return self._http_revoke(req)
        if path == "/connections" and req.method == "GET":
            return self._http_connections(req)
        if path.startswith("/connections/") and req.method == "DELETE":
            return self._http_delete_connection(req, path.rsplit("/", 1)[1])
        return None

    def _http_authorize(self, req: SimRequest) -> SimResponse:
        q = req.query
        if q.get("response_type") != "code" or q.get("client_id") != self.client_id or not q.get("redirect_uri"):
            return SimResponse(400, b"invalid_request: response_type=code, client_id and redirect_uri are required",
                               {"Content-Type": "text/plain"})
        # The simulated user signs in and consents at once.
        code = self.authorize_code(q["redirect_uri"], q.get("state"), (q.get("scope") or "").split() or None)
        params = {"code": code, "scope": q.get("scope", ""), **({"state": q["state"]} if "state" in q else {})}
        target = urlsplit(q["redirect_uri"])
        sep_query = f"{target.query}&" if target.query else ""
        location = urlunsplit(target._replace(query=sep_query + urlencode(params)))
        return SimResponse(302, b"", {"Location": location})

    def _client_ok(self, req: SimRequest, form: dict[str, str]) -> bool:
        cid, secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
        return cid == self.client_id and secret is not None and hmac.compare_digest(secret, self.client_secret)

    def _http_token(self, req: SimRequest) -> SimResponse:
        form = req.form()
        if not self._client_ok(req, form):
            return SimResponse.json(400, {"error": "invalid_client"})
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                return self._exchange_code(form)
            if grant_type == "refresh_token":
                return self._exchange_refresh(form.get("refresh_token", ""))
        return SimResponse.json(400, {"error": "unsupported_grant_type"})

    def _exchange_code(self, form: dict[str, str]) -> SimResponse:
        self.token_calls["authorization_code"] += 1
        rec = self._codes.get(form.get("code", ""))
        now = self.clock.time()
        if rec is None or rec.used or now - rec.issued_at > self.code_ttl or rec.grant.revoked:
            return self._invalid_grant()
        if form.get("redirect_uri") != rec.redirect_uri:
            return self._invalid_grant()
        rec.used = True
        refresh = self._mint_refresh(rec.grant)
        return self._token_response(rec.grant, self._mint_access(rec.grant), refresh)

    def _exchange_refresh(self, token: str) -> SimResponse:
        self.token_calls["refresh_token"] += 1
        rec = self._refresh.get(token)
        now = self.clock.time()
        if rec is None or rec.grant.revoked:
            return self._invalid_grant()
        if rec.successor is None:
            if now - rec.issued_at > self.refresh_ttl:
                return self._invalid_grant()
            successor = self._mint_refresh(rec.grant)
            rec.successor, rec.rotated_at = successor, now
            return self._token_response(rec.grant, self._mint_access(rec.grant), successor)
        # Already exchanged: the grace-period retry of a lost response.
        assert rec.rotated_at is not None
        successor_rec = self._refresh[rec.successor]
        if now - rec.rotated_at > self.refresh_grace or successor_rec.successor is not None:
            return self._invalid_grant()
        return self._token_response(rec.grant, self._mint_access(rec.grant), rec.successor)

    def _http_revoke(self, req: SimRequest) -> SimResponse:
        form = req.form()
        if not self._client_ok(req, form):
            return SimResponse.json(400, {"error": "invalid_client"})
        with self._lock:
            rec = self._refresh.get(form.get("token", ""))
            if rec is not None:
                self._revoke(rec.grant)
        return SimResponse(200)  # RFC 7009: unknown tokens are not an error

    def _http_connections(self, req: SimRequest) -> SimResponse:
        with self._lock:
            rec = self._access.get(req.bearer() or "")
            if rec is None or rec.grant.revoked or rec.expires_at <= self.clock.time():
                return xero_problem(401, "Unauthorized", "AuthenticationUnsuccessful")
            event = req.query.get("authEventId")
            conns = [] if event and event != rec.grant.auth_event_id else list(rec.grant.connections.values())
            return SimResponse.json(200, [self._connection_json(rec.grant, c) for c in conns])

    def _http_delete_connection(self, req: SimRequest, connection_id: str) -> SimResponse:
        with self._lock:
            rec = self._access.get(req.bearer() or "")
            if rec is None or rec.grant.revoked or rec.expires_at <= self.clock.time():
                return xero_problem(401, "Unauthorized", "AuthenticationUnsuccessful")
            for tenant_id, conn in list(rec.grant.connections.items()):
                if conn.id == connection_id:
                    del rec.grant.connections[tenant_id]
                    return SimResponse(204)
            return xero_problem(404, "NotFound", "Connection not found")

    # ---- internals ----
    def _new_grant(self, scope: list[str]) -> Grant:
        now = self.clock.now()
        conns = {t.tenant_id.lower(): Connection(str(uuid.uuid4()), t, now, now) for t in self.tenants}
        grant = Grant(str(uuid.uuid4()), scope, conns)
        self._grants.append(grant)
        return grant

    def _revoke(self, grant: Grant) -> None:
        grant.revoked = True
        grant.connections.clear()

    def _mint_refresh(self, grant: Grant) -> str:
        token = secrets.token_hex(32)
        self._refresh[token] = RefreshRecord(grant, self.clock.time())
        return token

    def _mint_access(self, grant: Grant) -> str:
        now = self.clock.time()
        exp = now + self.access_ttl
        claims = {
            "nbf": int(now), "exp": int(exp), "iss": "https://identity.xero.com", "aud": "https://identity.xero.com/resources",
            "client_id": self.client_id, "sub": hashlib.sha256(grant.auth_event_id.encode()).hexdigest()[:32],
            "authentication_event_id": grant.auth_event_id, "jti": secrets.token_hex(16), "scope": grant.scope,
        }
        token = _jwt(claims, self._signing_key)
        self._access[token] = AccessRecord(grant, exp)
        return token

    def _token_response(self, grant: Grant, access: str, refresh: str) -> SimResponse:
        return SimResponse.json(200, {
            "access_token": access, "expires_in": int(self.access_ttl), "token_type": "Bearer",
            "refresh_token": refresh, "scope": " ".join(grant.scope),
        }, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _invalid_grant(self) -> SimResponse:
        self.token_calls["invalid_grant"] += 1
        return SimResponse.json(400, {"error": "invalid_grant"})

    @staticmethod
    def _connection_json(grant: Grant, conn: Connection) -> dict[str, object]:
        return {
            "id": conn.id, "authEventId": grant.auth_event_id, "tenantId": conn.tenant.tenant_id,
            "tenantType": conn.tenant.tenant_type, "tenantName": conn.tenant.tenant_name,
            "createdDateUtc": conn.created.strftime("%Y-%m-%dT%H:%M:%S.%f0"),
            "updatedDateUtc": conn.updated.strftime("%Y-%m-%dT%H:%M:%S.%f0"),
        }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, object], key: bytes) -> str:
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = _b64url(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


Handler = Callable[[SimRequest], SimResponse | None]
