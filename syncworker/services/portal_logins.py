"""Persist and orchestrate, failed portal logins: the rows behind the login limits (`LoginLimits` in
`domain/portal.py`, `login` in `portal.yaml`), and the operator's view of the lockouts and the way to end one.

Rows live in `portal_login_attempts`, so a restart or a second server process forgets none. An email is kept
as the SHA-256 of its normalised form, whether it has an account or not: the limit treats both alike (so its
answers say nothing about which emails have accounts) and an address someone merely typed is not stored in the
clear. A failure is recorded, and a lockout started, in one unit of work that first looks for a lockout in
force: on SQLite (one writer at a time) the limit is exact; on PostgreSQL attempts running at the same moment
may each count the failures committed before them, so a burst can make a few more guesses than the limit
before the lockout row exists, and none after it: an attempt whose write finds a lockout is answered with it
even when its password was right.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from syncworker.domain.portal import LoginLimits, normalise_email
from syncworker.services.portal_store import PortalCore, audit
from syncworker.store.models import AuditEntry, PortalLoginAttempt, PortalUser

Row = PortalLoginAttempt


def account_key(email: str) -> str:
    return hashlib.sha256((normalise_email(email) or "").encode("utf-8")).hexdigest()


def lockout_until(s: Session, account: str, address: str | None, now: datetime) -> datetime | None:
    """The end of a lockout in force for this email or client address, if any (the later of the two)."""
    mine = (Row.kind == "account_lock") & (Row.account == account)
    if address is not None:
        mine = or_(mine, (Row.kind == "address_lock") & (Row.address == address))
    return s.scalar(select(func.max(Row.until)).where(mine, Row.until > now))


def _failures_since_lock(s: Session, column: Any, value: str, lock_kind: str, now: datetime,
                         limits: LoginLimits) -> int:
    last_lock = s.scalar(select(func.max(Row.at)).where(Row.kind == lock_kind, column == value))
    since = limits.counted_since(now, last_lock)
    return int(s.scalar(select(func.count()).select_from(Row).where(
        Row.kind == "failure", column == value, Row.at > since)) or 0)


def record_failure(s: Session, account: str, address: str | None, now: datetime,
                   limits: LoginLimits) -> tuple[int, list[str]]:
    """A failed login: its row, and the lockouts it starts ('account', 'address'). Returns the email's count
    of failures (this one included) and the lockouts started."""
    s.add(Row(kind="failure", account=account, address=address, at=now))
    s.flush()
    started = []
    failures = _failures_since_lock(s, Row.account, account, "account_lock", now, limits)
    if limits.locks_account(failures):
        s.add(Row(kind="account_lock", account=account, address=address, at=now, until=now + limits.lockout))
        started.append("account")
    if address is not None and limits.locks_address(
            _failures_since_lock(s, Row.address, address, "address_lock", now, limits)):
        s.add(Row(kind="address_lock", address=address, at=now, until=now + limits.lockout))
        started.append("address")
    return failures, started


def clear_account(s: Session, account: str) -> int:
    """A successful login (or an operator) starts the email's count again and ends its lockout."""
    return int(s.execute(delete(Row).where(Row.account == account, Row.kind != "address_lock")).rowcount or 0)


def prune(s: Session, now: datetime, limits: LoginLimits) -> int:
    """Forget failures past the window and lockouts ended a window ago (until then a lockout still marks
    where the next count starts)."""
    return int(s.execute(delete(Row).where(or_(
        and_(Row.kind == "failure", Row.at <= now - limits.window),
        and_(Row.kind != "failure", Row.until <= now - limits.window)))).rowcount or 0)


def users_by_key(s: Session, accounts: set[str]) -> dict[str, list[PortalUser]]:
    """The portal users (in any tenant) whose email has one of these keys."""
    found: dict[str, list[PortalUser]] = {}
    for user in s.scalars(select(PortalUser).order_by(PortalUser.id)):
        key = account_key(user.email)
        if key in accounts:
            found.setdefault(key, []).append(user)
    return found


class PortalLogins(PortalCore):
    """The operator's side of the login limits: which lockouts are in force, and ending one."""

    def lockouts(self) -> list[dict[str, Any]]:
        """Every lockout in force: an email's (with the email when it is a portal user's; an email without an
        account shows none) or a client address's, until when, and the failures behind it."""
        now = self.clock()
        with self.db.read() as s:
            locks = list(s.scalars(select(Row).where(Row.kind != "failure", Row.until > now)
                                   .order_by(Row.until.desc(), Row.id)))
            users = users_by_key(s, {r.account for r in locks if r.account})
            rows, seen = [], set()
            for lock in locks:
                kind = "email" if lock.kind == "account_lock" else "address"
                key = lock.account if kind == "email" else lock.address
                if (kind, key) in seen:
                    continue
                seen.add((kind, key))
                known = users.get(lock.account or "", [])
                rows.append({"kind": kind, "email": known[0].email if known else None,
                             "account": (lock.account or "")[:12] or None, "address": lock.address,
                             "until": lock.until.isoformat() if lock.until else None})
            return rows

    def unlock(self, *, email: str | None = None, address: str | None = None, actor: str = "operator") -> dict[str, Any]:
        """End the lockout of an email (and start its count again) or of a client address. Audited in the
        tenants where the email is a portal user's; an address's, and an unknown email's, without a tenant."""
        if (email is None) == (address is None):
            raise ValueError("give either an email or a client address")
        now = self.clock()
        with self.db.session() as s:
            if email is not None:
                key = account_key(email)
                cleared = clear_account(s, key)
                users = users_by_key(s, {key}).get(key, [])
                for user in users:
                    audit(s, user.tenant_id, actor, "portal_user", user.id, "login_unlocked", {"removed": cleared})
                if not users:
                    audit_login(s, actor, key[:12], "login_unlocked", {"removed": cleared})
            else:
                assert address is not None
                # Ended, not deleted: the lockout still marks where the address's next count starts.
                cleared = int(s.execute(update(Row).where(
                    Row.address == address, Row.kind == "address_lock", Row.until > now).values(until=now)).rowcount or 0)
                audit_login(s, actor, address, "address_unlocked", {"removed": cleared})
            return {"email": email, "address": address, "cleared": cleared}


def audit_login(s: Session, actor: str, entity_id: str, action: str, after: dict[str, Any]) -> None:
    """An entry about logins that belongs to no tenant (a client address, an email without an account)."""
    s.add(AuditEntry(tenant_id=None, actor=actor, origin="operator", target="local", entity="portal_login",
                     entity_id=entity_id, action=action, after=after))
