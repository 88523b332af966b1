"""The connections and groups routes inside the real app (operator token required), on SQLite and
PostgreSQL: same operations and rules as the CLI, refusals as 409/422 with the rule's message."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.jobs.base import JobRequest
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry
from tests.factories import make_client, make_tenant

T = "HTTP Practice"
TOKEN = "op-test-token"


class RecordingJobs:
    def __init__(self) -> None:
        self.requests: list[JobRequest] = []

    def submit(self, request: JobRequest) -> int:
        self.requests.append(request)
        return 77

    def shutdown(self, wait: bool = True) -> None:
        pass


@pytest.fixture
def api(db: Database) -> Iterator[TestClient]:
    tid = make_tenant(db, T)
    for ext, name, kind in (("ACME", "Acme Pty Ltd", "company"), ("BETA", "Beta Pty Ltd", "company"),
                            ("JO", "Jo Bloggs", "individual"), ("SAM", "Sam Carter", "individual")):
        make_client(db, tid, ext, name, kind)
    settings = replace(Settings(database_url=db.url), operator_token=TOKEN)
    app = create_app(ServiceContext(db, settings), RecordingJobs())
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}", "X-Operator": "Pat Operator"}) as client:
        yield client


def test_needs_the_operator_token(api: TestClient) -> None:
    assert api.get("/connections", params={"tenant": T}, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_connections_over_http(api: TestClient, db: Database) -> None:
    r = api.post("/connections", json={"tenant": T, "client": "JO", "related": "ACME"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["client"], first["type"], first["primary_contact"]) == ("ACME", "employee", True)
    assert api.post("/connections", json={"tenant": T, "client": "ACME", "related": "SAM"}).status_code == 201
    dup = api.post("/connections", json={"tenant": T, "client": "JO", "related": "ACME"})
    assert dup.status_code == 409 and "already connected" in dup.json()["detail"]
    assert dup.headers["X-Rule"] == "duplicate"
    bad = api.post("/connections", json={"tenant": T, "client": "ACME", "related": "JO", "type": "spouse"})
    assert bad.status_code == 422 and bad.headers["X-Rule"] == "needs_person"
    assert api.post("/connections", json={"tenant": T, "client": "ACME", "related": "NOPE",
                                          "type": "director"}).status_code == 404
    seen = api.get("/connections", params={"tenant": T, "client": "JO"}).json()
    assert [(c["other"], c["shown_as"]) for c in seen] == [("ACME", "Employer")]
    assert api.put("/connections/primary", json={"tenant": T, "business": "ACME", "person": "SAM"}).status_code == 200
    gone = api.delete("/connections", params={"tenant": T, "client": "SAM", "related": "ACME"})
    assert gone.status_code == 200 and [p["related"] for p in gone.json()["primary_contacts"]] == ["JO"]
    assert api.delete(f"/connections/{first['id']}", params={"tenant": T}).status_code == 200
    assert api.get("/connections", params={"tenant": T}).json() == []
    assert api.delete(f"/connections/{first['id']}", params={"tenant": T}).status_code == 404
    with db.session() as s:  # every write is audited under the operator's name
        actors = set(s.scalars(sa.select(AuditEntry.actor).where(AuditEntry.entity == "connection")))
    assert actors == {"Pat Operator"}


def test_groups_over_http(api: TestClient) -> None:
    r = api.post("/groups", json={"tenant": T, "name": "Bloggs Group", "members": ["ACME", "JO"]})
    assert r.status_code == 201, r.text
    assert api.post("/groups", json={"tenant": T, "name": "Bloggs Group"}).status_code == 409
    changed = api.patch("/groups/Bloggs Group/members", json={"tenant": T, "add": ["SAM"], "remove": ["JO"]})
    assert [m["id"] for m in changed.json()["members"]] == ["ACME", "SAM"]
    assert api.patch("/groups/Bloggs Group/members", json={"tenant": T, "remove": ["JO"]}).status_code == 422
    assert [m["id"] for m in api.get(f"/groups/{r.json()['id']}/members", params={"tenant": T}).json()["members"]] \
        == ["ACME", "SAM"]
    assert [g["name"] for g in api.get("/groups", params={"tenant": T, "client": "SAM"}).json()] == ["Bloggs Group"]
    assert api.delete("/groups/Bloggs Group", params={"tenant": T}).status_code == 200
    assert api.get("/groups", params={"tenant": T}).json() == []


def test_sync_is_queued_as_a_job(api: TestClient) -> None:
    r = api.post("/connections/sync", json={"tenant": T, "full": True})
    assert r.status_code == 202 and r.json() == {"run_id": 77, "status_url": "/runs/77"}
    jobs = api.app.state.executor  # type: ignore[attr-defined]
    assert [(j.kind, j.tenant, j.params) for j in jobs.requests] == [("relationship_sync", T,
                                                                       {"system": "xpm", "full": True})]
    assert api.post("/connections/sync", json={"tenant": "Nobody"}).status_code == 404
