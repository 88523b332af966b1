"""Two-way sync and the conflict queue: `syncworker sync`, `syncworker conflicts list|resolve`."""

from __future__ import annotations

import click

from syncworker.cli.context import (
    CommandError,
    console,
    echo_run_head,
    emit_json,
    handles_errors,
    json_option,
    print_table,
)
from syncworker.cli.link_cmds import services, tenant_option
from syncworker.domain.sync import RuleError
from syncworker.services.conflicts import ConflictError, list_conflicts, resolve_conflict
from syncworker.services.run_frame import RunRefused
from syncworker.services.sync_run import SyncReport, linked_systems, run_sync
from syncworker.services.systems import UnknownSystem
from syncworker.services.tenants import TenantError

SHOW = 20  # records per section in the human report


@click.command("sync")
@tenant_option
@click.option("--system", default=None, help="Sync only this system (xpm, xero, aps); default: every linked system.")
@click.option("--dry-run", is_flag=True, help="Pull and decide; write nothing and report what would change.")
@click.option("--full", is_flag=True, help="Read the whole remote listing instead of changes since the last "
                                           "sync, and report linked records it no longer holds.")
@json_option
@handles_errors(TenantError, UnknownSystem, RuleError)
def sync(tenant: str, system: str | None, dry_run: bool, full: bool, as_json: bool) -> None:
    """Two-way sync of linked client profiles: pull remote changes, merge field by field against the last
    synced values, push local changes, queue conflicts for review."""
    ctx = services()
    systems = [system] if system else linked_systems(ctx, tenant)
    if not systems:
        raise CommandError(f"tenant {tenant!r} has no linked records in a connected system: run "
                           "`syncworker link-run` first")
    reports: list[SyncReport] = []
    for name in systems:
        try:
            reports.append(run_sync(ctx, tenant, name, dry_run=dry_run, trigger="operator", full=full))
        except RunRefused as exc:
            if as_json:
                emit_json({"status": "refused", "system": name, "run_id": exc.run_id, "message": str(exc)})
            raise CommandError(f"sync of {name} refused: {exc}") from None
    if as_json:
        emit_json(reports[0].as_dict() if system else [r.as_dict() for r in reports])
    else:
        for r in reports:
            print_report(r)
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        raise CommandError("; ".join(f"{r.system}: {r.message or 'failed'}" for r in failed))


def print_report(r: SyncReport) -> None:
    echo_run_head("sync run", r)
    c = r.counts
    click.echo("  records: " + ", ".join(f"{c.get(k, 0)} {k}" for k in
                                         ("created", "updated", "unchanged", "conflicts", "skipped", "failed")))
    click.echo(f"  fields pushed {c.get('pushed_fields', 0)}, pulled {c.get('pulled_fields', 0)}; remote records "
               f"new {c.get('remote_new', 0)}, changed {c.get('remote_changed', 0)}; pages {c.get('pages', 0)}")
    interesting = [x for x in r.records if x["outcome"] != "created" or x.get("pushed") or x.get("pulled")]
    if interesting:
        rows = [{"outcome": x["outcome"], "local": x.get("local_id"), "remote": x.get("remote_id"),
                 "name": x.get("name"), "pushed": ", ".join(x.get("pushed") or []),
                 "pulled": ", ".join(x.get("pulled") or []), "conflicts": ", ".join(x.get("conflicts") or []),
                 "note": x.get("error") or x.get("reason")} for x in interesting[:SHOW]]
        print_table(rows, title="records")
        if len(interesting) > SHOW:
            click.echo(f"  … and {len(interesting) - SHOW} more (use --json)")
    for title, items in (("archived remotely", r.archived), ("deleted remotely", r.deleted)):
        if items:
            click.echo(f"  {title}: {len(items)} (reported only; nothing is deleted locally)")
    if c.get("conflicts"):
        click.echo(f"  see `syncworker conflicts list --tenant {r.tenant!r}` to resolve conflicts")


@click.group("conflicts")
def conflicts() -> None:
    """Fields changed on both sides under a "manual" rule, waiting for an operator."""


@conflicts.command("list")
@tenant_option
@click.option("--system", default=None, help="Only this system.")
@click.option("--all", "show_all", is_flag=True, help="Include resolved conflicts.")
@click.option("--limit", type=int, default=None)
@json_option
@handles_errors(TenantError)
def list_cmd(tenant: str, system: str | None, show_all: bool, limit: int | None, as_json: bool) -> None:
    """Conflicts with their base, local and remote values."""
    rows = list_conflicts(services().db, tenant, status=None if show_all else "open", system=system, limit=limit)
    if as_json:
        emit_json(rows)
        return
    print_table([{**r, "base": _show(r["base"]), "local": _show(r["local"]), "remote": _show(r["remote"])}
                 for r in rows], ["id", "status", "system", "local_id", "local_name", "field", "base", "local",
                                  "remote", "resolution"], title="sync conflicts")


@conflicts.command("resolve")
@click.argument("conflict_id", type=int)
@tenant_option
@click.option("--take", type=click.Choice(["local", "remote"]), default=None, help="Keep this side's value.")
@click.option("--value", default=None, help="Use this value instead of either side's.")
@click.option("--as", "actor", default="operator", show_default=True, help="Who is deciding (audit).")
@click.option("--now", "sync_now", is_flag=True, help="Sync the pair's system right away instead of on the "
                                                       "next scheduled sync.")
@json_option
@handles_errors(TenantError, ConflictError)
def resolve_cmd(conflict_id: int, tenant: str, take: str | None, value: str | None, actor: str, sync_now: bool,
                as_json: bool) -> None:
    """Settle conflict CONFLICT_ID: the local record takes the chosen value now (audited) and the next sync
    writes it to the remote system."""
    ctx = services()
    out = resolve_conflict(ctx, tenant, conflict_id, take=take, value=value, actor=actor)
    report = None
    if sync_now:
        try:
            report = run_sync(ctx, tenant, out["system"], trigger="operator")
        except RunRefused as exc:
            raise CommandError(f"resolved, but the sync was refused: {exc}") from None
    if as_json:
        emit_json({"conflict": out, "sync": report.as_dict() if report else None})
        return
    console().print(f"conflict {conflict_id} resolved: {out['field']} of {out['local_id']} = "
                    f"{_show(out['resolved_value'])} ({out['resolution']})")
    if report:
        print_report(report)
    else:
        click.echo("the next sync writes it to " + out["system"])


def _show(value: object) -> str:
    return "(blank)" if value in (None, "") else str(value)


commands: list[click.Command] = [sync, conflicts]
