"""`GET /metrics`: Prometheus text exposition (version 0.0.4), written by hand to avoid a dependency.

Needs the operator token like the other operator endpoints: the labels name tenants (practices), which
are the operator's business. Scrape with `authorization: {type: Bearer, credentials_file: ...}`.

Database figures are read at scrape time, so they are right whichever process did the work; webhook
delivery counters are this process's since it started (Prometheus handles counter resets).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from syncworker.http.deps import Ctx
from syncworker.store.models import DuplicateCluster, JobRun, Link, Tenant, WebhookEvent

router = APIRouter(tags=["metrics"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class WebhookCounters:
    """Deliveries and events seen by this process's webhook endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deliveries: Counter[str] = Counter()  # by outcome: accepted, bad_signature, malformed, ...
        self.events: Counter[str] = Counter()  # by result: recorded, duplicate

    def delivery(self, outcome: str) -> None:
        with self._lock:
            self.deliveries[outcome] += 1

    def event(self, result: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.events[result] += n

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self.deliveries), dict(self.events)


def _escape(value: object) -> str:
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _family(name: str, kind: str, help_text: str,
            samples: Iterable[tuple[dict[str, object], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{rendered}}} {_number(value)}" if rendered else f"{name} {_number(value)}")
    return lines


def _number(value: float) -> str:
    """Exact: `:g` keeps 6 digits, so a Unix timestamp read 1.79659e+09 (up to ±1.4 hours off)."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def render(ctx: Ctx, counters: WebhookCounters) -> str:
    with ctx.db.session() as s:
        names = dict(s.execute(select(Tenant.id, Tenant.name)).all())
        runs = s.execute(select(JobRun.kind, JobRun.status, func.count()).group_by(JobRun.kind, JobRun.status)).all()
        reviews = s.execute(select(Link.tenant_id, func.count()).where(Link.status == "suggested")
                            .group_by(Link.tenant_id)).all()
        clusters = s.execute(select(DuplicateCluster.tenant_id, func.count())
                             .where(DuplicateCluster.status == "unresolved").group_by(DuplicateCluster.tenant_id)).all()
        last = s.execute(select(JobRun.tenant_id, JobRun.kind, func.max(JobRun.finished_at))
                         .where(JobRun.finished_at.is_not(None), JobRun.tenant_id.is_not(None))
                         .group_by(JobRun.tenant_id, JobRun.kind)).all()
        stored = s.execute(select(WebhookEvent.system, WebhookEvent.processed_at.is_(None), func.count())
                           .group_by(WebhookEvent.system, WebhookEvent.processed_at.is_(None))).all()
    deliveries, events = counters.snapshot()
    out: list[str] = []
    out += _family("syncworker_runs", "gauge", "Runs recorded, by kind and status.",
                   (({"kind": k, "status": st}, n) for k, st, n in runs))
    out += _family("syncworker_open_reviews", "gauge", "Suggested links awaiting an operator, per tenant.",
                   (({"tenant": names.get(t, t)}, n) for t, n in reviews))
    out += _family("syncworker_unresolved_duplicate_clusters", "gauge", "Unresolved duplicate clusters, per tenant.",
                   (({"tenant": names.get(t, t)}, n) for t, n in clusters))
    out += _family("syncworker_last_run_finished_timestamp_seconds", "gauge",
                   "When the tenant's last run of this kind finished (Unix time).",
                   (({"tenant": names.get(t, t), "kind": k}, at.timestamp()) for t, k, at in last))
    out += _family("syncworker_webhook_events_stored", "gauge", "Webhook events stored, by processing state.",
                   (({"system": sys_, "state": "pending" if pending else "processed"}, n)
                    for sys_, pending, n in stored))
    out += _family("syncworker_webhook_deliveries_total", "counter",
                   "Webhook deliveries answered by this process, by outcome.",
                   (({"outcome": o}, n) for o, n in sorted(deliveries.items())))
    out += _family("syncworker_webhook_events_total", "counter",
                   "Webhook events received by this process: recorded (new), duplicate (already stored), "
                   "ignored_unknown_tenant (for a Xero tenant not connected here; answered 200).",
                   (({"result": r}, events.get(r, 0)) for r in ("recorded", "duplicate", "ignored_unknown_tenant")))
    return "\n".join(out) + "\n"


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(ctx: Ctx, request: Request) -> PlainTextResponse:
    """Prometheus text: runs by kind and status, open reviews, unresolved duplicate clusters, last run per
    tenant, webhook deliveries and events (recorded / deduplicated). Needs the operator bearer token
    (`Authorization: Bearer $SYNCWORKER_OPERATOR_TOKEN`), like every operator endpoint: the labels name
    tenants."""
    return PlainTextResponse(render(ctx, request.app.state.webhook_counters), media_type=CONTENT_TYPE)
