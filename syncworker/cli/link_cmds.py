"""The main job and the operator's review work: link runs, reviews, manual links, duplicates."""

from __future__ import annotations

from typing import Any

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from syncworker.cli.context import (
    CommandError,
    console,
    echo_run_head,
    emit_json,
    get_app,
    handles_errors,
    json_option,
    print_table,
)
from syncworker.services import links as links_svc
from syncworker.services.context import ServiceContext
from syncworker.services.duplicates import DuplicateError, list_clusters, resolve
from syncworker.services.link_run import LinkRunReport, run_link_run
from syncworker.services.links import LinkError
from syncworker.services.queries import client_by_external_id
from syncworker.services.run_frame import RunRefused
from syncworker.services.systems import UnknownSystem
from syncworker.services.tenants import TenantError, get_tenant

system_option = click.option("--system", default="xpm", show_default=True, help="External system (xpm, xero, aps).")
tenant_option = click.option("--tenant", required=True, help="Tenant name.")
actor_option = click.option("--as", "actor", default="operator", show_default=True, help="Who is deciding (audit).")
SHOW = 15  # rows per section in the human report
# What the progress bar says for each phase a link run reports (services.link_run.PHASES).
PHASE_LABELS = {"pull": "pulling clients", "load": "loading local records", "duplicates": "finding duplicates",
                "broken links": "checking kept links", "match": "matching", "write": "recording decisions",
                "relationships": "syncing relationships"}


def services() -> ServiceContext:
    app = get_app()
    return app.services()


@click.command("link-run")
@tenant_option
@system_option
@click.option("--dry-run", is_flag=True, help="Compute and report everything; write nothing.")
@json_option
@handles_errors(TenantError, UnknownSystem)
def link_run(tenant: str, system: str, dry_run: bool, as_json: bool) -> None:
    """Match the tenant's clients with SYSTEM's: link the certain, queue the uncertain for review, flag
    individuals whose duplicates must be merged first, and report the unmatched and broken."""
    ctx = services()
    show_bar = not as_json and console().is_terminal
    try:
        if show_bar:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"),
                          TimeElapsedColumn(), console=console(), transient=True) as bar:
                task = bar.add_task("pulling clients", total=None)

                def progress(phase: str, done: int, total: int | None) -> None:
                    bar.update(task, description=PHASE_LABELS.get(phase, phase), completed=done, total=total)

                report = run_link_run(ctx, tenant, system, dry_run=dry_run, trigger="operator", progress=progress)
        else:
            report = run_link_run(ctx, tenant, system, dry_run=dry_run, trigger="operator")
    except RunRefused as exc:
        if as_json:
            emit_json({"status": "refused", "run_id": exc.run_id, "message": str(exc)})
        raise CommandError(f"run refused: {exc}") from None
    if as_json:
        emit_json(report.as_dict())
    else:
        print_report(report)
    if report.status == "failed":
        raise CommandError(report.message or "the link run failed")


def print_report(r: LinkRunReport) -> None:
    c = r.counts
    echo_run_head("link run", r)
    summary = [
        ("local clients", c.get("local_clients")), ("remote clients", c.get("remote_clients")),
        ("linked now", c.get("linked_new")), ("links kept", c.get("links_kept")),
        ("to review", c.get("to_review")), ("merge required", c.get("merge_required")),
        ("broken links", c.get("broken")), ("unmatched local", c.get("unmatched_local")),
        ("unmatched remote", c.get("unmatched_remote")), ("duplicate clusters", c.get("duplicate_clusters")),
        ("API calls", r.api_calls.get("calls") if r.api_calls else None),
    ]
    print_table([{"": k, "count": v} for k, v in summary if v is not None], title="summary")
    sections: list[tuple[str, list[dict[str, Any]], list[str]]] = [
        ("linked", r.linked, ["local_id", "local_name", "remote_name", "score"]),
        ("to review (syncworker review list)", r.to_review, ["review_id", "local_id", "local_name", "remote_name",
                                                              "score", "reasons"]),
        ("merge required: merge duplicates first", r.merge_required, ["local_id", "local_name", "remote_name",
                                                                       "score"]),
        ("broken links", r.broken, ["local_id", "local_name", "remote_id", "reason"]),
        ("unmatched local", r.unmatched_local, ["local_id", "local_name", "kind"]),
        ("unmatched remote", r.unmatched_remote, ["remote_id", "remote_name", "kind"]),
    ]
    for title, rows, cols in sections:
        if not rows:
            continue
        shown = [{k: (", ".join(v[:4]) if isinstance(v, list) else v) for k, v in row.items()} for row in rows[:SHOW]]
        more = f" (first {SHOW} of {len(rows)})" if len(rows) > SHOW else ""
        print_table(shown, cols, title=f"{title}{more}")
    if r.errors:
        click.echo(f"{len(r.errors)} record(s) failed: see `syncworker runs show {r.run_id}`")


@click.group()
def review() -> None:
    """Suggested links waiting for an operator."""


@review.command("list")
@tenant_option
@click.option("--system", default=None, help="Only this system.")
@json_option
@handles_errors(TenantError)
def review_list(tenant: str, system: str | None, as_json: bool) -> None:
    """List suggestions awaiting review, best first."""
    rows = sorted(links_svc.list_links(get_app().database(), tenant, system=system, status="suggested"),
                  key=lambda r: -(r["score"] or 0))
    if as_json:
        emit_json(rows)
    else:
        print_table([r | {"reasons": ", ".join(r["reasons"][:5])} for r in rows],
                    ["id", "local_id", "local_name", "system", "remote_name", "score", "reasons"], title="to review")


def _decide(fn: Any, verb: str) -> click.Command:
    @click.command(verb, help=f"{verb.capitalize()} suggestion(s) REVIEW_ID.")
    @click.argument("review_ids", type=int, nargs=-1, required=True)
    @tenant_option
    @actor_option
    @json_option
    @handles_errors(TenantError, LinkError)
    def command(review_ids: tuple[int, ...], tenant: str, actor: str, as_json: bool) -> None:
        done = [fn(get_app().database(), tenant, rid, actor) for rid in review_ids]
        if as_json:
            emit_json(done)
        else:
            for d in done:
                click.echo(f"{d['id']}: {d['local_id']} {d['local_name']!r} <-> {d['system']} {d['remote_id']}: "
                           f"{d['status']}")

    return command


review.add_command(_decide(links_svc.approve, "approve"))
review.add_command(_decide(links_svc.reject, "reject"))


@click.command("link")
@click.argument("local_id")
@tenant_option
@system_option
@click.option("--remote", "remote_id", help="The remote record's id. Without it, SYSTEM is searched by name.")
@click.option("--query", help="Search text (default: the client's name).")
@actor_option
@json_option
@handles_errors(TenantError, LinkError, LookupError, UnknownSystem)
def link(local_id: str, tenant: str, system: str, remote_id: str | None, query: str | None, actor: str,
         as_json: bool) -> None:
    """Link local client LOCAL_ID to a remote record, picked by id or from a name search (as Connectworks'
    "Connect now" does)."""
    ctx = services()
    if remote_id is None:
        with ctx.db.session() as s:
            t = get_tenant(s, tenant)
            client = client_by_external_id(s, t.id, local_id)
            name, tenant_id = client.display_name, t.id
        results = ctx.adapter(tenant_id, system).search_clients(query or name)
        if not results:
            raise CommandError(f"no {system} client matches {query or name!r}; try --query")
        if as_json or not console().is_terminal:
            rows = [{"remote_id": p.id, "name": p.name, "kind": p.kind.value, "status": p.status.value} for p in results]
            emit_json(rows) if as_json else print_table(rows, title=f"{system} search: {query or name}")
            raise CommandError("choose one and run again with --remote REMOTE_ID")
        print_table([{"#": i + 1, "name": p.name, "kind": p.kind.value, "email": p.email or "", "remote_id": p.id}
                     for i, p in enumerate(results)], title=f"{system} search: {query or name}")
        pick = click.prompt("Link which one (0 to cancel)", type=click.IntRange(0, len(results)))
        if pick == 0:
            raise CommandError("cancelled; nothing linked")
        remote_id = results[pick - 1].id
    result = links_svc.link_checked(ctx, tenant, local_id, system, remote_id, actor)
    emit_json(result) if as_json else click.echo(
        f"linked {result['local_id']} {result['local_name']!r} to {system} {result['remote_id']}")


@click.command("unlink")
@click.argument("local_id")
@tenant_option
@system_option
@actor_option
@json_option
@handles_errors(TenantError, LinkError, LookupError)
def unlink(local_id: str, tenant: str, system: str, actor: str, as_json: bool) -> None:
    """Remove LOCAL_ID's link to SYSTEM (kept in its history; not re-linked automatically unless a record changes)."""
    result = links_svc.unlink(get_app().database(), tenant, local_id, system, actor)
    emit_json(result) if as_json else click.echo(f"unlinked {local_id} from {system} {result['remote_id']}")


@click.group("links")
def links_group() -> None:
    """Links between local clients and remote records."""


@links_group.command("list")
@tenant_option
@click.option("--system", default=None)
@click.option("--status", type=click.Choice(["suggested", "linked", "rejected", "broken"]))
@json_option
@handles_errors(TenantError)
def links_list(tenant: str, system: str | None, status: str | None, as_json: bool) -> None:
    """List links (all statuses unless --status)."""
    rows = links_svc.list_links(get_app().database(), tenant, system=system, status=status)
    emit_json(rows) if as_json else print_table(
        rows, ["id", "local_id", "local_name", "system", "remote_id", "remote_name", "status", "score", "method"],
        title="links")


@links_group.command("export")
@tenant_option
@click.option("--system", default=None)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@handles_errors(TenantError)
def links_export(tenant: str, system: str | None, out: str | None) -> None:
    """Export links as CSV: local_id, remote_id, status, score, method."""
    text = links_svc.export_links_csv(get_app().database(), tenant, system)
    if out:
        with open(out, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        click.echo(f"wrote {text.count(chr(10)) - 1} links to {out}")
    else:
        click.echo(text, nl=False)


@links_group.command("history")
@click.argument("link_id", type=int)
@tenant_option
@json_option
@handles_errors(TenantError, LinkError)
def links_history(link_id: int, tenant: str, as_json: bool) -> None:
    """Show a link's history: every status change, who and when."""
    rows = links_svc.link_history(get_app().database(), tenant, link_id)
    emit_json(rows) if as_json else print_table(rows, title=f"link {link_id}")


@click.group("duplicates")
def duplicates_group() -> None:
    """Duplicate clusters among local clients and contacts."""


@duplicates_group.command("list")
@tenant_option
@click.option("--status", type=click.Choice(["unresolved", "merged", "not_duplicates", "all"]), default="unresolved",
              show_default=True)
@json_option
@handles_errors(TenantError)
def duplicates_list(tenant: str, status: str, as_json: bool) -> None:
    """List duplicate clusters (duplicate: merge them; same_person: a contact who is also a client)."""
    rows = list_clusters(get_app().database(), tenant, status=None if status == "all" else status)
    if as_json:
        emit_json(rows)
        return
    print_table([{"id": r["id"], "type": r["type"], "status": r["status"], "score": r["score"],
                  "members": "; ".join(f"{m['ref']} {m['name']}" for m in r["members"])} for r in rows],
                title="duplicates")


@duplicates_group.command("resolve")
@click.argument("cluster_id", type=int)
@tenant_option
@click.option("--merged", "action", flag_value="merged", help="The members are one record: merge into --survivor.")
@click.option("--not-duplicates", "action", flag_value="not_duplicates", help="The members are different records.")
@click.option("--survivor", help="With --merged: the record that remains (client id, or contact:ID).")
@actor_option
@json_option
@handles_errors(TenantError, DuplicateError)
def duplicates_resolve(cluster_id: int, tenant: str, action: str | None, survivor: str | None, actor: str,
                       as_json: bool) -> None:
    """Resolve a duplicate cluster. Merging moves the absorbed records' links, contacts, connections and
    groups to the survivor."""
    if not action:
        raise CommandError("say --merged (with --survivor) or --not-duplicates")
    result = resolve(get_app().database(), tenant, cluster_id, action, actor, survivor)
    emit_json(result) if as_json else click.echo(f"cluster {cluster_id}: {result['status']}"
                                                 + (f", survivor {result['survivor']}" if result["survivor"] else ""))


commands: list[click.Command] = [link_run, review, link, unlink, links_group, duplicates_group]
