"""Console sign-in: a signed session cookie and CSRF tokens, with no server-side session store.

- The operator signs in with the operator token (in a password field) and their name (for the audit log).
- The session cookie holds {operator, csrf, expiry}, signed with HMAC-SHA256 under a key derived from the
  operator token: rotating the token signs everybody out, and nothing secret is stored in the cookie.
- Every form carries the session's CSRF token; a POST whose token is missing or differs is refused (403).
  The sign-in form, used before there is a session, has its own random token in a short-lived cookie
  (double submit), so another site cannot sign a browser in behind its back.
- Cookies are HttpOnly and SameSite=Strict, and Secure when the request came over TLS (directly or as
  `X-Forwarded-Proto: https` from the proxy in front).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "sw_console"
SIGNIN_COOKIE = "sw_console_signin"
SESSION_SECONDS = 8 * 3600  # a working day
SIGNIN_SECONDS = 15 * 60
OPERATOR_NAME = re.compile(r"^[\w .@'-]{1,89}$")  # + " (console)" fits the audit's 100


@dataclass(frozen=True)
class ConsoleSession:
    operator: str
    csrf: str
    expires: int

    @property
    def actor(self) -> str:
        """How the audit log names who acted."""
        return f"{self.operator} (console)"


def _key(operator_token: str) -> bytes:
    return hmac.new(operator_token.encode(), b"syncworker console session v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(operator_token: str, session: ConsoleSession) -> str:
    body = _b64(json.dumps({"op": session.operator, "csrf": session.csrf, "exp": session.expires},
                           separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(_key(operator_token), body.encode(), hashlib.sha256).digest())}"


def unseal(operator_token: str | None, value: str | None, now: float | None = None) -> ConsoleSession | None:
    """The session a cookie value carries, or None when it is absent, forged, expired or malformed."""
    if not operator_token or not value or value.count(".") != 1:
        return None
    body, sig = value.split(".")
    expected = _b64(hmac.new(_key(operator_token), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig.encode(), expected.encode()):
        return None
    try:
        data = json.loads(_unb64(body))
        session = ConsoleSession(str(data["op"]), str(data["csrf"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > (time.time() if now is None else now) else None


def new_session(operator: str, now: float | None = None) -> ConsoleSession:
    return ConsoleSession(operator, secrets.token_urlsafe(24), int((time.time() if now is None else now)
                                                                   + SESSION_SECONDS))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())  # type: ignore[union-attr]


def over_tls(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="strict",
                        secure=over_tls(request))


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/console", httponly=True, samesite="strict", secure=over_tls(request))
