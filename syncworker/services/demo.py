"""The main job on the embedded default, end to end, with nothing else set up: an XPM simulator seeded
with a sample practice on loopback, the matching local records imported into the configured database
(SQLite by default), the tenant connected with a grant from the simulator, and a link run."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from simulators.xpm import XpmSimulator
from syncworker.bootstrap import build_context
from syncworker.config import Settings, kept_key_file
from syncworker.sample import generate_practice
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.importer import ImportReport, import_clients, import_contacts
from syncworker.services.link_run import LinkRunReport, run_link_run
from syncworker.services.tenants import add_tenant, disconnect_system
from syncworker.store.crypto import SecretKeyError, generate_key
from syncworker.store.db import Database
from syncworker.store.models import Tenant


def settings_for_simulator(settings: Settings, sim: XpmSimulator, secret_key: str | None = None) -> Settings:
    """`settings` with the Xero URLs and app credentials pointing at a running simulator."""
    return replace(settings, xpm_url=sim.base_url, xero_identity_url=sim.identity_url, xero_api_url=sim.api_url,
                   xero_client_id=sim.client_id, xero_client_secret=sim.client_secret,
                   secret_key=secret_key or settings.secret_key or generate_key())


@dataclass
class DemoResult:
    simulator_url: str
    imported_clients: ImportReport
    imported_contacts: ImportReport
    report: LinkRunReport

    def as_dict(self) -> dict[str, Any]:
        return {"simulator_url": self.simulator_url, "imported_clients": self.imported_clients.as_dict(),
                "imported_contacts": self.imported_contacts.as_dict(), "report": self.report.as_dict()}


def demo_key(settings: Settings, say: Callable[[str], None]) -> str:
    """The key the demo encrypts with: SYNCWORKER_SECRET_KEY, or one the SQLite database keeps beside it
    (made now if need be), so the commands that follow the demo read what it stored. A server database
    without a key is refused: a throwaway key would leave data nobody can read."""
    if settings.secret_key:
        return settings.secret_key
    path = kept_key_file(settings.database_url)
    if path is None:
        raise SecretKeyError("the demo stores credentials and tax numbers encrypted: set SYNCWORKER_SECRET_KEY "
                             "(`syncworker keygen` makes one) for a database other than SQLite")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(generate_key() + "\n")
        say(f"no SYNCWORKER_SECRET_KEY set: the demo keeps its own key in {path} (owner-only)")
    return path.read_text(encoding="ascii").strip()


def run_demo(settings: Settings, *, tenant: str = "Demo Practice", clients: int = 400, seed: int = 7,
             say: Callable[[str], None] = print, progress: Any = None) -> DemoResult:
    settings = replace(settings, secret_key=demo_key(settings, say))
    db = Database(settings.database_url, secret_key=settings.secret_key)
    db.upgrade()
    with db.session() as s:
        exists = s.scalar(select(Tenant.id).where(Tenant.name == tenant)) is not None
    if not exists:
        add_tenant(db, tenant)
    practice = generate_practice(clients, seed)
    with XpmSimulator(practice=practice, seed=seed) as sim, tempfile.TemporaryDirectory() as tmp:
        url = sim.root_url
        say(f"XPM simulator on {url} with {len(practice.remote)} clients (seed {seed})")
        ctx = build_context(settings_for_simulator(settings, sim), db=db)
        clients_report = import_clients(db, tenant, practice.write_local_csv(Path(tmp) / "clients.csv"))
        contacts_report = import_contacts(db, tenant, practice.write_local_contacts_csv(Path(tmp) / "contacts.csv"))
        say(f"local practice imported into {settings.database_path_hint()}: "
            f"{clients_report.created} clients created, {clients_report.unchanged} unchanged; "
            f"{contacts_report.created} contacts created, {contacts_report.unchanged} unchanged")
        connected = connect_with_refresh_token(ctx, tenant, "xpm", sim.issue_refresh_token())
        say(f"connected to XPM practice {connected['remote_tenant_name']!r}")
        report = run_link_run(ctx, tenant, "xpm", trigger="operator", progress=progress)
    # The simulator stops here, so its grant is useless: forget it, and a later `sync` or `link-run` says
    # "not connected" instead of sending the simulator's tokens to the real Xero.
    disconnect_system(db, tenant, "xpm", actor="demo")
    say(f"the simulator has stopped: {tenant!r} is disconnected again (its links, reviews and duplicates stay)")
    db.dispose()
    return DemoResult(url, clients_report, contacts_report, report)
