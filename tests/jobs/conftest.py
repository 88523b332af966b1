"""Shared set-up for job tests: tenants connected to a system, and the probe job kind in place of real ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from syncworker.config import Settings
from syncworker.jobs import base
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from syncworker.store.models import TenantSystem
from syncworker.store.types import utcnow
from tests.factories import make_tenant
from tests.jobs import probe

PROBE = probe.probe


def connect(db: Database, tenant: str, system: str = "xpm", *, since: timedelta = timedelta(days=3),
            status: str = "connected") -> int:
    """A tenant connected to `system` `since` ago (no credentials: real jobs fail "not connected")."""
    tenant_id = make_tenant(db, tenant)
    with db.session() as s:
        s.add(TenantSystem(tenant_id=tenant_id, system=system, status=status, created_at=utcnow() - since))
    return tenant_id


def services(db: Database, **schedules: str) -> ServiceContext:
    return ServiceContext(db, Settings(database_url=db.url, schedules=schedules))


@pytest.fixture
def probe_jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every job kind runs the probe, which records its start and end."""
    for kind in list(base.JOBS):
        monkeypatch.setitem(base.JOBS, kind, PROBE)
    monkeypatch.setitem(base.JOBS, "probe", PROBE)
    probe.reset()
    yield
    probe.reset()


def at(dt: datetime, **delta: float) -> datetime:
    return dt + timedelta(**delta)
