"""An APS stand-in database for the demo and the tests.

APS (The Access Group, formerly Reckon) keeps its practice on Microsoft SQL Server and publishes no schema
(xpm_aps_xero.md §3). This is OUR schema in the shape integrators describe: entities with a type and a
category (client or prospect), family groups, client contacts, addresses, relationships; an email value that
may hold several addresses; a modified time and a change counter on every entity. config/aps.yaml maps it.
It is created with SQLAlchemy Core, so the same tables exist on SQLite (the default), PostgreSQL and MariaDB.

`seed_practice` fills it from the sample generator's practice (the same one `simulate xpm` serves), with
APS's own noise on top: deleted clients are gone (APS deletes rows), some emails carry a second address,
some clients are prospects. Integer keys replace the generator's UUIDs; `StandIn.ids` maps one to the other
so measurements can use the generator's answer key.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from adapters.aps.client import create_aps_engine, redact
from syncworker.domain.profile import ClientKind, ClientStatus
from syncworker.sample.generator import SamplePractice

_DT = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
ENTITY_TYPES = {ClientKind.INDIVIDUAL: "Individual", ClientKind.COMPANY: "Company", ClientKind.TRUST: "Trust",
                ClientKind.PARTNERSHIP: "Partnership", ClientKind.SOLE_TRADER: "Sole Trader", ClientKind.OTHER: "Other"}
RELATIONSHIP_NAMES = {"public_officer": "Public Officer", "parent_of": "Parent Of", "child_of": "Child Of"}


def metadata(schema: str | None = None) -> sa.MetaData:
    md = sa.MetaData(schema=schema)
    sa.Table("FamilyGroup", md,
             sa.Column("FamilyGroupID", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("Name", sa.String(200), nullable=False),
             sa.Column("Taxable", sa.Boolean))
    sa.Table("Entity", md,
             sa.Column("EntityID", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("EntityCode", sa.String(20)),
             sa.Column("EntityType", sa.String(40)),
             sa.Column("Category", sa.String(20), nullable=False, server_default="Client"),
             sa.Column("Name", sa.String(255), nullable=False),
             sa.Column("Title", sa.String(20)),
             sa.Column("FirstName", sa.String(100)),
             sa.Column("MiddleName", sa.String(100)),
             sa.Column("Surname", sa.String(100)),
             sa.Column("DateOfBirth", sa.Date),
             sa.Column("Email", sa.String(500)),
             sa.Column("Phone", sa.String(50)),
             sa.Column("Mobile", sa.String(50)),
             sa.Column("Website", sa.String(200)),
             sa.Column("TFN", sa.String(20)),
             sa.Column("ABN", sa.String(20)),
             sa.Column("ACN", sa.String(20)),
             sa.Column("FamilyGroupID", sa.Integer, sa.ForeignKey("FamilyGroup.FamilyGroupID")),
             sa.Column("Archived", sa.Boolean, nullable=False, server_default=sa.false()),
             sa.Column("ModifiedDate", _DT, nullable=False),
             sa.Column("RowVer", sa.BigInteger, nullable=False))
    sa.Table("EntityAddress", md,
             sa.Column("AddressID", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("EntityID", sa.Integer, sa.ForeignKey("Entity.EntityID"), nullable=False, index=True),
             sa.Column("AddressType", sa.String(20), nullable=False),
             *(sa.Column(c, sa.String(200)) for c in ("Line1", "Line2", "Suburb", "State", "Postcode", "Country")))
    sa.Table("ClientContact", md,
             sa.Column("ContactID", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("EntityID", sa.Integer, sa.ForeignKey("Entity.EntityID"), nullable=False, index=True),
             *(sa.Column(c, sa.String(200)) for c in ("FullName", "FirstName", "Surname", "Email", "Phone",
                                                       "Mobile", "Position")),
             sa.Column("IsPrimary", sa.Boolean, nullable=False, server_default=sa.false()))
    sa.Table("EntityRelationship", md,
             sa.Column("RelationshipID", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("EntityID", sa.Integer, sa.ForeignKey("Entity.EntityID"), nullable=False, index=True),
             sa.Column("RelatedEntityID", sa.Integer, sa.ForeignKey("Entity.EntityID"), nullable=False),
             sa.Column("RelationshipType", sa.String(50), nullable=False),
             sa.Column("Shares", sa.Integer),
             sa.Column("Percentage", sa.Numeric(7, 4)),
             sa.Column("StartDate", sa.Date),
             sa.Column("EndDate", sa.Date))
    return md


@dataclass
class StandIn:
    """A created (and usually seeded) stand-in database, with helpers that edit it as a practice user would."""

    url: str
    engine: sa.Engine
    md: sa.MetaData
    ids: dict[str, str] = field(default_factory=dict)  # generator remote id (UUID) -> EntityID (as text)
    truth: dict[str, str] = field(default_factory=dict)  # local id -> EntityID of the same true entity
    counts: dict[str, int] = field(default_factory=dict)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def table(self, name: str) -> sa.Table:
        return self.md.tables[f"{self.md.schema}.{name}" if self.md.schema else name]

    def _touch(self, conn: sa.Connection) -> dict[str, Any]:
        rv = conn.execute(sa.select(sa.func.max(self.table("Entity").c.RowVer))).scalar() or 0
        return {"ModifiedDate": self.clock().astimezone(UTC).replace(tzinfo=None), "RowVer": rv + 1}

    def edit_client(self, entity_id: str | int, **columns: Any) -> None:
        """A practice user edits a client in APS (columns by their APS names)."""
        t = self.table("Entity")
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.EntityID == int(entity_id)).values({**columns, **self._touch(conn)}))

    def edit_address(self, entity_id: str | int, kind: str = "Street", **columns: Any) -> None:
        t = self.table("EntityAddress")
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.EntityID == int(entity_id), t.c.AddressType == kind).values(columns))
            e = self.table("Entity")
            conn.execute(sa.update(e).where(e.c.EntityID == int(entity_id)).values(self._touch(conn)))

    def delete_client(self, entity_id: str | int) -> None:
        """APS deletes the row (and its children): nothing is left to report the delete."""
        eid = int(entity_id)
        with self.engine.begin() as conn:
            for name, col in (("EntityAddress", "EntityID"), ("ClientContact", "EntityID"),
                              ("EntityRelationship", "EntityID"), ("EntityRelationship", "RelatedEntityID"),
                              ("Entity", "EntityID")):
                t = self.table(name)
                conn.execute(sa.delete(t).where(t.c[col] == eid))

    def row(self, entity_id: str | int) -> dict[str, Any]:
        t = self.table("Entity")
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(t).where(t.c.EntityID == int(entity_id))).mappings().one())

    def address(self, entity_id: str | int, kind: str = "Street") -> dict[str, Any] | None:
        t = self.table("EntityAddress")
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(t).where(t.c.EntityID == int(entity_id), t.c.AddressType == kind)).mappings().first()
            return dict(r) if r else None

    def dispose(self) -> None:
        self.engine.dispose()


def create_standin(url: str, *, schema: str | None = None, replace: bool = False) -> StandIn:
    """Create the stand-in's tables (refusing to touch a database that already has them unless `replace`)."""
    engine = create_aps_engine(url)
    md = metadata(schema)
    existing = set(sa.inspect(engine).get_table_names(schema=schema))
    clash = existing & {t.name for t in md.sorted_tables}
    if clash and not replace:
        engine.dispose()
        raise ValueError(f"{redact(url)} already has APS tables ({', '.join(sorted(clash))}); "
                         "use a new database or --replace")
    if clash:
        md.drop_all(engine)
    md.create_all(engine)
    return StandIn(url=url, engine=engine, md=md)


def seed_practice(standin: StandIn, practice: SamplePractice, *, seed: int = 0) -> StandIn:
    """Fill the stand-in with the practice's remote side, with APS's noise (see the module docstring)."""
    r = random.Random(seed ^ 0xA95)
    s = standin
    live = [p for p in practice.remote if p.status != ClientStatus.DELETED]
    ids = {p.id: str(i) for i, p in enumerate(live, 1)}
    group_of: dict[str, int] = {}
    groups = []
    for gid, g in enumerate(practice.remote_groups, 1):
        groups.append({"FamilyGroupID": gid, "Name": g.name, "Taxable": bool(g.taxable)})
        for member in g.member_ids:
            group_of.setdefault(member, gid)  # APS: one family group per client
    entities, addresses = [], []
    for i, p in enumerate(live, 1):
        email = p.email
        if email and r.random() < 0.1:  # an old or a partner's address kept in the same field
            email = f"{email}; {email.split('@')[0]}.old@{r.choice(('bigpond.com', 'gmail.com', 'outlook.com'))}"
        entities.append({
            "EntityID": i, "EntityCode": f"{(p.family_name or p.name)[:3].upper()}{i:04d}",
            "EntityType": "Super Fund" if p.kind == ClientKind.TRUST and "Fund" in p.name else ENTITY_TYPES[p.kind],
            "Category": "Prospect" if r.random() < 0.03 else "Client", "Name": p.name,
            "FirstName": p.given_name if p.kind.is_person else None, "MiddleName": p.middle_name if p.kind.is_person else None,
            "Surname": p.family_name if p.kind.is_person else None, "DateOfBirth": p.date_of_birth,
            "Email": email, "Phone": p.phone, "Mobile": p.mobile, "Website": p.website, "TFN": p.tax_number,
            "ABN": p.business_number, "ACN": p.company_number, "FamilyGroupID": group_of.get(p.id),
            "Archived": p.status == ClientStatus.ARCHIVED,
            "ModifiedDate": (p.modified_at or s.clock()).astimezone(UTC).replace(tzinfo=None), "RowVer": i,
        })
        for kind, addr in (("Street", p.address), ("Postal", p.postal_address)):
            if addr is not None and not addr.is_empty():
                addresses.append({"EntityID": i, "AddressType": kind, "Line1": addr.line1, "Line2": addr.line2,
                                  "Suburb": addr.city, "State": addr.region, "Postcode": addr.postcode,
                                  "Country": addr.country})
    contacts = []
    for c in practice.remote_contacts:
        for cid in c.client_ids:
            if cid in ids:
                contacts.append({"ContactID": len(contacts) + 1, "EntityID": int(ids[cid]), "FullName": c.name,
                                 "FirstName": c.given_name, "Surname": c.family_name, "Email": c.email,
                                 "Phone": c.phone, "Mobile": c.mobile, "Position": c.position,
                                 "IsPrimary": c.is_primary})
    relationships = []
    for rel in practice.remote_relationships:
        if rel.client_id in ids and rel.related_client_id in ids:
            relationships.append({
                "RelationshipID": len(relationships) + 1, "EntityID": int(ids[rel.client_id]),
                "RelatedEntityID": int(ids[rel.related_client_id]),
                "RelationshipType": RELATIONSHIP_NAMES.get(rel.type, rel.type.replace("_", " ").title()),
                "Shares": rel.number_of_shares, "Percentage": rel.percentage, "StartDate": rel.start_date,
                "EndDate": rel.end_date,
            })
    with s.engine.begin() as conn:
        for name, rows in (("FamilyGroup", groups), ("Entity", entities), ("EntityAddress", addresses),
                           ("ClientContact", contacts), ("EntityRelationship", relationships)):
            if rows:
                conn.execute(sa.insert(s.table(name)), rows)
        if conn.dialect.name == "postgresql":  # explicit keys: move the sequences past them
            for name, key in (("FamilyGroup", "FamilyGroupID"), ("Entity", "EntityID"), ("ClientContact", "ContactID"),
                              ("EntityRelationship", "RelationshipID")):
                qualified = f'{s.md.schema}."{name}"' if s.md.schema else f'"{name}"'
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{qualified}', '{key}'), "
                                     f"(SELECT COALESCE(MAX(\"{key}\"), 0) + 1 FROM {qualified}), false)")
    s.ids = ids
    s.truth = {lid: ids[rid] for lid, rid in practice.truth.items() if rid in ids}
    s.counts = {"clients": len(entities), "archived": sum(1 for e in entities if e["Archived"]),
                "deleted_in_aps": len(practice.remote) - len(live), "addresses": len(addresses),
                "contacts": len(contacts), "family_groups": len(groups), "relationships": len(relationships),
                "multi_email": sum(1 for e in entities if e["Email"] and ";" in e["Email"])}
    return s


def build(url: str, n_clients: int, seed: int, *, country: str = "AU", schema: str | None = None,
          replace: bool = False, practice: SamplePractice | None = None) -> tuple[StandIn, SamplePractice]:
    """Create and seed a stand-in with a generated practice (the one `simulate xpm` would serve)."""
    from syncworker.sample import generate_practice

    practice = practice or generate_practice(n_clients, seed, country)
    standin = create_standin(url, schema=schema, replace=replace)
    return seed_practice(standin, practice, seed=seed), practice

