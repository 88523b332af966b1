"""The main job driven over HTTP: `syncworker serve` starts link runs against the XPM simulator through its
executor, and the operator works the review queue, all over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.sample import generate_practice
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import ServiceContext
from syncworker.services.demo import settings_for_simulator
from syncworker.services.importer import import_clients, import_contacts
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from syncworker.store.models import Link
from tests.http.conftest import Server, start_server, stop_server
from tests.http.test_operator_api import wait_for_run

pytestmark = pytest.mark.e2e
TENANT = "Harbour Accounting"


@dataclass
class World:
    server: Server
    sim: XpmSimulator


@pytest.fixture(scope="module")
def world(served_db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("practice")
    practice = generate_practice(120, seed=11)
    secret = generate_key()
    with XpmSimulator(practice=practice, seed=11) as sim:
        settings = settings_for_simulator(Settings.load(env={"SYNCWORKER_DATABASE_URL": served_db.connect_url}), sim,
                                          secret_key=secret)
        ctx = ServiceContext(served_db, settings)  # first: its key seals the tax numbers imported
        add_tenant(served_db, TENANT)
        import_clients(served_db, TENANT, practice.write_local_csv(tmp / "clients.csv"))
        import_contacts(served_db, TENANT, practice.write_local_contacts_csv(tmp / "contacts.csv"))
        connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token())
        server = start_server(served_db, Path(tmp / "serve.log"), SYNCWORKER_SECRET_KEY=secret, **sim.env())
        try:
            yield World(server, sim)
        finally:
            stop_server(server)


def test_link_runs_and_reviews_over_http(world: World) -> None:
    with world.server.client(**{"X-Operator": "Robin Ops"}) as api:
        dry = api.post("/runs", json={"tenant": TENANT, "kind": "link_run", "system": "xpm", "dry_run": True})
        assert dry.status_code == 202, dry.text
        dry_run = wait_for_run(api, dry.json()["run_id"], timeout=60)
        assert dry_run["status"] == "succeeded", dry_run
        assert dry_run["dry_run"] and dry_run["counts"]["linked_new"] > 0
        assert api.get("/links", params={"tenant": TENANT}).json() == []  # a dry run writes nothing

        first = wait_for_run(api, api.post("/runs", json={"tenant": TENANT, "kind": "link_run"}).json()["run_id"],
                             timeout=60)
        assert first["status"] == "succeeded", first
        assert first["counts"]["linked_new"] == dry_run["counts"]["linked_new"]
        reviews = api.get("/reviews", params={"tenant": TENANT}).json()
        assert len(reviews) == first["counts"]["to_review"] >= 2
        take, drop = reviews[0], reviews[1]
        assert api.post(f"/reviews/{take['id']}/approve", params={"tenant": TENANT}).json()["status"] == "linked"
        assert api.post(f"/reviews/{drop['id']}/reject", params={"tenant": TENANT}).json()["status"] == "rejected"

        second = wait_for_run(api, api.post("/runs", json={"tenant": TENANT, "kind": "link_run"}).json()["run_id"],
                              timeout=60)
        assert second["status"] == "succeeded", second
        assert second["counts"]["linked_new"] == 0
        remaining = {r["id"] for r in api.get("/reviews", params={"tenant": TENANT}).json()}
        assert take["id"] not in remaining and drop["id"] not in remaining  # a rejection sticks
    with world.server.db.session() as s:
        approved = s.get(Link, take["id"])
        assert approved is not None and (approved.status, approved.decided_by) == ("linked", "Robin Ops")
        assert s.scalar(select(Link.status).where(Link.id == drop["id"])) == "rejected"
