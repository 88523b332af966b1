"""Read models for operators (CLI and HTTP): plain dicts, ready for a table or JSON."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from syncworker.services.tenants import get_tenant
from syncworker.store.crypto import mask_identifier
from syncworker.store.db import Database
from syncworker.store.mapping import json_ready
from syncworker.store.models import (
    AuditEntry,
    Client,
    ClientGroupMember,
    ClientGroupRow,
    Connection,
    Contact,
    DuplicateCluster,
    DuplicateMember,
    JobRun,
    Link,
    Tenant,
)


def list_clients(db: Database, tenant_name: str, *, kind: str | None = None, search: str | None = None,
                 limit: int = 50) -> list[dict[str, Any]]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        q = select(Client).where(Client.tenant_id == tenant.id, Client.merged_into_id.is_(None))
        if kind:
            q = q.where(Client.kind == kind)
        if search:
            q = q.where(Client.display_name.ilike(f"%{search}%"))
        rows = list(s.scalars(q.order_by(Client.display_name).limit(limit)))
        links: dict[int, list[str]] = {}
        for link in s.scalars(select(Link).where(Link.client_id.in_([r.id for r in rows]),
                                                 Link.status.in_(("linked", "suggested", "broken")))):
            links.setdefault(link.client_id, []).append(f"{link.system}:{link.status}")
        return [{"id": r.external_id, "kind": r.kind, "name": r.display_name, "status": r.status,
                 "version": r.version, "links": ", ".join(sorted(links.get(r.id, [])))} for r in rows]


def client_by_external_id(s: Any, tenant_id: int, external_id: str) -> Client:
    client = s.scalar(select(Client).where(Client.tenant_id == tenant_id, Client.external_id == external_id))
    if client is None:
        raise LookupError(f"no client with id {external_id!r} in this tenant")
    return client


def show_client(db: Database, tenant_name: str, external_id: str, *, reveal_tax_number: str | None = None,
                ) -> dict[str, Any]:
    """One client's record. Its tax file number shows as its last digits unless `reveal_tax_number` names
    the operator who asked for it in full (the reveal is audited). Only a reveal writes (its audit entry); a
    look is a read (`Database.read()`: on SQLite no write lock)."""
    with (db.session() if reveal_tax_number else db.read()) as s:
        tenant = get_tenant(s, tenant_name)
        c = client_by_external_id(s, tenant.id, external_id)
        profile = {k: getattr(c, k) for k in (
            "external_id", "kind", "display_name", "given_name", "middle_name", "family_name", "email", "phone",
            "mobile", "website", "street_line1", "street_line2", "street_city", "street_region", "street_postcode",
            "street_country", "postal_line1", "postal_city", "postal_postcode", "date_of_birth", "tax_number",
            "business_number", "company_number", "status", "version")}
        if reveal_tax_number and c.tax_number:
            s.add(AuditEntry(tenant_id=tenant.id, actor=reveal_tax_number, origin="operator", target="local",
                             entity="client", entity_id=c.external_id, action="reveal_tax_number"))
        else:
            profile["tax_number"] = mask_identifier(c.tax_number)
        if c.merged_into_id:
            profile["merged_into"] = s.get(Client, c.merged_into_id).external_id  # type: ignore[union-attr]
        contacts = [{"id": k.external_id, "name": k.name, "email": k.email, "position": k.position,
                     "primary": k.is_primary} for k in s.scalars(select(Contact).where(Contact.client_id == c.id))]
        links = [{"system": lk.system, "remote_id": lk.remote_id, "status": lk.status, "score": lk.score,
                  "method": lk.method, "decided_by": lk.decided_by}
                 for lk in s.scalars(select(Link).where(Link.client_id == c.id).order_by(Link.id))]
        connections = []
        for conn in s.scalars(select(Connection).where(
                or_(Connection.client_id == c.id, Connection.related_client_id == c.id))):
            mine = conn.client_id == c.id
            other = s.get(Client, conn.related_client_id if mine else conn.client_id)
            connections.append({"id": conn.id, "client": other.external_id if other else None,
                                "name": other.display_name if other else None, "type": conn.relationship_type,
                                "description": conn.description if mine else conn.related_description,
                                "primary_contact": conn.is_primary_contact})
        groups = [{"id": g.id, "name": g.name} for g in s.scalars(
            select(ClientGroupRow).join(ClientGroupMember, ClientGroupMember.group_id == ClientGroupRow.id)
            .where(ClientGroupMember.client_id == c.id))]
        duplicates = [{"cluster": d.id, "status": d.status, "score": d.score} for d in s.scalars(
            select(DuplicateCluster).join(DuplicateMember).where(DuplicateMember.client_id == c.id))]
        return {"profile": json_ready(profile), "contacts": contacts, "links": links, "connections": connections,
                "groups": groups, "duplicates": duplicates}


def run_dict(run: JobRun, tenant_name: str | None) -> dict[str, Any]:
    """A run as the CLI, the JSON API and the console show it."""
    counts = run.counts or {}
    return {
        "id": run.id, "tenant": tenant_name, "kind": run.kind, "system": run.system, "trigger": run.trigger,
        "status": run.status, "dry_run": run.dry_run, "started_at": run.started_at.isoformat(timespec="seconds"),
        "finished_at": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        "summary": ", ".join(f"{k}={v}" for k, v in counts.items() if not isinstance(v, dict | list)),
        "counts": counts, "progress": run.progress, "message": run.message, "errors": run.errors,
        "params": run.params,
    }


def list_runs(db: Database, tenant_name: str | None, *, limit: int = 20) -> list[dict[str, Any]]:
    with db.session() as s:
        q = select(JobRun, Tenant.name).outerjoin(Tenant, Tenant.id == JobRun.tenant_id)
        if tenant_name:
            q = q.where(JobRun.tenant_id == get_tenant(s, tenant_name).id)
        return [run_dict(run, name) for run, name in s.execute(q.order_by(JobRun.id.desc()).limit(limit))]


def show_run(db: Database, run_id: int) -> dict[str, Any]:
    with db.read() as s:  # the console's run page reloads it every 2 seconds while the run writes
        row = s.execute(select(JobRun, Tenant.name).outerjoin(Tenant, Tenant.id == JobRun.tenant_id)
                        .where(JobRun.id == run_id)).first()
        if row is None:
            raise LookupError(f"no run with id {run_id}")
        return run_dict(row[0], row[1])
