"""Links between local clients and remote records: list, link by hand, unlink (as `syncworker links`,
`link --remote` and `unlink`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from syncworker.http.auth import Actor
from syncworker.http.deps import Ctx, SystemFilter, TenantQuery
from syncworker.services import links as links_svc
from syncworker.services.systems import check_system

router = APIRouter(tags=["links"])
LocalId = Annotated[str, Query(min_length=1, max_length=100, description="The local client's id.")]
SystemQuery = Annotated[str, Query(min_length=1, max_length=20, description="xpm or xero.")]


class ManualLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    local_id: str = Field(min_length=1, max_length=100)
    system: Literal["xpm", "xero", "aps"] = "xpm"
    remote_id: str = Field(min_length=1, max_length=100)


@router.get("/links")
def list_links(
    ctx: Ctx, tenant: TenantQuery, system: SystemFilter = None,
    status: Annotated[Literal["suggested", "linked", "rejected", "broken"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Links of every status unless `status` is given."""
    return links_svc.list_links(ctx.db, tenant, system=check_system(system) if system else None, status=status)


@router.post("/links", status_code=201)
def link(body: ManualLink, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Link a local client to a remote record by id: the id must be a client of the system (in the records
    cache, or as the system answers): 404 when it is not; 409 when either is already linked elsewhere or
    the tenant is not connected to the system."""
    return links_svc.link_checked(ctx, body.tenant, body.local_id, body.system, body.remote_id, actor)


@router.delete("/links")
def unlink(ctx: Ctx, actor: Actor, tenant: TenantQuery, local_id: LocalId, system: SystemQuery) -> dict[str, Any]:
    """Remove a client's link (kept in its history; not re-linked automatically unless a record changes)."""
    return links_svc.unlink(ctx.db, tenant, local_id, check_system(system), actor)
