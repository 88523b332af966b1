"""`GET /health` (open): is the database reachable, its schema the one this code expects, and the secret key
the one the stored credentials were encrypted with. 200 when all hold, 503 otherwise, so a load balancer or
orchestrator stops sending traffic (a wrong key would fail every run as an internal error)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from syncworker.http.deps import Ctx

router = APIRouter(tags=["health"])
log = logging.getLogger("syncworker.http")


@router.get("/health", responses={503: {"description": "database unreachable, schema not current, or the secret "
                                                       "key cannot decrypt the stored credentials"}})
def health(ctx: Ctx, request: Request) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "database": "reachable", "schema": "current"}
    try:
        with ctx.db.engine.connect() as conn:
            conn.execute(text("select 1"))
        current = ctx.db.current_revision()
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"; the URL is never shown
        return _unreachable(body, exc)
    head = request.app.state.schema_head
    if current != head:
        body.update(status="unavailable", schema="behind" if current else "empty",
                    detail=f"database schema is at {current or 'nothing'}, code expects {head}: "
                           "run `syncworker db upgrade`")
        return JSONResponse(body, status_code=503)
    try:  # it reads the credentials, and now and then searches for sealed data: the connection can drop
        problem = request.app.state.key_check.problem()
    except Exception as exc:  # noqa: BLE001 - as above: a 503 the load balancer understands, not a 500
        return _unreachable(body, exc)
    if problem:
        body.update(status="unavailable", secret_key="unusable", detail=problem)
        return JSONResponse(body, status_code=503)
    body["secret_key"] = "ok"
    return JSONResponse(body)


def _unreachable(body: dict[str, Any], exc: Exception) -> JSONResponse:
    """The 503 for a database that failed the probe at any step (its error's class is logged, never its text,
    which can hold the URL)."""
    log.warning("health: database unreachable: %s", type(exc).__name__)
    body.update(status="unavailable", database="unreachable", schema="unknown")
    return JSONResponse(body, status_code=503)
