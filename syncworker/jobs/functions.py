"""The job functions: thin adapters from a JobRequest to the service that does the work. Each imports its
service when it runs, so the registry (`jobs.base.JOBS`) costs nothing to import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncworker.jobs.base import JobRequest
    from syncworker.services.context import ServiceContext


def link_run(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    from syncworker.services.link_run import run_link_run
    from syncworker.services.run_frame import RunRefused

    p = request.params
    try:
        report = run_link_run(ctx, request.tenant, str(p.get("system", "xpm")), dry_run=bool(p.get("dry_run")),
                              trigger=request.trigger, run_id=run_id)
    except RunRefused as exc:
        return {"status": "refused", "message": str(exc)}
    return {"status": report.status, "counts": report.counts}


def sync(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    from syncworker.services.sync_run import run_sync_job

    return run_sync_job(ctx, request, run_id)  # type: ignore[no-any-return]


def webhook_pull(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    from syncworker.services.sync_run import run_webhook_pull_job

    return run_webhook_pull_job(ctx, request, run_id)  # type: ignore[no-any-return]


def relationship_sync(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    from syncworker.services.relationship_sync import run_relationship_sync_job

    return run_relationship_sync_job(ctx, request, run_id)
