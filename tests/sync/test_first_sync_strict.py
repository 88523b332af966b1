"""The first sync after linking, against the strict XPM written from the public docs (not our simulator):
the sample practice imported, linked by a link run, then synced twice. Few clients end up asking an
operator, each conflict is two different values, the second sync writes nothing, and a value spelled
differently on each side (equal in meaning) is neither written nor in conflict: each system keeps its own
spelling. (`benchmarks/first_sync.py --xpm strict` runs the same at 200 and 1,000 clients.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa

from syncworker.domain.profile import Address, ClientKind, ClientProfile
from syncworker.domain.sync import decode, normalise
from syncworker.sample import generate_practice
from syncworker.services.importer import import_clients, import_contacts
from syncworker.services.link_run import run_link_run
from syncworker.services.sync_run import run_sync
from syncworker.services.tenants import add_tenant, get_tenant
from syncworker.store.db import Database
from syncworker.store.mapping import client_columns
from syncworker.store.models import AuditEntry, Client, Link, SyncConflict
from tests.adapters.xpm_strict_fake import StrictXpm
from tests.sync.strict_practice import connect_strict, documented_fields, strict_context, strict_practice

T = "Docs Practice"


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/first.db")
    db.upgrade()
    yield db
    db.dispose()


def _puts(fake: StrictXpm) -> int:
    return sum(n for k, n in fake.calls.items() if k.startswith(("PUT", "POST")))


def _local_writes(db: Database) -> int:
    with db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                        .where(AuditEntry.target == "local", AuditEntry.entity == "client")) or 0


def test_the_first_sync_of_the_sample_practice_reconciles(sqlite: Database, tmp_path: Path) -> None:
    practice = generate_practice(60, seed=11)
    fake = strict_practice(practice)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        ctx = strict_context(sqlite, fake)
        add_tenant(sqlite, T)
        import_clients(sqlite, T, practice.write_local_csv(tmp_path / "clients.csv"))
        import_contacts(sqlite, T, practice.write_local_contacts_csv(tmp_path / "contacts.csv"))
        connect_strict(ctx, T)
        assert run_link_run(ctx, T, "xpm").status == "succeeded"
        fake.tick(600)
        first = run_sync(ctx, T, "xpm")
        assert first.status == "succeeded" and first.counts["failed"] == 0, first.errors[:2]
        assert first.counts["remote_writes"] > 0  # blanks filled and the practice's identity fields kept
        with sqlite.session() as s:
            linked = s.scalar(sa.select(sa.func.count()).select_from(Link).where(Link.status == "linked"))
            conflicts = list(s.scalars(sa.select(SyncConflict).where(SyncConflict.status == "open")))
        assert linked >= 40
        assert len({c.link_id for c in conflicts}) * 5 <= linked
        for c in conflicts:  # each one two values, neither blank, that differ
            local, remote = decode(c.local_value), decode(c.remote_value)
            assert local not in (None, "") and remote not in (None, "") and normalise(c.field, local) != \
                normalise(c.field, remote), (c.field, local, remote)

        fake.tick(600)
        puts, local_writes = _puts(fake), _local_writes(sqlite)
        second = run_sync(ctx, T, "xpm")
        assert second.status == "succeeded" and second.counts.get("remote_writes", 0) == 0, second.records[:3]
        assert (_puts(fake), _local_writes(sqlite)) == (puts, local_writes)
    assert fake.rejected == []


def test_values_equal_in_meaning_are_not_written_and_each_side_keeps_its_spelling(sqlite: Database) -> None:
    local = ClientProfile(id="C1", kind=ClientKind.INDIVIDUAL, name="Shane Ward", given_name="Shane",
                          family_name="Ward", email="Shane.Ward@Example.test", phone="0412 345 678",
                          address=Address("Unit 3, 12 Smith Street", None, "St Kilda", "VIC", "3182", "AU"))
    remote = ClientProfile(id="1f0e7c9a-0000-4000-8000-000000000001", kind=ClientKind.INDIVIDUAL,
                           name="Ward, Shane", given_name="SHANE", family_name="ward", email="shane.ward@example.test",
                           phone="+61 412 345 678",
                           address=Address("3/12 Smith St", "Saint Kilda", "Saint Kilda", "Victoria", "3182",
                                           "Australia"))
    fake = StrictXpm()
    fake.add_client(remote.id, **documented_fields(remote))
    served = dict(fake.clients[remote.id].fields)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        ctx = strict_context(sqlite, fake)
        add_tenant(sqlite, T)
        with sqlite.session() as s:
            tenant_id = get_tenant(s, T).id
            client = Client(tenant_id=tenant_id, external_id="C1", other_emails=[], **client_columns(local))
            s.add(client)
            s.flush()
            s.add(Link(tenant_id=tenant_id, system="xpm", client_id=client.id, remote_id=remote.id, status="linked",
                       method="manual", reasons=[]))
        connect_strict(ctx, T)
        for _ in range(2):
            fake.tick(600)
            report = run_sync(ctx, T, "xpm")
            assert report.status == "succeeded" and report.counts["conflicts"] == 0, report.records
    assert _puts(fake) == 0 and fake.clients[remote.id].fields == served and fake.rejected == []
    assert _local_writes(sqlite) == 0
    with sqlite.session() as s:
        row = s.scalar(sa.select(Client))
        assert (row.display_name, row.street_line1, row.street_country, row.phone) == (
            "Shane Ward", "Unit 3, 12 Smith Street", "AU", "0412 345 678")
