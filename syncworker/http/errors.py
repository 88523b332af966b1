"""Errors as answers: the services' known errors become 4xx with their message; request validation
becomes 422 (400 for a body that is not JSON) with the reasons but never the submitted values; anything
else is a bug: 500 with an error id to find in the log, and neither the message nor the data in the
answer or the log (exception messages can carry SQL parameters, so the log gets the type and the frames).
"""

from __future__ import annotations

import logging
import traceback
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncworker.domain.connections import ConnectionRefused
from syncworker.jobs.base import JobRejected
from syncworker.services.conflicts import ConflictError
from syncworker.services.duplicates import DuplicateError
from syncworker.services.links import LinkError
from syncworker.services.systems import UnknownSystem
from syncworker.services.tenants import TenantError, TenantInUse
from syncworker.store.crypto import SecretKeyError

log = logging.getLogger("syncworker.http")


def _is_missing(exc: Exception) -> bool:
    # The services say "no <thing> with id N ..." when the thing does not exist in this tenant.
    return str(exc).startswith("no ")


_STATE_RULES = {"duplicate", "group_exists", "already_member"}  # ConnectionRefused rules that clash with what exists


def status_for(exc: Exception) -> int:
    """The status for a known service error: 404 missing, 409 clashes with the current state, 422 invalid."""
    if isinstance(exc, JobRejected):
        return 409 if exc.busy_run_id is not None else 422
    if isinstance(exc, TenantInUse):
        return 409
    if isinstance(exc, TenantError | LookupError):
        return 404
    if isinstance(exc, LinkError | DuplicateError):  # their not-found kinds are LookupErrors, handled above
        return 409
    if isinstance(exc, ConflictError):
        return 404 if _is_missing(exc) else 409 if "already" in str(exc) else 422
    if isinstance(exc, ConnectionRefused):
        return 409 if exc.rule in _STATE_RULES else 422
    return 422  # UnknownSystem and other invalid-value errors


def detail(message: str, **extra: Any) -> dict[str, Any]:
    return {"detail": message, **extra}


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(exc, JobRejected) and exc.busy_run_id:
        extra["busy_run_id"] = exc.busy_run_id
    if isinstance(exc, ConnectionRefused):
        extra["rule"] = exc.rule
    return JSONResponse(detail(str(exc), **extra), status_code=status_for(exc))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]  # no "input"/"ctx": they echo what was sent
    if any(e["type"] == "json_invalid" for e in errors):
        return JSONResponse(detail("the request body is not valid JSON"), status_code=400)
    reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return JSONResponse(detail(f"invalid request: {reasons}", errors=errors), status_code=422)


class CatchBugs:
    """Outermost-but-one ASGI layer: an unexpected exception becomes a plain 500 naming an error id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            error_id = uuid.uuid4().hex[:12]
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unhandled error %s in %s %s: %s\n%s", error_id, scope.get("method"), scope.get("path"),
                      type(exc).__name__, frames)
            if started:
                raise
            response = JSONResponse(detail("internal error", error_id=error_id), status_code=500)
            await response(scope, receive, send)


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    # An id or number the database cannot hold (PostgreSQL integer > 2^31-1, SQLite > 2^63-1), or a value
    # its column refuses: the request is wrong, not the server. The exception's text quotes the values.
    log.info("refused a value the database cannot hold", extra={"error_class": type(exc).__name__,
                                                              "path": request.url.path})
    return JSONResponse(detail("a value in the request is out of range for its field (an id that cannot "
                               "exist, or a number or text too large)"), status_code=422)


async def _secret_key(request: Request, exc: Exception) -> JSONResponse:
    """Stored secrets (credentials, tax numbers) cannot be used with the configured key: the service is not
    usable until the key is fixed, which `/health` says too."""
    return JSONResponse(detail(str(exc)), status_code=503)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SecretKeyError, _secret_key)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(OverflowError, _out_of_range)
    for exc_type in (TenantError, LookupError, LinkError, DuplicateError, ConflictError, ConnectionRefused,
                     UnknownSystem, JobRejected):
        app.add_exception_handler(exc_type, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_middleware(CatchBugs)
