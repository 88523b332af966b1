"""The sync conflict queue and the field rules over HTTP (as `syncworker conflicts list|resolve|take` and
`syncworker rules show|set|clear`). Included by syncworker.http.app behind the operator token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from syncworker.domain.sync import Direction, Policy, RuleError
from syncworker.http.auth import Actor
from syncworker.http.deps import Ctx, Jobs, SystemFilter, TenantQuery
from syncworker.jobs.base import JobKind, JobRejected, JobRequest
from syncworker.services.conflicts import list_conflicts, resolve_conflict, resolve_many, review_items
from syncworker.services.field_rules import clear_rules, set_rule, show_rules
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


@router.get("/conflicts/by-client")
def get_review_items(
    ctx: Ctx, tenant: TenantQuery, system: SystemFilter = None,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
    run_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> list[dict[str, Any]]:
    """One review item per linked client: its conflicting fields side by side with the reason each is there."""
    return review_items(ctx.db, tenant, status=None if status == "all" else status,
                        system=check_system(system) if system else None, run_id=run_id, limit=limit)


class BulkResolution(BaseModel):
    """Take one side for every open conflict chosen by client, field, run and/or system (they combine), or
    for every open conflict with `all_open`."""

    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    take: Literal["local", "remote"]
    client: str | None = Field(default=None, min_length=1, max_length=120, description="A local client id.")
    field: str | None = Field(default=None, min_length=1, max_length=60)
    run_id: int | None = Field(default=None, ge=1)
    system: str | None = Field(default=None, max_length=20)
    all_open: bool = False


@router.post("/conflicts/resolve")
def resolve_bulk(body: BulkResolution, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Settle many conflicts at once; each is audited, and so is the bulk decision. 422 when nothing says
    which conflicts."""
    return resolve_many(ctx, body.tenant, body.take, client=body.client, field=body.field, run_id=body.run_id,
                        system=check_system(body.system) if body.system else None, all_open=body.all_open,
                        actor=actor)


@router.get("/rules", tags=["rules"])
def get_rules(ctx: Ctx, tenant: TenantQuery, system: SystemFilter = None) -> dict[str, Any]:
    """The field rules in effect for a tenant (the file's, then its overrides), every field of every system."""
    return _rules(lambda: show_rules(ctx.db, tenant, system))


class RuleOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    field: str = Field(min_length=1, max_length=60)
    system: str | None = Field(default=None, max_length=20, description="Only this system; default every system.")
    direction: Direction | None = None
    policy: Policy | None = None
    first_sync: Policy | None = None


@router.put("/rules", tags=["rules"])
def put_rule(body: RuleOverride, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Override one field's rule for a tenant (validated; audited). Returns the tenant's overrides."""
    keys = {k: getattr(body, k).value if getattr(body, k) else None for k in ("direction", "policy", "first_sync")}
    return {"overrides": _rules(lambda: set_rule(ctx.db, body.tenant, field=body.field, system=body.system,
                                                 actor=actor, **keys))}


@router.delete("/rules", tags=["rules"])
def delete_rules(ctx: Ctx, actor: Actor, tenant: TenantQuery, system: SystemFilter = None,
                 field: Annotated[str | None, Query(max_length=60)] = None) -> dict[str, Any]:
    """Drop a tenant's overrides (all, a system's, or one field's)."""
    return {"overrides": _rules(lambda: clear_rules(ctx.db, tenant, field=field, system=system, actor=actor))}


def _rules(call: Any) -> Any:
    try:
        return call()
    except RuleError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


@router.post("/conflicts/{conflict_id}/resolve")
def resolve(conflict_id: int, body: Resolution, ctx: Ctx, jobs: Jobs, actor: Actor) -> dict[str, Any]:
    """Settle a conflict: the local record takes the chosen value at once (audited), the next sync writes
    it to the remote system (queued at once with `sync_now`). 404 unknown id, 409 already resolved."""
    out = resolve_conflict(ctx, body.tenant, conflict_id, take=body.take, value=body.value, actor=actor)
    if body.sync_now:
        try:
            run_id = jobs.submit(JobRequest(JobKind.SYNC, body.tenant, {"system": out["system"]}, trigger="operator"))
            out["sync"] = {"queued": True, "run_id": run_id}
        except JobRejected as exc:  # the resolution stands; the next sync applies it
            out["sync"] = {"queued": False, "reason": str(exc), "busy_run_id": exc.busy_run_id}
    return out
