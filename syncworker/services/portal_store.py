"""Persist: the client portal's rows (users, access, invitations, their mail), read and written inside the
caller's unit of work, and the base every portal use case shares (database, settings, mail, clock).

Tokens: 32 random bytes, sent only in the email; the database keeps their SHA-256. Also here: the hooks that
merges (`services/duplicates.py`) and connections (`services/connections.py`) call in their own session.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from syncworker.config import Settings
from syncworker.domain.portal import Access, Person, Primary, visible_client_ids
from syncworker.services import mail
from syncworker.services.context import ServiceContext
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
)
from syncworker.store.types import utcnow

if TYPE_CHECKING:
    from syncworker.services.portal import PortalConfig

ADMINS_SETTING = "portal_admins"


class PortalCore:
    """What every portal use case shares: the database, the settings and portal configuration, the mail
    transport and the clock (both injected in tests), and delivering the outbox after a commit."""

    def __init__(self, db: Database, settings: Settings, config: PortalConfig | None = None,
                 transport: mail.MailTransport | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.config = config or settings.portal
        self.transport = transport or mail.transport_from_url(settings.smtp_url)

    @classmethod
    def from_context(cls, ctx: ServiceContext) -> Self:
        """The portal on a composition root's context (`syncworker.bootstrap.build_context`)."""
        return cls(ctx.db, ctx.settings)

    def deliver(self) -> mail.DeliveryReport:
        return mail.deliver_due(self.db, self.transport, self.config.mail_from, clock=self.clock,
                                max_attempts=self.config.max_attempts, after_sent=stamp_sent)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A single-use invitation token: 256 random bits, URL-safe, never starting with '-' (a token that did
    would read as an option to `syncworker portal accept TOKEN`: about one invitation in 64)."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


# --- loading the people of a portal ---
@dataclass
class Candidates:
    people: list[Person] = field(default_factory=list)
    rows: dict[str, tuple[str, int]] = field(default_factory=dict)  # ref -> ("client" | "contact", pk)

    def add(self, person: Person, table: str, pk: int) -> None:
        if person.ref not in self.rows:
            self.people.append(person)
            self.rows[person.ref] = (table, pk)


def primary_of(c: Client, s: Session) -> Primary:
    merged = s.get(Client, c.merged_into_id).external_id if c.merged_into_id else None  # type: ignore[union-attr]
    return Primary(c.id, c.display_name, c.kind, c.status, merged)


def load_candidates(s: Session, primary: Client) -> Candidates:
    """The client (if a person), its contacts (primary contact first) and the individual clients connected to
    it, whatever their status: an inactive spouse belongs to the portal as much as an active one."""
    out = Candidates()
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


def client_by_ref(s: Session, tenant_id: int, ref: str) -> Client:
    client = s.scalar(select(Client).where(Client.tenant_id == tenant_id, Client.external_id == ref))
    if client is None:
        raise LookupError(f"no client with id {ref!r} in this tenant")
    return client


def audit(s: Session, tenant_id: int, actor: str, entity: str, entity_id: int, action: str,
           after: dict[str, Any] | None = None, before: dict[str, Any] | None = None) -> None:
    s.add(AuditEntry(tenant_id=tenant_id, actor=actor, origin="operator", target="local", entity=entity,
                     entity_id=str(entity_id), action=action, before=before, after=after))


def cancel_mail(s: Session, invitation_ids: Iterable[int], why: str) -> None:
    ids = list(invitation_ids)
    if ids:
        s.execute(update(MailOutbox).where(MailOutbox.invitation_id.in_(ids), MailOutbox.status == "pending")
                  .values(status="cancelled", last_error=why, text_body=None, html_body=None))


def end_invitations(s: Session, rows: Iterable[PortalInvitation], status: str, now: datetime, why: str) -> None:
    ended = []
    for inv in rows:
        if inv.status == "pending":
            inv.status, inv.ended_at = status, now
            ended.append(inv.id)
    cancel_mail(s, ended, why)


def latest_invitation(s: Session, access_id: int) -> PortalInvitation | None:
    return s.scalar(select(PortalInvitation).where(PortalInvitation.access_id == access_id)
                    .order_by(PortalInvitation.id.desc()).limit(1))


def end_access(s: Session, access: PortalAccess, now: datetime, reason: str) -> None:
    access.ended_at, access.ended_reason = now, reason[:100]
    end_invitations(s, s.scalars(select(PortalInvitation).where(PortalInvitation.access_id == access.id)),
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
            end_access(s, access, now, "merged: the user already had the survivor's portal")
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
    invitations through it are revoked and their unsent emails cancelled. Access that another connection
    between the same two clients still gives stays, resting on that one (a merge deletes the duplicate's
    copy of a connection the survivor has too); access to the person's own portal (a merge made the two
    one client) stays too. Returns how many ended."""
    now = now or utcnow()
    ended = 0
    for access in list(s.scalars(select(PortalAccess).where(PortalAccess.via_connection_id == connection_id,
                                                            PortalAccess.ended_at.is_(None)))):
        person = s.scalar(select(PortalUser.client_id).where(PortalUser.id == access.user_id))
        other = None if person == access.client_id else s.scalar(select(Connection.id).where(
            Connection.id != connection_id,
            or_((Connection.client_id == access.client_id) & (Connection.related_client_id == person),
                (Connection.client_id == person) & (Connection.related_client_id == access.client_id)))
            .order_by(Connection.id).limit(1))
        if person == access.client_id or other is not None:
            access.via_connection_id = other
            audit(s, access.tenant_id, actor, "portal_access", access.id, "reconnect", {"connection": other})
            continue
        end_access(s, access, now, "connection removed")
        audit(s, access.tenant_id, actor, "portal_access", access.id, "end", {"reason": "connection removed"})
        ended += 1
    s.flush()
    return ended


def stamp_sent(s: Session, row: MailOutbox, now: datetime) -> None:
    if row.invitation_id is not None:
        inv = s.get(PortalInvitation, row.invitation_id)
        if inv is not None and inv.sent_at is None:
            inv.sent_at = now


def person_name(s: Session, user: PortalUser) -> str:
    if user.client_id is not None:
        c = s.get(Client, user.client_id)
        return c.display_name if c else user.email
    k = s.get(Contact, user.contact_id)
    return k.name if k else user.email


def person_ref(s: Session, user: PortalUser) -> str | None:
    if user.client_id is not None:
        c = s.get(Client, user.client_id)
        return f"client:{c.external_id}" if c else None
    k = s.get(Contact, user.contact_id)
    return f"contact:{k.external_id}" if k else None


def visible_records(s: Session, user_id: int) -> list[dict[str, Any]]:
    accepted = set(s.scalars(select(PortalInvitation.access_id).where(PortalInvitation.status == "accepted")
                             .join(PortalAccess, PortalAccess.id == PortalInvitation.access_id)
                             .where(PortalAccess.user_id == user_id)))
    accesses = [Access(a.client_id, a.id in accepted, a.ended_at is not None)
                for a in s.scalars(select(PortalAccess).where(PortalAccess.user_id == user_id))]
    ids = visible_client_ids(accesses)
    rows = s.execute(select(Client.external_id, Client.display_name).where(Client.id.in_(ids))
                     .order_by(func.lower(Client.display_name))).all() if ids else []
    return [{"client": ext, "name": name} for ext, name in rows]
