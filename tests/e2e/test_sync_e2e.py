"""Two-way sync end to end: the XPM and Xero simulators over real sockets, the real store (SQLite and
PostgreSQL), and a worker killed with SIGKILL in the middle of a sync."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.base import ClientSystem
from syncworker.services.conflicts import ConflictError, list_conflicts, resolve_conflict
from syncworker.services.context import ServiceContext
from syncworker.services.snapshots import upsert_clients
from syncworker.services.sync_run import run_sync, run_webhook_pull
from syncworker.store.db import Database
from syncworker.store.models import (
    Checkpoint,
    Client,
    FieldSyncState,
    JobRun,
    Link,
    RemoteRecord,
    WebhookEvent,
)
from tests.sync.worlds import SyncWorld, xero_world, xpm_world

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def xpm(db: Database) -> Iterator[SyncWorld]:
    with xpm_world(db) as w:
        first = run_sync(w.ctx, w.tenant, "xpm")
        assert first.status == "succeeded" and first.counts["created"] == len(w.pairs), first.records
        w.sim.stats.reset()
        yield w


@pytest.fixture
def xero(db: Database) -> Iterator[SyncWorld]:
    with xero_world(db) as w:
        first = run_sync(w.ctx, w.tenant, "xero")
        assert first.status == "succeeded" and first.counts["created"] == len(w.pairs), first.records
        yield w


def _writes_and_audit(w: SyncWorld) -> tuple[int, int]:
    return w.remote_writes(), w.audit_rows()


def test_an_edit_on_either_side_converges_after_one_sync(xpm: SyncWorld) -> None:
    w = xpm
    (local_edit, rid_a), (_, rid_b) = list(w.pairs.items())[:2]
    local_b = next(k for k, v in w.pairs.items() if v == rid_b)
    w.edit_local(local_edit, email="new.address@example.test", street_city="Wollongong")
    w.sim.store.edit_client(rid_b, Phone="02 9555 0101")
    audit_before = w.audit_rows()

    report = run_sync(w.ctx, w.tenant, "xpm")

    assert report.status == "succeeded", report.message
    assert report.counts["updated"] == 2 and report.counts["failed"] == 0
    remote_a = w.remote(rid_a)
    assert remote_a.email == "new.address@example.test" and remote_a.address and remote_a.address.city == "Wollongong"
    assert w.local(local_b).phone == "02 9555 0101"
    assert w.sim.stats.calls["PUT client.api/update"] == 1  # one write for the record, both fields in it
    # Both writes audited with before, after and origin.
    assert w.audit_rows(target="xpm", action="update", origin="local") == 1
    assert w.audit_rows(target="local", action="update", origin="xpm") == 1
    assert w.audit_rows() == audit_before + 2
    # The pushed value comes back on the next pull and is neither pulled nor pushed again (echo).
    again = run_sync(w.ctx, w.tenant, "xpm")
    assert again.counts["updated"] == 0 and again.counts.get("pushed_fields", 0) == 0
    assert w.sim.stats.calls["PUT client.api/update"] == 1 and w.audit_rows() == audit_before + 2


def test_ten_cycles_without_edits_make_zero_writes(xpm: SyncWorld) -> None:
    w = xpm
    w.edit_local(next(iter(w.pairs)), email="once@example.test")
    run_sync(w.ctx, w.tenant, "xpm")
    before = _writes_and_audit(w)
    for _ in range(10):
        r = run_sync(w.ctx, w.tenant, "xpm")
        assert r.status == "succeeded" and r.counts["updated"] == r.counts["created"] == r.counts["conflicts"] == 0
    assert _writes_and_audit(w) == before


def test_same_field_edited_on_both_sides_follows_the_rule_or_queues_a_conflict(xpm: SyncWorld) -> None:
    w = xpm
    (local_id, rid) = next(iter(w.pairs.items()))
    w.edit_local(local_id, email="local@example.test", display_name="Local Name Pty Ltd")
    w.sim.store.edit_client(rid, Email="remote@example.test", Name="Remote Name Pty Ltd")

    report = run_sync(w.ctx, w.tenant, "xpm")

    assert report.counts["conflicts"] == 1
    # email: prefer_local_unless_blank → local wins and is pushed; name: manual → queued, untouched.
    remote = w.remote(rid)
    assert remote.email == "local@example.test" and remote.name == "Remote Name Pty Ltd"
    assert w.local(local_id).display_name == "Local Name Pty Ltd"
    [conflict] = list_conflicts(w.db, w.tenant)
    assert (conflict["field"], conflict["local"], conflict["remote"]) == ("name", "Local Name Pty Ltd",
                                                                          "Remote Name Pty Ltd")
    assert conflict["base"] is not None
    # Still open on the next run: one row, no writes.
    writes = w.remote_writes()
    run_sync(w.ctx, w.tenant, "xpm")
    assert len(list_conflicts(w.db, w.tenant)) == 1 and w.remote_writes() == writes

    resolved = resolve_conflict(w.ctx, w.tenant, conflict["id"], take="local", actor="alice")
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "alice"
    with pytest.raises(ConflictError, match="already resolved"):
        resolve_conflict(w.ctx, w.tenant, conflict["id"], take="remote")
    after = run_sync(w.ctx, w.tenant, "xpm")
    assert after.counts["conflicts"] == 0
    assert w.remote(rid).name == "Local Name Pty Ltd"
    assert w.audit_rows(entity="conflict", action="resolve") == 1
    assert list_conflicts(w.db, w.tenant) == []


def _name_conflict(w: SyncWorld, local: str, remote: str) -> tuple[str, str, dict[str, object]]:
    """Both sides rename the first pair (name is a "manual" field); returns its ids and the queued conflict."""
    (local_id, rid) = next(iter(w.pairs.items()))
    w.edit_local(local_id, display_name=local)
    w.sim.store.edit_client(rid, Name=remote)
    run_sync(w.ctx, w.tenant, "xpm")
    [conflict] = list_conflicts(w.db, w.tenant)
    return local_id, rid, conflict


def test_a_conflict_resolved_with_the_remote_value_writes_nothing_remotely(xpm: SyncWorld) -> None:
    w = xpm
    local_id, _, conflict = _name_conflict(w, "Ours Pty Ltd", "Theirs Pty Ltd")
    resolve_conflict(w.ctx, w.tenant, conflict["id"], take="remote")
    assert w.local(local_id).display_name == "Theirs Pty Ltd"  # applied locally at once, audited
    writes = w.remote_writes()
    report = run_sync(w.ctx, w.tenant, "xpm")
    assert report.counts["conflicts"] == 0 and w.remote_writes() == writes


def test_a_conflict_the_sides_settle_themselves_is_closed_as_converged(xpm: SyncWorld) -> None:
    w = xpm
    _, rid, conflict = _name_conflict(w, "Agreed Later Pty Ltd", "Interim Pty Ltd")
    w.sim.store.edit_client(rid, Name="Agreed Later Pty Ltd")  # someone in XPM types the same name
    writes, audit = w.remote_writes(), w.audit_rows()
    report = run_sync(w.ctx, w.tenant, "xpm")
    assert report.counts["open_conflicts"] == 0 and list_conflicts(w.db, w.tenant) == []
    [closed] = list_conflicts(w.db, w.tenant, status="resolved")
    assert closed["id"] == conflict["id"] and closed["resolution"] == "converged"
    assert (w.remote_writes(), w.audit_rows()) == (writes, audit)


def test_taking_local_keeps_the_local_value_as_it_is_now(xpm: SyncWorld) -> None:
    w = xpm
    local_id, rid, conflict = _name_conflict(w, "First Try Pty Ltd", "Theirs Pty Ltd")
    w.edit_local(local_id, display_name="Second Thought Pty Ltd")  # edited again before the operator looks
    resolve_conflict(w.ctx, w.tenant, conflict["id"], take="local")
    assert w.local(local_id).display_name == "Second Thought Pty Ltd"
    run_sync(w.ctx, w.tenant, "xpm")
    assert w.remote(rid).name == "Second Thought Pty Ltd" and list_conflicts(w.db, w.tenant) == []


def test_replaying_pages_changes_nothing(xero: SyncWorld) -> None:
    w = xero
    with w.db.session() as s:
        snapshots = dict(s.execute(sa.select(RemoteRecord.remote_id, RemoteRecord.payload_hash)).all())
        tenant_id = s.scalar(sa.select(Link.tenant_id))
        # Rewind the cursor: the next pull re-reads every page.
        cp = s.scalar(sa.select(Checkpoint).where(Checkpoint.stream == "clients"))
        cp.value = {"cursor": "2000-01-01T00:00:00+00:00", "mode": None, "resume": None}
    adapter = w.ctx.adapter(tenant_id, "xero")
    page = next(iter(adapter.iter_client_pages()))
    with w.db.session() as s:
        assert upsert_clients(s, tenant_id, "xero", page.items)["changed"] == 0
    before = _writes_and_audit(w)
    report = run_sync(w.ctx, w.tenant, "xero")
    assert report.counts["remote_unchanged"] == len(snapshots) and report.counts.get("remote_changed", 0) == 0
    assert report.counts["updated"] == 0 and _writes_and_audit(w) == before
    with w.db.session() as s:
        assert dict(s.execute(sa.select(RemoteRecord.remote_id, RemoteRecord.payload_hash)).all()) == snapshots


def test_xero_edits_on_both_sides_converge(xero: SyncWorld) -> None:
    w = xero
    (la, ra), (lb, rb) = list(w.pairs.items())[:2]
    w.edit_local(la, email="pushed@example.test")
    w.sim.store.edit(rb, EmailAddress="pulled@example.test")
    writes = w.remote_writes()
    report = run_sync(w.ctx, w.tenant, "xero")
    assert report.status == "succeeded" and report.counts["updated"] == 2
    assert w.remote(ra).email == "pushed@example.test" and w.local(lb).email == "pulled@example.test"
    assert w.remote_writes() == writes + 1
    for _ in range(3):
        run_sync(w.ctx, w.tenant, "xero")
    assert w.remote_writes() == writes + 1


def test_a_failed_record_makes_the_run_partial_and_the_rest_syncs(xero: SyncWorld) -> None:
    w = xero
    (la, ra), (lb, rb) = list(w.pairs.items())[:2]
    taken = w.remote(rb).name
    w.edit_local(la, display_name=taken)  # Xero refuses a second active contact with that name
    w.edit_local(lb, email="fine@example.test")
    report = run_sync(w.ctx, w.tenant, "xero")
    assert report.status == "partial" and report.counts["failed"] == 1 and report.counts["updated"] == 1
    [failed] = [r for r in report.records if r["outcome"] == "failed"]
    assert "DuplicateContactName" in failed["error"]
    assert w.remote(rb).email == "fine@example.test"
    assert w.audit_rows(action="update_failed", target="xero") == 1
    with w.db.session() as s:
        assert s.get(JobRun, report.run_id).status == "partial"


def test_archived_remote_records_are_reported_not_deleted(xero: SyncWorld) -> None:
    w = xero
    local_id, rid = next(iter(w.pairs.items()))
    w.sim.store.archive(rid)
    report = run_sync(w.ctx, w.tenant, "xero")
    assert [a["remote_id"] for a in report.archived] == [rid]
    assert report.counts["skipped"] == 1
    assert w.local(local_id).status == "active"
    with w.db.session() as s:
        assert s.scalar(sa.select(Link.status).where(Link.remote_id == rid)) == "linked"


def test_dry_run_reports_and_writes_nothing(xpm: SyncWorld) -> None:
    w = xpm
    (la, _), (_, rb) = list(w.pairs.items())[:2]
    w.edit_local(la, email="dry@example.test")
    w.sim.store.edit_client(rb, Email="dry-remote@example.test")
    before = _writes_and_audit(w)
    report = run_sync(w.ctx, w.tenant, "xpm", dry_run=True)
    assert report.dry_run and report.counts["updated"] == 2
    assert _writes_and_audit(w) == before
    real = run_sync(w.ctx, w.tenant, "xpm")
    assert real.counts["updated"] == 2


class _DieAfterRemoteWrite(BaseException):
    """The process dying between the remote write and the local commit."""


def test_a_crash_between_the_remote_write_and_the_local_commit_never_writes_twice(xpm: SyncWorld) -> None:
    w = xpm
    local_id, rid = next(iter(w.pairs.items()))
    w.edit_local(local_id, email="exactly.once@example.test")
    real_factory = w.ctx.adapter_factory

    def dying_factory(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
        adapter = real_factory(ctx, tenant_id, system)
        write = adapter.update_client

        def update_then_die(remote_id: str, changes: dict[str, object]) -> object:
            write(remote_id, changes)
            raise _DieAfterRemoteWrite

        adapter.update_client = update_then_die  # type: ignore[method-assign]
        return adapter

    crashing = ServiceContext(w.db, w.ctx.settings, dying_factory)
    with pytest.raises(_DieAfterRemoteWrite):
        run_sync(crashing, w.tenant, "xpm")
    assert w.sim.stats.calls["PUT client.api/update"] == 1
    with w.db.session() as s:  # the dead run's lock and run row, as SIGKILL would leave them
        s.execute(sa.text("DELETE FROM run_locks"))
    report = run_sync(w.ctx, w.tenant, "xpm")
    assert report.status == "succeeded"
    assert w.sim.stats.calls["PUT client.api/update"] == 1  # the retry saw remote == local: no second write
    assert w.remote(rid).email == "exactly.once@example.test"
    for _ in range(2):
        run_sync(w.ctx, w.tenant, "xpm")
    assert w.sim.stats.calls["PUT client.api/update"] == 1


def test_webhook_pull_updates_the_snapshot_once_and_replay_changes_nothing(xero: SyncWorld) -> None:
    w = xero
    local_id, rid = next(iter(w.pairs.items()))
    w.sim.store.edit(rid, EmailAddress="hooked@example.test")
    tenant_id = w.tenant_id
    when = datetime.now(UTC).replace(microsecond=0)
    with w.db.session() as s:
        events = [WebhookEvent(tenant_id=tenant_id, system="xero", category="CONTACT", event_type="UPDATE",
                               resource_id=rid, event_date=when),
                  WebhookEvent(tenant_id=tenant_id, system="xero", category="CONTACT", event_type="UPDATE",
                               resource_id=rid, event_date=when + timedelta(seconds=1))]
        s.add_all(events)
        s.flush()
        ids = [e.id for e in events]
        changed_at = s.scalar(sa.select(RemoteRecord.changed_at).where(RemoteRecord.remote_id == rid))
    gets = w.sim.stats.get("GET Contacts", 0)  # `GET /Contacts?IDs=`, 50 contacts a call

    report = run_webhook_pull(w.ctx, w.tenant, "xero", ids)

    assert report.status == "succeeded"
    assert report.counts["remote_changed"] == 1 and report.counts["events_processed"] == 2
    assert w.sim.stats.get("GET Contacts", 0) == gets + 1  # one read for two events on one contact
    assert w.local(local_id).email == "hooked@example.test"
    with w.db.session() as s:
        row = s.scalar(sa.select(RemoteRecord).where(RemoteRecord.remote_id == rid))
        assert row.payload["email"] == "hooked@example.test" and row.changed_at > changed_at
        assert all(e.processed_at is not None for e in s.scalars(sa.select(WebhookEvent)))
        snapshot = (row.payload_hash, row.changed_at)
    before = _writes_and_audit(w)

    replay = run_webhook_pull(w.ctx, w.tenant, "xero", ids)

    assert replay.counts["events_already_processed"] == 2 and replay.counts.get("remote_changed", 0) == 0
    assert w.sim.stats.get("GET Contacts", 0) == gets + 1
    with w.db.session() as s:
        row = s.scalar(sa.select(RemoteRecord).where(RemoteRecord.remote_id == rid))
        assert (row.payload_hash, row.changed_at) == snapshot
    assert _writes_and_audit(w) == before


# --- SIGKILL in the middle of a sync ----------------------------------------------------------------------

SYNC_CLI = ("import sys; from syncworker.cli.main import cli; from syncworker.cli import sync_cmds\n"
            "for c in sync_cmds.commands:\n    cli.commands.setdefault(c.name, c)\n"
            "cli(prog_name='syncworker')")


def _sync_subprocess(w: SyncWorld, db_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SYNCWORKER_DATABASE_URL": db_url, "SYNCWORKER_SECRET_KEY": w.ctx.settings.secret_key or "",
           "SYNCWORKER_LOCK_TTL_SECONDS": "2", "PYTHONPATH": str(ROOT), "SYNCWORKER_LOG_LEVEL": "WARNING",
           **w.sim.env()}
    return subprocess.Popen([sys.executable, "-c", SYNC_CLI, "sync", "--tenant", w.tenant, "--system", w.system,
                             "--json"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str] | None, what: str,
              timeout: float = 240) -> None:
    """Poll until `condition` holds; fail with `what` if `proc` (when given) exits first or `timeout` passes
    (generous: a deadline here only catches a hang, it measures nothing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the worker exited before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s and still not: {what}")
        time.sleep(0.02)


def test_a_worker_killed_mid_sync_and_restarted_converges_with_nothing_lost_or_written_twice(
        tmp_path: Path, _sqlite_template: Path) -> None:
    import shutil

    path = tmp_path / "worker.db"
    shutil.copyfile(_sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        with xpm_world(db, clients=12) as w:
            assert run_sync(w.ctx, w.tenant, "xpm").status == "succeeded"
            locals_ = list(w.pairs.items())
            pushed = {lid: f"moved.{i}@example.test" for i, (lid, _) in enumerate(locals_[:8])}
            for lid, email in pushed.items():
                w.edit_local(lid, email=email)
            pulled = {lid: f"02 9444 {1000 + i}" for i, (lid, _) in enumerate(locals_[8:])}
            for lid, phone in pulled.items():
                w.sim.store.edit_client(w.pairs[lid], Phone=phone)
            w.sim.stats.reset()
            # Every update answers slowly; the 4th much more slowly, so the worker is surely waiting on it when
            # it is killed. The simulator applies a write after its delay even though the caller is gone.
            updates = "client.api/update"
            w.sim.faults.inject("slow", times=3, path_contains=updates, delay=0.4)
            w.sim.faults.inject("slow", times=1, path_contains=updates, delay=3)
            w.sim.faults.inject("slow", times=100, path_contains=updates, delay=0.4)

            proc = _sync_subprocess(w, db.connect_url)
            # Events, not timings: the worker's start-up alone takes 30 s on a loaded machine.
            _wait_for(lambda: w.sim.faults.fired["slow"] >= 4, proc, "the 4th update reached XPM")
            proc.send_signal(signal.SIGKILL)  # while it waits 3 s for the answer to the 4th update
            proc.wait(timeout=30)
            assert w.sim.stats.calls["PUT client.api/update"] == 3, "the worker must die mid-run"
            # The write in flight lands after all (its outcome was unknown to the dead worker), as it would in
            # XPM long before the lease (5 minutes in production) lets another worker take the tenant.
            _wait_for(lambda: w.sim.stats.calls["PUT client.api/update"] == 4, None, "the 4th update landed")
            w.sim.faults.clear()
            time.sleep(2.5)  # the dead worker's lease expires (TTL 2 s)

            again = _sync_subprocess(w, db.connect_url)
            out, err = again.communicate(timeout=240)
            assert again.returncode == 0, err
            # Converged: every local edit is in XPM, every XPM edit is local.
            for lid, email in pushed.items():
                assert w.remote(w.pairs[lid]).email == email
            for lid, phone in pulled.items():
                assert w.local(lid).phone == phone
            # Nothing written twice: one update per pushed record across both runs, every one applied. The
            # record whose write landed after the kill was seen to agree and was not written again.
            assert w.sim.stats.calls["PUT client.api/update"] == len(pushed), w.sim.stats.snapshot()
            assert set(w.sim.stats.statuses) == {200}, w.sim.stats.snapshot()
            with db.session() as s:
                assert s.scalar(sa.select(sa.func.count()).select_from(JobRun).where(JobRun.status == "running")) == 0
                versions = s.execute(sa.select(Client.version, Link.last_pushed_version)
                                     .join(Link, Link.client_id == Client.id)).all()
                assert all(v == last for v, last in versions)
                assert s.scalar(sa.select(sa.func.count()).select_from(FieldSyncState)) > 0
            quiet = run_sync(w.ctx, w.tenant, "xpm")
            assert quiet.counts["updated"] == 0 and w.sim.stats.calls["PUT client.api/update"] == len(pushed)
    finally:
        db.dispose()


def test_first_sync_of_a_new_pair_takes_equal_values_as_base_and_follows_the_rule_where_they_differ(
        db: Database) -> None:
    with xpm_world(db, clients=4) as w:
        (local_id, rid) = next(iter(w.pairs.items()))
        w.edit_local(local_id, display_name="Linked But Different Pty Ltd", email="differs@example.test",
                     street_city="Wollongong")
        report = run_sync(w.ctx, w.tenant, "xpm")
        assert report.counts["conflicts"] == 1 and report.counts["created"] == len(w.pairs) - 1
        [conflict] = list_conflicts(w.db, w.tenant)
        # No base yet: nothing to compare with; the city's rule (manual) asks an operator.
        assert conflict["field"] == "address.city" and conflict["base"] is None
        remote = w.remote(rid)
        assert remote.name == "Linked But Different Pty Ltd"  # identity: the practice's record wins at first sync
        assert remote.email == "differs@example.test"  # prefer_local_unless_blank
        with w.db.session() as s:  # every equal or settled field became the base
            link_id = s.scalar(sa.select(Link.id).where(Link.remote_id == rid))
            bases = set(s.scalars(sa.select(FieldSyncState.field).where(FieldSyncState.link_id == link_id)))
        assert {"name", "email", "phone"} <= bases and "address.city" not in bases


def test_most_recent_lets_the_later_edit_win(xero: SyncWorld) -> None:
    from syncworker.domain.sync import FieldRules

    w = xero
    rules = FieldRules.parse({"systems": {"xero": {"fields": {"name": {"policy": "most_recent"}}}}})
    (la, ra), (lb, rb) = list(w.pairs.items())[:2]
    w.sim.store.edit(ra, Name="Remote Earlier Ltd")
    w.edit_local(lb, display_name="Local Earlier Ltd")
    time.sleep(0.05)
    w.edit_local(la, display_name="Local Later Ltd")
    w.sim.store.edit(rb, Name="Remote Later Ltd")
    report = run_sync(w.ctx, w.tenant, "xero", rules=rules)
    assert report.counts["conflicts"] == 0, report.records
    assert w.remote(ra).name == "Local Later Ltd"
    assert w.local(lb).display_name == "Remote Later Ltd"
