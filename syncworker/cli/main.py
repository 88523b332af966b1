"""`syncworker`: the command-line entry point. Thin: each command parses its arguments, calls one service
and prints the result."""

from __future__ import annotations

import click

from syncworker import __version__
from syncworker.cli import (
    connect_cmds,
    connection_cmds,
    demo_cmds,
    foundation_cmds,
    info_cmds,
    link_cmds,
    match_cmds,
    portal_cmds,
    run_cmds,
    serve_cmds,
    simulate_cmds,
    sync_cmds,
)
from syncworker.cli.context import App

COMMAND_MODULES = (demo_cmds, foundation_cmds, info_cmds, link_cmds, match_cmds, simulate_cmds, connect_cmds, run_cmds, serve_cmds, sync_cmds,
                   connection_cmds, portal_cmds)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="syncworker")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """syncworker: link and sync an accounting practice's clients with XPM, Xero and APS.

    Settings come from config/settings.yaml and the environment (DATABASE_URL, SYNCWORKER_*).
    """
    app = ctx.ensure_object(App)
    ctx.call_on_close(app.close)


for module in COMMAND_MODULES:
    for command in module.commands:
        cli.add_command(command)


def main() -> None:
    cli(prog_name="syncworker")


if __name__ == "__main__":
    main()
