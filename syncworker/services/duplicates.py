"""Duplicate people and organisations among the local records, kept as clusters an operator resolves.

Every person record counts, not only individual clients: two contact rows of the same person (the same
director on several companies) are duplicates to merge; a contact who is also an individual client is the
same person, to be tied together rather than merged. An individual client in an unresolved cluster with
another individual client is "merge required" and is never auto-linked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from syncworker.domain.profile import ClientKind, ClientProfile
from syncworker.matching import MatchConfig, find_duplicates
from syncworker.services import portal
from syncworker.services.tenants import get_tenant
from syncworker.store.db import Database
from syncworker.store.mapping import client_profile, contact_profile
from syncworker.store.models import (
    AuditEntry,
    Client,
    ClientGroupMember,
    Connection,
    Contact,
    DuplicateCluster,
    DuplicateMember,
    Link,
)
from syncworker.store.types import utcnow


class DuplicateError(ValueError):
    """The resolution is invalid or clashes with the cluster's state."""


class ClusterNotFound(DuplicateError, LookupError):
    pass


@dataclass(slots=True)
class FoundCluster:
    members: tuple[str, ...]  # "client:<pk>" / "contact:<pk>"
    score: float
    reasons: list[str]
    record_type: str  # person | organisation

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("|".join(sorted(self.members)).encode()).hexdigest()

    @property
    def cluster_type(self) -> str:
        clients = sum(m.startswith("client:") for m in self.members)
        contacts = len(self.members) - clients
        return "duplicate" if clients >= 2 or contacts >= 2 else "same_person"


def unmerged_clients(s: Session, tenant_id: int) -> list[Client]:
    """The tenant's clients that stand on their own (not merged into another)."""
    return list(s.scalars(select(Client).where(Client.tenant_id == tenant_id, Client.merged_into_id.is_(None))))


def client_profiles(clients: list[Client]) -> list[ClientProfile]:
    """The clients as profiles whose ids are `client:<primary key>`, as the duplicate search knows them."""
    out = []
    for c in clients:
        p = client_profile(c)
        p.id = f"client:{c.id}"
        out.append(p)
    return out


def local_records(s: Session, tenant_id: int, clients: list[Client] | None = None,
                  profiles: list[ClientProfile] | None = None) -> tuple[list[ClientProfile], list[ClientProfile]]:
    """Local people (individual clients and contacts) and organisations, ids prefixed with their table.
    `clients` are the tenant's `unmerged_clients` when the caller has read them already, and `profiles` their
    `client_profiles` when it has built them (the link run reads and builds them once, for its matching and
    for this: each read decrypts every tax number, and 15,000 profiles cost ~0.4 s of CPU)."""
    people: list[ClientProfile] = []
    orgs: list[ClientProfile] = []
    if clients is None:
        clients = unmerged_clients(s, tenant_id)
    ext = {c.id: c.external_id for c in clients}
    for p in client_profiles(clients) if profiles is None else profiles:
        (people if p.is_person else orgs).append(p)
    for k in s.scalars(select(Contact).where(Contact.tenant_id == tenant_id)):
        cp = contact_profile(k, ext.get(k.client_id, ""))
        people.append(ClientProfile(id=f"contact:{k.id}", kind=ClientKind.INDIVIDUAL, name=cp.name,
                                    given_name=cp.given_name, family_name=cp.family_name, email=cp.email,
                                    phone=cp.phone, mobile=cp.mobile))
    return people, orgs


def detect(people: list[ClientProfile], orgs: list[ClientProfile], config: MatchConfig) -> list[FoundCluster]:
    found: list[FoundCluster] = []
    for record_type, records in (("person", people), ("organisation", orgs)):
        if len(records) < 2:
            continue
        for cluster in find_duplicates(records, config).clusters:
            found.append(FoundCluster(tuple(cluster.member_ids), float(cluster.score), list(cluster.reasons),
                                      record_type))
    return found


def persist(s: Session, tenant_id: int, found: list[FoundCluster]) -> dict[str, int]:
    """Store clusters by fingerprint: resolved ones keep their resolution, vanished unresolved ones go."""
    existing = {c.fingerprint: c for c in s.scalars(select(DuplicateCluster).where(
        DuplicateCluster.tenant_id == tenant_id, DuplicateCluster.scope == "local"))}
    counts = {"new": 0, "kept": 0, "removed": 0}
    seen = set()
    for f in found:
        seen.add(f.fingerprint)
        row = existing.get(f.fingerprint)
        if row is not None:
            row.score, row.reasons = f.score, f.reasons
            counts["kept"] += 1
            continue
        row = DuplicateCluster(tenant_id=tenant_id, scope="local", fingerprint=f.fingerprint, status="unresolved",
                               cluster_type=f.cluster_type, record_type=f.record_type, score=f.score,
                               reasons=f.reasons)
        for ref in f.members:
            table, pk = ref.split(":", 1)
            row.members.append(DuplicateMember(member_ref=ref, client_id=int(pk) if table == "client" else None,
                                               contact_id=int(pk) if table == "contact" else None))
        s.add(row)
        counts["new"] += 1
    for fp, row in existing.items():
        if fp not in seen and row.status == "unresolved":
            s.delete(row)
            counts["removed"] += 1
    s.flush()
    return counts


def merge_required_client_ids(s: Session, tenant_id: int) -> set[int]:
    """Individual clients sharing an unresolved duplicate cluster with another individual client."""
    rows = s.execute(select(DuplicateMember.cluster_id, DuplicateMember.client_id).join(DuplicateCluster).where(
        DuplicateCluster.tenant_id == tenant_id, DuplicateCluster.status == "unresolved",
        DuplicateCluster.cluster_type == "duplicate", DuplicateCluster.record_type == "person",
        DuplicateMember.client_id.is_not(None))).all()
    by_cluster: dict[int, set[int]] = {}
    for cluster_id, client_id in rows:
        by_cluster.setdefault(cluster_id, set()).add(client_id)
    return {cid for members in by_cluster.values() if len(members) >= 2 for cid in members}


def member_labels(s: Session, members: list[DuplicateMember]) -> list[dict[str, Any]]:
    """How each member is shown (`ref` "client:<id>" or "contact:<id>", name, kind), in at most three queries
    whatever the number of members: the console pages them and must not ask per row."""
    clients = _by_id(s, Client, {m.client_id for m in members if m.client_id is not None})
    contacts = _by_id(s, Contact, {m.contact_id for m in members if m.client_id is None and m.contact_id is not None})
    owners = _by_id(s, Client, {k.client_id for k in contacts.values()} - clients.keys()) | clients
    labels = []
    for m in members:
        if m.client_id is not None:
            c = clients.get(m.client_id)
            labels.append({"ref": f"client:{c.external_id}" if c else m.member_ref,
                           "name": c.display_name if c else None, "kind": c.kind if c else None})
            continue
        k = contacts.get(m.contact_id) if m.contact_id is not None else None
        owner = owners.get(k.client_id) if k else None
        labels.append({"ref": f"contact:{k.external_id}" if k else m.member_ref, "name": k.name if k else None,
                       "kind": f"contact of {owner.external_id}" if owner else "contact"})
    return labels


def _by_id(s: Session, model: type[Client] | type[Contact], ids: set[int]) -> dict[int, Any]:
    return {row.id: row for row in s.scalars(select(model).where(model.id.in_(ids)))} if ids else {}


def list_clusters(db: Database, tenant_name: str, *, status: str | None = "unresolved") -> list[dict[str, Any]]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        q = select(DuplicateCluster).where(DuplicateCluster.tenant_id == tenant.id)
        if status:
            q = q.where(DuplicateCluster.status == status)
        out = []
        for c in s.scalars(q.order_by(DuplicateCluster.id)):
            out.append({"id": c.id, "type": c.cluster_type, "record_type": c.record_type, "status": c.status,
                        "score": round(c.score or 0, 4), "members": member_labels(s, c.members),
                        "reasons": c.reasons, "survivor": c.survivor_ref, "resolved_by": c.resolved_by})
        return out


def resolve(db: Database, tenant_name: str, cluster_id: int, action: str, actor: str,
            survivor: str | None = None) -> dict[str, Any]:
    """`not_duplicates`, or `merged` into `survivor` ("client:<id>" or "contact:<id>", or a bare client id)."""
    if action not in ("merged", "not_duplicates"):
        raise DuplicateError(f"unknown resolution {action!r}: use merged or not_duplicates")
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        cluster = s.get(DuplicateCluster, cluster_id)
        if cluster is None or cluster.tenant_id != tenant.id:
            raise ClusterNotFound(f"no duplicate cluster with id {cluster_id} in this tenant")
        if cluster.status != "unresolved":
            raise DuplicateError(f"cluster {cluster_id} is already resolved ({cluster.status})")
        if action == "merged":
            if not survivor:
                raise DuplicateError("merging needs --survivor: the record that remains")
            labels = {label["ref"]: m for label, m in zip(member_labels(s, cluster.members), cluster.members,
                                                          strict=True)}
            key = survivor if ":" in survivor else f"client:{survivor}"
            if key not in labels:
                raise DuplicateError(f"{survivor!r} is not a member of cluster {cluster_id}: "
                                     f"choose one of {', '.join(sorted(labels))}")
            _merge(s, tenant.id, labels[key], [m for r, m in labels.items() if r != key], actor)
            cluster.survivor_ref = key
        cluster.status, cluster.resolved_by, cluster.resolved_at = action, actor, utcnow()
        s.add(AuditEntry(tenant_id=tenant.id, actor=actor, origin="operator", target="local", entity="duplicates",
                         entity_id=str(cluster.id), action=action, after={"survivor": cluster.survivor_ref}))
        return {"id": cluster.id, "status": cluster.status, "survivor": cluster.survivor_ref}


def _merge(s: Session, tenant_id: int, keep: DuplicateMember, absorbed: list[DuplicateMember], actor: str) -> None:
    if keep.client_id is None:  # a contact survives: absorbed contacts are removed (their data stays in the audit)
        for m in absorbed:
            if m.contact_id is not None:
                k = s.get(Contact, m.contact_id)
                if k is not None:
                    s.add(AuditEntry(tenant_id=tenant_id, actor=actor, origin="operator", target="local",
                                     entity="contact", entity_id=k.external_id, action="merge_delete",
                                     before={"name": k.name, "email": k.email, "client_id": k.client_id},
                                     after={"merged_into": keep.member_ref}))
                    portal.move_contact_users(s, k.id, keep.contact_id)  # type: ignore[arg-type]
                    s.delete(k)
        return
    survivor_id = keep.client_id
    for m in absorbed:
        if m.client_id is None:
            continue  # a contact who is the same person as the survivor stays a contact: tied, not merged
        old = m.client_id
        for link in s.scalars(select(Link).where(Link.client_id == old)):
            clash = s.scalar(select(Link.id).where(Link.client_id == survivor_id, Link.system == link.system,
                                                   Link.status == "linked"))
            if link.status == "linked" and clash is not None:
                link.status = "rejected"  # the survivor keeps its own link; this one is history
            link.client_id = survivor_id
        portal.move_client_portals(s, old, survivor_id)  # first: a connection the merge deletes hands its access on
        _repoint_connections(s, old, survivor_id, actor)
        s.execute(update(Contact).where(Contact.client_id == old).values(client_id=survivor_id))
        groups = set(s.scalars(select(ClientGroupMember.group_id).where(ClientGroupMember.client_id == survivor_id)))
        for gm in s.scalars(select(ClientGroupMember).where(ClientGroupMember.client_id == old)):
            if gm.group_id in groups:
                s.delete(gm)
            else:
                s.execute(delete(ClientGroupMember).where(ClientGroupMember.group_id == gm.group_id,
                                                          ClientGroupMember.client_id == old))
                s.add(ClientGroupMember(group_id=gm.group_id, client_id=survivor_id))
        absorbed_client = s.get(Client, old)
        if absorbed_client is not None:
            absorbed_client.merged_into_id, absorbed_client.status = survivor_id, "archived"
            s.add(AuditEntry(tenant_id=tenant_id, actor=actor, origin="operator", target="local", entity="client",
                             entity_id=absorbed_client.external_id, action="merge",
                             after={"merged_into": keep.member_ref}))
        s.flush()


def _repoint_connections(s: Session, old: int, survivor_id: int, actor: str) -> None:
    """Move the absorbed client's connections to the survivor. One that would connect the survivor to itself,
    or state a fact the survivor already has (in either direction, or as its inverse), is deleted through
    the connections service, which audits it and hands a business's primary contact over."""
    from syncworker.domain.connections import fact_key
    from syncworker.services.connections import delete_connection_in, relationship_types

    types = relationship_types()

    def key(conn: Connection) -> tuple[int, int, str]:
        rtype = types.by_key.get(conn.relationship_type)
        if rtype is None:
            return conn.client_id, conn.related_client_id, conn.relationship_type
        return fact_key(conn.client_id, conn.related_client_id, rtype)

    known = {key(c) for c in s.scalars(select(Connection).where(
        (Connection.client_id == survivor_id) | (Connection.related_client_id == survivor_id)))}
    for conn in list(s.scalars(select(Connection).where((Connection.client_id == old) |
                                                        (Connection.related_client_id == old)))):
        a = survivor_id if conn.client_id == old else conn.client_id
        b = survivor_id if conn.related_client_id == old else conn.related_client_id
        rtype = types.by_key.get(conn.relationship_type)
        moved = fact_key(a, b, rtype) if rtype else (a, b, conn.relationship_type)
        if a == b or moved in known:
            delete_connection_in(s, conn, actor=actor, origin="operator")  # before moving: no unique clash
            continue
        conn.client_id, conn.related_client_id = a, b
        known.add(moved)
        s.flush()
