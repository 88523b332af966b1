"""Client portal use cases (Canopy's client portal): invite one person or, for admins, every client without a
portal; resend; revoke; the Client Portal Manager's list; accepting an invitation and logging in; and the
scheduled upkeep (expire, remind, deliver mail). The rules are in `syncworker.domain.portal`; this module
loads rows, asks the rules, writes and audits.

Tokens: 32 random bytes, sent only in the email; the database keeps their SHA-256. A token is looked up by
that hash (so the lookup reveals nothing about how much of a guess was right) and accepted by a
compare-and-swap from `pending` to `accepted`, so it works exactly once even when clicked twice at once.
Emails go through the outbox (`services/mail.py`) in the same transaction as the invitation they carry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from string import Template
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from syncworker.config import ConfigError, Settings, load_yaml_config
from syncworker.domain.portal import (
    DEFAULT_INVITATION_DAYS,
    Access,
    BulkCandidate,
    Person,
    PortalRefused,
    Primary,
    check_admin,
    check_invitee,
    check_password,
    check_primary,
    check_token,
    choose_invitees,
    count_invitees,
    default_invitees,
    due_for_reminder,
    expires_at,
    manager_status,
    normalise_email,
    plan_bulk,
    plan_resend,
    visible_client_ids,
)
from syncworker.services import mail
from syncworker.services.context import ServiceContext
from syncworker.services.tenants import get_tenant
from syncworker.store.db import Database
from syncworker.store.models import (
    AuditEntry,
    Client,
    Connection,
    Contact,
    MailOutbox,
    PortalAccess,
    PortalInvitation,
    PortalUser,
    Tenant,
)
from syncworker.store.types import utcnow

__all__ = ["PortalConfig", "PortalRefused", "PortalService", "end_connection_access", "move_client_portals",
           "move_contact_users"]
log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "portal"
ADMINS_SETTING = "portal_admins"


@dataclass(frozen=True)
class PortalConfig:
    invitation_days: int = DEFAULT_INVITATION_DAYS
    remind_days_before: int = 3
    maintenance_minutes: int = 5
    mail_from: str = "Client portal <portal@localhost>"
    max_attempts: int = 10

    @classmethod
    def load(cls) -> PortalConfig:
        raw = load_yaml_config("portal.yaml")
        mail_raw = raw.get("mail") or {}
        values = {"invitation_days": raw.get("invitation_days", cls.invitation_days),
                  "remind_days_before": raw.get("remind_days_before", cls.remind_days_before),
                  "maintenance_minutes": raw.get("maintenance_minutes", cls.maintenance_minutes),
                  "max_attempts": mail_raw.get("max_attempts", cls.max_attempts)}
        for key, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "remind_days_before" else 1):
                raise ConfigError(f"invalid setting {key} in config/portal.yaml: {value!r} is not a whole number "
                                  f"{'of 0 or more' if key == 'remind_days_before' else 'of 1 or more'}")
        sender = str(mail_raw.get("from", cls.mail_from))
        if "@" not in parseaddr(sender)[1]:
            raise ConfigError(f"invalid setting mail.from in config/portal.yaml: {sender!r} has no email address")
        return cls(mail_from=sender, **values)

    @property
    def sender_domain(self) -> str:
        return parseaddr(self.mail_from)[1].rsplit("@", 1)[1]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A single-use invitation token: 256 random bits, URL-safe, never starting with '-' (a token that did
    would read as an option to `syncworker portal accept TOKEN`: about one invitation in 64)."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


# --- passwords (scrypt from the standard library) ---
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def password_matches(password: str, stored: str | None) -> bool:
    if not stored:
        hash_password(password)  # the same work either way: timing does not tell which emails have accounts
        return False
    _, salt, digest = stored.split("$")
    given = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), dklen=32, **_SCRYPT)
    return hmac.compare_digest(given, base64.b64decode(digest))


# --- loading the people of a portal ---
@dataclass
class _Candidates:
    people: list[Person] = field(default_factory=list)
    rows: dict[str, tuple[str, int]] = field(default_factory=dict)  # ref -> ("client" | "contact", pk)

    def add(self, person: Person, table: str, pk: int) -> None:
        if person.ref not in self.rows:
            self.people.append(person)
            self.rows[person.ref] = (table, pk)


def _primary(c: Client, s: Session) -> Primary:
    merged = s.get(Client, c.merged_into_id).external_id if c.merged_into_id else None  # type: ignore[union-attr]
    return Primary(c.id, c.display_name, c.kind, c.status, merged)


def _candidates(s: Session, primary: Client) -> _Candidates:
    """The client (if a person), its contacts (primary contact first) and the individual clients connected to
    it, whatever their status: an inactive spouse belongs to the portal as much as an active one."""
    out = _Candidates()
    if primary.kind == "individual":
        out.add(Person(f"client:{primary.external_id}", primary.display_name, primary.email, "self",
                       active=primary.status == "active"), "client", primary.id)
    for k in s.scalars(select(Contact).where(Contact.client_id == primary.id)
                       .order_by(Contact.is_primary.desc(), Contact.id)):
        out.add(Person(f"contact:{k.external_id}", k.name, k.email, "contact"), "contact", k.id)
    for conn in s.scalars(select(Connection).where(or_(Connection.client_id == primary.id,
                                                       Connection.related_client_id == primary.id))
                          .order_by(Connection.id)):
        mine = conn.client_id == primary.id
        other = s.get(Client, conn.related_client_id if mine else conn.client_id)
        if other is None or other.kind != "individual" or other.merged_into_id is not None:
            continue
        out.add(Person(f"client:{other.external_id}", other.display_name, other.email, "connection",
                       active=other.status == "active", connection_id=conn.id,
                       description=conn.description if mine else conn.related_description), "client", other.id)
    return out


def _client(s: Session, tenant_id: int, ref: str) -> Client:
    client = s.scalar(select(Client).where(Client.tenant_id == tenant_id, Client.external_id == ref))
    if client is None:
        raise LookupError(f"no client with id {ref!r} in this tenant")
    return client


def _audit(s: Session, tenant_id: int, actor: str, entity: str, entity_id: int, action: str,
           after: dict[str, Any] | None = None, before: dict[str, Any] | None = None) -> None:
    s.add(AuditEntry(tenant_id=tenant_id, actor=actor, origin="operator", target="local", entity=entity,
                     entity_id=str(entity_id), action=action, before=before, after=after))


def _cancel_mail(s: Session, invitation_ids: Iterable[int], why: str) -> None:
    ids = list(invitation_ids)
    if ids:
        s.execute(update(MailOutbox).where(MailOutbox.invitation_id.in_(ids), MailOutbox.status == "pending")
                  .values(status="cancelled", last_error=why, text_body=None, html_body=None))


def _end_invitations(s: Session, rows: Iterable[PortalInvitation], status: str, now: datetime, why: str) -> None:
    ended = []
    for inv in rows:
        if inv.status == "pending":
            inv.status, inv.ended_at = status, now
            ended.append(inv.id)
    _cancel_mail(s, ended, why)


def _latest(s: Session, access_id: int) -> PortalInvitation | None:
    return s.scalar(select(PortalInvitation).where(PortalInvitation.access_id == access_id)
                    .order_by(PortalInvitation.id.desc()).limit(1))


def _end_access(s: Session, access: PortalAccess, now: datetime, reason: str) -> None:
    access.ended_at, access.ended_reason = now, reason[:100]
    _end_invitations(s, s.scalars(select(PortalInvitation).where(PortalInvitation.access_id == access.id)),
                     "revoked", now, reason)


# --- hooks for merges and connections (they work inside the caller's session) ---
def move_client_portals(s: Session, old_id: int, survivor_id: int, now: datetime | None = None) -> None:
    """A merged client's portal becomes the survivor's: its users keep their access (one open access per user
    and portal: a user who already had the survivor's keeps that one), and a portal user who *was* the
    absorbed client now is the survivor."""
    now = now or utcnow()
    have = set(s.scalars(select(PortalAccess.user_id).where(PortalAccess.client_id == survivor_id,
                                                            PortalAccess.ended_at.is_(None))))
    for access in s.scalars(select(PortalAccess).where(PortalAccess.client_id == old_id,
                                                       PortalAccess.ended_at.is_(None))):
        if access.user_id in have:
            _end_access(s, access, now, "merged: the user already had the survivor's portal")
        else:
            access.client_id = survivor_id
            have.add(access.user_id)
    s.execute(update(PortalUser).where(PortalUser.client_id == old_id).values(client_id=survivor_id))
    s.flush()


def move_contact_users(s: Session, old_contact_id: int, keep_contact_id: int) -> None:
    """A merged contact's portal login moves to the contact that stays (before the absorbed one is deleted)."""
    s.execute(update(PortalUser).where(PortalUser.contact_id == old_contact_id).values(contact_id=keep_contact_id))


def end_connection_access(s: Session, connection_id: int, actor: str, now: datetime | None = None) -> int:
    """Removing a connection ends the portal access it gave (a spouse loses the other's portal); pending
    invitations through it are revoked and their unsent emails cancelled. Returns how many ended."""
    now = now or utcnow()
    rows = list(s.scalars(select(PortalAccess).where(PortalAccess.via_connection_id == connection_id,
                                                     PortalAccess.ended_at.is_(None))))
    for access in rows:
        _end_access(s, access, now, "connection removed")
        _audit(s, access.tenant_id, actor, "portal_access", access.id, "end", {"reason": "connection removed"})
    s.flush()
    return len(rows)


def _render(name: str, values: dict[str, str], message: str | None) -> tuple[str, str]:
    text = Template((TEMPLATES / f"{name}.txt").read_text(encoding="utf-8"))
    page = Template((TEMPLATES / f"{name}.html").read_text(encoding="utf-8"))
    txt_message = f"\n{message.strip()}\n" if message and message.strip() else ""
    html_message = ("<blockquote>" + html.escape(message.strip()).replace("\n", "<br>") + "</blockquote>"
                    if message and message.strip() else "")
    return (text.safe_substitute(values, message=txt_message),
            page.safe_substitute({k: html.escape(v) for k, v in values.items()}, message=html_message))


class PortalService:
    """The portal's use cases for one database, with the mail transport and the clock injected."""

    def __init__(self, db: Database, settings: Settings, config: PortalConfig | None = None,
                 transport: mail.MailTransport | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.config = config or settings.portal
        self.transport = transport or mail.transport_from_url(settings.smtp_url)

    @classmethod
    def from_context(cls, ctx: ServiceContext) -> PortalService:
        """The portal on a composition root's context (`syncworker.bootstrap.build_context`)."""
        return cls(ctx.db, ctx.settings)

    # --- issuing ---
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
        text, page = _render(kind, values, message)
        subject = (f"{tenant.name} invites you to your client portal" if kind == "invitation"
                   else f"Reminder: your client portal invitation from {tenant.name} expires soon")
        mail.enqueue(s, tenant_id=tenant.id, kind=f"portal_{kind}", recipient=user.email, subject=subject,
                     text_body=text, html_body=page, sender_domain=self.config.sender_domain,
                     invitation_id=inv.id, now=now)
        _audit(s, tenant.id, actor, "portal_invitation", inv.id, "create" if kind == "invitation" else kind,
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
            latest = _latest(s, access.id)
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
            primary = _client(s, tenant.id, client_ref)
            p = _primary(primary, s)
            check_primary(p)
            found = _candidates(s, primary)
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
                p = _primary(client, s)
                found = _candidates(s, client)
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
                latest = _latest(s, access.id)
                if latest is not None and manager_status(latest.status, latest.expires_at, now) == "expired":
                    resent.append(self._resend_in(s, tenant, access, actor=actor, message=message, now=now))
        delivery = self.deliver()
        return {"resent": self._with_mail(resent), "mail": delivery.as_dict()}

    def _resend_in(self, s: Session, tenant: Tenant, access: PortalAccess, *, actor: str, message: str | None,
                   now: datetime) -> dict[str, Any]:
        if access.ended_at is not None:
            raise PortalRefused("revoked", f"access {access.id} was ended ({access.ended_reason}): invite the "
                                           "person again instead")
        old = _latest(s, access.id)
        assert old is not None
        status = "expired" if old.status == "pending" and now >= old.expires_at else old.status
        plan = plan_resend(status, now, self.config.invitation_days)
        user, portal = s.get(PortalUser, access.user_id), s.get(Client, access.client_id)
        assert user is not None and portal is not None
        new = self._issue(s, tenant, access, user, _person_name(s, user), portal, actor=actor,
                          message=message if message is not None else old.message, now=now,
                          expiry=plan.new_expires_at)
        old.status, old.ended_at, old.replaced_by_id = plan.old_status, now, new.id
        _cancel_mail(s, [old.id], "superseded by a resend")
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
            _end_access(s, access, now, f"revoked by {actor}")
            _audit(s, tenant.id, actor, "portal_access", access.id, "revoke")
            return {"access": access.id, "status": "revoked"}

    # --- the Client Portal Manager ---
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
                    "access": a.id, "user": user.id, "name": _person_name(s, user), "email": user.email,
                    "person": _person_ref(s, user), "portal": names.get(a.client_id),
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
            _audit(s, tenant.id, "operator", "tenant", tenant.id, "portal_admin_remove" if remove else "portal_admin_add",
                   {"admin": name})
            return settings[ADMINS_SETTING]

    # --- the invitee's side ---
    def _by_token(self, s: Session, token: str) -> PortalInvitation:
        wanted = token_hash(token)
        inv = s.scalar(select(PortalInvitation).where(PortalInvitation.token_hash == wanted))
        if inv is None or not hmac.compare_digest(inv.token_hash, wanted):
            check_token(None, None, self.clock())
        assert inv is not None
        return inv

    def inspect_token(self, token: str) -> dict[str, Any]:
        """What the accept page shows before the form is sent: whose portal, for which email, and whether the
        person chooses a password (a new user) or confirms theirs."""
        with self.db.session() as s:
            inv = self._by_token(s, token)
            check_token(inv.status, inv.expires_at, self.clock())
            access = s.get(PortalAccess, inv.access_id)
            assert access is not None
            user, portal = s.get(PortalUser, access.user_id), s.get(Client, access.client_id)
            assert user is not None and portal is not None
            return {"email": user.email, "portal_name": portal.display_name, "new_user": user.password_hash is None}

    def accept(self, token: str, password: str) -> dict[str, Any]:
        """Accept an invitation: a new user chooses a password, a returning one confirms theirs. Once only."""
        now = self.clock()
        with self.db.session() as s:
            inv = self._by_token(s, token)
            check_token(inv.status, inv.expires_at, now)
            access = s.get(PortalAccess, inv.access_id)
            assert access is not None
            user = s.get(PortalUser, access.user_id)
            assert user is not None
            if user.password_hash is None:
                check_password(password)
                user.password_hash = hash_password(password)
            elif not password_matches(password, user.password_hash):
                raise PortalRefused("wrong_password", "That is not the password of this portal account.")
            taken = s.execute(update(PortalInvitation).where(PortalInvitation.id == inv.id,
                                                             PortalInvitation.status == "pending")
                              .values(status="accepted", accepted_at=now)).rowcount
            if taken != 1:
                check_token("accepted", inv.expires_at, now)
            user.accepted_at = user.accepted_at or now
            user.last_login_at = now
            _audit(s, inv.tenant_id, f"portal:{user.id}", "portal_invitation", inv.id, "accept")
            return {"email": user.email, "records": _visible(s, user.id)}

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Check a portal user's password and record the login. The same answer for an unknown email and a wrong
        password."""
        now = self.clock()
        address = normalise_email(email) or ""
        with self.db.session() as s:
            users = list(s.scalars(select(PortalUser).where(PortalUser.email == address,
                                                            PortalUser.password_hash.is_not(None))))
            for user in users or [None]:
                if password_matches(password, user.password_hash if user else None) and user is not None:
                    user.last_login_at = now
                    return {"email": user.email, "records": _visible(s, user.id)}
        raise PortalRefused("login", "Wrong email address or password.")

    # --- upkeep ---
    def deliver(self) -> mail.DeliveryReport:
        return mail.deliver_due(self.db, self.transport, self.config.mail_from, now=self.clock(),
                                max_attempts=self.config.max_attempts, after_sent=_stamp_sent)

    def maintain(self) -> dict[str, int]:
        """The scheduled job: expire what is past its date, remind what is about to be, then send what is due."""
        now = self.clock()
        expired = reminded = 0
        with self.db.session() as s:
            due = list(s.scalars(select(PortalInvitation).where(PortalInvitation.status == "pending",
                                                                PortalInvitation.expires_at <= now)))
            _end_invitations(s, due, "expired", now, "invitation expired")
            expired = len(due)
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
                    new = self._issue(s, tenant, access, user, _person_name(s, user), portal, actor="scheduler",
                                      message=inv.message, now=now, expiry=inv.expires_at, kind="reminder")
                    inv.status, inv.ended_at, inv.replaced_by_id = "superseded", now, new.id
                    _cancel_mail(s, [inv.id], "superseded by a reminder")
                    reminded += 1
        delivery = self.deliver()
        return {"expired": expired, "reminded": reminded, **delivery.as_dict()}


def upkeep(ctx: ServiceContext) -> dict[str, int] | None:
    """The scheduled job: one pass of `PortalService.maintain`. A failure is logged and the next pass tries
    again (nothing is lost: the outbox and the invitations keep their state)."""
    try:
        return PortalService.from_context(ctx).maintain()
    except Exception:
        log.exception("client portal upkeep failed; the next pass will try again")
        return None


def schedule_upkeep(scheduler: Any, ctx: ServiceContext) -> None:
    """Add the portal's upkeep to an APScheduler scheduler: every `maintenance_minutes`, first at start."""
    minutes = ctx.settings.portal.maintenance_minutes
    scheduler.add_job(upkeep, "interval", minutes=minutes, args=[ctx], id="portal_upkeep", name="client portal upkeep",
                      coalesce=True, max_instances=1, replace_existing=True, next_run_time=utcnow())


def _stamp_sent(s: Session, row: MailOutbox, now: datetime) -> None:
    if row.invitation_id is not None:
        inv = s.get(PortalInvitation, row.invitation_id)
        if inv is not None and inv.sent_at is None:
            inv.sent_at = now


def _person_name(s: Session, user: PortalUser) -> str:
    if user.client_id is not None:
        c = s.get(Client, user.client_id)
        return c.display_name if c else user.email
    k = s.get(Contact, user.contact_id)
    return k.name if k else user.email


def _person_ref(s: Session, user: PortalUser) -> str | None:
    if user.client_id is not None:
        c = s.get(Client, user.client_id)
        return f"client:{c.external_id}" if c else None
    k = s.get(Contact, user.contact_id)
    return f"contact:{k.external_id}" if k else None


def _visible(s: Session, user_id: int) -> list[dict[str, Any]]:
    accepted = set(s.scalars(select(PortalInvitation.access_id).where(PortalInvitation.status == "accepted")
                             .join(PortalAccess, PortalAccess.id == PortalInvitation.access_id)
                             .where(PortalAccess.user_id == user_id)))
    accesses = [Access(a.client_id, a.id in accepted, a.ended_at is not None)
                for a in s.scalars(select(PortalAccess).where(PortalAccess.user_id == user_id))]
    ids = visible_client_ids(accesses)
    rows = s.execute(select(Client.external_id, Client.display_name).where(Client.id.in_(ids))
                     .order_by(func.lower(Client.display_name))).all() if ids else []
    return [{"client": ext, "name": name} for ext, name in rows]
