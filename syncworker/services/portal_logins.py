"""Persist and orchestrate, failed portal logins: the rows behind the login limits (`LoginLimits` in
`domain/portal.py`, `login` in `portal.yaml`), and the operator's view of the lockouts and the way to end one.

Rows live in `portal_login_attempts`, so a restart or a second server process forgets none: failures, the
three kinds of lockout (an email from one client address, an email from unknown addresses, an address) and
the addresses an email has logged in from (`known`, which those lockouts let through). An email is kept as an
HMAC-SHA256 of its normalised form with a key derived from SYNCWORKER_SECRET_KEY, whether it has an account or
not: the limits treat both alike (so their answers say nothing about which emails have accounts), and an email
someone merely typed can be confirmed from the database only with the key. Without a key the portal's logins
refuse to run (`login_key`): a key kept in the same database would not protect against the theft this is
about, every install that syncs has one anyway, and it fails closed like the operator token. A client address
is kept as its network (`client_network`: IPv6 by /64).

A failure is recorded, and lockouts started, in one unit of work that first looks for a lockout in force: on
SQLite (one writer at a time) the limits are exact; on PostgreSQL attempts running at the same moment may each
count the failures committed before them, so a burst can make a few more guesses than a limit before the
lockout row exists, and none after it: an attempt whose write finds a lockout is answered with it even when
its password was right.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from syncworker.domain.portal import LoginLimits, PortalRefused, client_network, normalise_email
from syncworker.services.portal_store import PortalCore, audit
from syncworker.store.crypto import SecretKeyError, derived_key
from syncworker.store.models import AuditEntry, PortalLoginAttempt, PortalUser

Row = PortalLoginAttempt
_KEY_INFO = b"syncworker portal login index v1"


def login_key(secret_key: str | None) -> bytes:
    """The HMAC key for emails typed at the login, derived from SYNCWORKER_SECRET_KEY (HKDF-SHA256, a label of
    its own, so it reveals nothing about the keys that encrypt). Refused without a usable key."""
    if not secret_key:
        raise SecretKeyError("SYNCWORKER_SECRET_KEY is not set: the client portal keeps the emails typed at its "
                             "login only as keyed hashes made with it. Create one with `syncworker keygen`.")
    return derived_key(secret_key, _KEY_INFO)


def account_key(email: str, key: bytes) -> str:
    return hmac.new(key, (normalise_email(email) or "").encode("utf-8"), hashlib.sha256).hexdigest()


def _from(address: str | None) -> ColumnElement[bool]:
    return Row.address == address if address is not None else Row.address.is_(None)


def is_known(s: Session, account: str, address: str | None, now: datetime) -> bool:
    """Whether this email logged in successfully from this client address (network) lately."""
    return address is not None and s.scalar(select(Row.id).where(
        Row.kind == "known", Row.account == account, Row.address == address, Row.until > now).limit(1)) is not None


def lockout_until(s: Session, account: str, address: str | None, now: datetime) -> datetime | None:
    """The end of the lockout in force for this email from this client address (a network), if any: of the
    pair, or, unless the email logged in from this address before, of the email or of the address."""
    locks = [(Row.kind == "account_lock") & (Row.account == account) & _from(address)]
    if not is_known(s, account, address, now):
        locks.append((Row.kind == "email_lock") & (Row.account == account))
        if address is not None:
            locks.append((Row.kind == "address_lock") & (Row.address == address))
    return s.scalar(select(func.max(Row.until)).where(or_(*locks), Row.until > now))


def _failures_since_lock(s: Session, whose: ColumnElement[bool], lock_kind: str, now: datetime,
                         limits: LoginLimits) -> int:
    last_lock = s.scalar(select(func.max(Row.at)).where(Row.kind == lock_kind, whose))
    since = limits.counted_since(now, last_lock)
    return int(s.scalar(select(func.count()).select_from(Row).where(Row.kind == "failure", whose, Row.at > since))
               or 0)


def record_failure(s: Session, account: str, address: str | None, now: datetime,
                   limits: LoginLimits) -> tuple[int, list[str]]:
    """A failed login from a client address (a network): its row, and the lockouts it starts ('pair',
    'email', 'address'). Returns the email's count of failures from any address (this one included) and the
    lockouts started."""
    s.add(Row(kind="failure", account=account, address=address, at=now))
    s.flush()
    started = []
    if limits.locks_pair(_failures_since_lock(s, (Row.account == account) & _from(address), "account_lock", now,
                                              limits)):
        s.add(Row(kind="account_lock", account=account, address=address, at=now, until=now + limits.lockout))
        started.append("pair")
    failures = _failures_since_lock(s, Row.account == account, "email_lock", now, limits)
    if limits.locks_email(failures):
        s.add(Row(kind="email_lock", account=account, at=now, until=now + limits.lockout))
        started.append("email")
    if address is not None and limits.locks_address(
            _failures_since_lock(s, Row.address == address, "address_lock", now, limits)):
        s.add(Row(kind="address_lock", address=address, at=now, until=now + limits.lockout))
        started.append("address")
    return failures, started


def record_success(s: Session, account: str, address: str | None, now: datetime, limits: LoginLimits) -> None:
    """A successful login (or an accepted invitation) from a client address: the email's failures from there
    are forgotten, and the address is known to the email for `known_address_days`. Failures from elsewhere
    stay counted: someone else's guesses are not forgiven because the owner logged in."""
    s.execute(delete(Row).where(Row.account == account, _from(address),
                                Row.kind.in_(("failure", "account_lock", "known"))))
    if address is not None:
        s.add(Row(kind="known", account=account, address=address, at=now, until=now + limits.known_for))


def clear_account(s: Session, account: str) -> int:
    """An operator starts the email's count again and ends its lockouts (its known addresses stay)."""
    return int(s.execute(delete(Row).where(Row.account == account, Row.kind.not_in(("address_lock", "known"))))
               .rowcount or 0)


def prune(s: Session, now: datetime, limits: LoginLimits) -> int:
    """Forget failures past the window, lockouts ended a window ago (until then a lockout still marks where
    the next count starts) and known addresses not used for `known_address_days`."""
    return int(s.execute(delete(Row).where(or_(
        and_(Row.kind == "failure", Row.at <= now - limits.window),
        and_(Row.kind != "failure", Row.until <= now - limits.window),
        and_(Row.kind == "known", Row.until <= now)))).rowcount or 0)


def users_by_key(s: Session, accounts: set[str], key: bytes) -> dict[str, list[PortalUser]]:
    """The portal users (in any tenant) whose email has one of these keys."""
    found: dict[str, list[PortalUser]] = {}
    for user in s.scalars(select(PortalUser).order_by(PortalUser.id)):
        account = account_key(user.email, key)
        if account in accounts:
            found.setdefault(account, []).append(user)
    return found


LOCK_KINDS = {"account_lock": "email from address", "email_lock": "email", "address_lock": "address"}


class PortalLogins(PortalCore):
    """The operator's side of the login limits: which lockouts are in force, and ending one."""

    def lockouts(self) -> list[dict[str, Any]]:
        """Every lockout in force: of an email from one client address, of an email from the addresses it has
        not logged in from, or of a client address (the email shown when it is a portal user's; an email
        without an account shows none), and until when."""
        now = self.clock()
        with self.db.read() as s:
            locks = list(s.scalars(select(Row).where(Row.kind.in_(LOCK_KINDS), Row.until > now)
                                   .order_by(Row.until.desc(), Row.id)))
            # Without a key no login runs, so no email can be locked: nothing to name.
            users = users_by_key(s, {r.account for r in locks if r.account}, login_key(self.settings.secret_key)) \
                if self.settings.secret_key else {}
            rows, seen = [], set()
            for lock in locks:
                if (lock.kind, lock.account, lock.address) in seen:
                    continue
                seen.add((lock.kind, lock.account, lock.address))
                known = users.get(lock.account or "", [])
                rows.append({"kind": LOCK_KINDS[lock.kind], "email": known[0].email if known else None,
                             "account": (lock.account or "")[:12] or None, "address": lock.address,
                             "until": lock.until.isoformat() if lock.until else None})
            return rows

    def unlock(self, *, email: str | None = None, address: str | None = None, actor: str = "operator") -> dict[str, Any]:
        """End the lockouts of an email (and start its count again) or of a client address (counted as its
        network: an IPv6 address's /64). Audited in the tenants where the email is a portal user's; an
        address's, and an unknown email's, without a tenant."""
        if (email is None) == (address is None):
            raise ValueError("give either an email or a client address")
        now = self.clock()
        with self.db.session() as s:
            if email is not None:
                if not self.settings.secret_key:
                    raise PortalRefused("no_key", "SYNCWORKER_SECRET_KEY is not set, so the portal takes no logins "
                                                  "and no email can be locked out")
                key = login_key(self.settings.secret_key)
                account = account_key(email, key)
                cleared = clear_account(s, account)
                users = users_by_key(s, {account}, key).get(account, [])
                for user in users:
                    audit(s, user.tenant_id, actor, "portal_user", user.id, "login_unlocked", {"removed": cleared})
                if not users:
                    audit_login(s, actor, account[:12], "login_unlocked", {"removed": cleared})
            else:
                network = client_network(address)
                # Ended, not deleted: the lockout still marks where the address's next count starts.
                cleared = int(s.execute(update(Row).where(
                    Row.address == network, Row.kind == "address_lock", Row.until > now).values(until=now)).rowcount or 0)
                audit_login(s, actor, network or "", "address_unlocked", {"removed": cleared})
            return {"email": email, "address": address, "cleared": cleared}


def audit_login(s: Session, actor: str, entity_id: str, action: str, after: dict[str, Any]) -> None:
    """An entry about logins that belongs to no tenant (a client address, an email without an account)."""
    s.add(AuditEntry(tenant_id=None, actor=actor, origin="operator", target="local", entity="portal_login",
                     entity_id=entity_id, action=action, after=after))
