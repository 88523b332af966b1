"""Connections and groups round trip with the XPM simulator over real sockets, on SQLite and PostgreSQL:
pull, push, echo suppression, deletes both ways, the conflict queue, and the waiting case (a relationship
or member whose other client is not linked yet waits and is completed once it is linked)."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.domain.profile import ClientKind, ClientProfile
from syncworker.services import connections as conn_svc
from syncworker.services import groups as group_svc
from syncworker.services import links as links_svc
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import ServiceContext
from syncworker.services.demo import settings_for_simulator
from syncworker.services.relationship_sync import resolve_relationship_conflict, sync_relationships
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Checkpoint, SyncConflict
from tests.factories import make_client, make_tenant

pytestmark = pytest.mark.e2e
T = "Harbour Accounting"
PEOPLE = {"ACME": ("Acme Pty Ltd", ClientKind.COMPANY), "BETA": ("Beta Holdings Pty Ltd", ClientKind.COMPANY),
          "JO": ("Jo Bloggs", ClientKind.INDIVIDUAL), "SAM": ("Sam Carter", ClientKind.INDIVIDUAL),
          "PRIYA": ("Priya Nair", ClientKind.INDIVIDUAL), "LEE": ("Lee Wong", ClientKind.INDIVIDUAL)}


@dataclass
class World:
    ctx: ServiceContext
    sim: XpmSimulator
    remote: dict[str, str]  # local external id -> XPM uuid

    def link(self, *ids: str) -> None:
        for ext in ids:
            links_svc.link_manually(self.ctx.db, T, ext, "xpm", self.remote[ext], "test")

    def sync(self) -> dict:
        report = sync_relationships(self.ctx, T, "xpm")
        assert report.status == "succeeded", (report.message, report.errors)
        return report.as_dict()

    def remote_rels(self) -> set[tuple[str, str, str]]:
        back = {v: k for k, v in self.remote.items()}
        return {(back.get(r.client_uuid, r.client_uuid), back.get(r.related_uuid, r.related_uuid), r.type)
                for r in self.sim.store.relationships.values()}

    def remote_groups(self) -> dict[str, set[str]]:
        back = {v: k for k, v in self.remote.items()}
        return {g.name: {back.get(m, m) for m in g.members} for g in self.sim.store.groups.values()}

    def local_rels(self) -> set[tuple[str, str, str]]:
        return {(c["client"], c["related"], c["type"]) for c in conn_svc.list_connections(self.ctx.db, T)}

    def local_groups(self) -> dict[str, set[str]]:
        return {g["name"]: {m["id"] for m in g["members"]} for g in group_svc.list_groups(self.ctx.db, T)}


# The adapter's limiter is process-wide per XPM tenant id (derived from the seed): a seed per test keeps
# one test's calls from counting against the next one's minute.
_seeds = itertools.count(500)


@pytest.fixture
def world(db: Database) -> Iterator[World]:
    with make_world(db) as w:
        yield w


@contextlib.contextmanager
def make_world(db: Database, **sim_options: Any) -> Iterator[World]:
    with XpmSimulator(clients=0, seed=next(_seeds), **sim_options) as sim:
        ctx = ServiceContext(db, settings_for_simulator(Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url}),
                                                        sim))
        tid = make_tenant(db, T)
        remote = {}
        for ext, (name, kind) in PEOPLE.items():
            make_client(db, tid, ext, name, kind.value)
            remote[ext] = sim.store.add_profile(ClientProfile(id="", kind=kind, name=name)).uuid
        connect_with_refresh_token(ctx, T, "xpm", sim.issue_refresh_token())
        yield World(ctx, sim, remote)


def audit_count(w: World) -> int:
    with w.ctx.db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0


def add_remote_rel(w: World, owner: str, related: str, rtype: str) -> str:
    return w.sim.store.add_relationship(w.remote[owner], w.remote[related], rtype, shares=None, percentage=None,
                                        start=None, end=None).uuid


def test_round_trip_both_ways_then_nothing_to_do(world: World) -> None:
    w = world
    w.link("ACME", "BETA", "JO", "SAM")
    add_remote_rel(w, "ACME", "JO", "Director")
    group = w.sim.store.add_group("Bloggs Group", w.remote["ACME"], False)
    w.sim.store.change_members(group.uuid, [w.remote["JO"]], [])
    conn_svc.add_connection(w.ctx.db, T, "BETA", "SAM", "shareholder")
    conn_svc.add_connection(w.ctx.db, T, "JO", "SAM", "friend")  # XPM has no "friend": stays local
    group_svc.add_group(w.ctx.db, T, "Carter Group", ["BETA", "SAM"])

    first = w.sync()
    assert first["counts"]["relationships_pulled"] == 1 and first["counts"]["relationships_pushed"] == 1
    assert first["counts"]["relationships_local_only"] == 1
    assert w.local_rels() == {("ACME", "JO", "director"), ("BETA", "SAM", "shareholder"), ("JO", "SAM", "friend")}
    assert w.remote_rels() == {("ACME", "JO", "Director"), ("BETA", "SAM", "Shareholder")}
    assert w.local_groups() == {"Bloggs Group": {"ACME", "JO"}, "Carter Group": {"BETA", "SAM"}}
    assert w.remote_groups() == w.local_groups()
    # The pulled director is Acme's first person: its primary contact, as if added here.
    assert [c["primary_contact"] for c in conn_svc.list_connections(w.ctx.db, T, "ACME")] == [True]

    # Echo suppression: the next run finds both sides agreeing and writes nothing anywhere.
    audits, writes_before = audit_count(w), _remote_writes(w)
    w.sim.clock.advance(600)
    second = w.sync()
    for k in ("relationships_pulled", "relationships_pushed", "groups_pulled", "groups_pushed",
              "group_members_pulled", "group_members_pushed"):
        assert k not in second["counts"], (k, second["counts"])
    assert audit_count(w) == audits and _remote_writes(w) == writes_before
    # Reads at the minimum: relationships and members come from the detailed records the pulls bring (what
    # our own writes touched included), the group list is read once a day. A quiet practice costs one call.
    assert second["api_calls"]["calls"] == 1 and "relationship_owners_fetched" not in second["counts"]
    w.sim.clock.advance(600)
    third = w.sync()
    assert "relationship_owners_fetched" not in third["counts"] and "groups_read" not in third["counts"]
    assert third["api_calls"]["calls"] == 1, third["api_calls"]
    # A member added in XPM touches that client: the next pull brings it, and the group list is read.
    w.sim.store.change_members(group.uuid, [w.remote["SAM"]], [])
    fourth = w.sync()
    assert fourth["api_calls"]["calls"] == 2 and w.local_groups()["Bloggs Group"] == {"ACME", "JO", "SAM"}
    # The group list is read again once a day (empty groups and Taxable show nowhere else).
    with w.ctx.db.session() as s:
        cp = s.scalar(sa.select(Checkpoint).where(Checkpoint.stream == "groups.read"))
        cp.value = {"read_at": (datetime.fromisoformat(cp.value["read_at"]) - timedelta(hours=25)).isoformat()}
    fifth = w.sync()
    assert fifth["counts"]["groups_read"] == 1 and fifth["api_calls"]["calls"] == 2


def _remote_writes(w: World) -> int:
    return len(w.sim.store.relationships) * 1000 + sum(len(g.members) for g in w.sim.store.groups.values())


def test_deletes_travel_both_ways(world: World) -> None:
    w = world
    w.link("ACME", "BETA", "JO", "SAM")
    add_remote_rel(w, "ACME", "JO", "Director")
    rel_sam = add_remote_rel(w, "BETA", "SAM", "Shareholder")
    g = w.sim.store.add_group("Bloggs Group", w.remote["ACME"], False)
    w.sim.store.change_members(g.uuid, [w.remote["JO"], w.remote["SAM"]], [])
    w.sync()
    assert len(w.local_rels()) == 2
    # Deleted here (from Jo's side) -> deleted in XPM.
    conn_svc.remove_connection(w.ctx.db, T, client_ref="JO", related_ref="ACME")
    # Deleted in XPM -> deleted here.
    w.sim.store.delete_relationship(rel_sam)
    # A member removed here, another removed in XPM.
    group_svc.group_members(w.ctx.db, T, "Bloggs Group", remove=["JO"])
    w.sim.store.change_members(g.uuid, [], [w.remote["SAM"]])
    report = w.sync()
    assert report["counts"]["relationships_deleted_remote"] == 1
    assert report["counts"]["relationships_deleted_local"] == 1
    assert w.local_rels() == set() and w.remote_rels() == set()
    assert w.local_groups() == {"Bloggs Group": {"ACME"}} == w.remote_groups()
    # A group deleted here is deleted in XPM; one deleted in XPM is deleted here.
    group_svc.remove_group(w.ctx.db, T, "Bloggs Group")
    group_svc.add_group(w.ctx.db, T, "Second", ["BETA"])
    w.sync()
    assert w.remote_groups() == {"Second": {"BETA"}}
    w.sim.store.delete_group(next(iter(w.sim.store.groups)))
    w.sync()
    assert w.local_groups() == {} == w.remote_groups()


def test_waiting_relationship_and_members_complete_after_the_link(world: World) -> None:
    w = world
    w.link("ACME", "JO")  # PRIYA and LEE exist on both sides but are not linked yet
    add_remote_rel(w, "ACME", "PRIYA", "Shareholder")
    conn_svc.add_connection(w.ctx.db, T, "ACME", "LEE", "director")
    g = w.sim.store.add_group("Nair Group", w.remote["ACME"], False)
    w.sim.store.change_members(g.uuid, [w.remote["PRIYA"]], [])
    group_svc.add_group(w.ctx.db, T, "Wong Group", ["LEE"])  # no linked member: XPM cannot create it yet

    report = w.sync()
    assert report["counts"]["waiting"] >= 4, report["waiting"]
    assert w.local_rels() == {("ACME", "LEE", "director")}
    assert w.remote_rels() == {("ACME", "PRIYA", "Shareholder")}
    assert w.local_groups() == {"Nair Group": {"ACME"}, "Wong Group": {"LEE"}}
    assert w.remote_groups() == {"Nair Group": {"ACME", "PRIYA"}}

    w.link("PRIYA", "LEE")  # e.g. by a link run or an operator's review
    report = w.sync()
    assert report["counts"].get("waiting", 0) == 0, report["waiting"]
    assert w.local_rels() == {("ACME", "LEE", "director"), ("ACME", "PRIYA", "shareholder")}
    assert w.remote_rels() == {("ACME", "PRIYA", "Shareholder"), ("ACME", "LEE", "Director")}
    assert w.local_groups() == {"Nair Group": {"ACME", "PRIYA"}, "Wong Group": {"LEE"}} == w.remote_groups()


def test_a_newly_linked_client_brings_its_own_relationships(world: World) -> None:
    w = world
    w.link("JO")
    add_remote_rel(w, "BETA", "JO", "Director")  # on Beta's XPM record; Beta not linked yet
    w.sync()
    assert w.local_rels() == set()
    w.link("BETA")
    w.sync()
    assert w.local_rels() == {("BETA", "JO", "director")}


def test_local_delete_of_a_relationship_changed_in_xpm_is_queued(world: World) -> None:
    w = world
    w.link("ACME", "JO")
    rel = add_remote_rel(w, "ACME", "JO", "Director")
    w.sync()
    conn_svc.remove_connection(w.ctx.db, T, client_ref="ACME", related_ref="JO")
    w.sim.store.update_relationship(rel, values={"start_date": date(2020, 7, 1)})
    report = w.sync()
    assert report["counts"]["conflicts_new"] == 1
    assert w.remote_rels() == {("ACME", "JO", "Director")}, "not deleted while in conflict"
    with w.ctx.db.session() as s:
        conflict = s.scalar(sa.select(SyncConflict))
        assert conflict.status == "open" and conflict.field == f"relationship:{rel}"
    assert w.sync()["counts"]["conflicts_open"] == 1  # held, not duplicated
    resolve_relationship_conflict(w.ctx, T, conflict.id, "local")
    w.sync()
    assert w.remote_rels() == set() and w.local_rels() == set()


def test_conflict_resolved_for_xpm_restores_the_connection(world: World) -> None:
    w = world
    w.link("ACME", "JO")
    rel = add_remote_rel(w, "ACME", "JO", "Director")
    w.sync()
    conn_svc.remove_connection(w.ctx.db, T, client_ref="ACME", related_ref="JO")
    w.sim.store.update_relationship(rel, values={"start_date": date(2021, 1, 1)})
    w.sync()
    with w.ctx.db.session() as s:
        cid = s.scalar(sa.select(SyncConflict.id))
    resolve_relationship_conflict(w.ctx, T, cid, "remote")
    w.sync()
    assert w.local_rels() == {("ACME", "JO", "director")} and w.remote_rels() == {("ACME", "JO", "Director")}


def test_pulled_relationships_obey_local_rules(world: World) -> None:
    w = world
    w.link("ACME", "BETA")
    with w.ctx.db.session() as s:
        from syncworker.store.models import Tenant

        t = s.scalar(sa.select(Tenant).where(Tenant.name == T))
        t.settings = {"allow_business_connections": False}
    add_remote_rel(w, "ACME", "BETA", "Shareholder")
    report = w.sync()
    assert [r["rule"] for r in report["refused"]] == ["business_to_business"]
    assert w.local_rels() == set()
    assert w.remote_rels() == {("ACME", "BETA", "Shareholder")}, "a refused pull never deletes in XPM"


def test_connections_sync_command_reports_waiting_then_completes(world: World) -> None:
    from click.testing import CliRunner

    from tests.connections.test_connection_cli import root

    w = world
    env = {**w.sim.env(), "SYNCWORKER_DATABASE_URL": w.ctx.db.connect_url,
           "SYNCWORKER_SECRET_KEY": w.ctx.settings.secret_key or "", "SYNCWORKER_LOG_FORMAT": "text"}
    w.link("ACME")
    add_remote_rel(w, "ACME", "SAM", "Director")
    runner = CliRunner()
    first = runner.invoke(root, ["connections", "sync", "--tenant", T, "--json"], env=env)
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["status"] == "succeeded" and report["counts"]["waiting"] == 1
    assert "not linked yet" in report["waiting"][0]["reason"]
    w.link("SAM")
    second = runner.invoke(root, ["connections", "sync", "--tenant", T], env=env)
    assert second.exit_code == 0 and "SUCCEEDED" in second.output, second.output
    assert w.local_rels() == {("ACME", "SAM", "director")}


def test_a_budget_of_reads_per_run_and_no_push_before_the_records_are_read(world: World) -> None:
    w = world
    w.link("ACME", "BETA", "JO", "SAM")
    a, b = sorted(("ACME", "BETA", "JO", "SAM"), key=lambda e: w.remote[e])[2:]  # records are read in id order
    add_remote_rel(w, a, b, "Associate")  # already in XPM, on a record the first run will not read
    conn_svc.add_connection(w.ctx.db, T, b, a, "associate")  # ... and typed in here too
    # The detailed listing is cut short: the full load falls back to paged-list (summaries, no relationships),
    # so relationships are read one client at a time, within the budget.
    w.sim.faults.inject("malformed_xml", 1, "client.api/list")
    first = sync_relationships(w.ctx, T, "xpm", max_fetches=2)  # reads two records only
    assert first.counts["relationship_owners_fetched"] == 2 and first.counts["relationship_owners_pending"] == 2
    assert any("not read from xpm yet" in x["reason"] for x in first.waiting), first.waiting
    assert len(w.sim.store.relationships) == 1, "nothing pushed before the records were read"
    second = sync_relationships(w.ctx, T, "xpm", max_fetches=2)
    assert second.status == "succeeded" and "relationship_owners_pending" not in second.counts
    assert second.counts["relationships_agreed"] == 1 and "relationships_pushed" not in second.counts
    assert len(w.sim.store.relationships) == 1 and len(w.local_rels()) == 1


def test_a_pushed_relationship_deleted_in_xpm_is_deleted_here(world: World) -> None:
    w = world
    w.link("ACME", "JO")
    conn_svc.add_connection(w.ctx.db, T, "ACME", "JO", "director")
    assert w.sync()["counts"]["relationships_pushed"] == 1
    (rel_id,) = list(w.sim.store.relationships)
    w.sim.clock.advance(600)
    w.sim.store.delete_relationship(rel_id)  # a practice user deletes it in XPM
    report = w.sync()
    assert report["counts"]["relationships_deleted_local"] == 1, report["counts"]
    assert w.local_rels() == set() and w.remote_rels() == set()


def test_the_daily_limit_stops_the_run_as_partial_and_parks_the_tenant(db: Database) -> None:
    from syncworker.store.models import TenantSystem

    with make_world(db, day_limit=1) as w:  # the listing passes, the group list hits the limit
        w.link("ACME", "BETA", "JO", "SAM")
        report = sync_relationships(w.ctx, T, "xpm")
        assert report.status == "partial" and "daily API limit" in (report.message or "")
        with w.ctx.db.session() as s:
            assert s.scalar(sa.select(TenantSystem.paused_until)) is not None
        from syncworker.services.run_frame import RunRefused

        with pytest.raises(RunRefused, match="daily API limit reached"):
            sync_relationships(w.ctx, T, "xpm")


def test_group_renamed_in_xpm_and_a_same_named_local_group_adopted(world: World) -> None:
    w = world
    w.link("ACME", "JO", "SAM")
    group_svc.add_group(w.ctx.db, T, "smith group", ["JO"])
    g = w.sim.store.add_group("Smith Group", w.remote["ACME"], False)  # the same group, typed in both places
    w.sync()
    assert w.local_groups() == {"smith group": {"ACME", "JO"}}
    assert w.remote_groups() == {"Smith Group": {"ACME", "JO"}}
    w.sim.clock.advance(600)
    w.sync()  # re-reads what our own member push touched
    w.sim.store.groups[g.uuid].name = "Smith Holdings"  # renamed in XPM: no client is touched ...
    w.sim.clock.advance(600)
    assert "groups_renamed_local" not in w.sync()["counts"]  # ... so only a full (or the daily) read sees it
    report = sync_relationships(w.ctx, T, "xpm", full=True)
    assert report.counts["groups_renamed_local"] == 1
    assert w.local_groups() == {"Smith Holdings": {"ACME", "JO"}}


def test_the_job_function_records_the_executors_run(world: World) -> None:
    from syncworker.jobs.base import JobRequest
    from syncworker.services.relationship_sync import run_relationship_sync_job
    from syncworker.services.runs import RunRecorder
    from syncworker.store.models import JobRun

    w = world
    w.link("ACME", "JO")
    add_remote_rel(w, "ACME", "JO", "Director")
    with w.ctx.db.session() as s:
        from syncworker.store.models import Tenant

        tenant_id = s.scalar(sa.select(Tenant.id))
    run_id = RunRecorder(w.ctx.db).start("relationship_sync", tenant_id=tenant_id, trigger="operator", system="xpm")
    out = run_relationship_sync_job(w.ctx, JobRequest("relationship_sync", T, {"system": "xpm"}), run_id)
    assert out["status"] == "succeeded" and out["counts"]["relationships_pulled"] == 1
    with w.ctx.db.session() as s:
        run = s.get(JobRun, run_id)
        assert run.status == "succeeded" and run.counts["relationships_pulled"] == 1 and run.finished_at


def test_fall_back_reads_park_at_the_daily_limit_and_resume_the_next_day(db: Database) -> None:
    """The detailed listing cannot finish, so relationships are read a client at a time; the day's budget
    runs out half-way: the run stops as partial, the tenant is parked, and the next day goes on with the
    clients not read yet, never repeating one."""
    from adapters import ratelimit
    from syncworker.services.run_frame import RunRefused
    from syncworker.store.models import TenantSystem

    with make_world(db, day_limit=4) as w:
        w.link("ACME", "BETA", "JO", "SAM")
        add_remote_rel(w, "ACME", "JO", "Director")
        w.sim.clock.advance(600)  # nothing changes in XPM from here on
        w.sim.faults.inject("malformed_xml", 1, "client.api/list")  # the detailed listing is cut short
        first = sync_relationships(w.ctx, T, "xpm")
        # listing (cut) + paged-list + two client reads = the day's 4 calls; the third read is refused.
        assert first.status == "partial" and "daily API limit" in (first.message or "")
        gets = [k for k in w.sim.stats.calls if k.startswith("GET client.api/get/")]
        assert sum(w.sim.stats.calls[k] for k in gets) == 2
        with w.ctx.db.session() as s:
            assert s.scalar(sa.select(TenantSystem.paused_until)) is not None
        with pytest.raises(RunRefused, match="daily API limit reached"):
            sync_relationships(w.ctx, T, "xpm")  # parked: refused without a call
        assert sum(w.sim.stats.calls[k] for k in gets) == 2

        # The next day (the simulator's day window and the tenant's park both over).
        w.sim.clock.advance(86_400)
        with w.ctx.db.session() as s:
            s.execute(sa.update(TenantSystem).values(paused_until=None))
        ratelimit.reset_shared_limiters()
        second = sync_relationships(w.ctx, T, "xpm")
        assert second.status == "succeeded", (second.message, second.errors)
        assert second.counts["relationship_owners_fetched"] == 2  # only the two not read yesterday
        assert sum(w.sim.stats.calls[k] for k in gets) == 4
        assert "relationship_owners_pending" not in second.counts
        assert w.local_rels() == {("ACME", "JO", "director")}
