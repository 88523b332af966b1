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
from syncworker.domain.sync import Direction, Policy, RuleError
from syncworker.services.conflicts import (
    ConflictError,
    list_conflicts,
    resolve_conflict,
    resolve_many,
    review_items,
)
from syncworker.services.field_rules import clear_rules, set_rule, show_rules
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
    if r.dry_run:
        _print_would_do(r)
    for title, items in (("archived remotely", r.archived), ("deleted remotely", r.deleted)):
        if items:
            click.echo(f"  {title}: {len(items)} (reported only; nothing is deleted locally)")
    if c.get("conflicts"):
        click.echo(f"  see `syncworker conflicts list --tenant {r.tenant!r}` to resolve conflicts")


def _print_would_do(r: SyncReport) -> None:
    writes = [{"local": x.get("local_id"), "name": x.get("name"), "to": w["to"], "field": w["field"],
               "now": _show(w["from"]), "would be": _show(w["value"]), "why": w["reason"]}
              for x in r.records for w in x.get("would_write") or []]
    opens = [{"local": x.get("local_id"), "name": x.get("name"), "field": c["field"], "local value": _show(c["local"]),
              "remote value": _show(c["remote"]), "why": c["reason"]}
             for x in r.records for c in x.get("would_open") or []]
    click.echo(f"  dry run: would write {len(writes)} field(s) and open {len(opens)} conflict(s) "
               f"on {len({x['local'] for x in opens})} client(s); nothing was written")
    if writes:
        print_table(writes[:SHOW * 3], title="would write")
        if len(writes) > SHOW * 3:
            click.echo(f"  … and {len(writes) - SHOW * 3} more (use --json)")
    if opens:
        print_table(opens, title="would open conflicts")


@click.group("conflicts")
def conflicts() -> None:
    """Fields changed on both sides under a "manual" rule, waiting for an operator."""


@conflicts.command("list")
@tenant_option
@click.option("--system", default=None, help="Only this system.")
@click.option("--all", "show_all", is_flag=True, help="Include resolved conflicts.")
@click.option("--run", "run_id", type=int, default=None, help="Only conflicts opened by this run.")
@click.option("--by-client", is_flag=True, help="One review item per linked client, its fields side by side.")
@click.option("--limit", type=int, default=None)
@json_option
@handles_errors(TenantError)
def list_cmd(tenant: str, system: str | None, show_all: bool, run_id: int | None, by_client: bool,
             limit: int | None, as_json: bool) -> None:
    """Conflicts with their base, local and remote values, and why each is there."""
    status = None if show_all else "open"
    if by_client:
        items = review_items(services().db, tenant, status=status, system=system, run_id=run_id, limit=limit)
        if as_json:
            emit_json(items)
            return
        _print_review(items)
        return
    rows = list_conflicts(services().db, tenant, status=status, system=system, limit=limit, run_id=run_id)
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


def _print_review(items: list[dict]) -> None:
    if not items:
        click.echo("sync conflicts: nothing to review")
        return
    for item in items:
        click.echo(f"\n{item['local_name']} (local {item['local_id']}, {item['system']} {item['remote_id']}): "
                   f"{len(item['fields'])} field(s)")
        print_table([{"id": f["id"], "field": f["field"], "local": _show(f["local"]), "remote": _show(f["remote"]),
                      "base": _show(f["base"]), "why": f["reason"] or "", "status": f["status"]}
                     for f in item["fields"]])
    click.echo(f"\n{len(items)} client(s); settle one with `syncworker conflicts take local|remote --client ID`")


@conflicts.command("take")
@click.argument("side", type=click.Choice(["local", "remote"]))
@tenant_option
@click.option("--client", default=None, help="Every open conflict of this client (its local id).")
@click.option("--field", default=None, help="This field, across every client.")
@click.option("--run", "run_id", type=int, default=None, help="Every open conflict this run opened.")
@click.option("--system", default=None, help="Only conflicts with this system.")
@click.option("--all-open", is_flag=True, help="Every open conflict of the tenant.")
@click.option("--as", "actor", default="operator", show_default=True, help="Who is deciding (audit).")
@json_option
@handles_errors(TenantError, ConflictError)
def take_cmd(side: str, tenant: str, client: str | None, field: str | None, run_id: int | None, system: str | None,
             all_open: bool, actor: str, as_json: bool) -> None:
    """Settle many conflicts at once with the SIDE's value: one client's, one field across all clients, or all
    of a run (the options combine). Each resolution is audited; the next sync writes them."""
    out = resolve_many(services(), tenant, side, client=client, field=field, run_id=run_id, system=system,
                       all_open=all_open, actor=actor)
    if as_json:
        emit_json(out)
        return
    click.echo(f"{out['resolved']} conflict(s) on {out['clients']} client(s) settled with the {side} value; "
               "the next sync writes them")


def _show(value: object) -> str:
    return "(blank)" if value in (None, "") else str(value)


@click.group("rules")
def rules() -> None:
    """Field rules of the two-way sync: config/field_rules.yaml and the tenant's overrides on top of it."""


@rules.command("show")
@tenant_option
@click.option("--system", default=None, help="Only this system (xpm, xero, aps).")
@click.option("--overridden", is_flag=True, help="Only the fields where the tenant's overrides change the file.")
@json_option
@handles_errors(TenantError, RuleError)
def rules_show(tenant: str, system: str | None, overridden: bool, as_json: bool) -> None:
    """The rule in effect for every field: direction, policy (both sides changed) and first_sync (the two
    sides differ at the first sync after linking)."""
    out = show_rules(services().db, tenant, system)
    if overridden:
        out["rules"] = [r for r in out["rules"] if r["overridden"]]
    if as_json:
        emit_json(out)
        return
    print_table([{**r, "overridden": "yes" if r["overridden"] else ""} for r in out["rules"]],
                ["system", "field", "direction", "policy", "first_sync", "overridden"],
                title=f"field rules in effect for {tenant}")


@rules.command("set")
@tenant_option
@click.option("--field", required=True, help="The canonical field (name, email, address.line1, ...).")
@click.option("--system", default=None, help="Only for this system; default: every system.")
@click.option("--direction", type=click.Choice([d.value for d in Direction]), default=None)
@click.option("--policy", type=click.Choice([p.value for p in Policy]), default=None,
              help="When both sides changed the field since the last sync.")
@click.option("--first-sync", type=click.Choice([p.value for p in Policy]), default=None,
              help="When the two sides differ at the first sync after linking.")
@click.option("--as", "actor", default="operator", show_default=True, help="Who is changing it (audit).")
@json_option
@handles_errors(TenantError, RuleError)
def rules_set(tenant: str, field: str, system: str | None, direction: str | None, policy: str | None,
              first_sync: str | None, actor: str, as_json: bool) -> None:
    """Override one field's rule for this tenant (validated; audited)."""
    doc = set_rule(services().db, tenant, field=field, system=system, direction=direction, policy=policy,
                   first_sync=first_sync, actor=actor)
    if as_json:
        emit_json({"overrides": doc})
        return
    click.echo(f"{field} rule for {tenant} {'(' + system + ')' if system else '(every system)'} updated; "
               f"`syncworker rules show --tenant {tenant!r}` prints the rules in effect")


@rules.command("clear")
@tenant_option
@click.option("--field", default=None, help="Only this field's override.")
@click.option("--system", default=None, help="Only this system's overrides.")
@click.option("--as", "actor", default="operator", show_default=True, help="Who is changing it (audit).")
@json_option
@handles_errors(TenantError, RuleError)
def rules_clear(tenant: str, field: str | None, system: str | None, actor: str, as_json: bool) -> None:
    """Drop the tenant's overrides (all of them, a system's, or one field's): the file's rules apply again."""
    doc = clear_rules(services().db, tenant, field=field, system=system, actor=actor)
    if as_json:
        emit_json({"overrides": doc})
        return
    click.echo(f"overrides cleared; {'none left' if not doc else 'some remain (rules show --overridden)'}")


commands: list[click.Command] = [sync, conflicts, rules]
