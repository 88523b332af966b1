"""The main job on the embedded default, end to end, with nothing else set up: an XPM simulator seeded
with a sample practice on loopback, the matching local records imported into the configured database
(SQLite by default), the tenant connected with a grant from the simulator, and a link run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from simulators.xpm import XpmSimulator
from syncworker.bootstrap import build_context
from syncworker.config import Settings
from syncworker.sample import generate_practice
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.importer import ImportReport, import_clients, import_contacts
from syncworker.services.link_run import LinkRunReport, run_link_run
from syncworker.services.tenants import add_tenant
from syncworker.store.crypto import generate_key
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


def run_demo(settings: Settings, *, tenant: str = "Demo Practice", clients: int = 400, seed: int = 7,
             say: Callable[[str], None] = print, progress: Any = None) -> DemoResult:
    db = Database(settings.database_url)
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
    db.dispose()
    return DemoResult(url, clients_report, contacts_report, report)
