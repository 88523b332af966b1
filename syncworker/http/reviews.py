"""Suggested links waiting for an operator: list, approve, reject (as `syncworker review`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from syncworker.http.auth import Actor
from syncworker.http.deps import Ctx, SystemFilter, TenantQuery
from syncworker.services import links as links_svc
from syncworker.services.systems import check_system

router = APIRouter(tags=["reviews"])
ReviewId = Annotated[int, Path(ge=1)]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str | None = Field(default=None, min_length=1, max_length=200)


@router.get("/reviews")
def list_reviews(ctx: Ctx, tenant: TenantQuery, system: SystemFilter = None) -> list[dict[str, Any]]:
    """Suggestions awaiting review, best score first, with the reasons for each."""
    rows = links_svc.list_links(ctx.db, tenant, system=check_system(system) if system else None, status="suggested")
    return sorted(rows, key=lambda r: -(r["score"] or 0))


def _tenant(query: str | None, body: Decision | None) -> str:
    tenant = query or (body.tenant if body else None)
    if not tenant:
        raise HTTPException(422, "say which tenant: ?tenant=NAME or a JSON body {\"tenant\": NAME}")
    return tenant


TenantOpt = Annotated[str | None, Query(min_length=1, max_length=200, description="Tenant name (or in the body).")]
DecisionBody = Annotated[Decision | None, Body()]


@router.post("/reviews/{review_id}/approve")
def approve(review_id: ReviewId, ctx: Ctx, actor: Actor, tenant: TenantOpt = None,
            body: DecisionBody = None) -> dict[str, Any]:
    """Link the pair. Refused (409) when the suggestion was already decided or the local client has
    unresolved duplicates."""
    return links_svc.approve(ctx.db, _tenant(tenant, body), review_id, actor)


@router.post("/reviews/{review_id}/reject")
def reject(review_id: ReviewId, ctx: Ctx, actor: Actor, tenant: TenantOpt = None,
           body: DecisionBody = None) -> dict[str, Any]:
    """Reject the pair: it is not suggested again unless one of the two records changes."""
    return links_svc.reject(ctx.db, _tenant(tenant, body), review_id, actor)
