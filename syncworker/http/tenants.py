"""Tenants: remove a practice and its data; disconnect it from a system (its stored tokens forgotten)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from syncworker.http.auth import Actor
from syncworker.http.deps import Ctx

router = APIRouter(tags=["tenants"])


class Removal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    confirm: StrictBool = Field(description="Must be true: the tenant's data is deleted for good.")


class Disconnection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    system: Literal["xpm", "xero", "aps"]


@router.post("/tenants/remove", responses={404: {"description": "unknown tenant"},
                                           409: {"description": "the tenant has a run in progress"},
                                           422: {"description": "confirm is not true"}})
def remove(body: Removal, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Delete a tenant and all its data (clients, links, records cache, runs, credentials); refused while a
    run is in progress. Its audit entries stay, detached; the removal itself is audited."""
    from syncworker.services.tenants import remove_tenant

    if not body.confirm:
        raise HTTPException(422, detail="set confirm to true to remove the tenant and all its data")
    return remove_tenant(ctx.db, body.tenant, actor=actor)


@router.post("/tenants/disconnect", responses={404: {"description": "unknown tenant"}})
def disconnect(body: Disconnection, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Forget the tenant's stored tokens for `system`; its links stay. Runs then answer "not connected" until
    the tenant is connected again. `disconnected` is false when there was nothing to forget."""
    from syncworker.services.tenants import disconnect_system

    return {"tenant": body.tenant, "system": body.system,
            "disconnected": disconnect_system(ctx.db, body.tenant, body.system, actor=actor)}
