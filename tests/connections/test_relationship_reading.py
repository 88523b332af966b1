"""Which way an XPM relationship reads, pinned on both records. XPM keeps a relationship on one client's
record (ClientUUID) naming the other (RelatedClient) with a Type that describes the related client: on a
company's record a director is listed as "Director" (FYI, which shows XPM's relationships: "Individuals will
not be able to create Director or Shareholder relationships"). config/relationships.yaml reads it so ("R is
T of C"); the sample practice must store it so, or the demo shows a man's child as his "Parent"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from simulators.xpm import XpmSimulator
from syncworker.domain.profile import ClientKind
from syncworker.sample import generate_practice
from syncworker.services.connections import relationship_types
from syncworker.services.context import ServiceContext
from syncworker.services.link_run import run_link_run
from syncworker.services.queries import show_client
from syncworker.services.relationship_sync import sync_relationships
from syncworker.store.db import Database
from syncworker.store.models import Client, Link
from tests.simulated import clocked_context, connect_practice

T = "Reading Practice"
PRACTICE = generate_practice(120, seed=7)


def _local(remote_id: str):  # noqa: ANN202 - the local profile of the same true entity
    lid = next(k for k, v in PRACTICE.truth.items() if v == remote_id)
    return next(p for p in PRACTICE.local if p.id == lid)


def test_the_sample_practice_stores_a_relationship_on_the_record_it_describes() -> None:
    by_type: dict[str, list] = {}
    on_both_sides = set(PRACTICE.truth.values())
    for r in PRACTICE.remote_relationships:
        if {r.client_id, r.related_client_id} <= on_both_sides:
            by_type.setdefault(r.type, []).append(r)
    assert by_type["director"] and by_type["trustee"] and by_type["parent_of"]
    for r in by_type["director"]:  # on the company's record, naming the person
        assert _local(r.client_id).kind == ClientKind.COMPANY and _local(r.related_client_id).kind.is_person
    for r in by_type["trustee"]:  # on the trust's record, naming the trustee company
        assert _local(r.client_id).kind == ClientKind.TRUST
    for r in by_type["parent_of"]:  # on the child's record, naming the (older) parent
        assert _local(r.related_client_id).date_of_birth < _local(r.client_id).date_of_birth


def test_the_types_read_the_same_way() -> None:
    types = relationship_types()
    parent, director = types.get("parent_of"), types.get("director")
    assert (parent.label, parent.inverse_label) == ("Parent", "Child")  # on the child's record: "Parent"
    assert (director.label, director.inverse_label) == ("Director", "Company (director)")


@pytest.fixture
def related(db: Database, tmp_path: Path) -> Iterator[ServiceContext]:
    with XpmSimulator(practice=PRACTICE, seed=7) as sim:
        ctx = clocked_context(db, sim)
        connect_practice(ctx, sim, T, PRACTICE, tmp_path)
        assert run_link_run(ctx, T, "xpm").status == "succeeded"
        assert sync_relationships(ctx, T, "xpm", full=True, max_fetches=1000).status == "succeeded"
        yield ctx


@pytest.mark.e2e
def test_each_record_shows_the_other_for_what_it_is(related: ServiceContext) -> None:
    with related.db.session() as s:
        external = dict(s.execute(sa.select(Link.remote_id, Client.external_id).join(Client, Client.id == Link.client_id)
                                  .where(Link.status == "linked")).all())
    seen = set()
    for r in PRACTICE.remote_relationships:
        if r.type not in ("parent_of", "husband", "director") or r.client_id not in external \
                or r.related_client_id not in external:
            continue
        holder, named = external[r.client_id], external[r.related_client_id]
        on_holder = {(c["client"], c["description"]) for c in show_client(related.db, T, holder)["connections"]}
        on_named = {(c["client"], c["description"]) for c in show_client(related.db, T, named)["connections"]}
        shown, inverse = {"parent_of": ("Parent", "Child"), "husband": ("Husband", "Spouse"),
                          "director": ("Director", "Company (director)")}[r.type]
        assert (named, shown) in on_holder and (holder, inverse) in on_named, (r.type, on_holder, on_named)
        seen.add(r.type)
    assert seen == {"parent_of", "husband", "director"}
