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
import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from syncworker.domain.portal import PortalRefused, check_password, check_token, normalise_email
from syncworker.services.portal_store import PortalCore, audit, token_hash, visible_records
from syncworker.store.models import Client, PortalAccess, PortalInvitation, PortalUser

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
            audit(s, inv.tenant_id, f"portal:{user.id}", "portal_invitation", inv.id, "accept")
            return {"email": user.email, "records": visible_records(s, user.id)}

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
                    return {"email": user.email, "records": visible_records(s, user.id)}
        raise PortalRefused("login", "Wrong email address or password.")

