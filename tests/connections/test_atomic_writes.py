"""Nothing half-written: group changes with a bad member write nothing, and a deletion whose primary-contact
hand-over fails leaves the connection (both sides) and the primary where they were."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from syncworker.domain.connections import ConnectionRefused
from syncworker.services import connections as conn_svc
from syncworker.services import groups as group_svc
from syncworker.services.queries import show_client
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, ClientGroupMember, ClientGroupRow, Connection, Contact
from tests.factories import make_client, make_tenant

T = "Atomic Practice"


@pytest.fixture
def world(db: Database) -> Database:
    tid = make_tenant(db, T)
    acme = make_client(db, tid, "ACME", "Acme Pty Ltd", "company")
    make_client(db, tid, "JO", "Jo Bloggs", "individual")
    make_client(db, tid, "SAM", "Sam Carter", "individual")
    with db.session() as s:
        s.add(Contact(tenant_id=tid, external_id="K1", client_id=acme, name="Kit Contact"))
    return db


def snapshot(db: Database) -> tuple[int, ...]:
    with db.session() as s:
        return tuple(s.scalar(sa.select(sa.func.count()).select_from(m)) or 0
                     for m in (ClientGroupRow, ClientGroupMember, Connection, AuditEntry))


def test_group_rules_refuse_and_write_nothing(world: Database) -> None:
    group_svc.add_group(world, T, "Bloggs Group", ["ACME"])
    before = snapshot(world)
    cases = [
        (lambda: group_svc.add_group(world, T, "Second", ["JO", "K1"]), "not_a_client"),
        (lambda: group_svc.add_group(world, T, "  ", ["JO"]), "group_name"),
        (lambda: group_svc.add_group(world, T, "BLOGGS GROUP", []), "group_exists"),
        (lambda: group_svc.group_members(world, T, "Bloggs Group", add=["JO", "ACME"]), "already_member"),
        (lambda: group_svc.group_members(world, T, "Bloggs Group", add=["JO"], remove=["SAM"]), "not_member"),
        (lambda: group_svc.group_members(world, T, "Bloggs Group", add=["JO", "K1"]), "not_a_client"),
    ]
    for call, rule in cases:
        with pytest.raises(ConnectionRefused) as exc:
            call()
        assert exc.value.rule == rule
        assert snapshot(world) == before, rule
    with pytest.raises(LookupError):
        group_svc.add_group(world, T, "Third", ["JO", "NOPE"])
    assert snapshot(world) == before


def test_a_client_in_several_groups_and_show_client_lists_them(world: Database) -> None:
    group_svc.add_group(world, T, "Bloggs Group", ["ACME", "JO"])
    group_svc.add_group(world, T, "Family", ["JO", "SAM"])
    assert sorted(g["name"] for g in show_client(world, T, "JO")["groups"]) == ["Bloggs Group", "Family"]
    group_svc.remove_group(world, T, "Family")
    assert [g["name"] for g in show_client(world, T, "JO")["groups"]] == ["Bloggs Group"]
    assert [m["id"] for m in group_svc.group_members(world, T, "Bloggs Group")["members"]] == ["ACME", "JO"]


def test_deletion_is_all_or_nothing(world: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    jo = conn_svc.add_connection(world, T, "ACME", "JO", None)
    conn_svc.add_connection(world, T, "ACME", "SAM", None)
    before = snapshot(world)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(conn_svc, "_set_primary_flag", broken)
    with pytest.raises(RuntimeError):
        conn_svc.remove_connection(world, T, jo["id"])
    assert snapshot(world) == before
    assert [c["client"] for c in show_client(world, T, "JO")["connections"]] == ["ACME"]
    assert [c["related"] for c in conn_svc.list_connections(world, T, "ACME") if c["primary_contact"]] == ["JO"]
