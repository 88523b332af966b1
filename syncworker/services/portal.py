"""Client portal use cases (Canopy's client portal): invite one person or, for admins, every client without a
portal; resend; revoke; the Client Portal Manager's list; accepting an invitation and logging in; and the
scheduled upkeep (expire, remind, deliver mail). The rules are in `syncworker.domain.portal`; this module
loads rows, asks the rules, writes and audits.

Tokens: 32 random bytes, sent only in the email; the database keeps their SHA-256. A token is looked up by
that hash (so the lookup reveals nothing about how much of a guess was right) and accepted by a
compare-and-swap from `pending` to `accepted`, so it works exactly once even when clicked twice at once.
Emails go through the outbox (`services/mail.py`) in the same transaction as the invitation they carry.

Where each part lives: `services/portal_invites.py` (invite, resend, revoke, upkeep),
`services/portal_accounts.py` (accept, login, passwords), `services/portal_logins.py` (failed logins and
lockouts), `services/portal_manager.py` (the Manager's list, admins), `services/portal_store.py` (the rows, tokens, and the hooks for merges and connections). This
module is the configuration, the one `PortalService` they make up, and the scheduled upkeep.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from syncworker.config import ConfigError, config_file, load_yaml_config, read_yaml
from syncworker.domain.portal import (
    DEFAULT_INVITATION_DAYS,
    OPTIONAL_LOGIN_LIMITS,
    LoginLimits,
    PortalRefused,
)
from syncworker.services.context import ServiceContext
from syncworker.services.portal_accounts import PortalAccounts, hash_password, password_matches
from syncworker.services.portal_invites import TEMPLATES, PortalInvitations
from syncworker.services.portal_logins import PortalLogins
from syncworker.services.portal_manager import PortalManager
from syncworker.services.portal_store import (
    end_connection_access,
    move_client_portals,
    move_contact_users,
    new_token,
    token_hash,
)
from syncworker.store.types import utcnow

__all__ = ["TEMPLATES", "PortalConfig", "PortalRefused", "PortalService", "end_connection_access", "hash_password",
           "move_client_portals", "move_contact_users", "new_token", "password_matches", "schedule_upkeep",
           "token_hash", "upkeep"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortalConfig:
    invitation_days: int = DEFAULT_INVITATION_DAYS
    remind_days_before: int = 3
    maintenance_minutes: int = 5
    mail_from: str = "Client portal <portal@localhost>"
    max_attempts: int = 10
    # The reverse proxies in front of `syncworker serve`, whose X-Forwarded-For names the client: addresses
    # or networks. The client address counts failed portal logins and is written in the audit of sign-ins.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    login: LoginLimits = LoginLimits()

    @classmethod
    def load(cls, path: Path | None = None) -> PortalConfig:
        """The portal's settings from `path` (the settings' own config folder's portal.yaml), else from the
        config folder in force (SYNCWORKER_CONFIG_DIR or the bundled default)."""
        where = path or config_file("portal.yaml")
        raw = read_yaml(where) if path is not None else load_yaml_config("portal.yaml")
        mail_raw = raw.get("mail") or {}
        values = {"invitation_days": raw.get("invitation_days", cls.invitation_days),
                  "remind_days_before": raw.get("remind_days_before", cls.remind_days_before),
                  "maintenance_minutes": raw.get("maintenance_minutes", cls.maintenance_minutes),
                  "max_attempts": mail_raw.get("max_attempts", cls.max_attempts)}
        for key, value in values.items():
            _whole(where, key, value, 0 if key == "remind_days_before" else 1)
        login_raw = raw.get("login") or {}
        limits = {key: _whole(where, f"login.{key}", login_raw.get(key, default),
                              0 if key in OPTIONAL_LOGIN_LIMITS else 1)
                  for key, default in vars(LoginLimits()).items()}
        sender = str(mail_raw.get("from", cls.mail_from))
        if "@" not in parseaddr(sender)[1]:
            raise ConfigError(f"invalid setting mail.from in {where}: {sender!r} has no email address")
        proxies = raw.get("trusted_proxies", list(cls.trusted_proxies)) or []
        if not isinstance(proxies, list) or not all(_network(p) for p in proxies):
            raise ConfigError(f"invalid setting trusted_proxies in {where}: {proxies!r} is not a list of IP "
                              "addresses or networks")
        return cls(mail_from=sender, trusted_proxies=tuple(str(p) for p in proxies), login=LoginLimits(**limits),
                   **values)

    @property
    def sender_domain(self) -> str:
        return parseaddr(self.mail_from)[1].rsplit("@", 1)[1]

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(n for n in map(_network, self.trusted_proxies) if n is not None)


def _whole(where: Path, key: str, value: object, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigError(f"invalid setting {key} in {where}: {value!r} is not a whole number of {least} or more")
    return value


def _network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return None


class PortalService(PortalInvitations, PortalAccounts, PortalManager, PortalLogins):
    """The portal's use cases for one database, with the mail transport and the clock injected: invitations,
    the invitee's side, the Manager's views and the login lockouts (each in its own module, over `PortalCore`)."""


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
