"""Where the lead wires it: a link run links clients, then the relationship sync runs inside that run
(its adapter, its run id, its lock) and completes what the links made possible. A generated practice on
the XPM simulator over real sockets; the adapter's limiter and token clock run on the simulator's clock,
so waiting out XPM's 60 calls a minute costs no real time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from simulators.xpm import XpmSimulator
from syncworker.sample import generate_practice
from syncworker.services.context import ServiceContext
from syncworker.services.link_run import run_link_run
from syncworker.services.locks import TenantLock
from syncworker.services.relationship_sync import sync_relationships
from syncworker.store.db import Database
from syncworker.store.models import Client, Connection, JobRun, Link, Tenant
from tests.simulated import clocked_context, connect_practice

pytestmark = pytest.mark.e2e
T = "Linked Practice"


@pytest.fixture
def linked(db: Database, tmp_path: Path) -> Iterator[tuple[ServiceContext, XpmSimulator]]:
    practice = generate_practice(60, seed=23)
    with XpmSimulator(practice=practice, seed=23) as sim:
        ctx = clocked_context(db, sim)
        connect_practice(ctx, sim, T, practice, tmp_path)
        yield ctx, sim


def test_relationships_follow_the_links_a_link_run_makes(linked: tuple[ServiceContext, XpmSimulator]) -> None:
    ctx, sim = linked
    run = run_link_run(ctx, T, "xpm")
    assert run.status == "succeeded" and run.counts["linked_new"] > 10
    with ctx.db.session() as s:
        tenant_id = s.scalar(sa.select(Tenant.id).where(Tenant.name == T))
        linked_remote = dict(s.execute(sa.select(Link.remote_id, Link.client_id).where(Link.status == "linked")).all())
    both_linked = [r for r in sim.store.relationships.values()
                   if r.client_uuid in linked_remote and r.related_uuid in linked_remote]
    assert both_linked, "the sample practice relates some linked clients"

    # Inside the link run: its adapter and run id, the tenant lock already held by the run.
    adapter = ctx.adapter(tenant_id, "xpm")
    with TenantLock(ctx.db, tenant_id, run_id=run.run_id):
        report = sync_relationships(ctx, T, "xpm", run_id=run.run_id, adapter=adapter, hold_lock=False,
                                    max_fetches=1000)
    assert report.status == "succeeded", (report.message, report.errors)
    # The link run already synced every linked client's relationships from the detailed listing it pulled:
    # no read per client, then or now. Its calls: the listing and the group list.
    assert run.counts["relationships_relationship_owners_from_cache"] == len(linked_remote)
    assert "relationships_relationship_owners_fetched" not in run.counts
    assert run.api_calls["calls"] == 2
    assert "relationship_owners_fetched" not in report.counts and "relationship_owners_from_cache" not in report.counts
    pulled = run.counts.get("relationships_relationships_pulled", 0) + report.counts.get("relationships_pulled", 0)
    refused = run.counts.get("relationships_relationships_refused", 0) + report.counts.get("relationships_refused", 0)
    assert pulled + refused == len(both_linked) and pulled > 0
    with ctx.db.session() as s:
        local = {(a, b) for a, b in s.execute(sa.select(Connection.client_id, Connection.related_client_id))}
        assert s.get(JobRun, run.run_id).status == "succeeded"  # the caller's run is the caller's
        names = dict(s.execute(sa.select(Client.id, Client.display_name)).all())
    for r in both_linked:
        pair = (linked_remote[r.client_uuid], linked_remote[r.related_uuid])
        assert pair in local or pair[::-1] in local or any(x["remote_id"] == r.uuid for x in report.refused), \
            (names[pair[0]], r.type, names[pair[1]])
    # Relationships to clients the run left unlinked wait for their link.
    waiting = [r for r in sim.store.relationships.values()
               if r.client_uuid in linked_remote and r.related_uuid not in linked_remote]
    assert report.counts.get("waiting", 0) >= len(waiting)

    # Standalone, re-reading everything: both sides agree, nothing is written.
    again = sync_relationships(ctx, T, "xpm", full=True)
    assert again.status == "succeeded" and "relationships_pulled" not in again.counts
