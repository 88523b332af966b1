"""The sample practice's XPM side served by the strict XPM written from the public docs
(tests/adapters/xpm_strict_fake.py), not by our simulator: each generated XPM record rendered as the docs
describe a client (xpm_aps_xero.md §1.5), then a tenant wired to it the way production wires XPM.

The rendering follows the docs, not the simulator: every documented field is served, blank ones as empty
elements; `Address`/`PostalAddress` are free text over several lines; `DateOfBirth` is a date-time at
midnight; the entity kind is a practice-configured `BusinessStructure` name; `TaxNumber` is masked on read
(the fake does it); deleted records are not listed; contacts and relationships are not served at all.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from adapters.base import ClientSystem, TokenSet
from adapters.ratelimit import RateLimiter
from adapters.xpm.client import XpmClient
from syncworker.config import Settings
from syncworker.domain.profile import Address, ClientKind, ClientProfile, ClientStatus
from syncworker.sample import SamplePractice
from syncworker.services.context import ServiceContext
from syncworker.services.systems import token_store
from syncworker.services.tenants import get_tenant
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from tests.adapters.xpm.xpm_fakes import StaticTokens
from tests.adapters.xpm_strict_fake import BASE, StrictXpm

STRUCTURES = {ClientKind.INDIVIDUAL: "Individual", ClientKind.COMPANY: "Company", ClientKind.TRUST: "Trust",
              ClientKind.PARTNERSHIP: "Partnership", ClientKind.SOLE_TRADER: "Sole Trader", ClientKind.OTHER: "Other"}


def strict_practice(practice: SamplePractice) -> StrictXpm:
    """The practice's XPM records (less the deleted ones) and client groups on a strict XPM."""
    fake = StrictXpm()
    for g in practice.remote_groups:
        fake.groups[g.id] = g.name
    members: dict[str, list[str]] = {}
    for g in practice.remote_groups:
        for rid in g.member_ids:
            members.setdefault(rid, []).append(g.id)
    for p in practice.remote:
        if p.status == ClientStatus.DELETED:
            continue
        client = fake.add_client(p.id, **documented_fields(p))
        client.archived = p.status == ClientStatus.ARCHIVED
        client.groups = members.get(p.id, [])
        if p.modified_at is not None:
            client.modified = p.modified_at
    return fake


def documented_fields(p: ClientProfile) -> dict[str, str]:
    """One client as XPM v3.1 documents its fields (XML names)."""
    person = p.kind in (ClientKind.INDIVIDUAL, ClientKind.SOLE_TRADER)
    out = {
        "Name": p.name, "Title": "", "FirstName": (p.given_name or "") if person else "",
        "MiddleName": (p.middle_name or "") if person else "", "LastName": (p.family_name or "") if person else "",
        "Email": p.email or "", "Phone": p.phone or "", "Fax": "", "Website": p.website or "",
        "DateOfBirth": f"{p.date_of_birth.isoformat()}T00:00:00" if p.date_of_birth else "",
        "TaxNumber": p.tax_number or "", "BusinessNumber": p.business_number or "",
        "CompanyNumber": p.company_number or "", "BusinessStructure": STRUCTURES[p.kind],
    }
    for prefix, address in (("", p.address), ("Postal", p.postal_address)):
        a = address or Address()
        out |= {f"{prefix}Address": "\n".join(x for x in (a.line1, a.line2) if x), f"{prefix}City": a.city or "",
                f"{prefix}Region": a.region or "", f"{prefix}PostCode": a.postcode or "",
                f"{prefix}Country": a.country or ""}
    return out


def strict_context(db: Database, fake: StrictXpm, env: dict[str, str] | None = None) -> ServiceContext:
    """A context (with its secret key) whose XPM adapter, the production XpmClient, talks to `fake`; install
    the fake on a `responses.RequestsMock` first."""
    settings = replace(Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url, **(env or {})}),
                       secret_key=generate_key())

    start = fake.now
    # Xero's per-minute limit kept on the fake's clock: a wait moves the fake's time, not the wall clock's.
    limiter = RateLimiter(clock=lambda: (fake.now - start).total_seconds(), now=lambda: fake.now, sleep=fake.tick)

    def adapter(ctx: ServiceContext, tenant_id: int, system: str) -> ClientSystem:
        return XpmClient(StaticTokens(), base_url=BASE, limiter=limiter, sleep=fake.tick,  # type: ignore[arg-type]
                         clock=lambda: fake.now)

    return ServiceContext(db, settings, adapter_factory=adapter)


def connect_strict(ctx: ServiceContext, tenant: str) -> None:
    """`tenant` connected to the strict XPM: a token set stored, as `connect` leaves it."""
    with ctx.db.session() as s:
        tenant_id = get_tenant(s, tenant).id
    token_store(ctx, tenant_id, "xpm").compare_and_swap(0, TokenSet(
        access_token="access-1", refresh_token="refresh-1", expires_at=datetime(2100, 1, 1, tzinfo=UTC),
        remote_tenant_id="2f7d4c1e-0000-4000-8000-00000000a001"))
