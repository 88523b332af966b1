"""Rules the database itself enforces, on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, Connection, Link
from tests.factories import make_client, make_tenant


def _link(db: Database, tenant_id: int, client_id: int, remote_id: str, status: str) -> None:
    with db.session() as s:
        s.add(Link(tenant_id=tenant_id, system="xpm", client_id=client_id, remote_id=remote_id, status=status,
                   method="auto", reasons=[]))


def test_one_linked_remote_per_local_record(db: Database) -> None:
    t = make_tenant(db)
    c = make_client(db, t, "C1", "Acme Pty Ltd")
    _link(db, t, c, "R1", "linked")
    with pytest.raises(IntegrityError):
        _link(db, t, c, "R2", "linked")
    # Suggestions and history rows are not limited.
    _link(db, t, c, "R2", "suggested")
    _link(db, t, c, "R3", "rejected")


def test_one_linked_local_per_remote_record(db: Database) -> None:
    t = make_tenant(db)
    c1 = make_client(db, t, "C1", "Acme Pty Ltd")
    c2 = make_client(db, t, "C2", "Acme Limited")
    _link(db, t, c1, "R1", "linked")
    with pytest.raises(IntegrityError):
        _link(db, t, c2, "R1", "linked")
    _link(db, t, c2, "R1", "suggested")


def test_same_remote_may_link_in_another_system_or_tenant(db: Database) -> None:
    t1, t2 = make_tenant(db, "A"), make_tenant(db, "B")
    c1, c2 = make_client(db, t1, "C1", "Acme"), make_client(db, t2, "C1", "Acme")
    _link(db, t1, c1, "R1", "linked")
    _link(db, t2, c2, "R1", "linked")


def test_audit_log_is_append_only(db: Database) -> None:
    t = make_tenant(db)
    with db.session() as s:
        s.add(AuditEntry(tenant_id=t, actor="test", origin="local", target="local", entity="client", entity_id="C1",
                         action="create"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session() as s:
        s.execute(sa.update(AuditEntry).values(action="tampered"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session() as s:
        s.execute(sa.delete(AuditEntry))
    with db.session() as s:
        assert s.scalar(sa.select(AuditEntry.action)) == "create"


def test_client_version_increases_on_every_change(db: Database) -> None:
    t = make_tenant(db)
    cid = make_client(db, t, "C1", "Acme")
    for expected, name in ((2, "Acme Pty Ltd"), (3, "Acme Proprietary Limited")):
        with db.session() as s:
            s.get(Client, cid).display_name = name  # type: ignore[union-attr]
        with db.session() as s:
            assert s.get(Client, cid).version == expected  # type: ignore[union-attr]


def test_bad_kind_and_self_connection_refused(db: Database) -> None:
    t = make_tenant(db)
    with pytest.raises(IntegrityError):
        make_client(db, t, "C1", "Acme", kind="robot")
    c = make_client(db, t, "C2", "Acme")
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Connection(tenant_id=t, client_id=c, related_client_id=c, relationship_type="other"))


def test_unique_external_id_per_tenant(db: Database) -> None:
    t = make_tenant(db)
    make_client(db, t, "C1", "Acme")
    with pytest.raises(IntegrityError):
        make_client(db, t, "C1", "Other")
