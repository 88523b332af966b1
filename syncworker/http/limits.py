"""Input limits at the edge. Request bodies are capped (1 MiB) before any route reads them: a declared Content-Length over the cap
is refused at once, and a body that streams past it (chunked, or a lying header) is cut off with 413.
The Xero webhook enforces the same cap itself so it can count and log its refusals."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024


def too_large(limit: int) -> HTTPException:
    # An HTTPException, so FastAPI passes it through body parsing unchanged instead of calling it a 400.
    return HTTPException(413, f"request body larger than {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY, exempt: frozenset[str] = frozenset()) -> None:
        self.app, self.limit, self.exempt = app, limit, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            reason = None if declared.isdigit() else (400, "invalid Content-Length")
            if reason is None and int(declared) > self.limit:
                reason = (413, f"request body larger than {self.limit} bytes")
            if reason:
                await JSONResponse({"detail": reason[1]}, status_code=reason[0])(scope, receive, send)
                return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise too_large(self.limit)
            return message

        await self.app(scope, counting_receive, send)


# --- one rule per kind of value, for every operator endpoint ---
MAX_JSON_DEPTH = 20
MAX_INT = 2**63 - 1  # the widest integer column; ids beyond the database's range are refused as not found
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BadInput(ValueError):
    pass


def check_json(value: Any, where: str = "body", depth: int = 0) -> None:
    """NUL and control characters (tab, CR and LF allowed), integers beyond 64 bits, nesting beyond
    MAX_JSON_DEPTH: each refused with the place it was found, never the value."""
    if depth > MAX_JSON_DEPTH:
        raise BadInput(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if _CONTROL.search(value):
            raise BadInput(f"{where}: contains a control character (NUL or similar)")
    elif isinstance(value, bool | float) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > MAX_INT:
            raise BadInput(f"{where}: integer out of range")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key, f"{where} key", depth + 1)
            check_json(item, f"{where}.{key}" if not _CONTROL.search(key) else where, depth + 1)


def check_target(path: str, query: str) -> None:
    if _CONTROL.search(unquote(path)):
        raise BadInput("the path contains a control character")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise BadInput(f"query parameter {name[:40]!r} contains a control character (NUL or similar)"
                           if not _CONTROL.search(name) else "a query parameter name contains a control character")


class InputGuard:
    """Refuses, with 422 and the reason, what no field accepts: control characters in the path, the query
    or any JSON string, JSON nested too deeply or with integers beyond 64 bits (the body is read once,
    checked, and handed on). Paths in `exempt` (the signed webhook) check their own input after the
    signature."""

    def __init__(self, app: ASGIApp, exempt: frozenset[str] = frozenset()) -> None:
        self.app, self.exempt = app, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        try:
            check_target(scope["path"], scope.get("query_string", b"").decode("latin-1"))
        except BadInput as exc:
            await JSONResponse({"detail": f"invalid request: {exc}"}, status_code=422)(scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            try:
                message = await receive()
            except HTTPException as exc:  # the body limit, outside: answered here, as the route would
                await JSONResponse({"detail": exc.detail}, status_code=exc.status_code)(scope, receive, send)
                return
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client went away: let the app see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        problem = None
        if body.strip():
            try:
                check_json(json.loads(body))
            except BadInput as exc:
                problem = f"invalid request: {exc}"
            except RecursionError:
                problem = f"invalid request: body: nested deeper than {MAX_JSON_DEPTH} levels"
            except (ValueError, UnicodeDecodeError):
                pass  # not JSON: the route's own parsing answers 400/422
        if problem:
            await JSONResponse({"detail": problem}, status_code=422)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
