"""The relational model. Schema changes go through Alembic migrations (syncworker/migrations), never
`create_all`.

Local records carry a `version` that increases on every change: the sync engine pushes what changed since
the version it last pushed, and the ORM uses it for optimistic locking.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from syncworker.store.crypto import is_identifier_key
from syncworker.store.types import (
    JSONType,
    KeyedHash,
    MaskedJSON,
    PrivateText,
    SealedIdentifier,
    SealedJSON,
    SealedText,
    UTCDateTime,
    utcnow,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CLIENT_KINDS = ("individual", "company", "trust", "partnership", "sole_trader", "other")
CLIENT_STATUSES = ("active", "inactive", "archived")
LINK_STATUSES = ("suggested", "linked", "rejected", "broken")
RUN_STATUSES = ("queued", "running", "succeeded", "partial", "failed", "skipped")
RUN_TRIGGERS = ("schedule", "operator", "webhook", "cli")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Tenant(Timestamps, Base):
    """A practice."""

    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # per-tenant overrides (rules, options)


class TenantSystem(Timestamps, Base):
    """A tenant's connection to one external system, with its credentials encrypted at rest."""

    __tablename__ = "tenant_systems"
    __table_args__ = (
        UniqueConstraint("tenant_id", "system"),
        CheckConstraint(_in("status", ("connected", "reconnect_required", "disconnected")), name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), default="connected")
    status_reason: Mapped[str | None] = mapped_column(Text)
    remote_tenant_id: Mapped[str | None] = mapped_column(String(100))
    # Fernet ciphertext of the token set (JSON); `credentials_version` is the compare-and-swap counter.
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    credentials_version: Mapped[int] = mapped_column(default=0)
    # The daily call limit was spent; runs resume after this time.
    paused_until: Mapped[datetime | None]


class Client(Timestamps, Base):
    """A local client record: the practice's own system of record."""

    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_clients_tenant_tax_number_hash", "tenant_id", "tax_number_hash"),
        CheckConstraint(_in("kind", CLIENT_KINDS), name="kind"),
        CheckConstraint(_in("status", CLIENT_STATUSES), name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))  # the `id` column of imports
    kind: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(300))
    given_name: Mapped[str | None] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    other_emails: Mapped[list[Any]] = mapped_column(default=list)
    phone: Mapped[str | None] = mapped_column(String(50))
    mobile: Mapped[str | None] = mapped_column(String(50))
    website: Mapped[str | None] = mapped_column(String(300))
    street_line1: Mapped[str | None] = mapped_column(String(200))
    street_line2: Mapped[str | None] = mapped_column(String(200))
    street_city: Mapped[str | None] = mapped_column(String(100))
    street_region: Mapped[str | None] = mapped_column(String(100))
    street_postcode: Mapped[str | None] = mapped_column(String(20))
    street_country: Mapped[str | None] = mapped_column(String(100))
    postal_line1: Mapped[str | None] = mapped_column(String(200))
    postal_line2: Mapped[str | None] = mapped_column(String(200))
    postal_city: Mapped[str | None] = mapped_column(String(100))
    postal_region: Mapped[str | None] = mapped_column(String(100))
    postal_postcode: Mapped[str | None] = mapped_column(String(20))
    postal_country: Mapped[str | None] = mapped_column(String(100))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    # A tax file number is private: encrypted at rest, with its keyed hash beside it for lookups (ABNs and
    # ACNs are on public registers and stay readable). Set the plain value; the hash follows (see below).
    tax_number: Mapped[str | None] = mapped_column(SealedIdentifier())
    tax_number_hash: Mapped[str | None] = mapped_column(KeyedHash())
    business_number: Mapped[str | None] = mapped_column(String(30))
    company_number: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="active")
    # When a duplicate cluster is merged, the absorbed records point at the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1)

    contacts: Mapped[list[Contact]] = relationship(back_populates="client", passive_deletes=True)
    __mapper_args__ = {"version_id_col": version}


@event.listens_for(Client, "before_insert")
@event.listens_for(Client, "before_update")
def _index_tax_number(_mapper: Any, _conn: Any, client: Client) -> None:
    """The keyed hash follows the tax number on every ORM write (the importer's bulk insert sets it itself,
    through `store.mapping.client_columns`)."""
    if inspect(client).attrs.tax_number.history.has_changes() or client.tax_number_hash is None:
        client.tax_number_hash = client.tax_number


class Contact(Timestamps, Base):
    """A person attached to a client (Canopy keeps contacts apart from clients)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    mobile: Mapped[str | None] = mapped_column(String(50))
    position: Mapped[str | None] = mapped_column(String(100))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(default=1)

    client: Mapped[Client] = relationship(back_populates="contacts")
    __mapper_args__ = {"version_id_col": version}


class Connection(Timestamps, Base):
    """Two clients related to each other: one fact, seen from both sides, each with its own description
    (Canopy: "Attorney" on one record, "Client" on the other)."""

    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("tenant_id", "client_id", "related_client_id", "relationship_type"),
        CheckConstraint("client_id <> related_client_id", name="not_self"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    related_client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    relationship_type: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(String(200))  # shown on client_id's record
    related_description: Mapped[str | None] = mapped_column(String(200))  # shown on related_client_id's record
    is_primary_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(default=1)


class ClientGroupRow(Timestamps, Base):
    __tablename__ = "client_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)


class ClientGroupMember(Base):
    __tablename__ = "client_group_members"
    group_id: Mapped[int] = mapped_column(ForeignKey("client_groups.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class RemoteRecord(Base):
    """The last pulled state of a remote record (the records cache): upserted by remote id, so replaying
    a page changes nothing."""

    __tablename__ = "remote_records"
    __table_args__ = (UniqueConstraint("tenant_id", "system", "record_type", "remote_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(20))
    record_type: Mapped[str] = mapped_column(String(20), default="client")  # client, contact, relationship, group
    remote_id: Mapped[str] = mapped_column(String(100))
    # The canonical profile, JSON-ready; a tax file number in it is stored sealed (`SealedJSON`).
    payload: Mapped[dict[str, Any]] = mapped_column(SealedJSON())
    payload_hash: Mapped[str] = mapped_column(String(64))
    remote_status: Mapped[str] = mapped_column(String(20), default="active")  # active, archived, deleted
    remote_modified_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)  # last time payload_hash changed


class Link(Timestamps, Base):
    """A local client tied to a remote record in one system. At most one `linked` row per local record per
    system, and per remote record per system: enforced by partial unique indexes."""

    __tablename__ = "links"
    __table_args__ = (
        CheckConstraint(_in("status", LINK_STATUSES), name="status"),
        CheckConstraint(_in("method", ("auto", "manual")), name="method"),
        Index(
            "uq_links_linked_local", "tenant_id", "system", "client_id", unique=True,
            sqlite_where=text("status = 'linked'"), postgresql_where=text("status = 'linked'"),
        ),
        Index(
            "uq_links_linked_remote", "tenant_id", "system", "remote_id", unique=True,
            sqlite_where=text("status = 'linked'"), postgresql_where=text("status = 'linked'"),
        ),
        Index("ix_links_pair", "tenant_id", "system", "client_id", "remote_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    remote_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(10), default="auto")
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    # What the two records looked like when the decision was made: a rejected suggestion is offered again
    # only if one of them has changed since.
    local_version_at_decision: Mapped[int | None]
    remote_hash_at_decision: Mapped[str | None] = mapped_column(String(64))
    # Versions of the local record pushed last (sync engine's change capture).
    last_pushed_version: Mapped[int | None]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"))


class LinkEvent(Base):
    """Link history: every status change, who made it and why."""

    __tablename__ = "link_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(20))  # suggested, linked, approved, rejected, unlinked, relinked, broken
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DuplicateCluster(Timestamps, Base):
    __tablename__ = "duplicate_clusters"
    __table_args__ = (
        UniqueConstraint("tenant_id", "scope", "fingerprint"),
        CheckConstraint(_in("status", ("unresolved", "merged", "not_duplicates")), name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(20))  # "local" or a system name
    fingerprint: Mapped[str] = mapped_column(String(64))  # hash of the sorted member refs: stable across runs
    status: Mapped[str] = mapped_column(String(20), default="unresolved")
    # duplicate: records to merge; same_person: a contact who is also an individual client, to tie together.
    cluster_type: Mapped[str] = mapped_column(String(20), default="duplicate", server_default="duplicate")
    record_type: Mapped[str] = mapped_column(String(20), default="client", server_default="client")  # person, organisation
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    survivor_ref: Mapped[str | None] = mapped_column(String(120))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None]
    members: Mapped[list[DuplicateMember]] = relationship(
        back_populates="cluster", cascade="all, delete-orphan", passive_deletes=True
    )


class DuplicateMember(Base):
    __tablename__ = "duplicate_members"
    __table_args__ = (UniqueConstraint("cluster_id", "member_ref"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("duplicate_clusters.id", ondelete="CASCADE"), index=True)
    # "client:<id>", "contact:<id>" for local records; "<system>:<remote id>" for remote ones.
    member_ref: Mapped[str] = mapped_column(String(120))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    cluster: Mapped[DuplicateCluster] = relationship(back_populates="members")


class FieldSyncState(Base):
    """Per link and field: the last value both sides agreed on (the merge base) and where it came from."""

    __tablename__ = "field_sync_state"
    __table_args__ = (UniqueConstraint("link_id", "field"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(60))
    # JSON-encoded; sealed for a private identifier (see `_seal_private_values`), whose `base_hash` is then
    # a keyed hash (`services.sync_store.field_digest`): a plain SHA-256 of 9 digits is no secret.
    base_value: Mapped[str | None] = mapped_column(SealedText())
    base_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))  # local, remote, both
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncConflict(Base):
    __tablename__ = "sync_conflicts"
    __table_args__ = (CheckConstraint(_in("status", ("open", "resolved")), name="status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(60))
    # JSON-encoded values; sealed for a private identifier (see `_seal_private_values`).
    base_value: Mapped[str | None] = mapped_column(SealedText())
    local_value: Mapped[str | None] = mapped_column(SealedText())
    remote_value: Mapped[str | None] = mapped_column(SealedText())
    status: Mapped[str] = mapped_column(String(10), default="open")
    resolution: Mapped[str | None] = mapped_column(String(20))  # local, remote, custom
    resolved_value: Mapped[str | None] = mapped_column(SealedText())
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    # The run that opened it (bulk resolution "all of a run") and why the field is in conflict.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))


_VALUE_COLUMNS = {FieldSyncState: ("base_value",),
                  SyncConflict: ("base_value", "local_value", "remote_value", "resolved_value")}


@event.listens_for(FieldSyncState, "before_insert")
@event.listens_for(FieldSyncState, "before_update")
@event.listens_for(SyncConflict, "before_insert")
@event.listens_for(SyncConflict, "before_update")
def _seal_private_values(_mapper: Any, _conn: Any, row: FieldSyncState | SyncConflict) -> None:
    """The values of a row about a private identifier (a tax file number) are marked so that their column
    (`SealedText`) stores them sealed, whichever path wrote them; other fields' values stay readable."""
    if not is_identifier_key(row.field):
        return
    for name in _VALUE_COLUMNS[type(row)]:
        value = getattr(row, name)
        if value is not None and not isinstance(value, PrivateText):
            setattr(row, name, PrivateText(value))


class Checkpoint(Base):
    """Where an incremental stream stopped: saved after every page so a failed run resumes there."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("tenant_id", "system", "stream"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(20))
    stream: Mapped[str] = mapped_column(String(50))
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        CheckConstraint(_in("trigger", RUN_TRIGGERS), name="trigger"),
        Index("ix_job_runs_tenant_started", "tenant_id", "started_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # link_run, sync, import_clients, import_contacts, webhook_pull
    system: Mapped[str | None] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(20), default="cli")
    status: Mapped[str] = mapped_column(String(20), default="running")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class RunLock(Base):
    """One row per tenant while a run holds it: a lease that works across processes on SQLite and
    PostgreSQL alike. A holder that stops heart-beating loses it after the TTL."""

    __tablename__ = "run_locks"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """Received webhook events, unique on (tenant, category, resource, event time) so a delivery repeated
    any number of times is processed once."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("tenant_id", "category", "resource_id", "event_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(30))
    event_type: Mapped[str] = mapped_column(String(20))
    resource_id: Mapped[str] = mapped_column(String(100))
    event_date: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"))


class AuditEntry(Base):
    """Append-only log of every write to local or remote data (database triggers refuse UPDATE and
    DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))  # operator name, "import", "link-run", "sync"
    origin: Mapped[str] = mapped_column(String(20))  # where the change came from: local, xpm, xero, operator
    target: Mapped[str] = mapped_column(String(20))  # which side was written: local, xpm, xero
    entity: Mapped[str] = mapped_column(String(30))  # client, contact, link, connection, group, credentials
    entity_id: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(30))  # create, update, delete, link, unlink, merge, ...
    # Tax file numbers are masked to their last digits on the way in (`MaskedJSON`).
    before: Mapped[dict[str, Any] | None] = mapped_column(MaskedJSON())
    after: Mapped[dict[str, Any] | None] = mapped_column(MaskedJSON())
    run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"))


# --- client portal (issue #17: Canopy's client portal) ---
PORTAL_INVITATION_STATUSES = ("pending", "accepted", "revoked", "expired", "superseded")
MAIL_STATUSES = ("pending", "sending", "sent", "failed", "cancelled")


class PortalUser(Timestamps, Base):
    """A person who may log in to client portals: an individual client or a contact, by email. One row per
    email per tenant, however many portals the person is invited to."""

    __tablename__ = "portal_users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        CheckConstraint("(client_id IS NULL) <> (contact_id IS NULL)", name="one_person"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # scrypt, set when an invitation is accepted
    accepted_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]


class PortalAccess(Base):
    """A user may see a primary client's records (that client's portal). Ended, never deleted: a connection
    removed or access revoked sets `ended_at`. At most one open row per user and client."""

    __tablename__ = "portal_access"
    __table_args__ = (
        Index("uq_portal_access_open", "user_id", "client_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)  # the portal
    # The connection that made this person eligible (a spouse, a dependant); removing it ends the access.
    via_connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="SET NULL"), index=True)
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(100))


class PortalInvitation(Base):
    """One invitation email's token for one access. Only the token's SHA-256 is stored. A resend makes a new
    row and marks the old one `superseded`, so an old link stops working the moment a new one exists."""

    __tablename__ = "portal_invitations"
    __table_args__ = (
        CheckConstraint(_in("status", PORTAL_INVITATION_STATUSES), name="status"),
        UniqueConstraint("token_hash"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    access_id: Mapped[int] = mapped_column(ForeignKey("portal_access.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    message: Mapped[str | None] = mapped_column(Text)  # the practice's own words, shown in the email
    invited_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]  # when the email left (set by the outbox)
    expires_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]  # revoked, expired or superseded
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("portal_invitations.id", ondelete="SET NULL"))


class MailOutbox(Base):
    """Messages waiting to leave, written in the same transaction as what they announce. A worker claims a row
    (`sending`), sends it with its fixed Message-ID and marks it `sent`; a failure schedules a retry with
    backoff. Bodies are cleared once sent: an invitation link lives here only until it has left."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        CheckConstraint(_in("status", MAIL_STATUSES), name="status"),
        UniqueConstraint("message_id"),
        Index("ix_mail_outbox_due", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # portal_invitation, portal_reminder
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("portal_invitations.id", ondelete="SET NULL"),
                                                      index=True)
    message_id: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


LOGIN_ATTEMPT_KINDS = ("failure", "account_lock", "email_lock", "address_lock", "known")


class PortalLoginAttempt(Base):
    """A failed client portal login, a lockout failures started (`domain.portal.LoginLimits`: `account_lock`
    of an email from one address, `email_lock`, `address_lock`) or an address an email logged in from
    (`known`), kept here so that a restart or a second server process forgets none. `account` is an HMAC of the
    email as typed (normalised, `services.portal_logins.account_key`): an email without an account counts the
    same way and is not kept in the clear. `address` is the client's network (IPv6 by /64). The portal's upkeep
    prunes them."""

    __tablename__ = "portal_login_attempts"
    __table_args__ = (
        CheckConstraint(_in("kind", LOGIN_ATTEMPT_KINDS), name="kind"),
        Index("ix_portal_login_attempts_account_at", "account", "at"),
        Index("ix_portal_login_attempts_address_at", "address", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    account: Mapped[str | None] = mapped_column(String(64))  # NULL on an address lock
    address: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    until: Mapped[datetime | None]  # a lockout's end
