"""Paged read models for the operator console: what each page shows, one bounded set of queries per page
whatever the size of the practice (no query per row), so a page answers in well under 300 ms at 15,000
clients on SQLite. Plain dicts, ready for a template. Each reads in `Database.read()`: on SQLite a deferred
snapshot that neither waits for a writer (a link run's batch, a pull's page) nor, while the page's queries run,
holds the write lock every writer waits for, as the `BEGIN IMMEDIATE` of `Database.session()` did."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from syncworker.domain.profile import ClientProfile
from syncworker.domain.serialize import profile_from_dict
from syncworker.services.conflicts import conflict_dict
from syncworker.services.duplicates import member_labels
from syncworker.services.queries import run_dict
from syncworker.services.tenants import get_tenant
from syncworker.store.db import Database
from syncworker.store.mapping import client_profile
from syncworker.store.models import (
    Client,
    Contact,
    DuplicateCluster,
    DuplicateMember,
    JobRun,
    Link,
    RemoteRecord,
    SyncConflict,
    Tenant,
    TenantSystem,
)

PER_PAGE = 25

# The fields a reviewer compares, in the order they read them: (label, how to read it off a profile).
COMPARED: tuple[tuple[str, Any], ...] = (
    ("Name", lambda p: p.name),
    ("Kind", lambda p: p.kind.value),
    ("Given name", lambda p: p.given_name),
    ("Family name", lambda p: p.family_name),
    ("Date of birth", lambda p: p.date_of_birth.isoformat() if p.date_of_birth else None),
    ("Email", lambda p: p.email),
    ("Phone", lambda p: p.phone),
    ("Mobile", lambda p: p.mobile),
    ("Address", lambda p: _address(p)),
    ("Business number", lambda p: p.business_number),
    ("Company number", lambda p: p.company_number),
)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    page: int
    total: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _address(p: ClientProfile) -> str | None:
    a = p.address
    if a is None or a.is_empty():
        return None
    return ", ".join(x for x in (a.line1, a.line2, a.city, a.region, a.postcode, a.country) if x)


def _paged(s: Session, q: Select[Any], page: int, per_page: int = PER_PAGE) -> tuple[list[Any], int]:
    total = s.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    return list(s.execute(q.limit(per_page).offset((page - 1) * per_page)).all()), total


def _like(text: str) -> str:
    """A search box's text as a LIKE pattern that matches it anywhere, its own % and _ taken literally."""
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _client_matches(search: str) -> Any:
    """A client whose name, id or email contains the search text (the console's search boxes)."""
    like = _like(search)
    return or_(Client.display_name.ilike(like, escape="\\"), Client.external_id.ilike(like, escape="\\"),
               Client.email.ilike(like, escape="\\"))


def _link_matches(search: str) -> Any:
    """A link whose client matches the search text, or whose remote record's id contains it."""
    return or_(_client_matches(search), Link.remote_id.ilike(_like(search), escape="\\"))


def tenants(db: Database) -> list[dict[str, Any]]:
    """Every practice with the systems it is connected to (the console's tenant picker)."""
    with db.read() as s:
        systems: dict[int, list[str]] = {}
        for tenant_id, system, status in s.execute(select(TenantSystem.tenant_id, TenantSystem.system,
                                                          TenantSystem.status)):
            if status != "disconnected":
                systems.setdefault(tenant_id, []).append(system)
        return [{"name": t.name, "systems": sorted(systems.get(t.id, []))}
                for t in s.scalars(select(Tenant).order_by(Tenant.name))]


def runs(db: Database, tenant_name: str | None, page: int = 1) -> Page:
    with db.read() as s:
        q = select(JobRun, Tenant.name).outerjoin(Tenant, Tenant.id == JobRun.tenant_id).order_by(JobRun.id.desc())
        if tenant_name:
            q = q.where(JobRun.tenant_id == get_tenant(s, tenant_name).id)
        rows, total = _paged(s, q, page)
        return Page([run_dict(run, name) for run, name in rows], page, total)


def _compare(local: ClientProfile | None, remote: ClientProfile | None,
             rival: ClientProfile | None = None) -> list[dict[str, Any]]:
    """Field by field: the practice's record, the suggested remote one and, when a third record held the
    pair back, that one too (`same`: the two suggested agree, whatever the rival says)."""
    out = []
    for label, read in COMPARED:
        a = read(local) if local else None
        b = read(remote) if remote else None
        c = read(rival) if rival else None
        if a or b or c:
            same = (a or "").strip().casefold() == (b or "").strip().casefold()
            out.append({"field": label, "local": a, "remote": b, "rival": c, "same": same})
    return out


def competing_id(reasons: list[Any] | None) -> str | None:
    """The record named in `held_back_by=competing:<id> (...)`: the runner-up that kept a pair from being
    linked automatically (another remote record for the same client, or another client for the record)."""
    for reason in reasons or []:
        if isinstance(reason, str) and reason.startswith("held_back_by=competing:"):
            return reason.removeprefix("held_back_by=competing:").split(" ", 1)[0] or None
    return None


def _rival_clients(s: Session, tenant_id: int, ids: set[str]) -> dict[str, ClientProfile]:
    """The practice's clients named as rivals, by the id the reason names them by: their external id (what
    a link run writes), else `client:<primary key>` (what link runs wrote for a while; the next link run
    rewrites a still-suggested pair's reasons). A bare primary key, written before that, is not looked up:
    it could be another client's external id."""
    if not ids:
        return {}
    out = {c.external_id: client_profile(c) for c in s.scalars(select(Client).where(
        Client.tenant_id == tenant_id, Client.external_id.in_(ids)))}
    by_pk = {int(m[1]): rid for rid in ids - out.keys() if (m := re.fullmatch(r"client:([0-9]{1,18})", rid))}
    if by_pk:
        out.update((by_pk[c.id], client_profile(c)) for c in s.scalars(select(Client).where(
            Client.tenant_id == tenant_id, Client.id.in_(by_pk))))
    return out


def _remote_profiles(s: Session, tenant_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], ClientProfile]:
    if not keys:
        return {}
    rows = s.execute(select(RemoteRecord.system, RemoteRecord.remote_id, RemoteRecord.payload).where(
        RemoteRecord.tenant_id == tenant_id, RemoteRecord.record_type == "client",
        RemoteRecord.remote_id.in_({rid for _, rid in keys})))
    out = {}
    for system, rid, payload in rows:
        if (system, rid) in keys:
            try:
                out[(system, rid)] = profile_from_dict(payload)
            except (KeyError, TypeError, ValueError):
                continue  # a cached payload we cannot read is shown as unknown, not an error page
    return out


def reviews(db: Database, tenant_name: str, system: str | None = None, page: int = 1,
            search: str | None = None) -> Page:
    """Suggested pairs, best score first, each with the two records side by side and the competing
    suggestions: other candidates for the same local client or the same remote record."""
    with db.read() as s:
        tenant = get_tenant(s, tenant_name)
        q = select(Link, Client).join(Client, Client.id == Link.client_id).where(
            Link.tenant_id == tenant.id, Link.status == "suggested")
        if system:
            q = q.where(Link.system == system)
        if search:  # the practice's client by name, id or email, or the remote record by its id
            q = q.where(_link_matches(search))
        rows, total = _paged(s, q.order_by(Link.score.desc().nulls_last(), Link.id), page)
        links = [link for link, _ in rows]
        rivals_q = select(Link, Client).join(Client, Client.id == Link.client_id).where(
            Link.tenant_id == tenant.id, Link.status.in_(("suggested", "linked")),
            or_(Link.client_id.in_({lk.client_id for lk in links}), Link.remote_id.in_({lk.remote_id for lk in links})))
        rivals = s.execute(rivals_q).all() if links else []
        rival_ids = {lk.id: rid for lk in links if (rid := competing_id(lk.reasons))}
        remote = _remote_profiles(s, tenant.id, {(lk.system, lk.remote_id) for lk in links}
                                  | {(lk.system, lk.remote_id) for lk, _ in rivals}
                                  | {(lk.system, rival_ids[lk.id]) for lk in links if lk.id in rival_ids})
        rival_locals = _rival_clients(s, tenant.id, {rid for lk in links if (rid := rival_ids.get(lk.id))
                                                     and (lk.system, rid) not in remote})
        out = []
        for link, client in rows:
            competing = [{"id": r.id, "status": r.status, "local_id": c.external_id, "local_name": c.display_name,
                          "remote_id": r.remote_id,
                          "remote_name": remote[(r.system, r.remote_id)].name if (r.system, r.remote_id) in remote
                          else None, "score": r.score}
                         for r, c in rivals if r.id != link.id and r.system == link.system
                         and (r.client_id == link.client_id or r.remote_id == link.remote_id)]
            theirs = remote.get((link.system, link.remote_id))
            rid = rival_ids.get(link.id)
            rival_profile = remote.get((link.system, rid)) if rid else None
            rival = None
            if rid:  # the runner-up: a remote record if the cache knows it, else one of the practice's clients
                side = "remote" if rival_profile is not None else "local" if rid in rival_locals else None
                rival_profile = rival_profile or rival_locals.get(rid)
                if side == "local":  # by its external id, however the reason named it (see _rival_clients)
                    rid = rival_locals[rid].id
                rival = {"id": rid, "side": side, "name": rival_profile.name if rival_profile else None,
                         "known": rival_profile is not None}
            out.append({"id": link.id, "system": link.system, "score": link.score, "reasons": link.reasons or [],
                        "local_id": client.external_id, "local_name": client.display_name,
                        "remote_id": link.remote_id, "remote_name": theirs.name if theirs else None,
                        "fields": _compare(client_profile(client), theirs, rival_profile), "competing": competing,
                        "rival": rival})
        return Page(out, page, total)


def clusters(db: Database, tenant_name: str, page: int = 1, search: str | None = None) -> Page:
    with db.read() as s:
        tenant = get_tenant(s, tenant_name)
        q = select(DuplicateCluster).where(DuplicateCluster.tenant_id == tenant.id,
                                           DuplicateCluster.status == "unresolved").order_by(DuplicateCluster.id)
        if search:  # a member client by name, id or email, or a member contact by name
            clients = select(Client.id).where(Client.tenant_id == tenant.id, _client_matches(search))
            contacts = select(Contact.id).where(Contact.tenant_id == tenant.id,
                                                Contact.name.ilike(_like(search), escape="\\"))
            q = q.where(DuplicateCluster.id.in_(select(DuplicateMember.cluster_id).where(
                or_(DuplicateMember.client_id.in_(clients), DuplicateMember.contact_id.in_(contacts)))))
        rows, total = _paged(s, q.options(selectinload(DuplicateCluster.members)), page)
        members = [m for (c,) in rows for m in c.members]
        labels = iter(member_labels(s, members))
        return Page([{"id": c.id, "type": c.cluster_type, "record_type": c.record_type,
                      "score": c.score, "reasons": c.reasons or [],
                      "members": [next(labels) for _ in c.members]} for (c,) in rows], page, total)


def conflicts_by_client(db: Database, tenant_name: str, page: int = 1, search: str | None = None) -> Page:
    """Open conflicts grouped per linked client: one item per client, its fields side by side. Paged by
    client, so a client's fields never straddle two pages."""
    with db.read() as s:
        tenant = get_tenant(s, tenant_name)
        q = select(SyncConflict.link_id, func.min(SyncConflict.id).label("first")).where(
            SyncConflict.tenant_id == tenant.id, SyncConflict.status == "open").group_by(SyncConflict.link_id) \
            .order_by("first")
        if search:  # the client by name, id or email, or the remote record by its id
            q = q.where(SyncConflict.link_id.in_(select(Link.id).join(Client, Client.id == Link.client_id).where(
                Link.tenant_id == tenant.id, _link_matches(search))))
        rows, total = _paged(s, q, page)
        link_ids = [r.link_id for r in rows]
        found = s.execute(select(SyncConflict, Link, Client).join(Link, Link.id == SyncConflict.link_id)
                          .join(Client, Client.id == Link.client_id)
                          .where(SyncConflict.link_id.in_(link_ids), SyncConflict.status == "open")
                          .order_by(SyncConflict.id)).all() if link_ids else []
        groups: dict[int, dict[str, Any]] = {}
        for c, link, client in found:
            group = groups.setdefault(link.id, {"link_id": link.id, "system": link.system, "local_id": client.external_id,
                                                "local_name": client.display_name, "remote_id": link.remote_id,
                                                "conflicts": []})
            group["conflicts"].append(conflict_dict(c, link, client))
        return Page([groups[i] for i in link_ids if i in groups], page, total)


def open_conflict_fields(db: Database, tenant_name: str) -> list[dict[str, Any]]:
    """Each field with open conflicts and how many: the bulk "take one side for this field" choices."""
    with db.read() as s:
        tenant = get_tenant(s, tenant_name)
        return [{"field": f, "count": n} for f, n in s.execute(
            select(SyncConflict.field, func.count()).where(SyncConflict.tenant_id == tenant.id,
                                                           SyncConflict.status == "open")
            .group_by(SyncConflict.field).order_by(SyncConflict.field))]


def clients(db: Database, tenant_name: str, search: str | None = None, page: int = 1) -> Page:
    with db.read() as s:
        tenant = get_tenant(s, tenant_name)
        q = select(Client).where(Client.tenant_id == tenant.id, Client.merged_into_id.is_(None))
        if search:
            q = q.where(_client_matches(search))
        rows, total = _paged(s, q.order_by(Client.display_name, Client.id), page)
        ids = [c.id for (c,) in rows]
        links: dict[int, list[str]] = {}
        for link in s.scalars(select(Link).where(Link.client_id.in_(ids),
                                                 Link.status.in_(("linked", "suggested", "broken")))):
            links.setdefault(link.client_id, []).append(f"{link.system}: {link.status}")
        return Page([{"id": c.external_id, "name": c.display_name, "kind": c.kind, "email": c.email,
                      "status": c.status, "links": sorted(links.get(c.id, []))} for (c,) in rows], page, total)


def search_records_cache(db: Database, tenant_name: str, system: str, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Remote clients whose cached name contains `text`: the fall-back when the system cannot be asked."""
    with db.read() as s:
        tenant = get_tenant(s, tenant_name)
        name = RemoteRecord.payload["name"].as_string()
        rows = s.execute(select(RemoteRecord.remote_id, RemoteRecord.payload).where(
            RemoteRecord.tenant_id == tenant.id, RemoteRecord.system == system, RemoteRecord.record_type == "client",
            RemoteRecord.remote_status != "deleted", name.ilike(_like(text), escape="\\")).order_by(name).limit(limit))
        return [{"remote_id": rid, "name": (p or {}).get("name"), "kind": (p or {}).get("kind"),
                 "email": (p or {}).get("email")} for rid, p in rows]
