"""The client portal: `syncworker portal invite|resend|revoke|list|accept|admins|maintain|lockouts|unlock`."""

from __future__ import annotations

from typing import Any

import click

from syncworker.cli.context import emit_json, get_app, handles_errors, json_option, print_table
from syncworker.config import ConfigError
from syncworker.domain.portal import MANAGER_STATUSES, PortalRefused
from syncworker.services.tenants import TenantError
from syncworker.store.crypto import SecretKeyError

KNOWN = (TenantError, LookupError, PortalRefused, ConfigError, SecretKeyError)
tenant_option = click.option("--tenant", required=True, help="Tenant name.")
actor_option = click.option("--as", "actor", default="operator", show_default=True,
                            help="Who is acting (audit; bulk invitations need a portal admin).")
message_option = click.option("--message", default=None, help="The practice's own words, shown in the email.")
INVITE_COLUMNS = ["access", "invitation", "portal", "person", "name", "email", "relation", "billable", "expires", "mail"]
LIST_COLUMNS = ["access", "name", "email", "portal", "status", "sent", "expires", "last_login", "records"]


def portal_service() -> Any:
    from syncworker.services.portal import PortalService

    return PortalService.from_context(get_app().services())


def _mail_line(mail: dict[str, int]) -> str:
    line = f"mail: {mail['sent']} sent"
    if mail.get("retrying"):
        line += f", {mail['retrying']} waiting for the mail server (retried by `syncworker run` or `portal maintain`)"
    if mail.get("failed"):
        line += f", {mail['failed']} failed"
    if mail.get("interrupted"):
        line += (f", {mail['interrupted']} sent again after a sender stopped mid-send (the recipient may get it "
                 "twice, with the same Message-ID)")
    return line


@click.group("portal")
def portal() -> None:
    """Canopy's client portal: invitations by email (30 days, then resend), one portal per primary client
    shared with its contacts and connected clients (even inactive ones), and the Client Portal Manager."""


@portal.command("invite")
@click.argument("client", required=False)
@tenant_option
@click.option("--person", "persons", multiple=True,
              help="Who to invite (repeatable): the client, one of its contacts or a connected client, by id. "
                   "Default: the client itself, or a business's primary contact.")
@click.option("--without-portal", is_flag=True,
              help="Bulk (admins only): invite every active client that has no portal access yet.")
@message_option
@actor_option
@json_option
@handles_errors(*KNOWN)
def portal_invite(client: str | None, tenant: str, persons: tuple[str, ...], without_portal: bool,
                  message: str | None, actor: str, as_json: bool) -> None:
    """Invite people to CLIENT's portal, or with --without-portal every client without one."""
    if without_portal == bool(client):
        raise click.UsageError("give either CLIENT or --without-portal")
    if without_portal and persons:
        raise click.UsageError("--person goes with CLIENT, not with --without-portal")
    svc = portal_service()
    out = (svc.invite_without_portal(tenant, actor=actor, message=message) if without_portal
           else svc.invite(tenant, client, persons, message=message, actor=actor))
    if as_json:
        emit_json(out)
        return
    print_table(out["invited"], INVITE_COLUMNS, title="invited")
    for skip in out.get("skipped", []):
        click.echo(f"skipped {skip['client']} ({skip['name']}): {skip['reason']}")
    counts = out["counts"]
    click.echo(f"{counts['billable']} billable client(s), {counts['non_billable_clients']} inactive client(s) "
               f"(not billable), {counts['contacts']} contact(s); {_mail_line(out['mail'])}")


@portal.command("resend")
@click.argument("access", type=int, required=False)
@tenant_option
@click.option("--expired", "all_expired", is_flag=True,
              help="Bulk (admins only): resend every invitation that has expired.")
@message_option
@actor_option
@json_option
@handles_errors(*KNOWN)
def portal_resend(access: int | None, tenant: str, all_expired: bool, message: str | None, actor: str,
                  as_json: bool) -> None:
    """Send a new invitation for ACCESS (an id from `portal list`), or with --expired for every expired one:
    a new link valid for 30 days; the old one stops working at once."""
    if all_expired == (access is not None):
        raise click.UsageError("give either ACCESS or --expired")
    svc = portal_service()
    if all_expired:
        out = svc.resend_expired(tenant, actor=actor, message=message)
        if as_json:
            emit_json(out)
        else:
            print_table(out["resent"], ["access", "invitation", "replaces", "email", "expires", "mail"], title="resent")
            click.echo(_mail_line(out["mail"]))
        return
    out = svc.resend(tenant, access, actor=actor, message=message)
    if as_json:
        emit_json(out)
        return
    click.echo(f"invitation {out['invitation']} sent to {out['email']} (replaces {out['replaces']}), "
               f"expires {out['expires']}; mail {out['mail']}")


@portal.command("revoke")
@click.argument("access", type=int)
@tenant_option
@actor_option
@json_option
@handles_errors(*KNOWN)
def portal_revoke(access: int, tenant: str, actor: str, as_json: bool) -> None:
    """End ACCESS (an id from `portal list`): the user no longer sees that portal, a pending link stops
    working and an unsent email is dropped."""
    out = portal_service().revoke(tenant, access, actor=actor)
    if as_json:
        emit_json(out)
    else:
        click.echo(f"access {out['access']} revoked")


@portal.command("list")
@tenant_option
@click.option("--status", type=click.Choice(MANAGER_STATUSES), help="Only users in this state.")
@json_option
@handles_errors(*KNOWN)
def portal_list(tenant: str, status: str | None, as_json: bool) -> None:
    """The Client Portal Manager: each user and portal with status, sent, expires, last login and the client
    records the user can see."""
    rows = portal_service().list(tenant, status)
    if as_json:
        emit_json(rows)
        return
    shown = [r | {"records": ", ".join(f"{x['client']} ({x['name']})" for x in r["records"]) or "-"} for r in rows]
    print_table(shown, LIST_COLUMNS, title="portal users")


@portal.command("accept")
@click.argument("token")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="A new user's password (10 characters or more), or a returning user's own.")
@json_option
@handles_errors(*KNOWN)
def portal_accept(token: str, password: str, as_json: bool) -> None:
    """Accept an invitation with the TOKEN from its link (what GET/POST /portal/accept/TOKEN does)."""
    out = portal_service().accept(token, password)
    if as_json:
        emit_json(out)
        return
    click.echo(f"welcome, {out['email']}: you can see " + (", ".join(r["name"] for r in out["records"]) or "nothing yet"))


@portal.command("maintain")
@json_option
@handles_errors(*KNOWN)
def portal_maintain(as_json: bool) -> None:
    """Do the scheduled upkeep now: expire invitations past 30 days, send reminders, retry waiting mail."""
    out = portal_service().maintain()
    if as_json:
        emit_json(out)
    else:
        click.echo(f"{out['expired']} expired, {out['reminded']} reminded; {_mail_line(out)}")


@portal.command("lockouts")
@json_option
@handles_errors(*KNOWN)
def portal_lockouts(as_json: bool) -> None:
    """Logins paused after too many failed attempts (`login` in portal.yaml): for an email from one client
    address, for an email from addresses it has not logged in from (the email shown when it is a portal
    user's), or for a client address, and until when."""
    rows = portal_service().lockouts()
    if as_json:
        emit_json(rows)
        return
    print_table([r | {"email": r["email"] or ("(no account) " + str(r["account"]) if r["kind"] != "address" else "")}
                 for r in rows], ["kind", "email", "address", "until"], title="login lockouts")


@portal.command("unlock")
@click.argument("email", required=False)
@click.option("--address", default=None,
              help="A client address (from `portal lockouts`; an IPv6 address stands for its /64) instead of an email.")
@actor_option
@json_option
@handles_errors(*KNOWN)
def portal_unlock(email: str | None, address: str | None, actor: str, as_json: bool) -> None:
    """End the lockout of EMAIL (its count of failed logins starts again), or of a client --address."""
    if (email is None) == (address is None):
        raise click.UsageError("give either EMAIL or --address")
    out = portal_service().unlock(email=email, address=address, actor=actor)
    if as_json:
        emit_json(out)
    else:
        click.echo(f"{email or address}: logins allowed again ({out['cleared']} record(s) cleared)")


@portal.group("admins")
def admins() -> None:
    """Who may send bulk invitations (the names they act under with --as or X-Operator)."""


def _admins_command(name: str, remove: bool) -> click.Command:
    @admins.command(name)
    @click.argument("admin")
    @tenant_option
    @json_option
    @handles_errors(*KNOWN)
    def command(admin: str, tenant: str, as_json: bool) -> None:
        current = portal_service().set_admin(tenant, admin, remove=remove)
        if as_json:
            emit_json(current)
        else:
            click.echo("portal admins: " + (", ".join(current) or "none"))

    command.__doc__ = f"{'Remove' if remove else 'Add'} a portal admin."
    return command


_admins_command("add", remove=False)
_admins_command("remove", remove=True)

commands: list[click.Command] = [portal]
