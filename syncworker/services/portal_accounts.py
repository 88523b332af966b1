"""Orchestrate, the invitee's side: what an invitation link shows, accepting it (once only) with a new or the
existing password, and logging in. Passwords are scrypt from the standard library.

A token is looked up by its SHA-256 (so the lookup reveals nothing about how much of a guess was right) and
accepted by a compare-and-swap from `pending` to `accepted`, so it works exactly once even when clicked
twice at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from syncworker.domain.portal import (
    LoginLocked,
    PortalRefused,
    check_password,
    check_token,
    client_network,
    normalise_email,
)
from syncworker.services.portal_logins import (
    account_key,
    audit_login,
    lockout_until,
    login_key,
    record_failure,
    record_success,
)
from syncworker.services.portal_store import PortalCore, audit, token_hash, visible_records
from syncworker.store.models import Client, PortalAccess, PortalInvitation, PortalUser

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
log = logging.getLogger(__name__)


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


class PortalAccounts(PortalCore):
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

    def accept(self, token: str, password: str, address: str | None = None) -> dict[str, Any]:
        """Accept an invitation: a new user chooses a password, a returning one confirms theirs. Once only. A
        returning user's password is checked under the same login limits, and failures are counted and audited
        the same way, as at `login`: the link is a second place to try passwords, not a way around a lockout."""
        now = self.clock()
        network = client_network(address)
        with self.db.session() as s:
            inv = self._by_token(s, token)
            check_token(inv.status, inv.expires_at, now)
            key = login_key(self.settings.secret_key)
            access = s.get(PortalAccess, inv.access_id)
            assert access is not None
            user = s.get(PortalUser, access.user_id)
            assert user is not None
            account = account_key(user.email, key)
            wrong = False
            if user.password_hash is None:
                check_password(password)
                user.password_hash = hash_password(password)
            elif (until := lockout_until(s, account, network, now)) is not None:
                raise LoginLocked(until, now)
            else:
                wrong = not password_matches(password, user.password_hash)
            if not wrong:
                taken = s.execute(update(PortalInvitation).where(PortalInvitation.id == inv.id,
                                                                 PortalInvitation.status == "pending")
                                  .values(status="accepted", accepted_at=now)).rowcount
                if taken != 1:
                    check_token("accepted", inv.expires_at, now)
                user.accepted_at = user.accepted_at or now
                user.last_login_at = now
                record_success(s, account, network, now, self.config.login)  # the password or token proved it
                audit(s, inv.tenant_id, f"portal:{user.id}", "portal_invitation", inv.id, "accept", {"client": address})
                return {"email": user.email, "records": visible_records(s, user.id)}
            user_id = user.id
        with self.db.session() as s:
            until = lockout_until(s, account, network, now) or self._failed(s, account, address, now, [user_id])
        if until is not None:
            raise LoginLocked(until, now)
        raise PortalRefused("wrong_password", "That is not the password of this portal account.")

    def login(self, email: str, password: str, address: str | None = None) -> dict[str, Any]:
        """Check a portal user's password and record the login. The same answer for an unknown email and a wrong
        password, and the same pause after too many failures (`LoginLimits`: of the email from this client
        `address`, of the email, of the address). Logins, failures and lockouts are audited in the tenants
        where the email has an account, with the client address and never the password."""
        now = self.clock()
        network = client_network(address)
        wanted = normalise_email(email) or ""
        key = account_key(wanted, login_key(self.settings.secret_key))
        with self.db.read() as s:  # the password is checked outside any transaction: scrypt takes a while
            until = lockout_until(s, key, network, now)
            users = list(s.execute(select(PortalUser.id, PortalUser.password_hash).where(
                PortalUser.email == wanted, PortalUser.password_hash.is_not(None))).all())
        if until is not None:
            log.info("portal login refused: paused after too many failed attempts", extra={"client_host": address})
            raise LoginLocked(until, now)
        matched = None
        for user_id, stored in users or [(None, None)]:
            if password_matches(password, stored) and user_id is not None:
                matched = user_id
                break
        with self.db.session() as s:
            until = lockout_until(s, key, network, now)  # one that an attempt running beside this one started
            if until is None and matched is not None:
                user = s.get(PortalUser, matched)
                assert user is not None
                user.last_login_at = now
                record_success(s, key, network, now, self.config.login)
                audit(s, user.tenant_id, f"portal:{user.id}", "portal_user", user.id, "login", {"client": address})
                return {"email": user.email, "records": visible_records(s, user.id)}
            if until is None:
                until = self._failed(s, key, address, now, [user_id for user_id, _ in users])
        if until is not None:
            raise LoginLocked(until, now)
        raise PortalRefused("login", "Wrong email address or password.")

    def _failed(self, s: Session, key: str, address: str | None, now: datetime,
                user_ids: list[int]) -> datetime | None:
        """Record a failed login and audit it; the end of a lockout it started that holds this attempt."""
        limits = self.config.login
        network = client_network(address)
        failures, started = record_failure(s, key, network, now, limits)
        until = lockout_until(s, key, network, now) if started else None
        ends = (now + limits.lockout).isoformat()
        for user_id in user_ids:
            user = s.get(PortalUser, user_id)
            assert user is not None
            audit(s, user.tenant_id, "portal login", "portal_user", user.id, "login_failed",
                  {"client": address, "failures": failures})
            for kind in ("pair", "email"):
                if kind in started:
                    audit(s, user.tenant_id, "portal login", "portal_user", user.id, "login_locked",
                          {"client": address, "until": ends, "lock": kind})
        if "address" in started:
            audit_login(s, "portal login", network or "", "address_locked", {"until": ends})
        if started:
            log.warning("portal logins paused after too many failed attempts",
                        extra={"client_host": address, "locked": ",".join(started)})
        return until
