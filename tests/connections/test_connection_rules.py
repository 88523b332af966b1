"""Connection rules on the real store (SQLite and PostgreSQL): each rule refused with a clear message and
nothing written; both sides in one row, deleted from either side; primary-contact promotion."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from syncworker.domain.connections import ConnectionRefused
from syncworker.services import connections as svc
from syncworker.services.queries import show_client
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Connection, Contact, Tenant
from tests.factories import make_client, make_tenant

T = "Connections Practice"


@pytest.fixture
def world(db: Database) -> Database:
    tid = make_tenant(db, T)
    make_client(db, tid, "ACME", "Acme Pty Ltd", "company")
    make_client(db, tid, "BETA", "Beta Holdings Pty Ltd", "company")
    make_client(db, tid, "TRUST", "Smith Family Trust", "trust")
    make_client(db, tid, "JO", "Jo Bloggs", "individual")
    make_client(db, tid, "SAM", "Sam Carter", "individual")
    make_client(db, tid, "PRIYA", "Priya Nair", "individual")
    cid = make_client(db, tid, "OLD", "Old Record", "individual")
    with db.session() as s:
        s.add(Contact(tenant_id=tid, external_id="K1", client_id=cid, name="Kit Contact"))
    return db


def counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        return (s.scalar(sa.select(sa.func.count()).select_from(Connection)) or 0,
                s.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.entity == "connection"))
                or 0)


def refused(db: Database, rule: str, *args: str, **kw: str | None) -> str:
    before = counts(db)
    with pytest.raises(ConnectionRefused) as exc:
        svc.add_connection(db, T, *args, **kw)  # type: ignore[arg-type]
    assert exc.value.rule == rule
    assert counts(db) == before, "a refused connection must write nothing"
    return str(exc.value)


def set_setting(db: Database, **settings: object) -> None:
    with db.session() as s:
        t = s.scalar(sa.select(Tenant).where(Tenant.name == T))
        t.settings = {**(t.settings or {}), **settings}


def test_a_connection_is_one_fact_with_a_description_on_each_side(world: Database) -> None:
    c = svc.add_connection(world, T, "ACME", "JO", "director", description="Director since 2019")
    assert (c["client"], c["related"], c["type"]) == ("ACME", "JO", "director")
    assert c["description"] == "Director since 2019"
    assert c["related_description"] == "Company (director)"  # the default from config
    acme = {x["client"]: x for x in show_client(world, T, "ACME")["connections"]}
    jo = {x["client"]: x for x in show_client(world, T, "JO")["connections"]}
    assert acme["JO"]["description"] == "Director since 2019"
    assert jo["ACME"]["description"] == "Company (director)"
    assert counts(world) == (1, 1)


def test_contacts_cannot_be_connected(world: Database) -> None:
    msg = refused(world, "not_a_client", "ACME", "K1", "director")
    assert "Kit Contact is a contact, not a client" in msg


def test_not_to_itself(world: Database) -> None:
    assert "cannot be connected to itself" in refused(world, "self", "JO", "JO", "friend")


def test_unknown_client_and_unknown_type(world: Database) -> None:
    with pytest.raises(LookupError, match="no client with id 'NOPE'"):
        svc.add_connection(world, T, "ACME", "NOPE", "director")
    assert "unknown relationship type 'bestie'" in refused(world, "unknown_type", "JO", "SAM", "bestie")


def test_same_pair_same_type_refused_and_symmetric_types_in_either_direction(world: Database) -> None:
    svc.add_connection(world, T, "ACME", "JO", "director")
    assert "already connected" in refused(world, "duplicate", "ACME", "JO", "director")
    svc.add_connection(world, T, "ACME", "JO", "shareholder")  # another type is another fact
    svc.add_connection(world, T, "JO", "SAM", "spouse")
    refused(world, "duplicate", "SAM", "JO", "spouse")
    svc.add_connection(world, T, "PRIYA", "SAM", "parent_of")  # Sam is Priya's parent ...
    refused(world, "duplicate", "SAM", "PRIYA", "child_of")  # ... is Priya being Sam's child
    svc.add_connection(world, T, "SAM", "PRIYA", "parent_of")  # the other way round is another fact


def test_people_types_need_people(world: Database) -> None:
    assert "spouse connects two people" in refused(world, "needs_person", "ACME", "JO", "spouse")
    msg = refused(world, "needs_person", "JO", "ACME", "employee")
    assert "connect from Acme Pty Ltd's side" in msg


def test_business_to_business_is_configurable_per_tenant(world: Database) -> None:
    svc.add_connection(world, T, "ACME", "BETA", "shareholder")  # default: allowed, as in XPM
    set_setting(world, allow_business_connections=False)
    msg = refused(world, "business_to_business", "ACME", "TRUST", "trustee")
    assert "both businesses" in msg and "allow_business_connections" in msg
    svc.add_connection(world, T, "TRUST", "JO", "trustee")  # a person to a business still works


def test_type_required_unless_a_business_is_involved(world: Database) -> None:
    assert "choose a relationship type" in refused(world, "type_required", "JO", "SAM", None)
    assert "choose a relationship type" in refused(world, "type_required", "ACME", "BETA", None)


def test_a_connection_to_a_business_is_employee_with_the_business_as_employer(world: Database) -> None:
    c = svc.add_connection(world, T, "JO", "ACME", None, description="Works at Acme")
    assert (c["client"], c["related"], c["type"]) == ("ACME", "JO", "employee")
    # Jo typed the description on Jo's record: it stays on Jo's side after turning the connection around.
    assert c["related_description"] == "Works at Acme" and c["description"] == "Employee"


def test_first_person_connected_to_a_business_is_its_primary_contact(world: Database) -> None:
    first = svc.add_connection(world, T, "ACME", "JO", None)
    second = svc.add_connection(world, T, "ACME", "SAM", None)
    third = svc.add_connection(world, T, "ACME", "BETA", "shareholder")
    assert first["primary_contact"] and not second["primary_contact"] and not third["primary_contact"]
    # Jo is Acme's primary contact; that says nothing about Beta, to whom Jo is then connected first.
    assert svc.add_connection(world, T, "BETA", "JO", "director")["primary_contact"]


def test_primary_contact_can_be_changed(world: Database) -> None:
    svc.add_connection(world, T, "ACME", "JO", None)
    svc.add_connection(world, T, "ACME", "SAM", None)
    svc.set_primary_contact(world, T, "ACME", "SAM")
    primaries = [c["related"] for c in svc.list_connections(world, T, "ACME") if c["primary_contact"]]
    assert primaries == ["SAM"]
    with pytest.raises(ConnectionRefused, match="not connected to Acme"):
        svc.set_primary_contact(world, T, "ACME", "PRIYA")
    with pytest.raises(ConnectionRefused, match="only a business has a primary contact"):
        svc.set_primary_contact(world, T, "JO", "SAM")
    with pytest.raises(ConnectionRefused, match="the primary contact of a business is a person"):
        svc.set_primary_contact(world, T, "ACME", "BETA")


def test_removing_the_primary_promotes_the_next_person(world: Database) -> None:
    jo = svc.add_connection(world, T, "ACME", "JO", None)
    svc.add_connection(world, T, "ACME", "BETA", "shareholder")
    svc.add_connection(world, T, "ACME", "SAM", None)
    svc.add_connection(world, T, "ACME", "PRIYA", None)
    out = svc.remove_connection(world, T, jo["id"])
    assert [c["related"] for c in out["primary_contacts"]] == ["SAM"]
    svc.remove_connection(world, T, client_ref="SAM", related_ref="ACME")
    svc.remove_connection(world, T, client_ref="PRIYA", related_ref="ACME")
    assert [c for c in svc.list_connections(world, T, "ACME") if c["primary_contact"]] == []


def test_deleting_from_either_side_deletes_both(world: Database) -> None:
    svc.add_connection(world, T, "ACME", "JO", "director")
    svc.add_connection(world, T, "ACME", "SAM", "director")
    svc.remove_connection(world, T, client_ref="JO", related_ref="ACME")  # from Jo's record
    assert show_client(world, T, "JO")["connections"] == []
    assert [c["client"] for c in show_client(world, T, "ACME")["connections"]] == ["SAM"]
    svc.remove_connection(world, T, client_ref="ACME", related_ref="SAM", type_key="director")  # from Acme's
    assert show_client(world, T, "SAM")["connections"] == [] == show_client(world, T, "ACME")["connections"]
    with world.session() as s:
        actions = list(s.scalars(sa.select(AuditEntry.action).where(AuditEntry.entity == "connection")))
    assert actions.count("delete") == 2 and actions.count("create") == 2


def test_remove_needs_to_know_which(world: Database) -> None:
    svc.add_connection(world, T, "ACME", "JO", "director")
    svc.add_connection(world, T, "ACME", "JO", "shareholder")
    with pytest.raises(ConnectionRefused, match="connected 2 ways"):
        svc.remove_connection(world, T, client_ref="JO", related_ref="ACME")
    with pytest.raises(LookupError, match="no connection between"):
        svc.remove_connection(world, T, client_ref="JO", related_ref="SAM")
    with pytest.raises(LookupError, match="no connection with id 999"):
        svc.remove_connection(world, T, 999)
    assert counts(world)[0] == 2


def test_database_refuses_the_same_fact_twice_even_past_the_service(world: Database) -> None:
    # Symmetric types are stored lower id first, so the unique constraint covers both directions.
    a = svc.add_connection(world, T, "SAM", "JO", "spouse")
    with world.session() as s:
        conn = s.get(Connection, a["id"])
        assert conn.client_id < conn.related_client_id
    with pytest.raises(sa.exc.IntegrityError), world.session() as s:
        s.add(Connection(tenant_id=conn.tenant_id, client_id=conn.client_id, related_client_id=conn.related_client_id,
                         relationship_type="spouse"))


def test_tenants_never_see_each_others_clients(world: Database) -> None:
    other = make_tenant(world, "Other Practice")
    make_client(world, other, "ZED", "Zed Other", "individual")
    with pytest.raises(LookupError, match="no client with id 'ZED'"):
        svc.add_connection(world, T, "ACME", "ZED", "director")
    assert svc.list_connections(world, "Other Practice") == []
