"""Rows the HTTP tests start from, written straight into the database the server uses (fake firms only)."""

from __future__ import annotations

from syncworker.store.db import Database
from syncworker.store.models import DuplicateCluster, DuplicateMember, JobRun, Link, TenantSystem
from tests.factories import make_client, make_tenant


def suggestion(db: Database, tenant_id: int, local_id: str, name: str, remote_id: str, score: float = 0.8) -> int:
    client_id = make_client(db, tenant_id, local_id, name)
    with db.session() as s:
        link = Link(tenant_id=tenant_id, system="xpm", client_id=client_id, remote_id=remote_id, status="suggested",
                    score=score, reasons=["name similar"], method="auto")
        s.add(link)
        s.flush()
        return link.id


def practice_with_reviews(db: Database, name: str) -> tuple[int, list[int]]:
    tenant_id = make_tenant(db, name)
    reviews = [suggestion(db, tenant_id, "C1", "Bluegum Joinery Pty Ltd", "xpm-1", 0.71),
               suggestion(db, tenant_id, "C2", "Quokka Freight Co", "xpm-2", 0.93)]
    return tenant_id, reviews


def duplicate_pair(db: Database, tenant_id: int) -> int:
    a = make_client(db, tenant_id, "P1", "Avery Testperson", kind="individual")
    b = make_client(db, tenant_id, "P2", "Avery Test-Person", kind="individual")
    with db.session() as s:
        cluster = DuplicateCluster(tenant_id=tenant_id, scope="local", fingerprint=f"fp-{a}-{b}",
                                   status="unresolved", cluster_type="duplicate", record_type="person", score=0.9,
                                   reasons=["same name"])
        cluster.members += [DuplicateMember(member_ref=f"client:{a}", client_id=a),
                            DuplicateMember(member_ref=f"client:{b}", client_id=b)]
        s.add(cluster)
        s.flush()
        return cluster.id


def xero_connection(db: Database, tenant_id: int, xero_tenant_id: str) -> None:
    with db.session() as s:
        s.add(TenantSystem(tenant_id=tenant_id, system="xero", status="connected", remote_tenant_id=xero_tenant_id))


def running_run(db: Database, tenant_id: int, kind: str = "sync") -> int:
    """A run in progress, for holding the tenant lock the way a real run does."""
    with db.session() as s:
        run = JobRun(kind=kind, tenant_id=tenant_id, trigger="cli", status="running")
        s.add(run)
        s.flush()
        return run.id
