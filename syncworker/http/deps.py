"""What routes share: the service context and the executor (set on the app at start-up), and the common
query parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from syncworker.jobs.base import Executor
from syncworker.services.context import ServiceContext


def get_ctx(request: Request) -> ServiceContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def get_executor(request: Request) -> Executor:
    return request.app.state.executor  # type: ignore[no-any-return]


Ctx = Annotated[ServiceContext, Depends(get_ctx)]
Jobs = Annotated[Executor, Depends(get_executor)]
TenantQuery = Annotated[str, Query(min_length=1, max_length=200, description="Tenant (practice) name.")]
SystemFilter = Annotated[str | None, Query(max_length=20, description="Only this system (xpm, xero, aps).")]
