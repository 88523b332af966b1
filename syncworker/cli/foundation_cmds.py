"""Database, tenants, imports, clients and runs."""

from __future__ import annotations

from pathlib import Path

import click

from syncworker.cli.context import (
    CommandError,
    emit_json,
    get_app,
    handles_errors,
    json_option,
    print_record,
    print_table,
)
from syncworker.services import queries
from syncworker.services.files import FileUnreadable
from syncworker.services.importer import ImportRejected, import_clients, import_contacts
from syncworker.services.systems import SYSTEMS
from syncworker.services.tenants import TenantError, add_tenant, list_tenants
from syncworker.store.crypto import generate_key


@click.group()
def db() -> None:
    """Create and migrate the database schema."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade(revision: str) -> None:
    """Bring the schema up to date (safe to run repeatedly)."""
    database = get_app().database(require_current=False)
    database.upgrade(revision)
    if database.dialect == "postgresql":  # scale-out: the job queue's tables live in the same database
        from syncworker.jobs.procrastinate_executor import install_schema

        if install_schema(database):
            click.echo("job queue (Procrastinate) tables installed")
    click.echo(f"database at revision {database.current_revision()} ({get_app().settings.database_path_hint()})")


@db.command()
@click.option("--revision", default="base", show_default=True, help="Target revision.")
@click.confirmation_option(prompt="Downgrading drops tables and their data. Continue?")
def downgrade(revision: str) -> None:
    """Migrate the schema down (destructive)."""
    database = get_app().database(require_current=False)
    database.downgrade(revision)
    click.echo(f"database at revision {database.current_revision() or 'base'}")


@db.command()
@json_option
def current(as_json: bool) -> None:
    """Show the schema revision and whether it is current."""
    database = get_app().database(require_current=False)
    info = {"current": database.current_revision(), "head": database.head_revision(),
            "database": get_app().settings.database_path_hint()}
    emit_json(info) if as_json else print_record(info)


@click.command()
def keygen() -> None:
    """Print a new key for SYNCWORKER_SECRET_KEY (encrypts credentials at rest)."""
    click.echo(generate_key())


@click.group()
def tenants() -> None:
    """Practices served by this worker."""


@tenants.command("add")
@click.argument("name")
@json_option
@handles_errors(TenantError)
def tenants_add(name: str, as_json: bool) -> None:
    """Add a tenant (a practice)."""
    tenant = add_tenant(get_app().database(), name)
    emit_json({"id": tenant.id, "name": tenant.name}) if as_json else click.echo(f"tenant {tenant.name!r} added (id {tenant.id})")


@tenants.command("list")
@json_option
def tenants_list(as_json: bool) -> None:
    """List tenants with their client counts and connected systems."""
    rows = list_tenants(get_app().database())
    emit_json(rows) if as_json else print_table(rows, title="tenants")


@tenants.command("unblock")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also release a lease whose holder still looks alive (a lost machine).")
@json_option
@handles_errors(TenantError)
def tenants_unblock(name: str, force: bool, as_json: bool) -> None:
    """Release the tenant's lease if the run holding it died (or, with --force, whatever holds it)."""
    from syncworker.services.locks import unblock_tenant

    app = get_app()
    result = unblock_tenant(app.database(), name, app.settings.lock_ttl_seconds, force=force, actor="cli")
    if as_json:
        emit_json(result)
    elif result["still_busy_with_run"]:
        raise CommandError(f"tenant {name!r} is busy with run {result['still_busy_with_run']}, whose process is "
                           "alive; wait for it, or use --force if that process is known to be gone")
    else:
        click.echo(f"tenant {name!r} is free ({result['released']} lease(s) released)")


@tenants.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@handles_errors(TenantError)
def tenants_remove(name: str, yes: bool, as_json: bool) -> None:
    """Delete tenant NAME and all its data (clients, contacts, links, records cache, runs, credentials).
    Refused while one of its runs is in progress. Its audit entries stay; the removal is audited."""
    from syncworker.services.tenants import remove_tenant

    if not yes:
        click.confirm(f"Delete tenant {name!r} and all its data for good?", abort=True)
    result = remove_tenant(get_app().database(), name, actor="cli")
    emit_json(result) if as_json else click.echo(
        f"tenant {name!r} removed ({result['clients']} clients; systems: {', '.join(result['systems']) or 'none'})")


@click.command()
@click.argument("tenant")
@click.option("--system", required=True, type=click.Choice(SYSTEMS))
@json_option
@handles_errors(TenantError)
def disconnect(tenant: str, system: str, as_json: bool) -> None:
    """Forget TENANT's stored tokens for SYSTEM (its links stay). Runs then say "not connected" until
    `syncworker connect SYSTEM --tenant TENANT` is run again."""
    from syncworker.services.tenants import disconnect_system

    done = disconnect_system(get_app().database(), tenant, system, actor="cli")
    if as_json:
        emit_json({"tenant": tenant, "system": system, "disconnected": done})
    else:
        click.echo(f"{tenant!r} disconnected from {system} (links kept)" if done
                   else f"{tenant!r} was not connected to {system}")


@click.group("import")
def import_() -> None:
    """Import local records from canonical CSV or JSON files."""


def _import_command(entity: str, fn: object) -> click.Command:
    @click.command(entity, help=f"Import {entity} from FILE (CSV or JSON). A file with bad rows is rejected whole "
                                 "unless --skip-invalid is given.")
    @click.argument("file", type=click.Path(path_type=Path))
    @click.option("--tenant", required=True, help="Tenant name.")
    @click.option("--skip-invalid", is_flag=True, help="Import the good rows; write the rejects to a file.")
    @click.option("--rejects", type=click.Path(path_type=Path), help="Where to write rejects (default FILE.rejects.csv).")
    @json_option
    @handles_errors(TenantError, FileUnreadable)
    def command(file: Path, tenant: str, skip_invalid: bool, rejects: Path | None, as_json: bool) -> None:
        try:
            report = fn(get_app().database(), tenant, file, skip_invalid=skip_invalid, rejects_path=rejects)  # type: ignore[operator]
        except ImportRejected as exc:
            if as_json:
                emit_json(exc.report.as_dict() | {"status": "failed", "error": str(exc)})
            else:
                for r in exc.report.rejected:
                    click.echo(f"{file}: {r.location}: {'; '.join(r.reasons)}", err=True)
            raise CommandError(str(exc)) from None
        if as_json:
            emit_json(report.as_dict())
            return
        click.echo(f"{entity}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
                   f"{len(report.rejected)} rejected (run {report.run_id})")
        if report.rejects_file:
            click.echo(f"rejected rows written to {report.rejects_file}")

    return command


import_.add_command(_import_command("clients", import_clients))
import_.add_command(_import_command("contacts", import_contacts))


@click.group()
def clients() -> None:
    """Local clients."""


@clients.command("list")
@click.option("--tenant", required=True)
@click.option("--kind", help="Only this kind (individual, company, trust, partnership, sole_trader, other).")
@click.option("--search", help="Only names containing this text.")
@click.option("--limit", default=50, show_default=True)
@json_option
@handles_errors(TenantError)
def clients_list(tenant: str, kind: str | None, search: str | None, limit: int, as_json: bool) -> None:
    """List a tenant's clients with their links."""
    rows = queries.list_clients(get_app().database(), tenant, kind=kind, search=search, limit=limit)
    emit_json(rows) if as_json else print_table(rows, title=f"clients of {tenant}")


@clients.command("show")
@click.argument("client_id")
@click.option("--tenant", required=True)
@json_option
@click.option("--show-tax-number", "reveal", metavar="YOUR_NAME",
              help="Show the tax file number in full (audited under YOUR_NAME); otherwise its last 3 digits.")
@handles_errors(TenantError, LookupError)
def clients_show(client_id: str, tenant: str, reveal: str | None, as_json: bool) -> None:
    """Show one client: profile, contacts, links, connections, groups, duplicates."""
    record = queries.show_client(get_app().database(), tenant, client_id, reveal_tax_number=reveal)
    if as_json:
        emit_json(record)
        return
    print_record(record["profile"], title=f"client {client_id}")
    for section in ("contacts", "links", "connections", "groups", "duplicates"):
        if record.get(section):
            print_table(record[section], title=section)


@click.group()
def runs() -> None:
    """Job runs: link runs, syncs, imports."""


@runs.command("list")
@click.option("--tenant", help="Only this tenant's runs.")
@click.option("--limit", default=20, show_default=True)
@json_option
@handles_errors(TenantError)
def runs_list(tenant: str | None, limit: int, as_json: bool) -> None:
    """List recent runs, newest first."""
    rows = queries.list_runs(get_app().database(), tenant, limit=limit)
    if as_json:
        emit_json(rows)
    else:
        print_table([{k: r[k] for k in ("id", "tenant", "kind", "system", "trigger", "status", "started_at",
                                         "finished_at", "summary")} for r in rows], title="runs")


@runs.command("show")
@click.argument("run_id", type=int)
@json_option
@handles_errors(LookupError)
def runs_show(run_id: int, as_json: bool) -> None:
    """Show one run with its counts and errors."""
    run = queries.show_run(get_app().database(), run_id)
    emit_json(run) if as_json else print_record(run, title=f"run {run_id}")


commands: list[click.Command] = [db, keygen, tenants, disconnect, import_, clients, runs]
