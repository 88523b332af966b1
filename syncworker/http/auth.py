"""Operator authentication: `Authorization: Bearer <SYNCWORKER_OPERATOR_TOKEN>`, compared in constant
time. Without a configured token every operator endpoint answers 503 (fail closed), so a forgotten setting
never leaves the API open. The acting operator's name for the audit log comes from `X-Operator`."""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="SYNCWORKER_OPERATOR_TOKEN", bearerFormat="opaque token")
_ACTOR = re.compile(r"^[\w .@'-]{1,100}$")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def tokens_match(given: str, expected: str) -> bool:
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header can carry any latin-1 text.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = request.app.state.ctx.settings.operator_token
    if not expected:
        raise HTTPException(503, "SYNCWORKER_OPERATOR_TOKEN is not set: operator endpoints are disabled")
    if credentials is None:
        raise HTTPException(401, "missing bearer token: send Authorization: Bearer <operator token>",
                            headers=CHALLENGE)
    if credentials.scheme.lower() != "bearer" or not tokens_match(credentials.credentials, expected):
        raise HTTPException(401, "invalid bearer token", headers=CHALLENGE)


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
