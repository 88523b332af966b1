"""Operator authentication: `Authorization: Bearer <SYNCWORKER_OPERATOR_TOKEN>`, compared in constant
time. Without a configured token every operator endpoint answers 503 (fail closed), so a forgotten setting
never leaves the API open. The acting operator's name for the audit log comes from `X-Operator`.

Two layers: `OperatorGate` checks every path except the open ones before anything reads the request (so
no body is parsed for a stranger, and a route added later is protected by default); the `require_operator`
dependency on the operator routers repeats the check and puts the scheme in the OpenAPI schema."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_bearer = HTTPBearer(auto_error=False, description="SYNCWORKER_OPERATOR_TOKEN", bearerFormat="opaque token")
_ACTOR = re.compile(r"^[\w .@'-]{1,100}$")
CHALLENGE = {"WWW-Authenticate": "Bearer"}
log = logging.getLogger("syncworker.http.auth")


def tokens_match(given: str, expected: str) -> bool:
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header can carry any latin-1 text.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# Health, the webhook (it has its signature) and the API's own description.
OPEN_PATHS = frozenset({"/health", "/webhooks/xero", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                        "/portal/login"})
# The console checks its own session cookie and CSRF token (http/console/session.py); /docs has static files;
# the client portal's invitation links carry their credential, the token, in the path (http/portal.py).
OPEN_PREFIXES = ("/console/", "/docs/assets/", "/portal/accept/")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path == "/console" or path.startswith(OPEN_PREFIXES)


def refusal(expected: str | None, authorization: str | None) -> tuple[int, str] | None:
    """Why a request with this Authorization header is refused (status, reason), or None to let it in."""
    if not expected:
        return 503, "SYNCWORKER_OPERATOR_TOKEN is not set: operator endpoints are disabled"
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return 401, "missing bearer token: send Authorization: Bearer <operator token>"
    if not tokens_match(token.strip(), expected):
        return 401, "invalid bearer token"
    return None


class OperatorGate:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_open(scope["path"]):
            header = dict(scope["headers"]).get(b"authorization")
            refused = refusal(self.token, header.decode("latin-1") if header is not None else None)
            if refused:
                status, reason = refused
                client = scope.get("client") or ("?", 0)
                log.warning("operator request refused: %s", reason,
                            extra={"status_code": status, "path": scope["path"], "client_host": client[0]})
                await JSONResponse({"detail": reason}, status_code=status,
                                   headers=CHALLENGE if status == 401 else None)(scope, receive, send)
                return

            async def no_store(message: Message) -> None:
                # Operator answers carry client data: no proxy or browser cache may keep them.
                if message["type"] == "http.response.start":
                    message.setdefault("headers", []).append((b"cache-control", b"no-store"))
                await send(message)

            await self.app(scope, receive, no_store)
            return
        await self.app(scope, receive, send)


def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    given = f"Bearer {credentials.credentials}" if credentials is not None else None
    refused = refusal(request.app.state.ctx.settings.operator_token, given)
    if refused:
        status, reason = refused
        raise HTTPException(status, reason, headers=CHALLENGE if status == 401 else None)


def client_address(request: Request, trusted: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """Who is on the other end: the peer, or, when the peer is one of the `trusted` proxies, the nearest hop
    of X-Forwarded-For that is not (a client can write anything at the left of that header; only what our
    own proxies appended is believed). A hop that is not an IP address ends the walk at the last good one."""
    peer = request.client.host if request.client else "unknown"
    networks = tuple(trusted)

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    found = peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    while is_trusted(found) and hops:
        hop = hops.pop()
        try:
            found = str(ipaddress.ip_address(hop))
        except ValueError:
            break
    return found


def operator_name(
    x_operator: Annotated[str | None, Header(description="Who is acting, for the audit log.")] = None,
) -> str:
    if x_operator is None or not x_operator.strip():
        return "operator"
    name = x_operator.strip()
    if not _ACTOR.match(name):
        raise HTTPException(422, "X-Operator must be 1-100 letters, digits, spaces or . @ ' - _")
    return name


Actor = Annotated[str, Depends(operator_name)]
