"""Duplicate clusters among local clients and contacts (as `syncworker duplicates`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from syncworker.http.auth import Actor
from syncworker.http.deps import Ctx, TenantQuery
from syncworker.services.duplicates import list_clusters, resolve

router = APIRouter(tags=["duplicates"])


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)
    action: Literal["merged", "not_duplicates"]
    survivor: str | None = Field(default=None, min_length=1, max_length=120,
                                 description="With merged: the record that remains (client id, or contact:ID).")

    @model_validator(mode="after")
    def _survivor_when_merging(self) -> Resolution:
        if self.action == "merged" and not self.survivor:
            raise ValueError("merging needs a survivor: the record that remains")
        return self


@router.get("/duplicates")
def list_duplicates(
    ctx: Ctx, tenant: TenantQuery,
    status: Annotated[Literal["unresolved", "merged", "not_duplicates", "all"], Query()] = "unresolved",
) -> list[dict[str, Any]]:
    """Clusters (duplicate: merge them; same_person: a contact who is also a client)."""
    return list_clusters(ctx.db, tenant, status=None if status == "all" else status)


@router.post("/duplicates/{cluster_id}/resolve")
def resolve_cluster(cluster_id: Annotated[int, Path(ge=1)], body: Resolution, ctx: Ctx,
                    actor: Actor) -> dict[str, Any]:
    """Mark a cluster not duplicates, or merged into `survivor` (its links, contacts, connections and groups
    move to the survivor)."""
    return resolve(ctx.db, body.tenant, cluster_id, body.action, actor, body.survivor)
