"""Which status each known service error becomes (the real-server tests cover the common ones end to end)."""

from __future__ import annotations

import pytest

from syncworker.domain.connections import ConnectionRefused
from syncworker.http.errors import status_for
from syncworker.jobs.base import JobRejected
from syncworker.services.conflicts import ConflictError
from syncworker.services.duplicates import ClusterNotFound, DuplicateError
from syncworker.services.links import LinkError, LinkNotFound
from syncworker.services.systems import UnknownSystem
from syncworker.services.tenants import TenantError


@pytest.mark.parametrize(("exc", "status"), [
    (TenantError("no tenant named 'x'"), 404),
    (LookupError("no client with id 'C9' in this tenant"), 404),
    (LinkNotFound("no link or suggestion with id 5 in this tenant"), 404),
    (LinkError("link 5 is linked, not a suggestion awaiting review"), 409),
    (ClusterNotFound("no duplicate cluster with id 3 in this tenant"), 404),
    (DuplicateError("cluster 3 is already resolved (merged)"), 409),
    (ConflictError("no conflict with id 2 in this tenant"), 404),
    (ConflictError("conflict 2 is already resolved (local by ops)"), 409),
    (ConflictError("not a valid email: bad"), 422),
    (ConnectionRefused("not_a_client", "C1 is a contact, not a client"), 422),
    (ConnectionRefused("group_exists", "a client group named 'A' already exists (group 1)"), 409),
    (UnknownSystem("unknown system 'aps'"), 422),
    (JobRejected("busy", busy_run_id=4), 409),
    (JobRejected("unknown trigger 'x'"), 422),
])
def test_status_for_known_errors(exc: Exception, status: int) -> None:
    assert status_for(exc) == status
