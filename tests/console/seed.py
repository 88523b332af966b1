"""A practice for the console tests: clients, suggestions, a duplicate pair and open conflicts, written
straight into the database (fake firms and people only)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert

from syncworker.domain.profile import ClientKind, ClientProfile
from syncworker.domain.serialize import content_hash, profile_to_dict
from syncworker.store.db import Database
from syncworker.store.models import Client, Link, RemoteRecord, SyncConflict
from tests.factories import make_client
from tests.http import seed as http_seed


@dataclass
class Practice:
    tenant: str
    tenant_id: int
    reviews: list[int]
    cluster: int
    linked: list[int]  # link ids with open conflicts


def remote(db: Database, tenant_id: int, remote_id: str, name: str, **fields: str) -> None:
    payload = profile_to_dict(ClientProfile(id=remote_id, kind=ClientKind.COMPANY, name=name, **fields))
    with db.session() as s:
        s.add(RemoteRecord(tenant_id=tenant_id, system="xpm", record_type="client", remote_id=remote_id,
                           payload=payload, payload_hash=content_hash(payload)))


def practice(db: Database, name: str) -> Practice:
    tenant_id, reviews = http_seed.practice_with_reviews(db, name)
    remote(db, tenant_id, "xpm-1", "Bluegum Joinery", email="office@bluegum.example")
    remote(db, tenant_id, "xpm-2", "Quokka Freight Company")
    remote(db, tenant_id, "xpm-9", "Bluegum Joinery & Sons Pty Ltd")
    cluster = http_seed.duplicate_pair(db, tenant_id)
    linked = []
    for i, (local, email_local, email_remote) in enumerate([("Wattle Bakery", "a@wattle.example", "b@wattle.example"),
                                                            ("Banksia Dental", "x@banksia.example", "y@banksia.example")]):
        client_id = make_client(db, tenant_id, f"L{i}", local, email=email_local, phone=f"02 9000 000{i}")
        with db.session() as s:
            link = Link(tenant_id=tenant_id, system="xpm", client_id=client_id, remote_id=f"xpm-l{i}", status="linked",
                        method="manual")
            s.add(link)
            s.flush()
            s.add_all([SyncConflict(tenant_id=tenant_id, link_id=link.id, field="email", base_value=None,
                                    local_value=f'"{email_local}"', remote_value=f'"{email_remote}"'),
                       SyncConflict(tenant_id=tenant_id, link_id=link.id, field="phone", base_value=None,
                                    local_value=f'"02 9000 000{i}"', remote_value='"02 8000 0000"')])
            linked.append(link.id)
    return Practice(name, tenant_id, reviews, cluster, linked)


def many_clients(db: Database, tenant_id: int, n: int) -> None:
    """n clients in one statement, each linked, so list pages work at a practice's scale."""
    with db.session() as s:
        s.execute(insert(Client), [{"tenant_id": tenant_id, "external_id": f"B{i:05d}", "kind": "company",
                                    "display_name": f"Bulk Client {i:05d} Pty Ltd", "other_emails": [],
                                    "email": f"c{i}@bulk.example"} for i in range(n)])
