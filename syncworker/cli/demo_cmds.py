"""`syncworker demo`: the README's first command."""

from __future__ import annotations

import click

from syncworker.cli.context import CommandError, emit_json, get_app, json_option
from syncworker.cli.link_cmds import print_report


@click.command()
@click.option("--tenant", default="Demo Practice", show_default=True)
@click.option("--clients", default=400, show_default=True, help="Size of the sample practice.")
@click.option("--seed", default=7, show_default=True, help="Seed of the sample practice (same seed, same data).")
@json_option
def demo(tenant: str, clients: int, seed: int, as_json: bool) -> None:
    """Run the main job against the bundled XPM simulator: import a sample practice into the configured
    database, connect it, run a link run and print the report. The database stays for you to explore."""
    from syncworker.services.demo import run_demo

    say = (lambda _m: None) if as_json else click.echo
    result = run_demo(get_app().settings, tenant=tenant, clients=clients, seed=seed, say=say)
    if as_json:
        emit_json(result.as_dict())
    else:
        print_report(result.report)
        t = f"'{tenant}'"
        click.echo("\nExplore the results:\n"
                   f"  syncworker review list --tenant {t}\n"
                   f"  syncworker review approve REVIEW_ID --tenant {t}\n"
                   f"  syncworker duplicates list --tenant {t}\n"
                   f"  syncworker links list --tenant {t} --status linked\n"
                   f"  syncworker clients show CLIENT_ID --tenant {t}\n"
                   f"  syncworker runs list")
    if result.report.status == "failed":
        raise CommandError(result.report.message or "the link run failed")


commands: list[click.Command] = [demo]
