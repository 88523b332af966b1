"""Conflicts reviewed per client and settled in bulk (one client, one field across clients, all of a run),
every resolution in the audit log; dry runs say what they would write and open; per-tenant field rules.
The services on SQLite and PostgreSQL, the CLI and the HTTP API on SQLite."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from syncworker.domain.sync import Policy, RuleError
from syncworker.services.conflicts import ConflictError, list_conflicts, resolve_many, review_items
from syncworker.services.field_rules import clear_rules, set_rule, show_rules, tenant_field_rules
from syncworker.services.sync_run import run_sync
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, SyncConflict
from tests.sync.test_conflicts_operator import _cli, api, world  # noqa: F401 - fixtures shared with that module
from tests.sync.worlds import SyncWorld, xpm_world

pytestmark = pytest.mark.e2e


def _both_sides_edit(w: SyncWorld, n: int, *, city: bool) -> tuple[str, str]:
    """Name (and street city) changed on both sides since the first sync: manual rules, so conflicts."""
    local_id, rid = list(w.pairs.items())[n]
    w.edit_local(local_id, display_name=f"Local {n} Pty Ltd", **({"street_city": f"Localville {n}"} if city else {}))
    w.sim.store.edit_client(rid, Name=f"Remote {n} Pty Ltd", **({"City": f"Remoteville {n}"} if city else {}))
    return local_id, rid


@pytest.fixture
def conflicted(db: Database) -> Iterator[tuple[SyncWorld, int]]:
    """Three clients in conflict after one run: five fields (two clients with name and city)."""
    with xpm_world(db, clients=6) as w:
        assert run_sync(w.ctx, w.tenant, "xpm").status == "succeeded"
        for n in range(3):
            _both_sides_edit(w, n, city=n < 2)
        report = run_sync(w.ctx, w.tenant, "xpm")
        assert report.counts["conflicts"] == 3 and report.counts["conflicts_new"] == 5, report.records
        yield w, report.run_id


def _audit(w: SyncWorld, **where: object) -> list[AuditEntry]:
    with w.db.session() as s:
        q = sa.select(AuditEntry).order_by(AuditEntry.id)
        for k, v in where.items():
            q = q.where(getattr(AuditEntry, k) == v)
        rows = list(s.scalars(q))
        s.expunge_all()
        return rows


def test_one_review_item_per_client_with_fields_side_by_side_and_why(conflicted: tuple[SyncWorld, int]) -> None:
    w, run_id = conflicted
    items = review_items(w.db, w.tenant)
    assert len(items) == 3
    first = next(i for i in items if i["local_id"] == list(w.pairs)[0])
    assert {f["field"]: (f["local"], f["remote"]) for f in first["fields"]} == {
        "name": ("Local 0 Pty Ltd", "Remote 0 Pty Ltd"), "address.city": ("Localville 0", "Remoteville 0")}
    assert all(f["reason"] == "changed on both sides: manual" for f in first["fields"])
    assert first["runs"] == [run_id]
    assert len(review_items(w.db, w.tenant, run_id=run_id + 1000)) == 0


def test_bulk_resolution_by_client_by_field_and_by_run_each_audited(conflicted: tuple[SyncWorld, int]) -> None:
    w, run_id = conflicted
    (c0, r0), (c1, r1), (c2, r2) = list(w.pairs.items())[:3]
    with pytest.raises(ConflictError, match="say which"):
        resolve_many(w.ctx, w.tenant, "local")

    one_client = resolve_many(w.ctx, w.tenant, "remote", client=c0, actor="alice")
    assert (one_client["resolved"], one_client["clients"]) == (2, 1)
    assert w.local(c0).display_name == "Remote 0 Pty Ltd" and w.local(c0).street_city == "Remoteville 0"

    one_field = resolve_many(w.ctx, w.tenant, "local", field="name", actor="bob")
    assert (one_field["resolved"], one_field["clients"]) == (2, 2)  # c1 and c2; c0's name is settled already

    rest = resolve_many(w.ctx, w.tenant, "local", run_id=run_id, actor="carol")
    assert rest["resolved"] == 1 and rest["conflicts"][0]["field"] == "address.city"
    assert list_conflicts(w.db, w.tenant) == []

    # Every resolution is audited with who and what; each bulk decision once more, naming its choice.
    resolves = _audit(w, entity="conflict", action="resolve")
    assert [(a.actor, a.after["field"], a.after["resolution"]) for a in resolves] == [
        ("alice", "name", "remote"), ("alice", "address.city", "remote"), ("bob", "name", "local"),
        ("bob", "name", "local"), ("carol", "address.city", "local")]
    bulk = _audit(w, action="resolve_bulk")
    assert [(a.actor, a.after["take"], {k: a.after.get(k) for k in ("client", "field", "run_id")}, len(a.after["conflicts"]))
            for a in bulk] == [("alice", "remote", {"client": c0, "field": None, "run_id": None}, 2),
                               ("bob", "local", {"client": None, "field": "name", "run_id": None}, 2),
                               ("carol", "local", {"client": None, "field": None, "run_id": run_id}, 1)]
    local_writes = _audit(w, origin="operator", target="local", entity="client")
    assert {(a.entity_id, tuple(a.after)) for a in local_writes} == {(c0, ("name",)), (c0, ("address.city",))}

    # The next sync writes the choices to XPM; the one after writes nothing.
    report = run_sync(w.ctx, w.tenant, "xpm")
    assert report.counts["conflicts"] == 0 and report.counts["failed"] == 0, report.records
    assert (w.remote(r0).name, w.remote(r1).name, w.remote(r2).name) == (
        "Remote 0 Pty Ltd", "Local 1 Pty Ltd", "Local 2 Pty Ltd")
    writes = w.remote_writes()
    quiet = run_sync(w.ctx, w.tenant, "xpm")
    assert w.remote_writes() == writes and quiet.counts.get("local_writes", 0) == 0


def test_a_bulk_resolution_is_applied_whole_or_not_at_all(conflicted: tuple[SyncWorld, int]) -> None:
    w, run_id = conflicted
    c0 = list(w.pairs)[0]
    # A filter that names nothing in the tenant is one line, not "0 settled".
    for chosen, why in (({"field": "nmae"}, "'nmae' is not a synced field"),
                        ({"client": "NOBODY"}, "no client with id 'NOBODY'"),
                        ({"run_id": run_id + 1000}, f"no run with id {run_id + 1000}"),
                        ({"system": "myob"}, "unknown system 'myob'")):
        with pytest.raises(ConflictError, match=why):
            resolve_many(w.ctx, w.tenant, "remote", **chosen)
    # The last conflict cannot be applied (a remote date that is no date): nothing of the bulk is kept.
    with w.db.session() as s:
        last = s.scalars(sa.select(SyncConflict).order_by(SyncConflict.link_id.desc(), SyncConflict.id.desc())).first()
        last.field, last.remote_value = "date_of_birth", json.dumps("1980-13-45")
    audit = len(_audit(w))
    with pytest.raises(ConflictError, match="not a valid date_of_birth"):
        resolve_many(w.ctx, w.tenant, "remote", run_id=run_id, actor="erin")
    assert len(list_conflicts(w.db, w.tenant)) == 5 and len(_audit(w)) == audit
    assert w.local(c0).display_name == "Local 0 Pty Ltd"  # the first conflicts' values were rolled back too


def test_a_dry_run_says_what_it_would_write_and_open_and_writes_nothing(db: Database) -> None:
    with xpm_world(db, clients=6) as w:
        assert run_sync(w.ctx, w.tenant, "xpm").status == "succeeded"
        local_id, _ = _both_sides_edit(w, 0, city=False)
        other_id = list(w.pairs)[1]
        w.edit_local(other_id, email="dry.run@example.test")
        audit = len(_audit(w))
        report = run_sync(w.ctx, w.tenant, "xpm", dry_run=True)
        by_client = {x["local_id"]: x for x in report.records}
        assert by_client[local_id]["would_open"] == [{"field": "name", "local": "Local 0 Pty Ltd",
                                                      "remote": "Remote 0 Pty Ltd",
                                                      "reason": "changed on both sides: manual"}]
        [write] = by_client[other_id]["would_write"]
        assert (write["field"], write["to"], write["value"]) == ("email", "remote", "dry.run@example.test")
        assert (report.counts["would_write_fields"], report.counts["would_open_conflicts"]) == (1, 1)
        assert len(_audit(w)) == audit and w.remote_writes() == 0
        with w.db.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(SyncConflict)) == 0


def test_tenant_rule_overrides_are_validated_audited_and_used(db: Database) -> None:
    with xpm_world(db, clients=4) as w:
        with pytest.raises(RuleError, match="shoe_size"):
            set_rule(w.db, w.tenant, field="shoe_size", policy="manual")
        with pytest.raises(RuleError, match="loudest"):
            set_rule(w.db, w.tenant, field="name", policy="loudest")
        with pytest.raises(RuleError, match="unknown system"):
            set_rule(w.db, w.tenant, field="name", system="myob", policy="manual")
        set_rule(w.db, w.tenant, field="name", system="xpm", first_sync="manual", actor="dana")
        assert tenant_field_rules(w.db, w.tenant).rule("xpm", "name").first_sync == Policy.MANUAL
        assert tenant_field_rules(w.db, w.tenant).rule("xero", "name").first_sync == Policy.ALWAYS_LOCAL
        shown = {(r["system"], r["field"]): r for r in show_rules(w.db, w.tenant)["rules"]}
        assert shown[("xpm", "name")]["overridden"] and not shown[("xero", "name")]["overridden"]
        [audit] = _audit(w, entity="field_rules")
        assert audit.actor == "dana" and audit.after["overrides"] == {
            "systems": {"xpm": {"fields": {"name": {"first_sync": "manual"}}}}}

        # Used by the sync: the first sync of a pair whose names differ now asks an operator.
        local_id, _ = list(w.pairs.items())[0]
        w.edit_local(local_id, display_name="Overridden Pty Ltd")
        report = run_sync(w.ctx, w.tenant, "xpm")
        assert [c["field"] for c in list_conflicts(w.db, w.tenant)] == ["name"], report.records

        with pytest.raises(RuleError, match="'nmae' is not a syncable field"):
            clear_rules(w.db, w.tenant, field="nmae")
        with pytest.raises(RuleError, match="unknown system 'myob'"):
            clear_rules(w.db, w.tenant, system="myob")
        assert clear_rules(w.db, w.tenant, actor="dana") == {}
        assert tenant_field_rules(w.db, w.tenant).rule("xpm", "name").first_sync == Policy.ALWAYS_LOCAL


# --- the CLI and the HTTP API (SQLite) --------------------------------------------------------------------

def test_review_bulk_take_and_rules_from_the_cli(world: SyncWorld) -> None:  # noqa: F811
    w = world
    for n in range(2):
        _both_sides_edit(w, n, city=True)
    run = run_sync(w.ctx, w.tenant, "xpm")
    assert run.counts["conflicts"] == 2
    human = _cli(w, "conflicts", "list", "--tenant", w.tenant, "--by-client")
    assert human.exit_code == 0 and human.output.count("2 field(s)") == 2 and "changed on both sides" in human.output
    items = json.loads(_cli(w, "conflicts", "list", "--tenant", w.tenant, "--by-client", "--json").output)
    assert len(items) == 2 and all(len(i["fields"]) == 2 for i in items)
    refused = _cli(w, "conflicts", "take", "local", "--tenant", w.tenant)
    assert refused.exit_code == 1 and "say which" in refused.output
    typo = _cli(w, "conflicts", "take", "local", "--tenant", w.tenant, "--field", "adress.city")
    assert typo.exit_code == 1 and "'adress.city' is not a synced field" in typo.output, typo.output
    took = _cli(w, "conflicts", "take", "remote", "--tenant", w.tenant, "--field", "address.city", "--json")
    assert took.exit_code == 0 and json.loads(took.output)["resolved"] == 2, took.output
    took = _cli(w, "conflicts", "take", "local", "--tenant", w.tenant, "--run", str(run.run_id))
    assert took.exit_code == 0 and "2 conflict(s) on 2 client(s)" in took.output

    assert _cli(w, "rules", "set", "--tenant", w.tenant, "--field", "email", "--policy", "always_remote").exit_code == 0
    bad = _cli(w, "rules", "set", "--tenant", w.tenant, "--field", "shoe_size", "--policy", "manual")
    assert bad.exit_code == 1 and "shoe_size" in bad.output
    shown = _cli(w, "rules", "show", "--tenant", w.tenant, "--overridden", "--json")
    assert {(r["system"], r["field"], r["policy"]) for r in json.loads(shown.output)["rules"]} == {
        ("xpm", "email", "always_remote"), ("xero", "email", "always_remote"), ("aps", "email", "always_remote")}
    table = _cli(w, "rules", "show", "--tenant", w.tenant, "--system", "xpm")
    assert table.exit_code == 0 and "first_sync" in table.output and "always_local" in table.output

    w.edit_local(list(w.pairs)[3], email="would.write@example.test")
    dry = _cli(w, "sync", "--tenant", w.tenant, "--system", "xpm", "--dry-run")
    # The two names the operator kept local, and the e-mail edited since.
    assert dry.exit_code == 0 and "would write 3 field(s) and open 0 conflict(s)" in dry.output, dry.output
    assert "would.write@example.test" in dry.output and "Local 1 Pty Ltd" in dry.output


def test_review_bulk_and_rules_over_http(world: SyncWorld, api: httpx.Client) -> None:  # noqa: F811
    w = world
    for n in range(2):
        _both_sides_edit(w, n, city=n == 0)
    # A dry run queued over HTTP says in its counts what it would write and open, and writes nothing.
    dry = api.post("/runs", json={"tenant": w.tenant, "kind": "sync", "dry_run": True})
    assert dry.status_code == 202, dry.text
    deadline = time.monotonic() + 20
    while (run := api.get(dry.json()["status_url"]).json())["status"] in ("queued", "running") \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run["status"] == "succeeded" and run["counts"]["would_open_conflicts"] == 3, run
    assert api.get("/conflicts", params={"tenant": w.tenant}).json() == [] and w.remote_writes() == 0
    run_sync(w.ctx, w.tenant, "xpm")
    items = api.get("/conflicts/by-client", params={"tenant": w.tenant}).json()
    assert sorted(len(i["fields"]) for i in items) == [1, 2]
    assert api.post("/conflicts/resolve", json={"tenant": w.tenant, "take": "local"}).status_code == 422
    typo = api.post("/conflicts/resolve", json={"tenant": w.tenant, "take": "local", "field": "nmae"})
    assert typo.status_code == 422 and "not a synced field" in typo.json()["detail"]
    nobody = api.post("/conflicts/resolve", json={"tenant": w.tenant, "take": "local", "client": "NOBODY"})
    assert nobody.status_code == 404, nobody.text
    one = api.post("/conflicts/resolve", json={"tenant": w.tenant, "take": "remote", "client": items[0]["local_id"]})
    assert one.status_code == 200 and one.json()["clients"] == 1, one.text
    rest = api.post("/conflicts/resolve", json={"tenant": w.tenant, "take": "local", "all_open": True}).json()
    assert rest["resolved"] + one.json()["resolved"] == 3
    assert all(c["resolved_by"] == "alice" for c in rest["conflicts"])
    assert api.get("/conflicts/by-client", params={"tenant": w.tenant}).json() == []

    assert api.put("/rules", json={"tenant": w.tenant, "field": "name", "policy": "loudest"}).status_code == 422
    assert api.put("/rules", json={"tenant": w.tenant, "field": "shoe", "policy": "manual"}).status_code == 422
    put = api.put("/rules", json={"tenant": w.tenant, "field": "name", "system": "xpm", "first_sync": "manual"})
    assert put.status_code == 200 and put.json()["overrides"]["systems"]["xpm"]["fields"]["name"] == {
        "first_sync": "manual"}
    rules = api.get("/rules", params={"tenant": w.tenant, "system": "xpm"}).json()["rules"]
    assert next(r for r in rules if r["field"] == "name")["first_sync"] == "manual"
    assert api.delete("/rules", params={"tenant": w.tenant}).json() == {"overrides": {}}
    assert api.get("/rules", params={"tenant": "Nobody"}).status_code == 404
