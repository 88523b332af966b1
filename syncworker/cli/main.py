"""`syncworker`: the command-line entry point. Thin: each command parses its arguments, calls one service
and prints the result.

Commands are registered by name in `COMMANDS` and their module is imported only when that command runs (or
shows its own help), so `syncworker --help` starts without SQLAlchemy, Alembic, FastAPI, the adapters or the
simulators. A test checks that the registry names every command of every `*_cmds` module with its own help.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from syncworker import __version__
from syncworker.cli.context import App, CommandError, one_line

# command name -> (module defining it, its one-line help as `syncworker --help` lists it)
COMMANDS: dict[str, tuple[str, str]] = {
    "clients": ("syncworker.cli.foundation_cmds", "Local clients."),
    "clock": ("syncworker.cli.run_cmds", "Scale-out (PostgreSQL): the ONE process that follows the schedules and defers "
              "jobs to the Procrastinate queue for `syncworker worker` processes."),
    "conflicts": ("syncworker.cli.sync_cmds", 'Fields changed on both sides under a "manual" rule, waiting for an operator.'),
    "connect": ("syncworker.cli.connect_cmds", "Connect TENANT to SYSTEM: xpm (xero for the contacts adapter) through "
                "Xero OAuth2, choosing the remote tenant; aps to the practice's APS database (--database-url), "
                "checked against the mapping first."),
    "connections": ("syncworker.cli.connection_cmds", "Connections between clients: one fact seen from both records "
                    "(Canopy, Autosoft, XPM relationships)."),
    "db": ("syncworker.cli.foundation_cmds", "Create and migrate the database schema."),
    "disconnect": ("syncworker.cli.foundation_cmds", "Forget TENANT's stored tokens for SYSTEM (its links stay)."),
    "dedupe": ("syncworker.cli.match_cmds", "Find duplicate records within RECORDS_CSV (canonical client CSV schema)."),
    "demo": ("syncworker.cli.demo_cmds", "Run the main job against the bundled XPM simulator: import a sample practice "
             "into the configured database, connect it, run a link run and print the report."),
    "duplicates": ("syncworker.cli.link_cmds", "Duplicate clusters among local clients and contacts."),
    "groups": ("syncworker.cli.connection_cmds", "Client groups: related clients under the same ownership."),
    "import": ("syncworker.cli.foundation_cmds", "Import local records from canonical CSV or JSON files."),
    "info": ("syncworker.cli.info_cmds", "Print which database, config folder and settings are in force, and where each "
             "came from."),
    "keygen": ("syncworker.cli.foundation_cmds", "Print a new key for SYNCWORKER_SECRET_KEY (encrypts credentials at rest)."),
    "link": ("syncworker.cli.link_cmds", "Link local client LOCAL_ID to a remote record, picked by id or from a name "
             "search (as Connectworks' \"Connect now\" does)."),
    "link-run": ("syncworker.cli.link_cmds", "Match the tenant's clients with SYSTEM's: link the certain, queue the "
                 "uncertain for review, flag individuals whose duplicates must be merged first, and report the "
                 "unmatched and broken."),
    "links": ("syncworker.cli.link_cmds", "Links between local clients and remote records."),
    "match": ("syncworker.cli.match_cmds", "Link LOCAL_CSV records to REMOTE_CSV records one-to-one (canonical client CSV "
              "schema)."),
    "portal": ("syncworker.cli.portal_cmds", "Canopy's client portal: invitations by email (30 days, then resend), one "
               "portal per primary client shared with its contacts and connected clients (even inactive ones), and "
               "the Client Portal Manager."),
    "review": ("syncworker.cli.link_cmds", "Suggested links waiting for an operator."),
    "rules": ("syncworker.cli.sync_cmds", "Field rules of the two-way sync: config/field_rules.yaml and the tenant's "
              "overrides on top of it."),
    "run": ("syncworker.cli.run_cmds", "Embedded default: run the schedules (settings `schedules`, UTC cron) and execute "
            "the jobs in this process, for every tenant connected to a system."),
    "runs": ("syncworker.cli.foundation_cmds", "Job runs: link runs, syncs, imports."),
    "serve": ("syncworker.cli.serve_cmds", "Serve the HTTP API until interrupted."),
    "simulate": ("syncworker.cli.simulate_cmds", "Run local simulators of the external systems (loopback only)."),
    "sync": ("syncworker.cli.sync_cmds", "Two-way sync of linked client profiles: pull remote changes, merge field by "
             "field against the last synced values, push local changes, queue conflicts for review."),
    "tenants": ("syncworker.cli.foundation_cmds", "Practices served by this worker."),
    "unlink": ("syncworker.cli.link_cmds", "Remove LOCAL_ID's link to SYSTEM (kept in its history; not re-linked "
               "automatically unless a record changes)."),
    "worker": ("syncworker.cli.run_cmds", "Scale-out (PostgreSQL): execute queued jobs."),
}


def load_command(name: str) -> click.Command:
    """Import the module of command `name` and return the command it defines."""
    module = importlib.import_module(COMMANDS[name][0])
    return next(c for c in module.commands if c.name == name)


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load_command(cmd_name))
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Any error a command did not expect ends in one line and exit status 1; `--debug` shows the
        traceback instead. The line never carries the error's own text unless the error is one of ours
        (its text may quote client data or a database URL)."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            app = ctx.find_object(App)
            raise CommandError(one_line(exc, app.database_url if app else None)) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The same listing click prints, from the registry instead of the imported commands.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, (self.commands.get(n) or click.Command(n, help=COMMANDS[n][1])).get_short_help_str(limit))
                for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="syncworker")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error instead of one line.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """syncworker: link and sync an accounting practice's clients with XPM, Xero and APS.

    Settings come from config/settings.yaml and the environment (DATABASE_URL, SYNCWORKER_*);
    `syncworker info` shows which are in force.
    """
    app = ctx.ensure_object(App)
    ctx.call_on_close(app.close)


def main() -> None:
    cli(prog_name="syncworker")


if __name__ == "__main__":
    main()
