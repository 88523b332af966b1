"""Duplicate clusters: detection across clients and contacts, resolution, and what merging moves."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from syncworker.matching import MatchConfig
from syncworker.services import duplicates as dup
from syncworker.store.db import Database
from syncworker.store.models import (
    Client,
    ClientGroupMember,
    ClientGroupRow,
    Connection,
    Contact,
    DuplicateCluster,
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
