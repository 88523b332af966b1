"""The port every external system implements (ports and adapters).

The application asks for clients, contacts, relationships and groups in canonical form; each adapter
states only what differs for its system: auth, paging, parsing, field names. Paging is exposed as
`Page`s carrying an opaque `checkpoint`, so callers can persist progress after every page and resume
a failed run where it stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from adapters.errors import AdapterError, DailyLimitReached, ReconnectRequired
from syncworker.domain.profile import ClientGroup, ClientProfile, ContactProfile, Relationship

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Capabilities:
    can_create: bool = False
    can_update: bool = False
    can_archive: bool = False
    writable_fields: frozenset[str] = frozenset()  # canonical field names the system accepts on write
    webhooks: bool = False
    incremental: bool = False  # can list "modified since"
    reports_deletes: bool = False  # incremental pulls include archived/deleted records
    relationships: bool = False
    groups: bool = False
    writes_relationships: bool = True  # adds and deletes relationships and groups (APS: read only)


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    # Opaque resume point: pass it back as `resume_from` to continue after this page. On a full listing,
    # None marks the last page. On an incremental pull the last page carries the cursor for the next pull
    # (e.g. "since:<ISO time>"), and earlier pages repeat the current one, so a resume repeats rather than skips.
    checkpoint: str | None = None
    # True for pages of an incremental ("modified since") pull.
    incremental: bool = False
    # Set by the adapter on the last page of a listing that knows it: where the next incremental pull starts.
    # A time (on the server's clock, overlap included) comes back as `modified_since`; a string is the
    # adapter's own token (APS: "rv:<n>", a rowversion), stored as is and handed back unchanged as
    # `resume_from`. Callers store it; they never parse it, nor `checkpoint`.
    next_cursor: datetime | str | None = None
    # Records of this page the system sent but the adapter could not read (a malformed record): one
    # `{"remote_id": <id or None>, "error": <what is wrong, no client data>}` each. Skipped and reported,
    # never a failed listing; their cached copies stand.
    skipped: list[dict[str, str | None]] = field(default_factory=list)


class ClientSystem(ABC):
    """One tenant's connection to one external system."""

    system: str  # "xpm", "xero", "aps"
    capabilities: Capabilities
    # How many records one `update_clients` call writes per request (1 = one call per record). Callers
    # hand over this many at a time, so a system with batch writes (Xero: 50) is not fed one by one.
    write_batch_size: int = 1
    # How many records one read by id (`get_clients`, `list_relationships_of`) covers per request (1 = one call
    # per record). Callers reading many records by id count their budget in calls, so a system that reads a
    # batch per query (APS: an IN-list per page) is not held to one record per call.
    read_batch_size: int = 1
    # Whether a client's record read by id can carry its relationships (XPM's detailed record does). False (APS:
    # relationships are a table of their own): a caller holding the record in its cache asks for the
    # relationships alone (`list_relationships_of`), not for the record again.
    records_carry_relationships: bool = True

    # --- clients ---
    @abstractmethod
    def iter_client_pages(
        self, *, modified_since: datetime | None = None, resume_from: str | None = None
    ) -> Iterator[Page[ClientProfile]]:
        """Full listing when `modified_since` is None, else an incremental pull (which may include archived
        and deleted records, with `status` set accordingly)."""

    @abstractmethod
    def get_client(self, remote_id: str) -> ClientProfile | None: ...

    @abstractmethod
    def search_clients(self, query: str) -> list[ClientProfile]: ...

    def get_clients(self, remote_ids: Iterable[str]) -> list[ClientProfile]:
        """Several records by id (archived included); ids the system does not know are simply absent.
        Systems that read many ids per call override this; the default is one `get_client` each."""
        return [p for rid in dict.fromkeys(remote_ids) if (p := self.get_client(rid)) is not None]

    def update_clients(self, changes: Mapping[str, Mapping[str, Any]]
                       ) -> dict[str, ClientProfile | Exception]:
        """Write several records: {remote id: canonical changes}. Returns, for every id, the record as stored
        after the write, or the error that failed that one record (`RemoteRejected`, `NotFound`, `ValueError`,
        ...). What stops every record (`DailyLimitReached`, `ReconnectRequired`, and in a batch call a
        `TransientError`) is raised. The default is one `update_client` each."""
        out: dict[str, ClientProfile | Exception] = {}
        for remote_id, fields in changes.items():
            try:
                out[remote_id] = self.update_client(remote_id, fields)
            except (DailyLimitReached, ReconnectRequired):
                raise
            except (AdapterError, ValueError) as exc:
                out[remote_id] = exc
        return out

    def create_client(self, profile: ClientProfile) -> ClientProfile:
        raise NotImplementedError(f"{self.system} cannot create clients")

    def update_client(self, remote_id: str, changes: Mapping[str, Any]) -> ClientProfile:
        """Write the given canonical fields (flattened names, see `SYNCABLE_FIELDS`); returns the record as
        stored after the write."""
        raise NotImplementedError(f"{self.system} cannot update clients")

    def archive_client(self, remote_id: str) -> None:
        raise NotImplementedError(f"{self.system} cannot archive clients")

    # --- contacts ---
    def iter_contact_pages(self, *, resume_from: str | None = None) -> Iterator[Page[ContactProfile]]:
        return iter(())

    # --- relationships and groups ---
    def list_relationships(self, client_id: str) -> list[Relationship]:
        return []

    def list_relationships_of(self, client_ids: Iterable[str]) -> dict[str, list[Relationship]]:
        """The relationships of several clients, by client id (every id asked for is a key). Systems that read
        them in batches override this (`read_batch_size`); the default is one `list_relationships` each."""
        return {cid: self.list_relationships(cid) for cid in dict.fromkeys(client_ids)}

    def add_relationship(self, rel: Relationship) -> Relationship:
        raise NotImplementedError(f"{self.system} cannot add relationships")

    def delete_relationship(self, relationship_id: str) -> None:
        raise NotImplementedError(f"{self.system} cannot delete relationships")

    def list_groups(self, *, members: bool = True) -> list[ClientGroup]:
        """The system's groups; `members=False` may leave `member_ids` empty when that saves calls (the
        caller knows the members from detailed client records)."""
        return []

    def add_group(self, group: ClientGroup) -> ClientGroup:
        raise NotImplementedError(f"{self.system} cannot add groups")

    def set_group_members(self, group_id: str, add: list[str], remove: list[str]) -> None:
        raise NotImplementedError(f"{self.system} cannot change group members")

    def delete_group(self, group_id: str) -> None:
        raise NotImplementedError(f"{self.system} cannot delete groups")

    # --- bookkeeping ---
    def write_calls_left(self) -> int | None:
        """Write calls this tenant may still make today, leaving the day's reserve to reads (None: no limit).
        Callers that have more to write keep the rest for a later run."""
        return None

    def write_calls_per_day(self) -> int | None:
        """Write calls a whole day allows this tenant (the daily limit less the reserve; None: no limit)."""
        return None

    def call_stats(self) -> dict[str, int]:
        """Calls made by this adapter instance, by kind, for run reports and benchmarks."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing to release
        """Release what the adapter holds (APS: its connection pool). The default holds nothing."""


@dataclass(slots=True)
class TokenSet:
    """An OAuth2 token set for one tenant and system. `version` increases on every stored change and is
    what compare-and-swap checks."""

    access_token: str | None
    refresh_token: str
    expires_at: datetime | None  # access token expiry (UTC)
    scope: list[str] = field(default_factory=list)
    remote_tenant_id: str | None = None  # Xero-Tenant-Id
    version: int = 0
    # The refresh token we replaced and when; usable for Xero's 30-minute grace period if the response
    # carrying its successor was lost.
    previous_refresh_token: str | None = None
    rotated_at: datetime | None = None


class TokenStore(Protocol):
    """Where an adapter keeps its tenant's tokens. Implemented on the database by the application
    (`syncworker.store.tokens`) and in memory for unit tests."""

    def load(self) -> TokenSet | None: ...

    def compare_and_swap(self, expected_version: int, new: TokenSet) -> bool:
        """Store `new` (with version expected_version + 1) only if the stored version is still
        `expected_version`. Returns False when another worker got there first."""
        ...

    def mark_reconnect_required(self, reason: str) -> None: ...

    # Optional: `refresh_lock()` -> a context manager held around a token refresh so only one worker anywhere
    # calls the token endpoint for this tenant (the database store uses a PostgreSQL advisory lock).
    # TokenManager uses it when present; compare-and-swap still guards without it.


@dataclass(frozen=True, slots=True)
class RemoteTenant:
    """One organisation a grant gives access to (Xero: a row of GET /connections)."""

    tenant_id: str
    tenant_name: str
    tenant_type: str


class IdentityProvider(Protocol):
    """A platform's OAuth2 identity service (the Xero platform's, for XPM and Xero accounting): what connecting a
    tenant needs. Built by the composition root (`syncworker.bootstrap.identity_for`) from the settings tree, so
    services never import the concrete one (`adapters/xero_identity/identity.py`)."""

    def authorize_url(self, redirect_uri: str, scopes: Sequence[str], state: str) -> str:
        """Where to send the operator's browser to approve access."""
        ...

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Trade a one-time authorization code for the first token set (version 0: not stored yet)."""
        ...

    def access_token(self, store: TokenStore) -> str:
        """A live access token for the grant in `store`, refreshing (and so rotating) it when needed."""
        ...

    def tenants(self, access_token: str, tenant_type: str) -> list[RemoteTenant]:
        """The organisations of `tenant_type` the grant behind `access_token` covers."""
        ...
