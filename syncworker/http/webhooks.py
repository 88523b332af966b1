"""`POST /webhooks/xero`: Xero's webhook callback (reference §2.4).

The signature (`x-xero-signature`, base64 HMAC-SHA256 of the raw body with SYNCWORKER_XERO_WEBHOOK_KEY)
is checked on the raw bytes before anything else is looked at (the Content-Type included); a bad one gets
401 with an empty body, which is also how the Intent-to-Receive probes are answered (200 empty for a good
signature). Xero wants an answer within 5 seconds: the endpoint only stores the events and queues the
pulls; the executor does the rest. Refusals are logged with their reason and size, never the body.

Events for a Xero tenant no tenant here is connected to are answered 200 and counted as ignored: Xero
retries any other answer for 24 hours and then disables the app's webhook for every tenant, and no retry
can ever succeed (the subscription is app-wide, so events of an organisation that disconnected keep coming).
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from syncworker.http import xero_events
from syncworker.http.limits import MAX_BODY
from syncworker.http.metrics import WebhookCounters

router = APIRouter(tags=["webhooks"])
log = logging.getLogger("syncworker.http.webhooks")
ANSWER_WITHIN = 4.0  # seconds for storing and queueing; Xero gives up at 5


class _Refused(Exception):
    def __init__(self, status: int, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.outcome, self.reason = status, outcome, reason


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise _Refused(400, "malformed", "invalid Content-Length")
        if int(declared) > MAX_BODY:
            raise _Refused(413, "too_large", f"body larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:  # a missing or lying Content-Length
            raise _Refused(413, "too_large", f"body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


@router.post("/webhooks/xero", status_code=200, response_class=Response,
             responses={200: {"description": "accepted (empty body)"}, 401: {"description": "bad signature"},
                        400: {"description": "malformed payload"}, 413: {"description": "body over 1 MiB"},
                        415: {"description": "not application/json (checked after the signature)"}})
async def xero_webhook(request: Request) -> Response:
    """Receive Xero events: verify, store each once, queue one targeted pull per tenant."""
    counters: WebhookCounters = request.app.state.webhook_counters
    ctx, executor = request.app.state.ctx, request.app.state.executor
    key = ctx.settings.xero_webhook_key
    size = 0
    try:
        if not key:
            raise _Refused(503, "not_configured", "SYNCWORKER_XERO_WEBHOOK_KEY is not set")
        body = await _read_body(request)
        size = len(body)
        if not xero_events.signature_valid(body, request.headers.get("x-xero-signature"), key):
            counters.delivery("bad_signature")
            log.warning("xero webhook refused: bad signature", extra={"size_bytes": size})
            return Response(status_code=401)  # empty, as Xero's Intent to Receive expects
        if not _is_json(request.headers.get("content-type")):
            raise _Refused(415, "unsupported_media_type", "Content-Type must be application/json")
        try:
            events = xero_events.parse(body)
        except xero_events.MalformedPayload as exc:
            raise _Refused(400, "malformed", str(exc)) from None
        if not events:
            counters.delivery("intent_to_receive")
            return Response(status_code=200)
        try:
            intake = await asyncio.wait_for(
                run_in_threadpool(xero_events.record_and_queue, ctx, executor, events), ANSWER_WITHIN)
        except TimeoutError:
            # Xero retries a failed delivery; whatever was stored meanwhile deduplicates the retry.
            raise _Refused(503, "timeout", "could not store the events in time; retry") from None
    except _Refused as refused:
        counters.delivery(refused.outcome)
        log.warning("xero webhook refused: %s", refused.reason,
                    extra={"status_code": refused.status, "size_bytes": size})
        return JSONResponse({"detail": refused.reason}, status_code=refused.status)
    counters.event("recorded", intake.recorded)
    counters.event("duplicate", intake.duplicates)
    log.info("xero webhook: %d events recorded (%d not pulled: not contacts), %d duplicates, %d pulls queued, "
             "%d tenants busy", intake.recorded, intake.not_pulled, intake.duplicates, len(intake.runs),
             len(intake.busy))
    if intake.unknown_tenants:
        # 200 all the same (see the module docstring); the count says how many events nobody here wanted.
        counters.event("ignored_unknown_tenant", intake.ignored_unknown)
        log.warning("xero webhook: %d events for Xero tenants not connected here were ignored",
                    intake.ignored_unknown, extra={"unknown_tenants_count": len(intake.unknown_tenants)})
    counters.delivery("accepted")
    return Response(status_code=200)
