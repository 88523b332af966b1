"""`syncworker simulate xpm|xero|aps`: run a simulator on loopback (XPM seeded with a generated practice; the
Xero Accounting API with seeded contacts and signed webhook deliveries), or create an APS stand-in database."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from simulators.xero.faults import FAULT_KINDS as XERO_FAULT_KINDS
from simulators.xpm.faults import FAULT_KINDS


@click.group(help="Run local simulators of the external systems (loopback only).")
def simulate() -> None:
    pass


@simulate.command("xpm", help=(
    "Serve a simulated Xero Practice Manager v3.1 (with Xero Identity and /connections) on 127.0.0.1, "
    "seeded with a generated practice. Steer it while it runs through the admin endpoints under /_sim/ "
    "(faults, clock, stats, refresh-token)."
))
@click.option("--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1 (0 = any free port).")
@click.option("--clients", type=int, default=200, show_default=True, help="True entities in the generated practice.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--country", type=click.Choice(["AU", "NZ"]), default="AU", show_default=True)
@click.option("--fault", "faults", multiple=True, metavar="KIND[:TIMES[:PATH]]",
              help=f"Inject a fault at start (repeatable). KIND: {', '.join(FAULT_KINDS)}.")
@click.option("--fault-rate", type=float, default=0.0, show_default=True,
              help="Probability of a random fault on each API call (soak runs).")
@click.option("--fault-kinds", default="500,reset,slow,minute_429", show_default=True,
              help="Comma-separated kinds used by --fault-rate.")
@click.option("--slow-delay", type=float, default=2.0, show_default=True, help="Seconds a 'slow' fault waits.")
@click.option("--concurrent-limit", type=int, default=5, show_default=True)
@click.option("--minute-limit", type=int, default=60, show_default=True)
@click.option("--day-limit", type=int, default=5000, show_default=True)
@click.option("--client-id", envvar="SYNCWORKER_XERO_CLIENT_ID", default=None,
              help="App client id to accept (default: derived from the seed; env SYNCWORKER_XERO_CLIENT_ID).")
@click.option("--client-secret", envvar="SYNCWORKER_XERO_CLIENT_SECRET", default=None,
              help="App client secret to accept (env SYNCWORKER_XERO_CLIENT_SECRET).")
@click.option("--write-local", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the practice's matching local clients CSV here.")
@click.option("--write-local-contacts", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the local contacts CSV here.")
@click.option("--json", "as_json", is_flag=True, help="Print the connection details as JSON.")
def xpm(port: int, clients: int, seed: int, country: str, faults: tuple[str, ...], fault_rate: float,
        fault_kinds: str, slow_delay: float, concurrent_limit: int, minute_limit: int, day_limit: int,
        client_id: str | None, client_secret: str | None, write_local: Path | None,
        write_local_contacts: Path | None, as_json: bool) -> None:
    from simulators.xpm import XpmSimulator
    from syncworker.sample import generate_practice

    practice = generate_practice(clients, seed, country)
    try:
        sim = XpmSimulator(
            clients, seed, port, practice, country=country, concurrent_limit=concurrent_limit,
            minute_limit=minute_limit, day_limit=day_limit, slow_delay=slow_delay, faults=faults,
            client_id=client_id, client_secret=client_secret,
        )
        if fault_rate:
            sim.faults.random(fault_rate, tuple(k.strip() for k in fault_kinds.split(",") if k.strip()))
        sim.start()
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if write_local:
        practice.write_local_csv(write_local)
    if write_local_contacts:
        practice.write_local_contacts_csv(write_local_contacts)

    info = sim.info()
    # Simulator credentials and the grant are fake and local: printing them is what makes the demo work.
    info["refresh_token"] = sim.issue_refresh_token()
    info["admin_url"] = f"{sim.root_url}/_sim/"
    remote_active = sum(1 for c in sim.store.clients.values() if not c.is_archived and not c.is_deleted)
    notes = [f"Admin: {info['admin_url']}  (GET stats, POST faults {{\"kind\": \"500\"}}, POST clock {{\"advance\": 1800}})"]
    if write_local:
        notes.append(f"Local clients CSV: {write_local}")
    _announce_and_serve(
        sim, info, as_json, "XPM",
        f"XPM simulator on {sim.root_url}  ({len(sim.store.clients)} clients in XPM, {remote_active} active; "
        f"{len(practice.local)} local records)", notes,
    )


@simulate.command("xero", help=(
    "Serve a simulated Xero Accounting API (contacts, with Xero Identity and /connections) on 127.0.0.1. "
    "With --webhook-url, contact changes are delivered there as signed webhooks (the key is printed). "
    "Steer it through the admin endpoints under /_sim/ (faults, clock, stats, edits)."
))
@click.option("--port", type=int, default=8766, show_default=True, help="Port on 127.0.0.1 (0 = any free port).")
@click.option("--contacts", type=int, default=100, show_default=True, help="Seeded contacts.")
@click.option("--seed", type=int, default=3, show_default=True)
@click.option("--webhook-url", default=None, help="Where to deliver signed webhooks (e.g. syncworker serve's /webhooks/xero).")
@click.option("--webhook-key", envvar="SYNCWORKER_XERO_WEBHOOK_KEY", default=None,
              help="Webhook signing key (default: a random one, printed; env SYNCWORKER_XERO_WEBHOOK_KEY).")
@click.option("--fault", "faults", multiple=True, metavar="KIND[:TIMES[:PATH]]",
              help=f"Inject a fault at start (repeatable). KIND: {', '.join(XERO_FAULT_KINDS)}.")
@click.option("--client-id", envvar="SYNCWORKER_XERO_CLIENT_ID", default=None,
              help="App client id to accept (default: generated; env SYNCWORKER_XERO_CLIENT_ID).")
@click.option("--client-secret", envvar="SYNCWORKER_XERO_CLIENT_SECRET", default=None,
              help="App client secret to accept (env SYNCWORKER_XERO_CLIENT_SECRET).")
@click.option("--json", "as_json", is_flag=True, help="Print the connection details as JSON.")
def xero(port: int, contacts: int, seed: int, webhook_url: str | None, webhook_key: str | None,
         faults: tuple[str, ...], client_id: str | None, client_secret: str | None, as_json: bool) -> None:
    from simulators.xero import XeroSimulator

    try:
        sim = XeroSimulator(contacts, seed, port, webhook_url, webhook_key, faults=faults,
                            client_id=client_id, client_secret=client_secret)
        sim.start()
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    info = sim.info()
    # Simulator credentials and the grant are fake and local: printing them is what makes the demo work.
    info["refresh_token"] = sim.token_set().refresh_token
    _announce_and_serve(sim, info, as_json, "Xero", f"Xero simulator on {sim.api_url}  ({info['contacts']} contacts)", [
        f"Webhooks to: {webhook_url or '(none: pass --webhook-url)'}",
        f"Admin: {info['admin_url']}  (GET stats, POST faults {{\"kind\": \"500\"}})",
    ])


def default_aps_url() -> str:
    """The stand-in's default home: aps.db in the per-user data folder, next to the default database."""
    from syncworker.config import data_dir

    return f"sqlite:///{data_dir() / 'aps.db'}"


@simulate.command("aps", help=(
    "Create an APS stand-in database (our schema in the shape APS keeps, see config/aps.yaml) on SQLite, "
    "PostgreSQL or MariaDB, seeded with a generated practice (the one `simulate xpm` serves for the same "
    "--clients and --seed). APS is a database, not an API: nothing is served; connect with `connect aps`."
))
@click.option("--database-url", default=default_aps_url, show_default="aps.db in the per-user data folder",
              help="Where to create it: sqlite:///FILE, postgresql://…, mysql://… (MariaDB). By default a SQLite "
                   "file beside the default database, the same whichever folder you run in (Linux: "
                   "~/.local/share/syncworker/aps.db; `syncworker info` shows the folder).")
@click.option("--clients", type=int, default=200, show_default=True, help="True entities in the generated practice.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--country", type=click.Choice(["AU", "NZ"]), default="AU", show_default=True)
@click.option("--replace", is_flag=True, help="Drop the stand-in's tables first if the database has them.")
@click.option("--write-local", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the practice's matching local clients CSV here.")
@click.option("--write-local-contacts", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the local contacts CSV here.")
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
def aps(database_url: str, clients: int, seed: int, country: str, replace: bool, write_local: Path | None,
        write_local_contacts: Path | None, as_json: bool) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from simulators.aps import build
    from syncworker.config import redact_url

    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        standin, practice = build(database_url, clients, seed, country=country, replace=replace)
    except (ValueError, SQLAlchemyError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    standin.dispose()
    if write_local:
        practice.write_local_csv(write_local)
    if write_local_contacts:
        practice.write_local_contacts_csv(write_local_contacts)
    info = {"database": redact_url(database_url), **standin.counts, "local_clients": len(practice.local)}
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"APS stand-in at {info['database']}: {info['clients']} clients ({info['archived']} archived, "
               f"{info['deleted_in_aps']} deleted in APS and gone), {info['contacts']} contacts, "
               f"{info['family_groups']} family groups, {info['relationships']} relationships, "
               f"{info['multi_email']} email values holding several addresses.")
    if write_local:
        click.echo(f"Local clients CSV: {write_local} ({len(practice.local)} records)")
    click.echo("Connect a tenant to it:")
    if info["database"] == database_url:
        click.echo(f"  syncworker connect aps --tenant NAME --database-url '{database_url}'")
    else:  # the URL holds a password: it stays off the screen (and out of shell history)
        click.echo("  syncworker connect aps --tenant NAME --database-url -")
        click.echo(f"  and give it the URL on standard input: {info['database']} with its password")


def _announce_and_serve(sim, info: dict, as_json: bool, system: str, headline: str, notes: list[str]) -> None:
    """Print how to reach the simulator (one JSON line with --json), then serve until Ctrl-C."""
    if as_json:
        click.echo(json.dumps(info))  # one line, so scripts can read it before the server blocks
    else:
        click.echo(headline)
        click.echo("Point syncworker at it:")
        for key, value in sim.env().items():
            click.echo(f"  export {key}={value}")
        click.echo(f"  {system} tenant id: {sim.xero_tenant_id}")
        click.echo(f"  refresh token (fresh grant): {info['refresh_token']}")
        for note in notes:
            click.echo(note)
        click.echo("Ctrl-C to stop.")
    sys.stdout.flush()  # the connection details must reach a reading process before the server blocks
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if not as_json and os.isatty(1):
            click.echo("stopped")


commands: list[click.Command] = [simulate]
