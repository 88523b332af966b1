"""Duplicate clusters: detection across clients and contacts, resolution, and what merging moves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from syncworker.matching import MatchConfig
from syncworker.services import duplicates as dup
from syncworker.services import pages
from syncworker.store.db import Database
from syncworker.store.models import (
    Client,
    ClientGroupMember,
    ClientGroupRow,
    Connection,
    Contact,
    DuplicateCluster,
    DuplicateMember,
    Link,
    Tenant,
)
from tests.factories import make_client

PERSON = {"kind": "individual", "given_name": "Katherine", "family_name": "Slater",
          "email": "k.slater@example.com", "mobile": "0412 555 010", "date_of_birth": None}


def _setup(db: Database) -> dict[str, int]:
    with db.session() as s:
        s.add(Tenant(name="T", settings={}))
    ids = {
        "a": make_client(db, 1, "C1", "Katherine Slater", **PERSON),
        "b": make_client(db, 1, "C2", "Kate Slater", **PERSON),
        "co": make_client(db, 1, "C3", "Slater Holdings Pty Ltd", kind="company"),
        "other": make_client(db, 1, "C4", "Thomas Slater", kind="individual", given_name="Thomas",
                             family_name="Slater", email="t.slater@example.com"),
    }
    with db.session() as s:
        s.add(Contact(tenant_id=1, external_id="K1", client_id=ids["co"], name="Katherine Slater",
                      given_name="Katherine", family_name="Slater", email="k.slater@example.com",
                      mobile="0412 555 010"))
    return ids


def _detect(db: Database) -> set[int]:
    with db.session() as s:
        people, orgs = dup.local_records(s, 1)
        dup.persist(s, 1, dup.detect(people, orgs, MatchConfig.default()))
        return dup.merge_required_client_ids(s, 1)


def test_duplicate_individuals_are_merge_required(db: Database) -> None:
    ids = _setup(db)
    flagged = _detect(db)
    assert {ids["a"], ids["b"]} <= flagged
    assert ids["other"] not in flagged  # same surname and family, a different person


def test_merge_moves_links_connections_contacts_and_groups(db: Database) -> None:
    ids = _setup(db)
    _detect(db)
    with db.session() as s:
        s.add(Link(tenant_id=1, system="xpm", client_id=ids["b"], remote_id="R-B", status="linked", method="auto",
                   reasons=[]))
        s.add(Connection(tenant_id=1, client_id=ids["b"], related_client_id=ids["co"], relationship_type="director"))
        g = ClientGroupRow(tenant_id=1, name="Slater family")
        s.add(g)
        s.flush()
        s.add(ClientGroupMember(group_id=g.id, client_id=ids["b"]))
        s.add(Contact(tenant_id=1, external_id="K2", client_id=ids["b"], name="Accountant Person"))
    cluster = next(c for c in dup.list_clusters(db, "T") if c["type"] == "duplicate")
    out = dup.resolve(db, "T", cluster["id"], "merged", "alice", survivor="C1")
    assert out["status"] == "merged" and out["survivor"] == "client:C1"
    with db.session() as s:
        absorbed = s.get(Client, ids["b"])
        assert absorbed.merged_into_id == ids["a"] and absorbed.status == "archived"
        assert s.scalar(sa.select(Link.client_id).where(Link.remote_id == "R-B")) == ids["a"]
        assert s.scalar(sa.select(Connection.client_id)) == ids["a"]
        assert s.scalar(sa.select(ClientGroupMember.client_id)) == ids["a"]
        assert s.scalar(sa.select(Contact.client_id).where(Contact.external_id == "K2")) == ids["a"]
    assert _detect(db) == set()  # merged: nobody is merge-required any more


def test_not_duplicates_is_remembered_across_runs(db: Database) -> None:
    _setup(db)
    _detect(db)
    cluster = next(c for c in dup.list_clusters(db, "T") if c["type"] == "duplicate")
    dup.resolve(db, "T", cluster["id"], "not_duplicates", "alice")
    assert _detect(db) == set()
    with db.session() as s:
        assert s.scalar(sa.select(DuplicateCluster.status).where(DuplicateCluster.id == cluster["id"])) \
            == "not_duplicates"


def test_resolution_errors_name_the_problem(db: Database) -> None:
    _setup(db)
    _detect(db)
    cluster = next(c for c in dup.list_clusters(db, "T") if c["type"] == "duplicate")
    with pytest.raises(dup.DuplicateError, match="needs --survivor"):
        dup.resolve(db, "T", cluster["id"], "merged", "alice")
    with pytest.raises(dup.DuplicateError, match="not a member"):
        dup.resolve(db, "T", cluster["id"], "merged", "alice", survivor="C4")
    with pytest.raises(dup.DuplicateError, match="no duplicate cluster"):
        dup.resolve(db, "T", 9999, "not_duplicates", "alice")


def _clusters_of_three(db: Database, n: int) -> None:
    """n clusters, each two individual clients and a contact of a company (fake people only)."""
    with db.session() as s:
        s.add(Tenant(name="T", settings={}))
    for i in range(n):
        a = make_client(db, 1, f"P{i}a", f"Person {i}", kind="individual")
        b = make_client(db, 1, f"P{i}b", f"Person {i}", kind="individual")
        co = make_client(db, 1, f"CO{i}", f"Company {i} Pty Ltd")
        with db.session() as s:
            k = Contact(tenant_id=1, external_id=f"K{i}", client_id=co, name=f"Person {i}")
            s.add(k)
            s.flush()
            cluster = DuplicateCluster(tenant_id=1, scope="local", fingerprint=f"fp-{i}", status="unresolved",
                                       cluster_type="duplicate", record_type="person", score=0.9, reasons=[])
            cluster.members += [DuplicateMember(member_ref=f"client:{a}", client_id=a),
                                DuplicateMember(member_ref=f"client:{b}", client_id=b),
                                DuplicateMember(member_ref=f"contact:{k.id}", contact_id=k.id)]
            s.add(cluster)


def _statements(db: Database, read: Callable[[], object]) -> int:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        read()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


@pytest.mark.parametrize("n", [1, 12])
def test_the_console_labels_cluster_members_in_a_fixed_number_of_queries(sqlite_db: Database, n: int) -> None:
    _clusters_of_three(sqlite_db, n)
    page = pages.clusters(sqlite_db, "T")
    assert [[m["ref"] for m in c["members"]] for c in page.rows][:1] == [["client:P0a", "client:P0b", "contact:K0"]]
    assert page.rows[-1]["members"][2] == {"ref": f"contact:K{n - 1}", "name": f"Person {n - 1}",
                                            "kind": f"contact of CO{n - 1}"}
    assert dup.list_clusters(sqlite_db, "T")[0]["members"] == page.rows[0]["members"]
    # begin, tenant, count, page, members, clients, contacts, their companies: the same for 1 cluster or 12
    assert _statements(sqlite_db, lambda: pages.clusters(sqlite_db, "T")) == 8
