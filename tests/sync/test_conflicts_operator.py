"""Operators see and settle conflicts through the HTTP API and the CLI; `syncworker sync` reports and
exits non-zero on failure."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from syncworker.cli import sync_cmds
from syncworker.cli.main import cli
from syncworker.http.app import create_app
from syncworker.jobs.inprocess import InProcessExecutor
from syncworker.services.context import ServiceContext
from syncworker.services.sync_run import run_sync
from syncworker.store.db import Database
from tests.http.conftest import serving
from tests.sync.worlds import SyncWorld, xpm_world

pytestmark = pytest.mark.e2e
TOKEN = "op-test-token"

for _command in sync_cmds.commands:  # until the lead registers the module on the root group
    cli.commands.setdefault(_command.name, _command)


@pytest.fixture
def world(sqlite_db: Database) -> Iterator[SyncWorld]:
    with xpm_world(sqlite_db, clients=6) as w:
        assert run_sync(w.ctx, w.tenant, "xpm").status == "succeeded"
        yield w


def _conflict_on_name(w: SyncWorld, n: int, local: str, remote: str) -> tuple[str, str]:
    local_id, rid = list(w.pairs.items())[n]
    w.edit_local(local_id, display_name=local)
    w.sim.store.edit_client(rid, Name=remote)
    report = run_sync(w.ctx, w.tenant, "xpm")
    assert report.counts["conflicts"] == 1
    return local_id, rid


@pytest.fixture
def api(world: SyncWorld) -> Iterator[httpx.Client]:
    ctx = ServiceContext(world.db, replace(world.ctx.settings, operator_token=TOKEN))
    executor = InProcessExecutor(ctx, workers=1)
    with serving(create_app(ctx, executor)) as url, httpx.Client(
            base_url=url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}", "X-Operator": "alice"}) as client:
        yield client
    executor.shutdown()


def test_conflicts_over_http(world: SyncWorld, api: httpx.Client) -> None:
    local_id, rid = _conflict_on_name(world, 0, "Ours Pty Ltd", "Theirs Pty Ltd")
    assert api.get("/conflicts", params={"tenant": world.tenant}, headers={"Authorization": "Bearer nope"}) \
        .status_code == 401
    listed = api.get("/conflicts", params={"tenant": world.tenant}).json()
    assert [(c["field"], c["local"], c["remote"], c["local_id"]) for c in listed] == [
        ("name", "Ours Pty Ltd", "Theirs Pty Ltd", local_id)]
    cid = listed[0]["id"]
    both = api.post(f"/conflicts/{cid}/resolve", json={"tenant": world.tenant, "take": "local", "value": "X"})
    assert both.status_code == 422
    assert api.post("/conflicts/999999/resolve", json={"tenant": world.tenant, "take": "local"}).status_code == 404

    done = api.post(f"/conflicts/{cid}/resolve", json={"tenant": world.tenant, "take": "local"})

    assert done.status_code == 200, done.text
    assert done.json()["resolved_by"] == "alice" and done.json()["status"] == "resolved"
    assert api.post(f"/conflicts/{cid}/resolve", json={"tenant": world.tenant, "take": "remote"}).status_code == 409
    assert api.get("/conflicts", params={"tenant": world.tenant}).json() == []
    assert len(api.get("/conflicts", params={"tenant": world.tenant, "status": "all"}).json()) == 1
    run_sync(world.ctx, world.tenant, "xpm")
    assert world.remote(rid).name == "Ours Pty Ltd"

    _, rid2 = _conflict_on_name(world, 2, "Mine Pty Ltd", "Yours Pty Ltd")
    [second] = api.get("/conflicts", params={"tenant": world.tenant}).json()
    now = api.post(f"/conflicts/{second['id']}/resolve", json={"tenant": world.tenant, "value": "Ours Again Pty Ltd",
                                                               "sync_now": True})
    assert now.status_code == 200 and now.json()["sync"]["queued"] is True, now.text
    from syncworker.store.models import JobRun

    deadline = time.monotonic() + 120  # a hang only
    while time.monotonic() < deadline:
        with world.db.session() as s:
            status = s.scalar(sa.select(JobRun.status).where(JobRun.id == now.json()["sync"]["run_id"]))
        if status != "running":
            break
        time.sleep(0.05)
    assert status == "succeeded" and world.remote(rid2).name == "Ours Again Pty Ltd"


def _cli(w: SyncWorld, *args: str) -> Result:
    env = {"SYNCWORKER_DATABASE_URL": w.db.connect_url, "SYNCWORKER_SECRET_KEY": w.ctx.settings.secret_key or "",
           "SYNCWORKER_LOG_LEVEL": "WARNING", **w.sim.env()}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_conflicts_and_sync_from_the_cli(world: SyncWorld) -> None:
    w = world
    local_id, rid = _conflict_on_name(w, 1, "Left Pty Ltd", "Right Pty Ltd")
    listed = _cli(w, "conflicts", "list", "--tenant", w.tenant, "--json")
    assert listed.exit_code == 0, listed.output
    [conflict] = json.loads(listed.output)
    human = _cli(w, "conflicts", "list", "--tenant", w.tenant)
    assert "Left Pty Ltd" in human.output and "Right Pty Ltd" in human.output

    resolved = _cli(w, "conflicts", "resolve", str(conflict["id"]), "--tenant", w.tenant, "--value",
                    "Middle Pty Ltd", "--now", "--json")

    assert resolved.exit_code == 0, resolved.output
    out = json.loads(resolved.output)
    assert out["conflict"]["resolution"] == "custom" and out["sync"]["counts"]["updated"] == 1
    assert w.remote(rid).name == "Middle Pty Ltd" and w.local(local_id).display_name == "Middle Pty Ltd"
    again = _cli(w, "conflicts", "resolve", str(conflict["id"]), "--tenant", w.tenant, "--take", "local")
    assert again.exit_code == 1 and "already resolved" in again.output

    w.edit_local(list(w.pairs)[2], email="cli@example.test")
    synced = _cli(w, "sync", "--tenant", w.tenant, "--system", "xpm", "--json")
    assert synced.exit_code == 0, synced.output
    report = json.loads(synced.output)
    assert report["status"] == "succeeded" and report["counts"]["updated"] == 1
    human = _cli(w, "sync", "--tenant", w.tenant)  # every linked system
    assert human.exit_code == 0 and "SUCCEEDED" in human.output
    assert _cli(w, "sync", "--tenant", "No Such Practice").exit_code == 1


def test_relationship_conflicts_in_the_same_queue_are_handed_to_the_relationship_sync(world: SyncWorld) -> None:
    from syncworker.services.conflicts import ConflictError, list_conflicts, resolve_conflict
    from syncworker.store.models import Link, SyncConflict

    with world.db.session() as s:
        link = s.scalar(sa.select(Link))
        c = SyncConflict(tenant_id=link.tenant_id, link_id=link.id, field="relationship:0f0e0d0c-aaaa-4bbb-8ccc-000000000001",
                         base_value=json.dumps({"type": "director"}), local_value=None,
                         remote_value=json.dumps({"type": "director", "number_of_shares": 10}))
        s.add(c)
        s.flush()
        cid = c.id
    [listed] = list_conflicts(world.db, world.tenant)
    assert listed["kind"] == "relationship" and listed["local"] is None
    with pytest.raises(ConflictError, match="--take"):
        resolve_conflict(world.ctx, world.tenant, cid, value="anything")
    out = resolve_conflict(world.ctx, world.tenant, cid, take="local", actor="bob")
    assert out["status"] == "resolved" and out["resolution"] == "local" and out["resolved_by"] == "bob"
    with pytest.raises(ConflictError, match="already resolved"):
        resolve_conflict(world.ctx, world.tenant, cid, take="remote")


def test_a_bad_field_rule_refuses_the_sync_naming_the_field(world: SyncWorld, tmp_path: object,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "field_rules.yaml"
    bad.write_text("systems:\n  xpm:\n    fields:\n      email: {policy: whoever_shouts}\n")
    monkeypatch.setenv("SYNCWORKER_CONFIG_DIR", str(tmp_path))  # an override folder holding only this file
    result = _cli(world, "sync", "--tenant", world.tenant, "--system", "xpm")
    assert result.exit_code == 1 and "systems.xpm.fields.email" in result.output


def test_the_sync_job_runs_through_the_executor(world: SyncWorld) -> None:
    from syncworker.jobs.base import JobRequest
    from syncworker.jobs.inprocess import InProcessExecutor
    from syncworker.store.models import JobRun

    world.edit_local(list(world.pairs)[3], email="job@example.test")
    executor = InProcessExecutor(world.ctx, workers=1)
    try:
        run_id = executor.submit(JobRequest("sync", world.tenant, {"system": "xpm"}, trigger="schedule"))
        assert executor.futures[run_id].result(timeout=30)["status"] == "succeeded"  # type: ignore[index]
    finally:
        executor.shutdown()
    with world.db.session() as s:
        run = s.get(JobRun, run_id)
        assert run.kind == "sync" and run.status == "succeeded" and run.counts["updated"] == 1
    assert world.remote(world.pairs[list(world.pairs)[3]]).email == "job@example.test"
