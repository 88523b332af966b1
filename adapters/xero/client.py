"""Xero accounting contacts as a `ClientSystem`.

States only what differs for Xero: auth (bearer + Xero-Tenant-Id from a TokenManager), paging (a time
cursor on UpdatedDateUTC with `page=N` inside one second; a short page ends the listing), incremental reads
(If-Modified-Since), parsing (see `mapping`). Requests are shaped by xero-python's AccountingApi; HTTP,
retries and error mapping live in `transport`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from xero_python.accounting import AccountingApi, Contact, Contacts
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration

from adapters.base import Capabilities, ClientSystem, Page
from adapters.errors import MalformedResponse, NotFound
from adapters.xero.dates import format_if_modified_since
from adapters.xero.errors import DuplicateContactName, XeroValidationError
from adapters.xero.mapping import (
    WRITABLE_FIELDS,
    check_link_key,
    contact_for_create,
    contact_for_update,
    link_key_of,
    profile_from_contact,
)
from adapters.xero.ports import AccessTokens, CallLimiter
from adapters.xero.transport import RetryPolicy, XeroResponse, XeroRestClient
from syncworker.domain.profile import ClientProfile, ClientStatus

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.xero.com"
API_URL_ENV = "SYNCWORKER_XERO_API_URL"
MAX_PAGE_SIZE = 1000  # Xero's documented maximum `pageSize`
DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE  # Xero's own default is 100: ten times the calls for a full listing
IDS_PER_CALL = 50  # ContactIDs per `IDs=` filter; 50 GUIDs keep the URL under ~2,000 characters
WRITE_BATCH = 50  # contacts per `POST /Contacts`: Xero advises batches of up to 50 (and caps a request at 3.5 MB)
DEFAULT_TIMEOUT = (5.0, 60.0)  # connect, read (s); xero-python's default is no timeout at all


@dataclass(frozen=True, slots=True)
class _Cursor:
    """Where a contacts listing goes next: If-Modified-Since (UTC seconds, None = from the start) and the
    page within it."""

    since: str | None
    page: int
    incremental: bool

    def after(self, page_items: list[ClientProfile]) -> _Cursor:
        stamps = [p.modified_at for p in page_items if p.modified_at is not None]
        newest = format_if_modified_since(max(stamps)) if stamps else None
        if newest is not None and (self.since is None or newest > self.since):  # same format: text order works
            return _Cursor(newest, 1, self.incremental)
        return _Cursor(self.since, self.page + 1, self.incremental)  # a full page inside one second

    def dump(self) -> str:
        return json.dumps({"since": self.since, "page": self.page, "incremental": self.incremental})


def _parse_since(since: str | None) -> datetime | None:
    """A cursor's If-Modified-Since text (`format_if_modified_since`) back to an aware UTC time."""
    return datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if since else None


class _NoSdkAuth(Configuration):
    """Keeps xero-python from adding its own OAuth2Token header; our transport sets the bearer token."""

    def auth_settings(self, auth_type: str) -> None:
        return None


class XeroContactsClient(ClientSystem):
    """One tenant's Xero organisation, contacts only."""

    system = "xero"
    write_batch_size = WRITE_BATCH
    capabilities = Capabilities(
        can_create=True, can_update=True, can_archive=True, writable_fields=WRITABLE_FIELDS, webhooks=True,
        incremental=True, reports_deletes=True,  # archived contacts are listed with status ARCHIVED
    )

    def __init__(self, tokens: AccessTokens, *, api_url: str | None = None, limiter: CallLimiter | None = None,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT, page_size: int = DEFAULT_PAGE_SIZE,
                 retry: RetryPolicy | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.tokens = tokens
        self.page_size = page_size
        self.api_url = (api_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")
        self.rest = XeroRestClient(tokens, timeout=timeout, retry=retry or RetryPolicy(), limiter=limiter,
                                   session=session, sleep=sleep)
        # What the adapter did with records (pages read, contacts written, contacts it could not read);
        # the calls themselves are counted by the core under its fixed names (`call_stats`).
        self.counts: Counter[str] = Counter()
        api_client = ApiClient(_NoSdkAuth())
        api_client.rest_client = self.rest
        self.api = AccountingApi(api_client, base_url=f"{self.api_url}/api.xro/2.0")

    # --- reads ----------------------------------------------------------------------------------------------

    def iter_client_pages(self, *, modified_since: datetime | None = None,
                          resume_from: str | None = None) -> Iterator[Page[ClientProfile]]:
        """Pages of up to `page_size` contacts, archived included (status ARCHIVED).

        Paged by time, not by offset: contacts come oldest-change first (`order=UpdatedDateUTC ASC`) and each
        next request restarts at the newest second already seen (If-Modified-Since, `page=1`). A contact
        edited or created mid-pull moves to the end, where it is still reached; with plain `page=N` it would
        shift every later contact back by one and one of them would be skipped, silently, for good. Only
        when a whole page falls in one second does it step with `page=N` inside that second. Contacts on the
        boundary second may come twice (at-least-once); repeats of the previous page are dropped.
        The checkpoint holds the cursor, so a resumed run continues where it stopped. The last page sets
        `next_cursor`: the newest UpdatedDateUTC the listing saw (Xero's own clock, so no skew), where the
        next incremental pull starts; when nothing was seen, the time it started from."""
        cursor = _Cursor(since=format_if_modified_since(modified_since) if modified_since else None, page=1,
                         incremental=modified_since is not None)
        if resume_from:
            cursor = _Cursor(**json.loads(resume_from))
        incremental = cursor.incremental
        newest = _parse_since(cursor.since)
        previous: set[tuple[str, datetime | None]] = set()
        while True:
            kwargs: dict[str, Any] = {"if_modified_since": cursor.since} if cursor.since else {}
            body = self._json(self.api.get_contacts(
                self._tenant(), page=cursor.page, page_size=self.page_size, include_archived=True,
                order="UpdatedDateUTC ASC", _preload_content=False, **kwargs))
            raw = self._contacts(body)
            self.counts["list_pages"] += 1
            profiles = self._profiles(raw)
            more = len(raw) >= self.page_size
            page_count = (body.get("pagination") or {}).get("pageCount")
            if isinstance(page_count, int):
                more = cursor.page < page_count
            fresh = [p for p in profiles if (p.id, p.modified_at) not in previous]
            previous = {(p.id, p.modified_at) for p in profiles}
            newest = max([t for t in (newest, *(p.modified_at for p in profiles)) if t is not None], default=None)
            cursor = cursor.after(profiles) if more else None
            yield Page(fresh, checkpoint=cursor.dump() if cursor else None, incremental=incremental,
                       next_cursor=newest if cursor is None else None)
            if cursor is None:
                return

    def get_client(self, remote_id: str) -> ClientProfile | None:
        try:
            body = self._json(self.api.get_contact(self._tenant(), remote_id, _preload_content=False))
        except NotFound:
            return None
        return self._one(body)

    def get_clients(self, remote_ids: Iterable[str]) -> list[ClientProfile]:
        """Several contacts by ContactID (archived included) in one call per `IDS_PER_CALL`: the cheap way
        to act on a webhook batch. Ids Xero doesn't know are simply absent from the result."""
        ids = list(dict.fromkeys(remote_ids))
        found: list[ClientProfile] = []
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk = ids[start:start + IDS_PER_CALL]
            body = self._json(self.api.get_contacts(self._tenant(), i_ds=chunk, include_archived=True,
                                                    _preload_content=False))
            found.extend(self._profiles(self._contacts(body)))
        return found

    def get_by_link_key(self, key: str) -> ClientProfile | None:
        """The contact whose ContactNumber is `key` (archived included), or None."""
        where = f'ContactNumber=="{check_link_key(key)}"'
        body = self._json(self.api.get_contacts(self._tenant(), where=where, include_archived=True, page=1,
                                                _preload_content=False))
        found = self._profiles(self._contacts(body))
        if len(found) > 1:
            log.warning("xero: %d contacts share one link key; using the most recently updated", len(found))
        return max(found, key=lambda p: p.modified_at or datetime.min.replace(tzinfo=UTC)) if found else None

    def search_clients(self, query: str) -> list[ClientProfile]:
        """First page of Xero's case-insensitive search over Name, FirstName, LastName, ContactNumber and
        EmailAddress (active contacts only)."""
        body = self._json(self.api.get_contacts(self._tenant(), search_term=query, page=1,
                                                page_size=self.page_size, _preload_content=False))
        return self._profiles(self._contacts(body))

    # --- writes ---------------------------------------------------------------------------------------------

    def create_client(self, profile: ClientProfile, *, idempotency_key: str | None = None) -> ClientProfile:
        """Create a contact (ContactNumber = `link_key_of(profile)` when set). One Idempotency-Key covers the
        adapter's own retries; pass a stable key to make the caller's retries safe too.
        Raises DuplicateContactName when an active contact already has the name."""
        contact = contact_for_create(profile)
        self.counts["creates"] += 1
        return self._write(lambda key: self.api.create_contacts(
            self._tenant(), Contacts(contacts=[contact]), summarize_errors=True, idempotency_key=key,
            _preload_content=False), profile.name, idempotency_key)

    def update_client(self, remote_id: str, changes: Mapping[str, Any]) -> ClientProfile:
        """Write canonical fields (see `capabilities.writable_fields`); returns the contact as stored.
        Nothing to write means no write (Xero would still bump UpdatedDateUTC and send a webhook)."""
        if not changes:
            current = self.get_client(remote_id)
            if current is None:
                raise NotFound(f"Xero contact {remote_id} not found")
            return current
        needs_current = any(k.startswith(("address.", "postal_address.")) for k in changes)
        current = self.get_client(remote_id) if needs_current else None
        if needs_current and current is None:
            raise NotFound(f"Xero contact {remote_id} not found")
        return self._update(remote_id, contact_for_update(changes, current), changes.get("name"))

    def update_clients(self, changes: Mapping[str, Mapping[str, Any]]
                       ) -> dict[str, ClientProfile | Exception]:
        """Write many contacts with one `POST /Contacts?summarizeErrors=false` per `WRITE_BATCH`: Xero answers
        200 with every contact in the order sent, each either as stored (taken as the result: no re-read) or
        with its own ValidationErrors, which become that record's `XeroValidationError` (or
        `DuplicateContactName`). Contacts whose partial address changes need the current address are read
        first, `IDS_PER_CALL` per call; nothing to write means no write."""
        out: dict[str, ClientProfile | Exception] = {}
        wanted = {rid: dict(fields) for rid, fields in changes.items()}
        need_current = [rid for rid, f in wanted.items()
                        if not f or any(k.startswith(("address.", "postal_address.")) for k in f)]
        current = {p.id: p for p in self.get_clients(need_current)} if need_current else {}
        batch: list[tuple[str, Contact, Any]] = []
        for rid, fields in wanted.items():
            if rid in need_current and rid not in current:
                out[rid] = NotFound(f"Xero contact {rid} not found")
            elif not fields:
                out[rid] = current[rid]
            else:
                try:
                    contact = contact_for_update(fields, current.get(rid))
                except ValueError as exc:
                    out[rid] = exc
                    continue
                contact.contact_id = rid
                batch.append((rid, contact, fields.get("name")))
        for start in range(0, len(batch), WRITE_BATCH):
            chunk = batch[start:start + WRITE_BATCH]
            self.counts["updates"] += len(chunk)
            body = self._json(self.api.update_or_create_contacts(
                self._tenant(), Contacts(contacts=[c for _, c, _ in chunk]), summarize_errors=False,
                idempotency_key=str(uuid.uuid4()), _preload_content=False))
            returned = self._contacts(body)
            if len(returned) != len(chunk):
                raise MalformedResponse(f"Xero answered {len(returned)} contacts for a batch of {len(chunk)}")
            for (rid, _, name), raw in zip(chunk, returned, strict=True):
                out[rid] = self._item_result(rid, raw, name)
        return out

    def archive_client(self, remote_id: str) -> None:
        """Xero has no delete: archiving is an update of ContactStatus (and arrives as an UPDATE webhook)."""
        self.update_client(remote_id, {"status": ClientStatus.ARCHIVED})

    def set_link_key(self, remote_id: str, key: str) -> ClientProfile:
        """Store our link key in the contact's ContactNumber (max 50 chars)."""
        return self._update(remote_id, Contact(contact_number=check_link_key(key)), None)

    link_key_of = staticmethod(link_key_of)

    def call_stats(self) -> dict[str, int]:
        """The shared HTTP core's stat names (`adapters.http_core.STAT_NAMES`), the same for every system."""
        return self.rest.stats.as_dict()

    def write_calls_left(self) -> int | None:
        return self.rest.write_calls_left()

    def write_calls_per_day(self) -> int | None:
        return self.rest.write_calls_per_day()

    @property
    def rate_limit_remaining(self) -> dict[str, int]:
        """The last X-DayLimit-Remaining / X-MinLimit-Remaining / X-AppMinLimit-Remaining values seen."""
        return dict(self.rest.remaining)

    # --- helpers --------------------------------------------------------------------------------------------

    def _update(self, remote_id: str, contact: Contact, new_name: Any) -> ClientProfile:
        self.counts["updates"] += 1
        return self._write(lambda key: self.api.update_contact(
            self._tenant(), remote_id, Contacts(contacts=[contact]), idempotency_key=key,
            _preload_content=False), new_name, None)

    def _write(self, call: Callable[[str], XeroResponse], name: Any, idempotency_key: str | None
               ) -> ClientProfile:
        try:
            return self._one(self._json(call(idempotency_key or str(uuid.uuid4()))))
        except XeroValidationError as exc:
            if exc.is_duplicate_name:
                raise DuplicateContactName(str(name or "")) from exc
            raise

    @staticmethod
    def _item_result(remote_id: str, raw: Mapping[str, Any], name: Any) -> ClientProfile | Exception:
        """One element of a `summarizeErrors=false` answer: the stored contact, or the error for it alone."""
        errors = [str(v.get("Message")) for v in raw.get("ValidationErrors") or []
                  if isinstance(v, dict) and v.get("Message")]
        if errors or str(raw.get("StatusAttributeString", "")).upper() == "ERROR":
            exc = XeroValidationError(errors, [dict(raw)])
            return DuplicateContactName(str(name or "")) if exc.is_duplicate_name else exc
        if str(raw.get("ContactID", "")).lower() != remote_id.lower():
            return MalformedResponse("Xero answered a batch with contacts out of order")
        try:
            return profile_from_contact(raw)
        except (ValueError, TypeError, AttributeError) as exc:
            return MalformedResponse(f"Xero returned an unreadable contact: {exc}")

    def _tenant(self) -> str:
        return self.tokens.remote_tenant_id

    @staticmethod
    def _json(resp: XeroResponse) -> dict[str, Any]:
        body = resp.json()
        if not isinstance(body, dict):
            raise MalformedResponse("Xero response is not a JSON object")
        return body

    @staticmethod
    def _contacts(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        contacts = body.get("Contacts")
        if not isinstance(contacts, list):
            raise MalformedResponse("Xero response has no Contacts list")
        return contacts

    def _profiles(self, raw: list[Mapping[str, Any]]) -> list[ClientProfile]:
        out = []
        for item in raw:
            try:
                out.append(profile_from_contact(item))
            except (ValueError, TypeError, AttributeError):
                # One odd record must not block a pull; it is counted so runs can report it.
                self.counts["unparseable_contacts"] += 1
        return out

    def _one(self, body: Mapping[str, Any]) -> ClientProfile:
        raw = self._contacts(body)
        if not raw:
            raise MalformedResponse("Xero returned an empty Contacts list")
        try:
            return profile_from_contact(raw[0])
        except (ValueError, TypeError, AttributeError) as exc:
            raise MalformedResponse(f"Xero returned an unreadable contact: {exc}") from exc
