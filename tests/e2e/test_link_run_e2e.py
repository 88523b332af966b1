"""Link runs end to end: the XPM simulator over real sockets, the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from syncworker.cli.main import cli
from syncworker.services import links as links_svc
from syncworker.services.link_run import RunRefused, run_link_run
from syncworker.services.locks import TenantLock
from syncworker.store.models import AuditEntry, Client, JobRun, Link, LinkEvent, RemoteRecord
from tests.e2e.conftest import XpmWorld

pytestmark = pytest.mark.e2e


def _count(w: XpmWorld, model: type, *where: object) -> int:
    with w.ctx.db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def _same_entity(w: XpmWorld, local_id: str, remote_id: str) -> bool:
    """The truth names one XPM record per entity; XPM may hold the entity twice (a remote duplicate)."""
    truth = w.practice.truth.get(local_id)
    if truth == remote_id:
        return True
    return any(truth in g and remote_id in g for g in w.practice.remote_duplicate_groups)


def _ext_to_pk(w: XpmWorld) -> dict[str, int]:
    with w.ctx.db.session() as s:
        return dict(s.execute(sa.select(Client.external_id, Client.id)).all())


def test_first_run_links_the_certain_and_is_right(xpm_world: XpmWorld) -> None:
    w = xpm_world
    report = run_link_run(w.ctx, w.tenant, "xpm")
    assert report.status == "succeeded", report.message
    assert report.counts["remote_clients"] == sum(1 for p in w.practice.remote if p.status.value == "active")
    assert report.counts["linked_new"] >= 0.6 * len(w.practice.truth)
    wrong = [e for e in report.linked if not _same_entity(w, e["local_id"], e["remote_id"])]
    assert wrong == [], f"wrong auto-links: {wrong}"
    # Every link is stored with its history and an audit entry.
    assert _count(w, Link, Link.status == "linked") == report.counts["linked_new"]
    assert _count(w, LinkEvent) >= report.counts["linked_new"] + report.counts["to_review"]
    assert _count(w, AuditEntry, AuditEntry.entity == "link") >= report.counts["linked_new"]
    with w.ctx.db.session() as s:
        run = s.get(JobRun, report.run_id)
        assert run.status == "succeeded" and run.counts["linked_new"] == report.counts["linked_new"]


def test_merge_required_individuals_are_never_auto_linked(xpm_world: XpmWorld) -> None:
    w = xpm_world
    report = run_link_run(w.ctx, w.tenant, "xpm")
    assert report.merge_required, "the sample practice has local duplicate individuals"
    pks = _ext_to_pk(w)
    flagged = {pks[e["local_id"]] for e in report.merge_required}
    assert _count(w, Link, Link.client_id.in_(flagged), Link.status.in_(("linked", "suggested"))) == 0
    dup_members = {m for g in w.practice.local_duplicate_groups for m in g}
    assert {e["local_id"] for e in report.merge_required} <= dup_members


def test_second_run_changes_nothing(xpm_world: XpmWorld) -> None:
    w = xpm_world
    first = run_link_run(w.ctx, w.tenant, "xpm")
    # The link work must not move; the relationship backlog (read a budget of clients per run) may.
    def link_state() -> tuple[int, ...]:
        return (_count(w, Link), _count(w, LinkEvent), _count(w, AuditEntry, AuditEntry.entity == "link"),
                _count(w, RemoteRecord, RemoteRecord.record_type == "client"))

    before = link_state()
    second = run_link_run(w.ctx, w.tenant, "xpm")
    assert second.status == "succeeded"
    assert second.counts["linked_new"] == 0
    assert second.counts["links_kept"] == first.counts["linked_new"]
    assert second.counts["to_review"] == first.counts["to_review"]
    assert second.counts["remote_changed"] == 0 and second.counts["remote_new"] == 0
    assert link_state() == before


def test_dry_run_reports_but_writes_nothing(xpm_world: XpmWorld) -> None:
    w = xpm_world
    report = run_link_run(w.ctx, w.tenant, "xpm", dry_run=True)
    assert report.dry_run and report.status == "succeeded"
    assert report.counts["linked_new"] > 0 and report.to_review
    assert _count(w, Link) == 0 and _count(w, RemoteRecord) == 0 and _count(w, LinkEvent) == 0
    with w.ctx.db.session() as s:
        assert s.get(JobRun, report.run_id).dry_run is True
    # The real run afterwards finds the same links.
    real = run_link_run(w.ctx, w.tenant, "xpm")
    assert real.counts["linked_new"] == report.counts["linked_new"]


def test_approve_and_reject_and_rejection_sticks_until_a_record_changes(xpm_world: XpmWorld) -> None:
    w = xpm_world
    report = run_link_run(w.ctx, w.tenant, "xpm")
    assert len(report.to_review) >= 2
    first, second = report.to_review[0], report.to_review[1]
    approved = links_svc.approve(w.ctx.db, w.tenant, first["review_id"], "alice")
    assert approved["status"] == "linked" and approved["decided_by"] == "alice"
    rejected = links_svc.reject(w.ctx.db, w.tenant, second["review_id"], "alice")
    assert rejected["status"] == "rejected"
    with pytest.raises(links_svc.LinkError, match="not a suggestion"):
        links_svc.reject(w.ctx.db, w.tenant, first["review_id"], "alice")

    again = run_link_run(w.ctx, w.tenant, "xpm")
    assert second["local_id"] not in {e["local_id"] for e in again.to_review + again.linked}
    assert again.counts.get("rejected_unchanged", 0) >= 1
    # The local record changes: the pair is offered again.
    with w.ctx.db.session() as s:
        c = s.scalar(sa.select(Client).where(Client.external_id == second["local_id"]))
        c.phone = "02 9000 1234"
    third = run_link_run(w.ctx, w.tenant, "xpm")
    assert second["local_id"] in {e["local_id"] for e in third.to_review + third.linked}


def test_unlink_is_not_undone_by_the_next_run(xpm_world: XpmWorld) -> None:
    w = xpm_world
    report = run_link_run(w.ctx, w.tenant, "xpm")
    victim = report.linked[0]
    out = links_svc.unlink(w.ctx.db, w.tenant, victim["local_id"], "xpm", "bob")
    assert out["status"] == "rejected"
    again = run_link_run(w.ctx, w.tenant, "xpm")
    assert victim["local_id"] not in {e["local_id"] for e in again.linked}
    history = links_svc.link_history(w.ctx.db, w.tenant, out["id"])
    assert [h["event"] for h in history] == ["linked", "unlinked"]
    # Relink by hand.
    relinked = links_svc.link_manually(w.ctx.db, w.tenant, victim["local_id"], "xpm", victim["remote_id"], "bob")
    assert relinked["status"] == "linked" and relinked["method"] == "manual"


def test_manual_link_refuses_a_remote_already_linked_elsewhere(xpm_world: XpmWorld) -> None:
    w = xpm_world
    report = run_link_run(w.ctx, w.tenant, "xpm")
    a, b = report.linked[0], report.unmatched_local[0]
    with pytest.raises(links_svc.LinkError, match="already linked to client"):
        links_svc.link_manually(w.ctx.db, w.tenant, b["local_id"], "xpm", a["remote_id"], "bob")


def test_broken_link_when_remote_deleted(xpm_world: XpmWorld) -> None:
    w = xpm_world
    report = run_link_run(w.ctx, w.tenant, "xpm")
    gone, archived = report.linked[0], report.linked[1]
    w.sim.store.delete_client(gone["remote_id"])
    w.sim.store.archive_client(archived["remote_id"])
    again = run_link_run(w.ctx, w.tenant, "xpm")
    assert [b["remote_id"] for b in again.broken] == [gone["remote_id"]]
    with w.ctx.db.session() as s:
        statuses = dict(s.execute(sa.select(Link.remote_id, Link.status).where(
            Link.remote_id.in_([gone["remote_id"], archived["remote_id"]]))).all())
    assert statuses == {gone["remote_id"]: "broken", archived["remote_id"]: "linked"}


def test_overlapping_run_is_refused(xpm_world: XpmWorld) -> None:
    w = xpm_world
    with w.ctx.db.session() as s:
        tenant_id = s.scalar(sa.select(Client.tenant_id).limit(1))
    holder = TenantLock(w.ctx.db, tenant_id, run_id=None)
    holder.acquire()
    try:
        with pytest.raises(RunRefused, match="already in progress") as err:
            run_link_run(w.ctx, w.tenant, "xpm")
    finally:
        holder.release()
    with w.ctx.db.session() as s:
        refused = s.get(JobRun, err.value.run_id)
        assert refused.status == "failed" and "refused" in refused.message
    assert run_link_run(w.ctx, w.tenant, "xpm").status == "succeeded"


def test_daily_limit_stops_partial_and_resumes(xpm_world: XpmWorld) -> None:
    w = xpm_world
    w.sim.faults.inject("day_429", times=1)
    first = run_link_run(w.ctx, w.tenant, "xpm")
    assert first.status == "partial" and "daily API limit" in first.message
    refused = pytest.raises(RunRefused, match="daily API limit")
    with refused:
        run_link_run(w.ctx, w.tenant, "xpm")


def test_manual_link_by_search_through_the_cli(xpm_world: XpmWorld) -> None:
    w = xpm_world
    local = next(p for p in w.practice.local if p.id in w.practice.truth)
    env = {**w.sim.env(), "SYNCWORKER_DATABASE_URL": w.ctx.db.connect_url,
           "SYNCWORKER_SECRET_KEY": w.ctx.settings.secret_key or ""}
    runner = CliRunner()
    listed = runner.invoke(cli, ["link", local.id, "--tenant", w.tenant, "--system", "xpm", "--query", local.name],
                           env=env)
    assert listed.exit_code == 1 and "--remote" in listed.stderr
    assert w.practice.truth[local.id] in listed.stdout or local.name.split()[0] in listed.stdout
    done = runner.invoke(cli, ["link", local.id, "--tenant", w.tenant, "--system", "xpm",
                               "--remote", w.practice.truth[local.id], "--json"], env=env)
    assert done.exit_code == 0, done.stderr
    assert _count(w, Link, Link.remote_id == w.practice.truth[local.id], Link.status == "linked") == 1


def test_hostile_values_and_an_unreadable_record_leave_the_run_going(xpm_world: XpmWorld) -> None:
    """Infinite shares are no value (the run succeeds); a record naming a malformed UUID is skipped and
    reported, its link and cached copy stand, and the rest of the listing is read (run `partial`)."""
    w = xpm_world
    first = run_link_run(w.ctx, w.tenant, "xpm")
    odd, other, third = (first.linked[i]["remote_id"] for i in range(3))
    store = w.sim.store
    store.add_relationship(other, third, "Shareholder", shares=None, percentage=None, start=None, end=None)
    next(r for r in store.relationships_of(other)).number_of_shares = float("inf")  # type: ignore[assignment]
    rel = store.add_relationship(odd, third, "Shareholder", shares=1, percentage=None, start=None, end=None)
    rel.related_uuid = "not-a-uuid"
    again = run_link_run(w.ctx, w.tenant, "xpm")
    assert again.status == "partial", again.message
    assert again.counts["remote_unreadable"] == 1
    assert again.errors == [{"remote_id": odd, "error": "unreadable record: <UUID> is not a UUID"}]
    assert not again.broken
    with w.ctx.db.session() as s:
        assert s.scalar(sa.select(Link.status).where(Link.remote_id == odd)) == "linked"
        cached = sa.select(RemoteRecord).where(RemoteRecord.record_type == "client")
        assert s.scalar(cached.where(RemoteRecord.remote_id == odd)).remote_status != "missing"
        shares = s.scalar(cached.where(RemoteRecord.remote_id == other)).payload
    assert any(r["number_of_shares"] is None for r in shares["extra"]["relationships"])


def test_manual_link_refuses_an_id_the_system_does_not_know_in_one_line(xpm_world: XpmWorld) -> None:
    """The records cache is empty before a link run, so the id is checked by asking XPM (one read)."""
    w = xpm_world
    local = w.practice.local[0]
    env = {**w.sim.env(), "SYNCWORKER_DATABASE_URL": w.ctx.db.connect_url,
           "SYNCWORKER_SECRET_KEY": w.ctx.settings.secret_key or ""}
    runner = CliRunner()
    for remote_id in ("ANYTHING", "0f0e0d0c-0000-4000-8000-00000000beef"):
        refused = runner.invoke(cli, ["link", local.id, "--tenant", w.tenant, "--system", "xpm",
                                      "--remote", remote_id], env=env)
        assert refused.exit_code == 1
        assert f"no xpm client with id {remote_id!r}" in refused.output
        assert len(refused.output.strip().splitlines()) == 1, refused.output
    assert _count(w, Link, Link.client_id.is_not(None)) == 0
