"""The sync conflict queue over HTTP (as `syncworker conflicts list|resolve`). Included by
syncworker.http.app behind the operator token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from syncworker.http.auth import Actor
from syncworker.http.deps import Ctx, Jobs, SystemFilter, TenantQuery
from syncworker.jobs.base import JobRejected, JobRequest
from syncworker.services.conflicts import list_conflicts, resolve_conflict
from syncworker.services.systems import check_system

router = APIRouter(tags=["conflicts"])


class Resolution(BaseModel):
    """Exactly one of `take` (keep that side's value) or `value` (an operator's own; null is not allowed,
    take the blank side instead)."""

    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    take: Literal["local", "remote"] | None = None
    value: str | None = Field(default=None, max_length=1000)
    sync_now: bool = Field(default=False, description="Queue a sync of the pair's system right away.")

    @model_validator(mode="after")
    def _one_choice(self) -> Resolution:
        if (self.take is None) == (self.value is None):
            raise ValueError("give exactly one of take (local or remote) or value")
        return self


@router.get("/conflicts")
def get_conflicts(
    ctx: Ctx, tenant: TenantQuery, system: SystemFilter = None,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> list[dict[str, Any]]:
    """Conflicts with their base, local and remote values; open ones unless `status` says otherwise."""
    return list_conflicts(ctx.db, tenant, status=None if status == "all" else status,
                          system=check_system(system) if system else None, limit=limit)


@router.post("/conflicts/{conflict_id}/resolve")
def resolve(conflict_id: int, body: Resolution, ctx: Ctx, jobs: Jobs, actor: Actor) -> dict[str, Any]:
    """Settle a conflict: the local record takes the chosen value at once (audited), the next sync writes
    it to the remote system (queued at once with `sync_now`). 404 unknown id, 409 already resolved."""
    out = resolve_conflict(ctx, body.tenant, conflict_id, take=body.take, value=body.value, actor=actor)
    if body.sync_now:
        try:
            run_id = jobs.submit(JobRequest("sync", body.tenant, {"system": out["system"]}, trigger="operator"))
            out["sync"] = {"queued": True, "run_id": run_id}
        except JobRejected as exc:  # the resolution stands; the next sync applies it
            out["sync"] = {"queued": False, "reason": str(exc), "busy_run_id": exc.busy_run_id}
    return out
