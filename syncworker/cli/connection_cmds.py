"""Client connections and client groups: `syncworker connections ...` and `syncworker groups ...`."""

from __future__ import annotations

from typing import Any

import click

from syncworker.cli.context import CommandError, emit_json, get_app, handles_errors, json_option, print_table
from syncworker.domain.connections import ConnectionRefused
from syncworker.services import connections as conn_svc
from syncworker.services import groups as group_svc
from syncworker.services.relationship_sync import sync_relationships
from syncworker.services.run_frame import RunRefused
from syncworker.services.systems import UnknownSystem, check_system
from syncworker.services.tenants import TenantError

tenant_option = click.option("--tenant", required=True, help="Tenant name.")
actor_option = click.option("--as", "actor", default="operator", show_default=True, help="Who is acting (audit).")
KNOWN = (TenantError, LookupError, ConnectionRefused, UnknownSystem)
CONN_COLUMNS = ["id", "client", "client_name", "type", "related", "related_name", "description",
                "related_description", "primary_contact"]


def _show(rows: list[dict[str, Any]] | dict[str, Any], as_json: bool, columns: list[str], title: str) -> None:
    if as_json:
        emit_json(rows)
    else:
        print_table(rows if isinstance(rows, list) else [rows], columns, title=title)


@click.group("connections")
def connections() -> None:
    """Connections between clients: one fact seen from both records (Canopy, Autosoft, XPM relationships).

    Read a connection as "RELATED is TYPE of CLIENT": `connections add ACME JO --type director` makes Jo a
    director of Acme. Types are in config/relationships.yaml.
    """


@connections.command("add")
@click.argument("client")
@click.argument("related")
@tenant_option
@click.option("--type", "type_key", default=None,
              help="Relationship type (e.g. spouse, director). Default between a business and a person: employee.")
@click.option("--description", default=None, help="How RELATED is shown on CLIENT's record (default from the type).")
@click.option("--related-description", default=None,
              help="How CLIENT is shown on RELATED's record (default from the type).")
@actor_option
@json_option
@handles_errors(*KNOWN)
def connections_add(client: str, related: str, tenant: str, type_key: str | None, description: str | None,
                    related_description: str | None, actor: str, as_json: bool) -> None:
    """Connect CLIENT and RELATED (client ids). Both records show the connection at once."""
    row = conn_svc.add_connection(get_app().database(), tenant, client, related, type_key, description=description,
                                  related_description=related_description, actor=actor)
    if as_json:
        emit_json(row)
        return
    click.echo(f"connection {row['id']}: {row['related_name']} is {row['type']} of {row['client_name']}"
               + (" (primary contact)" if row["primary_contact"] else ""))


@connections.command("list")
@tenant_option
@click.option("--client", default=None, help="Only this client's connections, as its record shows them.")
@json_option
@handles_errors(*KNOWN)
def connections_list(tenant: str, client: str | None, as_json: bool) -> None:
    """List connections."""
    rows = conn_svc.list_connections(get_app().database(), tenant, client)
    columns = ["id", "other", "other_name", "type", "shown_as", "primary_contact"] if client else CONN_COLUMNS
    _show(rows, as_json, columns, f"connections of {client}" if client else "connections")


@connections.command("remove")
@click.argument("connection_id", type=int, required=False)
@tenant_option
@click.option("--client", default=None, help="One side (with --related), instead of CONNECTION_ID.")
@click.option("--related", default=None, help="The other side.")
@click.option("--type", "type_key", default=None, help="Which connection when the two are connected several ways.")
@actor_option
@json_option
@handles_errors(*KNOWN)
def connections_remove(connection_id: int | None, tenant: str, client: str | None, related: str | None,
                       type_key: str | None, actor: str, as_json: bool) -> None:
    """Remove a connection from either side: both records lose it at once."""
    out = conn_svc.remove_connection(get_app().database(), tenant, connection_id, client_ref=client,
                                     related_ref=related, type_key=type_key, actor=actor)
    if as_json:
        emit_json(out)
        return
    r = out["removed"]
    click.echo(f"removed connection {r['id']}: {r['related_name']} / {r['client_name']} ({r['type']})")
    for p in out["primary_contacts"]:
        click.echo(f"primary contact now: {p['related_name'] if p['client'] == r['client'] else p['client_name']}")


@connections.command("primary")
@click.argument("business")
@click.argument("person")
@tenant_option
@actor_option
@json_option
@handles_errors(*KNOWN)
def connections_primary(business: str, person: str, tenant: str, actor: str, as_json: bool) -> None:
    """Make PERSON (connected to BUSINESS) the business's primary contact."""
    row = conn_svc.set_primary_contact(get_app().database(), tenant, business, person, actor)
    if as_json:
        emit_json(row)
    else:
        click.echo(f"primary contact of {business} is now {person}")


@connections.command("sync")
@tenant_option
@click.option("--system", default="xpm", show_default=True, help="External system.")
@click.option("--full", is_flag=True, help="Re-read the relationships of every linked client.")
@json_option
@handles_errors(*KNOWN)
def connections_sync(tenant: str, system: str, full: bool, as_json: bool) -> None:
    """Pull and push relationships and groups with SYSTEM (also run after link runs and syncs)."""
    app = get_app()
    try:
        report = sync_relationships(app.services(), tenant, check_system(system),
                                    full=full, trigger="operator")
    except RunRefused as exc:
        raise CommandError(f"run refused: {exc}") from None
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(f"relationship sync {report.run_id}: {report.status.upper()}"
                   + (f" - {report.message}" if report.message else ""))
        print_table([{"": k, "count": v} for k, v in sorted(report.counts.items())], title="summary")
        for title, rows in (("waiting for a link", report.waiting), ("refused by local rules", report.refused),
                            ("conflicts queued", report.conflicts), ("errors", report.errors)):
            if rows:
                print_table(rows[:15], title=title)
    if report.status == "failed":
        raise CommandError(report.message or "the relationship sync failed")


@click.group("groups")
def groups() -> None:
    """Client groups: related clients under the same ownership. A client may be in several groups."""


def _show_group(g: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(g)
        return
    members = ", ".join(f"{m['name']} ({m['id']})" for m in g["members"]) or "no members"
    click.echo(f"group {g['id']} {g['name']!r}: {members}")


@groups.command("add")
@click.argument("name")
@tenant_option
@click.option("--member", "members", multiple=True, help="A client id to add (repeat for more).")
@actor_option
@json_option
@handles_errors(*KNOWN)
def groups_add(name: str, tenant: str, members: tuple[str, ...], actor: str, as_json: bool) -> None:
    """Create group NAME, optionally with members."""
    _show_group(group_svc.add_group(get_app().database(), tenant, name, members, actor), as_json)


@groups.command("list")
@tenant_option
@click.option("--client", default=None, help="Only the groups this client is in.")
@json_option
@handles_errors(*KNOWN)
def groups_list(tenant: str, client: str | None, as_json: bool) -> None:
    """List groups and their members."""
    rows = group_svc.list_groups(get_app().database(), tenant, client)
    if as_json:
        emit_json(rows)
        return
    print_table([{"id": g["id"], "name": g["name"], "members": ", ".join(m["id"] for m in g["members"])}
                 for g in rows], ["id", "name", "members"], title="client groups")


@groups.command("members")
@click.argument("group")
@tenant_option
@click.option("--add", "add", multiple=True, help="A client id to add (repeat for more).")
@click.option("--remove", "remove", multiple=True, help="A client id to remove (repeat for more).")
@actor_option
@json_option
@handles_errors(*KNOWN)
def groups_members(group: str, tenant: str, add: tuple[str, ...], remove: tuple[str, ...], actor: str,
                   as_json: bool) -> None:
    """Show GROUP's members (id or name), after adding and removing the given clients (all or nothing)."""
    _show_group(group_svc.group_members(get_app().database(), tenant, group, add=add, remove=remove, actor=actor),
                as_json)


@groups.command("remove")
@click.argument("group")
@tenant_option
@actor_option
@json_option
@handles_errors(*KNOWN)
def groups_remove(group: str, tenant: str, actor: str, as_json: bool) -> None:
    """Delete GROUP (id or name); its clients stay."""
    out = group_svc.remove_group(get_app().database(), tenant, group, actor)
    if as_json:
        emit_json(out)
    else:
        click.echo(f"removed group {out['removed']['id']} {out['removed']['name']!r}")


commands: list[click.Command] = [connections, groups]
