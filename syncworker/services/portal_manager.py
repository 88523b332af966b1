"""Orchestrate, the Client Portal Manager's views: one row per user and portal with what the user can see,
and the tenant's portal admins (who may invite and resend in bulk)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from syncworker.domain.portal import Access, PortalRefused, manager_status, visible_client_ids
from syncworker.services.portal_store import ADMINS_SETTING, PortalCore, audit, person_name, person_ref
from syncworker.services.tenants import get_tenant
from syncworker.store.models import Client, PortalAccess, PortalInvitation, PortalUser


class PortalManager(PortalCore):
    def list(self, tenant_name: str, status: str | None = None) -> list[dict[str, Any]]:
        """One row per user and portal: user, email, status, sent, expires, last login, and every client
        record the user can see."""
        now = self.clock()
        with self.db.session() as s:
            tenant = get_tenant(s, tenant_name)
            accesses = list(s.scalars(select(PortalAccess).where(PortalAccess.tenant_id == tenant.id)
                                      .order_by(PortalAccess.user_id, PortalAccess.id)))
            latest: dict[int, PortalInvitation] = {}
            for inv in s.scalars(select(PortalInvitation).where(PortalInvitation.tenant_id == tenant.id)
                                 .order_by(PortalInvitation.id)):
                latest[inv.access_id] = inv
            accepted = {a_id for a_id, in s.execute(select(PortalInvitation.access_id).where(
                PortalInvitation.tenant_id == tenant.id, PortalInvitation.status == "accepted"))}
            names = dict(s.execute(select(Client.id, Client.external_id).where(Client.tenant_id == tenant.id)).all())
            titles = dict(s.execute(select(Client.id, Client.display_name).where(Client.tenant_id == tenant.id)).all())
            by_user: dict[int, list[Access]] = {}
            for a in accesses:
                by_user.setdefault(a.user_id, []).append(Access(a.client_id, a.id in accepted, a.ended_at is not None))
            rows = []
            for a in accesses:
                user = s.get(PortalUser, a.user_id)
                assert user is not None
                inv = latest.get(a.id)
                shown = "revoked" if a.ended_at is not None else (
                    manager_status(inv.status, inv.expires_at, now) if inv else "invited")
                if status and shown != status:
                    continue
                rows.append({
                    "access": a.id, "user": user.id, "name": person_name(s, user), "email": user.email,
                    "person": person_ref(s, user), "portal": names.get(a.client_id),
                    "portal_name": titles.get(a.client_id), "status": shown,
                    "invitation": inv.id if inv else None,
                    "sent": inv.sent_at.isoformat() if inv and inv.sent_at else None,
                    "expires": inv.expires_at.isoformat() if inv else None,
                    "last_login": user.last_login_at.isoformat() if user.last_login_at else None,
                    "records": [{"client": names.get(cid), "name": titles.get(cid)}
                                for cid in visible_client_ids(by_user[a.user_id])],
                    "ended_reason": a.ended_reason,
                })
            return rows

    def set_admin(self, tenant_name: str, name: str, *, remove: bool = False) -> list[str]:
        name = name.strip()
        if not name:
            raise PortalRefused("bad_admin", "an admin needs a name (the --as name they act under)")
        with self.db.session() as s:
            tenant = get_tenant(s, tenant_name)
            settings = dict(tenant.settings or {})
            admins = [a for a in settings.get(ADMINS_SETTING, []) if a.lower() != name.lower()]
            if not remove:
                admins.append(name)
            settings[ADMINS_SETTING] = sorted(admins, key=str.lower)
            tenant.settings = settings  # a new dict, so the JSON column is written
            audit(s, tenant.id, "operator", "tenant", tenant.id, "portal_admin_remove" if remove else "portal_admin_add",
                   {"admin": name})
            return settings[ADMINS_SETTING]

