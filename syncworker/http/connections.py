"""Client connections and client groups over HTTP (as `syncworker connections` and `syncworker groups`).
Operator auth is applied where the app includes this router; `X-Operator` names the actor in the audit.
A broken rule answers 409 (the same fact exists already) or 422, with the rule's message as `detail` and its
name in the `X-Rule` header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from syncworker.domain.connections import ConnectionRefused
from syncworker.http.auth import Actor
from syncworker.http.deps import Ctx, Jobs, TenantQuery
from syncworker.jobs.base import JobKind, JobRequest
from syncworker.services import connections as conn_svc
from syncworker.services import groups as group_svc
from syncworker.services.tenants import get_tenant

router = APIRouter(tags=["connections"])
R = TypeVar("R")
CONFLICTING = frozenset({"duplicate", "already_member", "group_exists"})
ClientRef = Annotated[str, Field(min_length=1, max_length=100)]
ClientQuery = Annotated[str | None, Query(min_length=1, max_length=100, description="A client's id.")]


def _refusals(call: Callable[[], R]) -> R:
    try:
        return call()
    except ConnectionRefused as exc:
        status = 409 if exc.rule in CONFLICTING else 422
        raise HTTPException(status, str(exc), headers={"X-Rule": exc.rule}) from None


class NewConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    client: ClientRef
    related: ClientRef
    type: str | None = Field(default=None, max_length=50, description="Default business-person: employee.")
    description: str | None = Field(default=None, max_length=200, description="Shown on the client's record.")
    related_description: str | None = Field(default=None, max_length=200,
                                            description="Shown on the related client's record.")


class PrimaryContact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    business: ClientRef
    person: ClientRef


class NewGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    members: list[ClientRef] = Field(default_factory=list, max_length=1000)


class MemberChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    add: list[ClientRef] = Field(default_factory=list, max_length=1000)
    remove: list[ClientRef] = Field(default_factory=list, max_length=1000)


@router.get("/connections")
def list_connections(ctx: Ctx, tenant: TenantQuery, client: ClientQuery = None) -> list[dict[str, Any]]:
    """Every connection, or one client's as its record shows them (`other`, `shown_as`)."""
    return _refusals(lambda: conn_svc.list_connections(ctx.db, tenant, client))


@router.post("/connections", status_code=201)
def add_connection(body: NewConnection, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Connect two clients: both records show it at once. "related is type of client"."""
    return _refusals(lambda: conn_svc.add_connection(
        ctx.db, body.tenant, body.client, body.related, body.type, description=body.description,
        related_description=body.related_description, actor=actor))


@router.delete("/connections/{connection_id}")
def remove_connection(connection_id: int, ctx: Ctx, actor: Actor, tenant: TenantQuery) -> dict[str, Any]:
    """Delete a connection: both sides go at once; a removed primary contact is handed to the next person."""
    return _refusals(lambda: conn_svc.remove_connection(ctx.db, tenant, connection_id, actor=actor))


@router.delete("/connections")
def remove_connection_between(
    ctx: Ctx, actor: Actor, tenant: TenantQuery,
    client: Annotated[str, Query(min_length=1, max_length=100)],
    related: Annotated[str, Query(min_length=1, max_length=100)],
    type: Annotated[str | None, Query(max_length=50)] = None,  # noqa: A002 - the API's name
) -> dict[str, Any]:
    """Delete the connection between two clients, named from either side."""
    return _refusals(lambda: conn_svc.remove_connection(ctx.db, tenant, client_ref=client, related_ref=related,
                                                        type_key=type, actor=actor))


@router.put("/connections/primary")
def set_primary(body: PrimaryContact, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Make a person connected to a business its primary contact."""
    return _refusals(lambda: conn_svc.set_primary_contact(ctx.db, body.tenant, body.business, body.person, actor))


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    system: Literal["xpm", "aps"] = "xpm"
    full: StrictBool = False


@router.post("/connections/sync", status_code=202)
def sync_connections(body: SyncRequest, ctx: Ctx, jobs: Jobs, response: Response) -> dict[str, Any]:
    """Queue a relationship and group sync with XPM or APS (job kind "relationship_sync"); poll `status_url`."""
    with ctx.db.session() as s:
        get_tenant(s, body.tenant)
    run_id = jobs.submit(JobRequest(kind=JobKind.RELATIONSHIP_SYNC, tenant=body.tenant, trigger="operator",
                                    params={"system": body.system, "full": body.full}))
    response.headers["Location"] = f"/runs/{run_id}"
    return {"run_id": run_id, "status_url": f"/runs/{run_id}"}


@router.get("/groups")
def list_groups(ctx: Ctx, tenant: TenantQuery, client: ClientQuery = None) -> list[dict[str, Any]]:
    """Every client group, or the groups one client is in."""
    return _refusals(lambda: group_svc.list_groups(ctx.db, tenant, client))


@router.post("/groups", status_code=201)
def add_group(body: NewGroup, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return _refusals(lambda: group_svc.add_group(ctx.db, body.tenant, body.name, body.members, actor))


@router.get("/groups/{group}/members")
def group_members(group: str, ctx: Ctx, tenant: TenantQuery) -> dict[str, Any]:
    """A group (id or name) with its members."""
    return _refusals(lambda: group_svc.group_members(ctx.db, tenant, group))


@router.patch("/groups/{group}/members")
def change_members(group: str, body: MemberChange, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    """Add and remove members, all or nothing."""
    return _refusals(lambda: group_svc.group_members(ctx.db, body.tenant, group, add=body.add, remove=body.remove,
                                                     actor=actor))


@router.delete("/groups/{group}")
def remove_group(group: str, ctx: Ctx, actor: Actor, tenant: TenantQuery) -> dict[str, Any]:
    return _refusals(lambda: group_svc.remove_group(ctx.db, tenant, group, actor))
