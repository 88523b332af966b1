"""The client portal's rules (Canopy's client portal), as pure functions on plain data.

- Clients never join by themselves: a portal user exists only because the practice invited them, and an
  invitation is accepted only through its single-use token.
- One portal per primary client, shared by the people invited to it: the client (if a person), its contacts,
  and clients connected to it (a spouse, a dependant). A connected client may be inactive, and so not
  billable: it can still be invited, and is counted apart from the billable clients.
- Anyone invited needs an email address.
- An invitation lasts `days` (30) from when it is made; then it must be resent. A resend makes a new token
  and ends the old one at once.
- Bulk invitations are for admins only and go to the clients without portal access.
- Failed logins lock an email address (known or not, alike) and a client address for a while (`LoginLimits`).

The service layer loads rows into these shapes, asks, and writes what the answer says.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DEFAULT_INVITATION_DAYS = 30
MIN_PASSWORD_LENGTH = 10
MANAGER_STATUSES = ("invited", "accepted", "expired", "revoked")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class PortalRefused(ValueError):
    """A portal action the rules refuse. `code` is stable (for HTTP and tests), the message names the cause."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalise_email(email: str | None) -> str | None:
    """The address in the form portal logins compare (trimmed, lower-case), or None if it is not one."""
    value = (email or "").strip().lower()
    return value if _EMAIL.match(value) else None


# --- who can be invited ---
@dataclass(frozen=True)
class Primary:
    """The client whose portal it is."""

    id: int
    name: str
    kind: str  # individual, company, trust, ...
    status: str = "active"  # active, inactive, archived
    merged_into: str | None = None  # external id of the survivor, if merged


@dataclass(frozen=True)
class Person:
    """Someone who might be invited to a primary client's portal."""

    ref: str  # "client:<external id>" or "contact:<external id>"
    name: str
    email: str | None
    relation: str  # self (the primary client), contact (of the primary), connection (a connected client)
    active: bool = True  # for clients: status active (billable); contacts are never billable clients
    connection_id: int | None = None  # the connection that ties a connected client to the primary
    description: str | None = None  # how the connection is shown ("Spouse")

    @property
    def is_client(self) -> bool:
        return self.ref.startswith("client:")

    @property
    def billable(self) -> bool:
        return self.is_client and self.active


def check_primary(primary: Primary) -> None:
    if primary.merged_into:
        raise PortalRefused("merged", f"{primary.name} was merged into {primary.merged_into}: invite to that "
                                      "client's portal instead")
    if primary.status == "archived":
        raise PortalRefused("archived", f"{primary.name} is archived: archived clients have no portal")


def check_invitee(person: Person) -> str:
    """The address to send the invitation to, or a refusal naming the person."""
    if not (person.email or "").strip():
        raise PortalRefused("no_email", f"{person.name} ({person.ref}) has no email address: add one to their "
                                        "record before inviting them")
    email = normalise_email(person.email)
    if email is None:
        raise PortalRefused("bad_email", f"{person.name} ({person.ref}) has an email address that is not valid: "
                                         f"{person.email!r}")
    return email


def default_invitees(primary: Primary, people: Sequence[Person]) -> list[Person]:
    """Who "invite CLIENT" means when nobody is named: the client itself if it is a person, otherwise its
    primary contact (the first contact listed)."""
    own = [p for p in people if p.relation == "self"]
    if own:
        return own[:1]
    contacts = [p for p in people if p.relation == "contact"]
    if not contacts:
        raise PortalRefused("nobody", f"{primary.name} is not a person and has no contacts: name who to invite "
                                      "with --person")
    return contacts[:1]


def choose_invitees(primary: Primary, people: Sequence[Person], refs: Iterable[str]) -> list[Person]:
    """The people named by ref (external id, with or without the client:/contact: prefix), each of whom must
    belong to this portal: the client, its contacts or a connected client (active or not)."""
    chosen: list[Person] = []
    for ref in refs:
        matches = [p for p in people if p.ref == ref or p.ref.split(":", 1)[1] == ref]
        if not matches:
            raise PortalRefused("not_related", f"{ref} is not {primary.name}, one of its contacts or a client "
                                               "connected to it, so cannot be invited to its portal")
        if len(matches) > 1:
            raise PortalRefused("ambiguous", f"{ref} names both a client and a contact: write client:{ref} or "
                                             f"contact:{ref}")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


@dataclass(frozen=True)
class InviteCounts:
    """How many of the invited are billable clients and how many are not (inactive connections, contacts)."""

    billable: int = 0
    non_billable_clients: int = 0
    contacts: int = 0


def count_invitees(people: Iterable[Person]) -> InviteCounts:
    billable = non_billable = contacts = 0
    for p in people:
        if not p.is_client:
            contacts += 1
        elif p.billable:
            billable += 1
        else:
            non_billable += 1
    return InviteCounts(billable, non_billable, contacts)


# --- invitations over time ---
def expires_at(created: datetime, days: int = DEFAULT_INVITATION_DAYS) -> datetime:
    if days <= 0:
        raise ValueError("an invitation must last at least one day")
    return created + timedelta(days=days)


def is_expired(expiry: datetime, now: datetime) -> bool:
    return now >= expiry


def manager_status(status: str, expiry: datetime, now: datetime) -> str:
    """What the Manager shows for an invitation: invited, accepted, expired or revoked. A pending invitation
    past its expiry is expired even before the scheduled job has marked it so."""
    if status == "accepted":
        return "accepted"
    if status == "revoked":
        return "revoked"
    if status == "expired" or (status == "pending" and is_expired(expiry, now)):
        return "expired"
    if status == "superseded":
        return "expired"  # an older link; the user's status comes from their newest invitation
    return "invited"


def check_token(status: str | None, expiry: datetime | None, now: datetime) -> None:
    """Whether a token may be accepted now. None for a token nobody issued."""
    if status is None or expiry is None:
        raise PortalRefused("unknown", "This invitation link is not valid. Portal access is by invitation "
                                       "only: ask your accountant to invite you.")
    if status == "accepted":
        raise PortalRefused("used", "This invitation has already been used. Log in with the email address "
                                    "and password you chose.")
    if status == "superseded":
        raise PortalRefused("superseded", "A newer invitation was sent to you: use the link in the most "
                                          "recent email.")
    if status == "revoked":
        raise PortalRefused("revoked", "This invitation was withdrawn by your accountant.")
    if status == "expired" or is_expired(expiry, now):
        raise PortalRefused("expired", "This invitation has expired. Ask your accountant to send it again.")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PortalRefused("weak_password", f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")


# --- failed logins ---
# Limits that 0 turns off; the others are at least 1.
OPTIONAL_LOGIN_LIMITS = ("max_failures_per_email", "max_failures_per_address")


@dataclass(frozen=True)
class LoginLimits:
    """How failed logins pause logins (`portal.yaml` `login`), within `window_minutes`, for `lockout_minutes`:

    - `max_failures` for one email from one client address pause that email from that address, for everyone
      (whether or not the email has an account, so the answers do not tell which do);
    - `max_failures_per_email` from any addresses pause the email from every address that has not logged in
      to it successfully within `known_address_days` (a stranger who knows a client's email, which is no
      secret, cannot lock the client out of their usual place);
    - `max_failures_per_address` from one client address, whatever the email, pause that address likewise
      for every email it has not logged in to (an office or a mobile network behind one address keeps working
      for people who used it before); far higher than the others, as many people may share one address.

    0 turns off the last two. A lockout uses up the failures that caused it (the count starts again after it);
    a successful login forgets its email's failures from its address and makes that address known to it. An
    IPv6 address counts as its /64 and an IPv4-mapped one as the IPv4 address (`client_network`)."""

    max_failures: int = 5
    window_minutes: int = 15
    lockout_minutes: int = 15
    max_failures_per_email: int = 20
    max_failures_per_address: int = 100
    known_address_days: int = 90

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @property
    def lockout(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)

    @property
    def known_for(self) -> timedelta:
        return timedelta(days=self.known_address_days)

    def counted_since(self, now: datetime, last_lock: datetime | None) -> datetime:
        """Failures after this moment count: those within the window, and none a lockout already used."""
        start = now - self.window
        return max(start, last_lock) if last_lock is not None else start

    def locks_pair(self, failures: int) -> bool:
        return failures >= self.max_failures

    def locks_email(self, failures: int) -> bool:
        return bool(self.max_failures_per_email) and failures >= self.max_failures_per_email

    def locks_address(self, failures: int) -> bool:
        return bool(self.max_failures_per_address) and failures >= self.max_failures_per_address


def client_network(address: str | None) -> str | None:
    """A client address as the login limits count it: an IPv6 address by its /64 (a subscriber normally holds
    a whole /64, so each guess could come from a new address), an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`)
    as the IPv4 address, an address written as a network by the network's first address; anything that is
    not an IP address as it is."""
    if address is None or not address.strip():
        return None
    text = address.strip().lower()
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = (
            ipaddress.ip_network(text, strict=False).network_address if "/" in text else ipaddress.ip_address(text))
    except ValueError:
        return text[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginLocked(PortalRefused):
    """Logins are paused for this email (from this client address) or for this address. The same words whether
    the email has an account or not, and the password is not looked at (a right one would be refused too)."""

    def __init__(self, until: datetime, now: datetime) -> None:
        self.until = until
        self.retry_after = max(1, math.ceil((until - now).total_seconds()))
        minutes = math.ceil(self.retry_after / 60)
        super().__init__("locked", "Too many failed attempts to log in. For your security, logging in is paused: "
                                   f"try again in {minutes} minute{'' if minutes == 1 else 's'}.")


@dataclass(frozen=True)
class ResendPlan:
    old_status: str  # what the old invitation becomes
    new_expires_at: datetime


def plan_resend(status: str, now: datetime, days: int = DEFAULT_INVITATION_DAYS) -> ResendPlan:
    """A resend ends the old invitation (its link stops working) and issues a new token lasting `days`."""
    if status == "accepted":
        raise PortalRefused("accepted", "the invitation was already accepted: the user has portal access")
    if status == "revoked":
        raise PortalRefused("revoked", "the invitation was revoked: invite the person again instead")
    if status == "superseded":
        raise PortalRefused("superseded", "a newer invitation exists: resend that one")
    return ResendPlan(old_status="superseded", new_expires_at=expires_at(now, days))


def due_for_reminder(status: str, expiry: datetime, reminded: datetime | None, now: datetime,
                     remind_days_before: int | None) -> bool:
    """A pending invitation gets one reminder once it is within `remind_days_before` days of expiring."""
    if not remind_days_before or status != "pending" or reminded is not None or is_expired(expiry, now):
        return False
    return now >= expiry - timedelta(days=remind_days_before)


# --- who may see what ---
@dataclass(frozen=True)
class Access:
    """A user's access to one portal: `accepted` once they accepted an invitation to it, `ended` once revoked
    or once the connection that gave it was removed."""

    client_id: int
    accepted: bool = True
    ended: bool = False


def visible_client_ids(accesses: Iterable[Access]) -> list[int]:
    """The client records a user can see: those of every portal whose invitation they accepted and whose
    access has not ended. Being invited is not enough: until accepted, that portal shows nothing."""
    return sorted({a.client_id for a in accesses if a.accepted and not a.ended})


def may_see(accesses: Iterable[Access], client_id: int) -> bool:
    return client_id in visible_client_ids(accesses)


# --- bulk invitations (the Client Portal Manager) ---
def check_admin(actor: str, admins: Iterable[str]) -> None:
    admins = [a.strip().lower() for a in admins]
    if not admins:
        raise PortalRefused("no_admins", "bulk invitations are for admins only and this tenant has none: add one "
                                         "with `syncworker portal admins add NAME --tenant T`")
    if actor.strip().lower() not in admins:
        raise PortalRefused("not_admin", f"{actor} is not a portal admin of this tenant: bulk invitations are "
                                         "for admins only")


@dataclass(frozen=True)
class BulkCandidate:
    primary: Primary
    has_portal: bool  # somebody holds open access or an invitation still pending
    invitee: Person | None


@dataclass
class BulkPlan:
    invite: list[BulkCandidate] = field(default_factory=list)
    skipped: list[tuple[BulkCandidate, str]] = field(default_factory=list)  # (candidate, reason)


def plan_bulk(candidates: Iterable[BulkCandidate]) -> BulkPlan:
    """Clients without portal access get an invitation to their own portal; clients that cannot (no person,
    no email, archived, merged) are listed with the reason."""
    plan = BulkPlan()
    for c in candidates:
        if c.has_portal:
            continue
        try:
            check_primary(c.primary)
            if c.invitee is None:
                raise PortalRefused("nobody", f"{c.primary.name} is not a person and has no contacts")
            check_invitee(c.invitee)
        except PortalRefused as exc:
            plan.skipped.append((c, str(exc)))
            continue
        plan.invite.append(c)
    return plan
