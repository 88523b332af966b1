"""Request bodies are capped (1 MiB) before any route reads them: a declared Content-Length over the cap
is refused at once, and a body that streams past it (chunked, or a lying header) is cut off with 413.
The Xero webhook enforces the same cap itself so it can count and log its refusals."""

from __future__ import annotations

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
