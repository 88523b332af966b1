"""Orchestrate, invitations: invite one person or, for admins, every client without a portal; resend (one
or every expired one); revoke; and the scheduled upkeep (expire, remind, deliver mail). The rules are in
`syncworker.domain.portal`; rows are `services/portal_store.py`.

Emails go through the outbox (`services/mail.py`) in the same transaction as the invitation they carry, and
are delivered after the commit.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncworker.domain.portal import (
    BulkCandidate,
    Person,
    PortalRefused,
    check_admin,
    check_invitee,
    check_primary,
    choose_invitees,
    count_invitees,
    default_invitees,
    due_for_reminder,
    expires_at,
    manager_status,
    plan_bulk,
    plan_resend,
)
from syncworker.services import mail
from syncworker.services.portal_logins import prune as prune_logins
from syncworker.services.portal_store import (
    ADMINS_SETTING,
    PortalCore,
    audit,
    cancel_mail,
    client_by_ref,
    end_access,
    end_invitations,
    latest_invitation,
    load_candidates,
    new_token,
    person_name,
    primary_of,
    token_hash,
)
from syncworker.services.tenants import get_tenant
from syncworker.store.models import Client, MailOutbox, PortalAccess, PortalInvitation, PortalUser, Tenant

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "portal"


def render_mail(name: str, values: dict[str, str], message: str | None) -> tuple[str, str]:
    text = Template((TEMPLATES / f"{name}.txt").read_text(encoding="utf-8"))
    page = Template((TEMPLATES / f"{name}.html").read_text(encoding="utf-8"))
    txt_message = f"\n{message.strip()}\n" if message and message.strip() else ""
    html_message = ("<blockquote>" + html.escape(message.strip()).replace("\n", "<br>") + "</blockquote>"
                    if message and message.strip() else "")
    return (text.safe_substitute(values, message=txt_message),
            page.safe_substitute({k: html.escape(v) for k, v in values.items()}, message=html_message))


class PortalInvitations(PortalCore):
    def _issue(self, s: Session, tenant: Tenant, access: PortalAccess, user: PortalUser, name: str, portal: Client,
               *, actor: str, message: str | None, now: datetime, expiry: datetime | None = None,
               kind: str = "invitation") -> PortalInvitation:
        token = new_token()
        inv = PortalInvitation(tenant_id=tenant.id, access_id=access.id, token_hash=token_hash(token),
                               status="pending", message=message, invited_by=actor, created_at=now,
                               expires_at=expiry or expires_at(now, self.config.invitation_days),
                               reminded_at=now if kind == "reminder" else None)
        s.add(inv)
        s.flush()
        link = f"{self.settings.public_url.rstrip('/')}/portal/accept/{token}"
        values = {"name": name, "practice": tenant.name, "portal": portal.display_name, "link": link,
                  "expires": inv.expires_at.strftime("%d %B %Y")}
        text, page = render_mail(kind, values, message)
        subject = (f"{tenant.name} invites you to your client portal" if kind == "invitation"
                   else f"Reminder: your client portal invitation from {tenant.name} expires soon")
        mail.enqueue(s, tenant_id=tenant.id, kind=f"portal_{kind}", recipient=user.email, subject=subject,
                     text_body=text, html_body=page, sender_domain=self.config.sender_domain,
                     invitation_id=inv.id, now=now)
        audit(s, tenant.id, actor, "portal_invitation", inv.id, "create" if kind == "invitation" else kind,
               {"access": access.id, "portal": portal.external_id, "expires": inv.expires_at.isoformat()})
        return inv

    def _user(self, s: Session, tenant_id: int, email: str, table: str, pk: int) -> PortalUser:
        user = s.scalar(select(PortalUser).where(PortalUser.tenant_id == tenant_id, PortalUser.email == email))
        if user is None:
            user = PortalUser(tenant_id=tenant_id, email=email, client_id=pk if table == "client" else None,
                              contact_id=pk if table == "contact" else None)
            s.add(user)
            s.flush()
        return user

    def _invite_one(self, s: Session, tenant: Tenant, primary: Client, person: Person, where: tuple[str, int], *,
                    actor: str, message: str | None, now: datetime) -> dict[str, Any]:
        email = check_invitee(person)
        user = self._user(s, tenant.id, email, *where)
        access = s.scalar(select(PortalAccess).where(PortalAccess.user_id == user.id,
                                                     PortalAccess.client_id == primary.id,
                                                     PortalAccess.ended_at.is_(None)))
        if access is not None:
            latest = latest_invitation(s, access.id)
            shown = manager_status(latest.status, latest.expires_at, now) if latest else "invited"
            hint = {"accepted": "they already have access", "invited": "use `portal resend` to send it again",
                    "expired": "use `portal resend` to send a new one"}.get(shown, "")
            raise PortalRefused("already_invited", f"{person.name} is already {shown} to {primary.display_name}'s "
                                                   f"portal (access {access.id}): {hint}")
        access = PortalAccess(tenant_id=tenant.id, user_id=user.id, client_id=primary.id,
                              via_connection_id=person.connection_id, granted_by=actor, granted_at=now)
        s.add(access)
        s.flush()
        inv = self._issue(s, tenant, access, user, person.name, primary, actor=actor, message=message, now=now)
        return {"access": access.id, "invitation": inv.id, "portal": primary.external_id,
                "portal_name": primary.display_name, "person": person.ref, "name": person.name, "email": email,
                "relation": person.description or person.relation, "billable": person.billable,
                "expires": inv.expires_at.isoformat()}

    def invite(self, tenant_name: str, client_ref: str, persons: Sequence[str] = (), *, message: str | None = None,
               actor: str = "operator") -> dict[str, Any]:
        """Invite people to CLIENT's portal: the client (or a business's primary contact) by default, or the
        named people (the client, its contacts, clients connected to it). All or nothing."""
        now = self.clock()
        with self.db.session() as s:
            tenant = get_tenant(s, tenant_name)
            primary = client_by_ref(s, tenant.id, client_ref)
            p = primary_of(primary, s)
            check_primary(p)
            found = load_candidates(s, primary)
            chosen = choose_invitees(p, found.people, persons) if persons else default_invitees(p, found.people)
            invited = [self._invite_one(s, tenant, primary, person, found.rows[person.ref], actor=actor,
                                        message=message, now=now) for person in chosen]
            counts = count_invitees(chosen)
        delivery = self.deliver()
        return {"invited": self._with_mail(invited), "counts": vars(counts), "mail": delivery.as_dict()}

    def invite_without_portal(self, tenant_name: str, *, actor: str, message: str | None = None) -> dict[str, Any]:
        """The Client Portal Manager's bulk invite (admins only): every active client without portal access
        gets an invitation to its own portal; those that cannot are listed with the reason."""
        now = self.clock()
        with self.db.session() as s:
            tenant = get_tenant(s, tenant_name)
            check_admin(actor, (tenant.settings or {}).get(ADMINS_SETTING, []))
            with_portal = set(s.scalars(select(PortalAccess.client_id).where(
                PortalAccess.tenant_id == tenant.id, PortalAccess.ended_at.is_(None))))
            candidates, found_by_client = [], {}
            for client in s.scalars(select(Client).where(Client.tenant_id == tenant.id, Client.status == "active",
                                                         Client.merged_into_id.is_(None)).order_by(Client.external_id)):
                if client.id in with_portal:
                    continue
                p = primary_of(client, s)
                found = load_candidates(s, client)
                try:
                    invitee: Person | None = default_invitees(p, found.people)[0]
                except PortalRefused:
                    invitee = None
                candidates.append(BulkCandidate(p, has_portal=False, invitee=invitee))
                found_by_client[client.id] = (client, found)
            plan = plan_bulk(candidates)
            invited = []
            for c in plan.invite:
                client, found = found_by_client[c.primary.id]
                assert c.invitee is not None
                invited.append(self._invite_one(s, tenant, client, c.invitee, found.rows[c.invitee.ref], actor=actor,
                                                message=message, now=now))
            skipped = [{"client": found_by_client[c.primary.id][0].external_id, "name": c.primary.name,
                        "reason": why} for c, why in plan.skipped]
            counts = count_invitees(c.invitee for c in plan.invite if c.invitee is not None)
        delivery = self.deliver()
        return {"invited": self._with_mail(invited), "skipped": skipped, "counts": vars(counts),
                "mail": delivery.as_dict()}

    def _with_mail(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.db.session() as s:
            for row in rows:
                row["mail"] = s.scalar(select(MailOutbox.status).where(MailOutbox.invitation_id == row["invitation"])
                                       .order_by(MailOutbox.id.desc()).limit(1))
        return rows

    def _access(self, s: Session, tenant: Tenant, access_id: int) -> PortalAccess:
        access = s.get(PortalAccess, access_id)
        if access is None or access.tenant_id != tenant.id:
            raise LookupError(f"no portal access with id {access_id} in this tenant (see `portal list`)")
        return access

    def resend(self, tenant_name: str, access_id: int, *, actor: str = "operator",
               message: str | None = None) -> dict[str, Any]:
        """A new invitation with a new token and 30 new days; the old link stops working at once."""
        now = self.clock()
        with self.db.session() as s:
            tenant = get_tenant(s, tenant_name)
            result = self._resend_in(s, tenant, self._access(s, tenant, access_id), actor=actor, message=message,
                                     now=now)
        delivery = self.deliver()
        return self._with_mail([result])[0] | {"mail_delivery": delivery.as_dict()}

    def resend_expired(self, tenant_name: str, *, actor: str, message: str | None = None) -> dict[str, Any]:
        """The Manager's bulk resend (admins only): every open access whose invitation has expired gets a new one."""
        now = self.clock()
        with self.db.session() as s:
            tenant = get_tenant(s, tenant_name)
            check_admin(actor, (tenant.settings or {}).get(ADMINS_SETTING, []))
            resent = []
            for access in list(s.scalars(select(PortalAccess).where(PortalAccess.tenant_id == tenant.id,
                                                                    PortalAccess.ended_at.is_(None))
                                         .order_by(PortalAccess.id))):
                latest = latest_invitation(s, access.id)
                if latest is not None and manager_status(latest.status, latest.expires_at, now) == "expired":
                    resent.append(self._resend_in(s, tenant, access, actor=actor, message=message, now=now))
        delivery = self.deliver()
        return {"resent": self._with_mail(resent), "mail": delivery.as_dict()}

    def _resend_in(self, s: Session, tenant: Tenant, access: PortalAccess, *, actor: str, message: str | None,
                   now: datetime) -> dict[str, Any]:
        if access.ended_at is not None:
            raise PortalRefused("revoked", f"access {access.id} was ended ({access.ended_reason}): invite the "
                                           "person again instead")
        old = latest_invitation(s, access.id)
        assert old is not None
        status = "expired" if old.status == "pending" and now >= old.expires_at else old.status
        plan = plan_resend(status, now, self.config.invitation_days)
        user, portal = s.get(PortalUser, access.user_id), s.get(Client, access.client_id)
        assert user is not None and portal is not None
        new = self._issue(s, tenant, access, user, person_name(s, user), portal, actor=actor,
                          message=message if message is not None else old.message, now=now,
                          expiry=plan.new_expires_at)
        old.status, old.ended_at, old.replaced_by_id = plan.old_status, now, new.id
        cancel_mail(s, [old.id], "superseded by a resend")
        return {"access": access.id, "invitation": new.id, "replaces": old.id, "email": user.email,
                "expires": new.expires_at.isoformat()}

    def revoke(self, tenant_name: str, access_id: int, *, actor: str = "operator") -> dict[str, Any]:
        """End a user's access to one portal; a pending invitation stops working and its unsent email is dropped."""
        now = self.clock()
        with self.db.session() as s:
            tenant = get_tenant(s, tenant_name)
            access = self._access(s, tenant, access_id)
            if access.ended_at is not None:
                raise PortalRefused("revoked", f"access {access_id} has already ended ({access.ended_reason})")
            end_access(s, access, now, f"revoked by {actor}")
            audit(s, tenant.id, actor, "portal_access", access.id, "revoke")
            return {"access": access.id, "status": "revoked"}

    def maintain(self) -> dict[str, int]:
        """The scheduled job: expire what is past its date (and forget failed logins past their window), remind
        what is about to be, then send what is due."""
        now = self.clock()
        expired = reminded = 0
        with self.db.session() as s:
            due = list(s.scalars(select(PortalInvitation).where(PortalInvitation.status == "pending",
                                                                PortalInvitation.expires_at <= now)))
            end_invitations(s, due, "expired", now, "invitation expired")
            expired = len(due)
            prune_logins(s, now, self.config.login)
        if self.config.remind_days_before:
            horizon = now + timedelta(days=self.config.remind_days_before)
            with self.db.session() as s:
                for inv in list(s.scalars(select(PortalInvitation).where(
                        PortalInvitation.status == "pending", PortalInvitation.reminded_at.is_(None),
                        PortalInvitation.expires_at <= horizon))):
                    if not due_for_reminder(inv.status, inv.expires_at, inv.reminded_at, now,
                                            self.config.remind_days_before):
                        continue
                    access = s.get(PortalAccess, inv.access_id)
                    assert access is not None
                    tenant, user, portal = (s.get(Tenant, inv.tenant_id), s.get(PortalUser, access.user_id),
                                            s.get(Client, access.client_id))
                    assert tenant is not None and user is not None and portal is not None
                    new = self._issue(s, tenant, access, user, person_name(s, user), portal, actor="scheduler",
                                      message=inv.message, now=now, expiry=inv.expires_at, kind="reminder")
                    inv.status, inv.ended_at, inv.replaced_by_id = "superseded", now, new.id
                    cancel_mail(s, [inv.id], "superseded by a reminder")
                    reminded += 1
        delivery = self.deliver()
        return {"expired": expired, "reminded": reminded, **delivery.as_dict()}


