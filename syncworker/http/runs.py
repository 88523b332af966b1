"""Runs: start a link run or a sync through the executor, and follow it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from syncworker.http.auth import Actor
from syncworker.http.deps import Ctx, Jobs, TenantQuery
from syncworker.jobs.base import JobRequest
from syncworker.services.queries import list_runs, show_run
from syncworker.services.tenants import get_tenant

router = APIRouter(tags=["runs"])


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    kind: Literal["link_run", "sync"]
    system: Literal["xpm", "xero", "aps"] = "xpm"
    dry_run: StrictBool = False


class RunAccepted(BaseModel):
    run_id: int
    status_url: str


@router.post("/runs", status_code=202, response_model=RunAccepted,
             responses={404: {"description": "unknown tenant"},
                        409: {"description": "the tenant has a run in progress (busy_run_id names it)"}})
def start_run(body: RunRequest, ctx: Ctx, jobs: Jobs, response: Response) -> RunAccepted:
    """Queue a link run or a sync for a tenant; poll `status_url` for its progress and outcome."""
    with ctx.db.session() as s:
        get_tenant(s, body.tenant)  # unknown tenant: 404, before the executor sees the request
    run_id = jobs.submit(JobRequest(kind=body.kind, tenant=body.tenant, trigger="operator",
                                    params={"system": body.system, "dry_run": body.dry_run}))
    response.headers["Location"] = f"/runs/{run_id}"
    return RunAccepted(run_id=run_id, status_url=f"/runs/{run_id}")


@router.get("/runs/{run_id}", responses={404: {"description": "unknown run"}})
def get_run(run_id: Annotated[int, Path(ge=1)], ctx: Ctx) -> dict[str, Any]:
    """A run's status (queued, running, succeeded, partial, failed, skipped), counts, progress, message and
    errors. `queued`: waiting in the scale-out queue for a worker."""
    return show_run(ctx.db, run_id)


@router.get("/runs")
def get_runs(ctx: Ctx, tenant: TenantQuery | None = None,
             limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[dict[str, Any]]:
    """Recent runs, newest first, for one tenant or all."""
    return list_runs(ctx.db, tenant, limit=limit)


class Unblock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    force: StrictBool = False


@router.post("/tenants/unblock", responses={404: {"description": "unknown tenant"}})
def unblock(body: Unblock, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Release a tenant's lease held by a run whose worker died (with `force`, whatever holds it); the
    released runs are closed as failed. `still_busy_with_run` names a live holder left alone."""
    from syncworker.services.locks import unblock_tenant

    return unblock_tenant(ctx.db, body.tenant, ctx.settings.lock_ttl_seconds, force=body.force, actor=actor)
