"""The FastAPI application: operator endpoints behind the bearer token, the Xero webhook behind its
signature, health open, metrics behind the token. OpenAPI at /openapi.json, docs at /docs."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from syncworker import __version__
from syncworker.http import (
    conflicts,
    connections,
    console,
    docs,
    duplicates,
    errors,
    health,
    links,
    metrics,
    portal,
    reviews,
    runs,
    tenants,
    webhooks,
)
from syncworker.http.auth import OperatorGate, require_operator
from syncworker.http.limits import BodyLimit, InputGuard
from syncworker.http.metrics import WebhookCounters
from syncworker.jobs.base import Executor
from syncworker.services.context import ServiceContext
from syncworker.store.crypto import KeyCheck

OPERATOR_ROUTERS = (runs.router, reviews.router, duplicates.router, links.router, metrics.router,
                    connections.router, conflicts.router, portal.router, tenants.router)


def create_app(ctx: ServiceContext, executor: Executor, *, key_check: KeyCheck | None = None) -> FastAPI:
    """`key_check`: /health's secret-key check, when the caller ran it already (`serve` does at start-up: its
    search for a sealed value then answers the first probes too)."""
    app = FastAPI(
        docs_url=None, redoc_url=None,  # served by http/docs.py from local assets, not a CDN
        title="syncworker", version=__version__,
        description="Operator API (Authorization: Bearer SYNCWORKER_OPERATOR_TOKEN; set X-Operator to name "
                    "yourself in the audit log), Xero webhook receiver, health and Prometheus metrics.",
    )
    app.state.ctx, app.state.executor = ctx, executor
    app.state.webhook_counters = WebhookCounters()
    app.state.schema_head = ctx.db.head_revision()
    app.state.key_check = key_check or KeyCheck(ctx.db, ctx.settings.secret_key)  # /health's, shared by every probe
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(portal.public_router)  # invitation links and portal login: open, the token is the key
    for router in OPERATOR_ROUTERS:
        app.include_router(router, dependencies=[Depends(require_operator)],
                           responses={401: {"description": "missing or wrong bearer token"},
                                      503: {"description": "SYNCWORKER_OPERATOR_TOKEN is not set"}})
    console.install(app)
    docs.install(app)
    errors.install(app)
    # Outermost last: the gate refuses strangers before the body limit or anything else reads a byte.
    app.add_middleware(InputGuard, exempt=frozenset({"/webhooks/xero"}))
    app.add_middleware(BodyLimit, exempt=frozenset({"/webhooks/xero"}))
    app.add_middleware(OperatorGate, token=ctx.settings.operator_token)
    return app
