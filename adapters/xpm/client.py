"""`XpmClient`: the ClientSystem port on Xero Practice Manager API v3.1 (XML).

Reading strategy (xpm_aps_xero.md §1.4), at the fewest calls the API allows:
- Full load: ONE `client.api/list?detailed=true`, streamed and parsed incrementally (iterparse; memory stays
  flat: each `<Client>` is dropped once mapped), with a read timeout sized for minutes (Xero reports
  several minutes and 50 MB+ at 15,000 clients). Detailed records carry `Relationships`, `Groups` and
  `Contacts`, kept in `extra` (`relationships`, `groups`, `group_ids`, `contact_ids`), so nothing is read
  per client afterwards. All clients, archived and deleted included.
- Fall-back, when that call cannot finish (timeout, body cut short, 5xx after retries): `paged-list`
  (pageSize 500) for the clients the stream had not delivered yet; those profiles carry
  `extra["detailed"] = False` and their relationships are read per client by the relationship sync,
  under a per-run budget and resumably across days.
- Incremental: `client.api/list?modifiedsince=...&detailed=true` (one call; archived and deleted included).
- Writes: `PUT client.api/update` and `POST client.api/add` answer with the detailed client; it is returned
  (and cached by the caller), never re-read.
- Groups: `clientgroup.api/list` (one call); members come from the clients' `Groups` when the caller has
  detailed records (`list_groups(members=False)`), else one `clientgroup.api/get` per group.

Checkpoints (`Page.checkpoint`, opaque: pass back as `resume_from`) and cursors (`Page.next_cursor`, set on
the last page of a listing: where the next incremental pull starts, on the server's clock minus an overlap):
- full load: `list:<clients delivered>` (resuming repeats the listing's one call and skips what was
  delivered) or, after a fall-back, `page:<pageToken>`; None on the last page;
- incremental: `since:<ISO UTC>` on every page (resuming repeats the pull: at-least-once, nothing skipped).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element, SubElement

import requests
from defusedxml import ElementTree as SafeET
from urllib3.exceptions import HTTPError as Urllib3Error

from adapters.base import Capabilities, ClientSystem, Page, TokenStore
from adapters.errors import MalformedResponse, NotConnected, NotFound, TransientError
from adapters.ratelimit import RateLimiter, shared_limiter
from adapters.xero_identity.tokens import TokenManager, utcnow
from adapters.xpm import mapping, xml
from adapters.xpm.http import XpmTransport
from adapters.xpm.settings import XpmSettings
from syncworker.domain.profile import (
    ClientGroup,
    ClientKind,
    ClientProfile,
    ContactProfile,
    Relationship,
    flatten,
)

log = logging.getLogger(__name__)
LIST_READ_TIMEOUT = 900.0  # seconds: a detailed listing of a large practice streams for minutes
Unreadable = dict[str, str | None]  # a record the listing held but we could not read: Page.skipped

CAPABILITIES = Capabilities(
    can_create=True,
    can_update=True,
    can_archive=True,
    writable_fields=mapping.WRITABLE_FIELDS,
    webhooks=False,  # Xero webhooks cover no Practice Manager events: changes are polled
    incremental=True,
    reports_deletes=True,
    relationships=True,
    groups=True,
)


class XpmClient(ClientSystem):
    system = "xpm"
    capabilities = CAPABILITIES

    def __init__(
        self,
        tokens: TokenManager,
        *,
        base_url: str,
        limiter: RateLimiter | None = None,
        business_structures: Mapping[str, ClientKind] | None = None,
        page_size: int = 500,
        timeout: float = 120.0,
        max_retries: int = 5,
        connect_timeout: float = 10.0,
        relationship_types: Mapping[str, str] | None = None,
        incremental_overlap: timedelta = timedelta(minutes=5),
        incremental_detailed: bool = True,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        jitter: float = 1.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
        list_read_timeout: float = LIST_READ_TIMEOUT,
        detailed_full_load: bool = True,
    ) -> None:
        if not 1 <= page_size <= 500:
            raise ValueError("XPM page size must be between 1 and 500")
        defaults = None
        if business_structures is None or relationship_types is None:
            defaults = XpmSettings.load(env={})
        self.structures = mapping.BusinessStructures(
            business_structures if business_structures is not None else defaults.business_structures  # type: ignore[union-attr]
        )
        self.relationship_types = mapping.RelationshipTypes(
            relationship_types if relationship_types is not None else defaults.relationship_types  # type: ignore[union-attr]
        )
        self.page_size = page_size
        self._overlap = incremental_overlap
        self._incremental_detailed = incremental_detailed
        self._clock = clock
        self._list_read_timeout = list_read_timeout
        self._detailed_full_load = detailed_full_load  # False: paged-list at once (the fall-back path)
        self.tokens = tokens
        self.http = XpmTransport(
            tokens,
            base_url=base_url,
            limiter=limiter or _default_limiter(tokens),
            session=session,
            connect_timeout=connect_timeout,
            read_timeout=timeout,
            max_retries=max_retries,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            jitter=jitter,
            sleep=sleep,
            now=clock,
        )

    @classmethod
    def from_settings(
        cls, store: TokenStore, settings: XpmSettings | None = None, *, session: requests.Session | None = None
    ) -> XpmClient:
        """The production wiring: settings from config/xpm.yaml and the environment, a TokenManager on the
        tenant's store, and the process-wide limiter of the tenant."""
        s = settings or XpmSettings.load()
        if not s.client_id or not s.client_secret:
            raise NotConnected("SYNCWORKER_XERO_CLIENT_ID and SYNCWORKER_XERO_CLIENT_SECRET must be set")
        tokens = TokenManager(store, client_id=s.client_id, client_secret=s.client_secret, identity_url=s.identity_url)
        return cls(
            tokens, base_url=s.xpm_url, limiter=_default_limiter(tokens, s), business_structures=s.business_structures,
            relationship_types=s.relationship_types, page_size=s.page_size, timeout=s.read_timeout,
            connect_timeout=s.connect_timeout, max_retries=s.max_retries, backoff_initial=s.backoff_initial,
            backoff_max=s.backoff_max, incremental_overlap=timedelta(seconds=s.incremental_overlap_seconds),
            session=session,
        )

    # --- clients: reading ---
    def iter_client_pages(
        self, *, modified_since: datetime | None = None, resume_from: str | None = None
    ) -> Iterator[Page[ClientProfile]]:
        if resume_from:
            kind, _, value = resume_from.partition(":")
            if kind == "list":
                return self._full_listing(skip=int(value or 0))
            if kind == "page" and value:
                return self._paged_clients(value, skip=set(), next_cursor=None)
            if kind == "since" and value:
                return self._incremental(datetime.fromisoformat(value))
            raise ValueError(f"not an XPM checkpoint: {resume_from[:40]!r}")
        if modified_since is None:
            return self._full_listing()
        return self._incremental(modified_since)

    def _full_listing(self, skip: int = 0) -> Iterator[Page[ClientProfile]]:
        """One streamed `list?detailed=true`; `paged-list` for the rest if it cannot finish. Resuming (`skip`:
        clients already delivered) repeats the one call but not the pages: XPM lists in a stable order."""
        started = self._clock()
        delivered: set[str] = set()
        if not self._detailed_full_load:
            yield from self._paged_clients(None, skip=delivered, next_cursor=None)
            return
        try:
            resp = self.http.open_stream("client.api/list", {"detailed": "true"}, read_timeout=self._list_read_timeout)
            next_cursor = self._next_cursor(started, started)
            held: list[ClientProfile | Unreadable] | None = None
            passed, count = 0, skip  # count: records of the listing (unreadable ones too) delivered
            for chunk in self._stream_clients(resp):
                if passed < skip:
                    passed += len(chunk)
                    chunk = chunk[len(chunk) - (passed - skip):] if passed > skip else []
                    if not chunk:
                        continue
                if held is not None:
                    count += len(held)
                    page = _page(held, checkpoint=f"list:{count}")
                    delivered.update(p.id for p in page.items)
                    yield page
                held = chunk
            yield _page(held or [], checkpoint=None, next_cursor=next_cursor)
            return
        except (TransientError, MalformedResponse) as exc:
            if isinstance(exc, TransientError) and not exc.retriable:
                raise
            log.warning("XPM detailed listing could not finish (%s): falling back to paged-list",
                        type(exc).__name__)
        yield from self._paged_clients(None, skip=delivered, next_cursor=self._next_cursor(started, started))

    def _stream_clients(self, resp: requests.Response) -> Iterator[list[ClientProfile | Unreadable]]:
        """`<Client>` elements of a streamed `<Response><Clients>` in chunks of `page_size`, each element
        dropped once mapped (flat memory); a record that cannot be read is in its chunk as `Unreadable`.
        Failures mid-body are `TransientError` / `MalformedResponse`."""
        resp.raw.decode_content = True
        depth, status, error = 0, None, None
        parent: Element | None = None
        batch: list[ClientProfile | Unreadable] = []
        try:
            for event, el in SafeET.iterparse(resp.raw, events=("start", "end")):
                if event == "start":
                    depth += 1
                    if depth == 1 and el.tag != "Response":
                        raise MalformedResponse(f"expected <Response>, got <{el.tag[:40]}>")
                    if depth == 2 and el.tag == "Clients":
                        parent = el
                    continue
                if depth == 2 and el.tag == "Status":
                    status = (el.text or "").strip().upper()
                elif depth == 2 and el.tag == "ErrorDescription":
                    error = el.text
                elif depth == 3 and el.tag == "Client" and parent is not None:
                    if status != "OK":
                        raise MalformedResponse("client.api/list: clients before <Status>OK</Status>")
                    batch.append(_read_one(el, lambda e: self._client(e, detailed=True)))
                    parent.remove(el)
                    if len(batch) >= self.page_size:
                        yield batch
                        batch = []
                depth -= 1
        except (Urllib3Error, requests.RequestException, OSError) as exc:
            raise TransientError(f"client.api/list: body cut short ({type(exc).__name__})") from exc
        except xml.PARSE_ERRORS as exc:
            raise MalformedResponse(f"client.api/list: unparseable XML ({type(exc).__name__})") from exc
        finally:
            resp.close()
        if status == "ERROR":
            xml.raise_error_description(error)
        if status != "OK":
            raise MalformedResponse(f"client.api/list: unexpected <Status> {str(status)[:20]!r}")
        if batch:
            yield batch

    def _paged_clients(self, page_token: str | None, *, skip: set[str],
                       next_cursor: datetime | None) -> Iterator[Page[ClientProfile]]:
        pages = self._paged("client.api/paged-list", ("Clients", "Client"),
                            lambda el: self._client(el, detailed=False), page_token)
        for page in pages:
            page.items = [p for p in page.items if p.id not in skip]
            if page.checkpoint is None:
                page.next_cursor = next_cursor
            yield page

    def _next_cursor(self, started: datetime, answered: datetime) -> datetime:
        """Our start time on the server's clock (shifted by the skew its Date header shows), minus overlap."""
        skew = (self.http.last_server_date - answered) if self.http.last_server_date else timedelta(0)
        return started + skew - self._overlap

    def _paged(
        self,
        endpoint: str,
        path: tuple[str, str],
        parse: Callable[[Element], Any],
        page_token: str | None,
    ) -> Iterator[Page[Any]]:
        """Follow an XPM continuation-token listing; each page's checkpoint is the next page's token."""
        while True:
            params = {"pageSize": str(self.page_size)}
            if page_token:
                params["pageToken"] = page_token
            root = self.http.get(endpoint, params)
            found = [_read_one(el, parse) for el in xml.items(root, *path)]
            next_token = _next_page_token(root)
            if next_token is not None and next_token == page_token:
                raise MalformedResponse(f"{endpoint} returned the same page token again")
            yield _page(found, checkpoint=f"page:{next_token}" if next_token else None)
            if next_token is None:
                return
            page_token = next_token

    def _incremental(self, since: datetime) -> Iterator[Page[ClientProfile]]:
        since_utc = _as_utc(since)
        started = self._clock()
        params = {"modifiedsince": since_utc.strftime("%Y-%m-%dT%H:%M:%S")}
        if self._incremental_detailed:
            params["detailed"] = "true"
        root = self.http.get("client.api/list", params)
        next_since = max(since_utc, self._next_cursor(started, self._clock()))
        clients = [_read_one(c, lambda e: self._client(e, detailed=self._incremental_detailed))
                   for c in xml.items(root, "Clients", "Client")]
        chunks = [clients[i:i + self.page_size] for i in range(0, len(clients), self.page_size)] or [[]]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            cursor = next_since if last else since_utc
            yield _page(chunk, checkpoint=f"since:{cursor.isoformat()}", incremental=True,
                        next_cursor=next_since if last else None)

    def get_client(self, remote_id: str) -> ClientProfile | None:
        try:
            root = self.http.get(f"client.api/get/{_uuid(remote_id)}")
        except NotFound:  # a malformed id too: no record can have it
            return None
        el = root.find("Client")
        if el is None:
            raise MalformedResponse("client.api/get answered without <Client>")
        profile = self._client(el, detailed=True)
        web_url = xml.text(root, "WebUrl")
        if web_url:
            profile.extra["web_url"] = web_url
        return profile

    def search_clients(self, query: str) -> list[ClientProfile]:
        root = self.http.get("client.api/search", {"query": query})
        return _page([_read_one(c, lambda e: self._client(e, detailed=False))
                      for c in xml.items(root, "Clients", "Client")]).items

    # --- clients: writing ---
    def create_client(self, profile: ClientProfile) -> ClientProfile:
        fields = mapping.profile_write_fields(profile)  # never tax_number
        body = mapping.client_fields_to_xml(fields, business_structure=self.structures.name_for(profile.kind))
        root = self.http.send("POST", "client.api/add", body, idempotent=False)
        return self._client_in(root, "client.api/add")

    def update_client(self, remote_id: str, changes: Mapping[str, Any]) -> ClientProfile:
        client_id = _uuid(remote_id)
        changes = dict(changes)
        never = set(changes) & mapping.NEVER_WRITTEN
        if never:
            raise ValueError("tax_number is never written to XPM (it is masked on read)")
        if not changes:
            current = self.get_client(client_id)
            if current is None:
                raise NotFound(f"XPM client {client_id} not found")
            return current
        self._complete_address_lines(client_id, changes)
        body = mapping.client_fields_to_xml(changes, uuid=client_id)
        try:
            root = self.http.send("PUT", "client.api/update", body, idempotent=False)
        except TransientError as exc:
            if exc.retriable:
                raise
            return self._after_unknown_update(client_id, changes, body, applied=isinstance(exc.__cause__,
                                                                                           MalformedResponse))
        return self._client_in(root, "client.api/update")

    def _after_unknown_update(self, client_id: str, changes: Mapping[str, Any], body: Element, *,
                              applied: bool) -> ClientProfile:
        """An update whose outcome is unknown (a 5xx, a reset, a timeout, an unreadable answer) is not sent
        again blindly: it may have been applied, and sending it again would write twice and could undo an
        edit made in XPM in between. The record is read back instead. An unreadable HTTP 2xx was `applied`:
        the record read back is the answer. Otherwise the update is sent once more only if the record lacks
        the change (some written fields, e.g. MiddleName, are not read back: then it is sent again)."""
        current = self.get_client(client_id)
        if current is None:
            raise NotFound(f"XPM client {client_id} not found")
        if applied or _holds(current, changes):
            return current
        root = self.http.send("PUT", "client.api/update", body, idempotent=False)
        return self._client_in(root, "client.api/update")

    def _complete_address_lines(self, client_id: str, changes: dict[str, Any]) -> None:
        # Line 1 and line 2 share one XPM element: writing one line needs the other's current value.
        partial = [
            p for p in mapping.ADDRESS_LINE_FIELDS
            if (f"{p}.line1" in changes) != (f"{p}.line2" in changes)
        ]
        if not partial:
            return
        current = self.get_client(client_id)
        if current is None:
            raise NotFound(f"XPM client {client_id} not found")
        for prefix in partial:
            addr = getattr(current, prefix)
            for line in ("line1", "line2"):
                changes.setdefault(f"{prefix}.{line}", getattr(addr, line) if addr else None)

    def archive_client(self, remote_id: str) -> None:
        body = xml.element("Client", [("UUID", _uuid(remote_id))])
        self.http.send("PUT", "client.api/archive", body, idempotent=True)

    # --- contacts ---
    def iter_contact_pages(self, *, resume_from: str | None = None) -> Iterator[Page[ContactProfile]]:
        token = None
        if resume_from:
            kind, _, token = resume_from.partition(":")
            if kind != "page" or not token:
                raise ValueError(f"not an XPM contacts checkpoint: {resume_from[:40]!r}")
        return self._paged("client.api/contacts", ("Contacts", "Contact"), mapping.contact_from_xml, token)

    # --- relationships ---
    def list_relationships(self, client_id: str) -> list[Relationship]:
        cid = _uuid(client_id)
        root = self.http.get(f"client.api/get/{cid}")
        el = root.find("Client")
        return [
            mapping.relationship_from_xml(r, cid, self.relationship_types)
            for r in xml.items(el, "Relationships", "Relationship")
        ]

    def add_relationship(self, rel: Relationship) -> Relationship:
        body = mapping.relationship_to_xml(rel, self.relationship_types)
        root = self.http.send("POST", "client.api/addrelationship", body, idempotent=False)
        el = root.find("Relationship")
        if el is not None and xml.text(el, "UUID"):
            return mapping.relationship_from_xml(el, rel.client_id, self.relationship_types)
        # The docs do not show the answer of addrelationship: read the client back to learn the new UUID.
        for existing in self.list_relationships(rel.client_id):
            if existing.related_client_id == rel.related_client_id.lower() and existing.type == rel.type:
                return existing
        raise MalformedResponse("addrelationship succeeded but the relationship is not on the client")

    def delete_relationship(self, relationship_id: str) -> None:
        body = xml.element("Relationship", [("UUID", _uuid(relationship_id))])
        # Already gone (e.g. a retry after a lost answer) is fine: deleting is idempotent.
        with contextlib.suppress(NotFound):
            self.http.send("POST", "client.api/deleterelationship", body, idempotent=True)

    # --- groups ---
    def list_groups(self, *, members: bool = True) -> list[ClientGroup]:
        root = self.http.get("clientgroup.api/list")
        summaries = _page([_read_one(el, mapping.group_from_xml) for el in xml.items(root, "Groups", "Group")]).items
        if not members:
            return summaries
        # The list has no members; get/{uuid} has them (one call per group).
        return [self._group(g.id) if g.id else g for g in summaries]

    def _group(self, group_id: str) -> ClientGroup:
        root = self.http.get(f"clientgroup.api/get/{_uuid(group_id)}")
        el = root.find("Group")
        if el is None:
            raise MalformedResponse("clientgroup.api/get answered without <Group>")
        return mapping.group_from_xml(el)

    def add_group(self, group: ClientGroup) -> ClientGroup:
        if not group.member_ids:
            raise ValueError("XPM creates a group with a first client (ClientUUID): give at least one member")
        first, *rest = group.member_ids
        fields: list[tuple[str, str | None]] = [("Name", group.name)]
        if group.taxable is not None:
            fields.append(("Taxable", xml.yes_no_text(group.taxable)))
        fields.append(("ClientUUID", _uuid(first)))
        root = self.http.send("POST", "clientgroup.api/add", xml.element("Group", fields), idempotent=False)
        el = root.find("Group")
        if el is None:
            raise MalformedResponse("clientgroup.api/add answered without <Group>")
        created = mapping.group_from_xml(el)
        if rest and created.id:
            self.set_group_members(created.id, add=list(rest), remove=[])
            return self._group(created.id)
        return created

    def set_group_members(self, group_id: str, add: list[str], remove: list[str]) -> None:
        body = xml.element("Group", [("UUID", _uuid(group_id))])
        for client_id in add:
            SubElement(body, "add", {"uuid": _uuid(client_id)})
        for client_id in remove:
            SubElement(body, "remove", {"uuid": _uuid(client_id)})
        self.http.send("PUT", "clientgroup.api/members", body, idempotent=True)

    def delete_group(self, group_id: str) -> None:
        body = xml.element("Group", [("UUID", _uuid(group_id))])
        with contextlib.suppress(NotFound):
            self.http.send("POST", "clientgroup.api/delete", body, idempotent=True)

    # --- bookkeeping ---
    def call_stats(self) -> dict[str, int]:
        return self.http.stats.as_dict()

    def write_calls_left(self) -> int | None:
        return self.http.write_calls_left()

    def write_calls_per_day(self) -> int | None:
        return self.http.write_calls_per_day()

    # --- helpers ---
    def _client(self, el: Element, *, detailed: bool) -> ClientProfile:
        return mapping.client_from_xml(el, self.structures, detailed=detailed, types=self.relationship_types)

    def _client_in(self, root: Element, where: str) -> ClientProfile:
        el = root.find("Client")
        if el is None:
            raise MalformedResponse(f"{where} answered without <Client>")
        return self._client(el, detailed=True)


def _default_limiter(tokens: TokenManager, settings: XpmSettings | None = None) -> RateLimiter:
    limits = settings.limits if settings else XpmSettings().limits
    try:
        return shared_limiter(f"xero-tenant:{tokens.remote_tenant_id}", limits)
    except NotConnected:
        return RateLimiter(limits)


def _next_page_token(root: Element) -> str | None:
    """The pageToken of `<Pagination><Links><Next>`. We follow the token against our own base URL rather
    than the absolute link, so the configured host (e.g. a simulator) and the checkpoint stay in our hands."""
    links = root.find("Pagination/Links")
    nxt = xml.text(links, "Next") if links is not None else None
    if not nxt:
        return None
    try:
        tokens = parse_qs(urlsplit(nxt).query).get("pageToken")
    except ValueError:  # e.g. an unbalanced "[" in the host
        raise MalformedResponse("<Next> is not a URL") from None
    if not tokens or not tokens[0]:
        raise MalformedResponse("<Next> link without a pageToken")
    return tokens[0]


def _uuid(value: str) -> str:
    """An id we send, as XPM v3.1 writes it. A malformed one names no record: `NotFound` (a reject), asked
    of no server."""
    try:
        return str(uuidlib.UUID(str(value).strip()))
    except ValueError:
        raise NotFound(f"not an XPM v3.1 UUID: {str(value)[:40]!r}") from None


def _read_one(el: Element, parse: Callable[[Element], Any]) -> Any:
    """One record of a listing, or what is wrong with it (`Unreadable`): one bad record never fails the
    listing that holds it."""
    try:
        return parse(el)
    except MalformedResponse as exc:
        uuid = xml.text(el, "UUID")
        try:
            remote_id = str(uuidlib.UUID(uuid)) if uuid else None
        except ValueError:
            remote_id = None
        return {"remote_id": remote_id, "error": str(exc)}


def _page(read: list[Any], **kwargs: Any) -> Page[Any]:
    """A page of what `_read_one` gave: the records as items, the unreadable ones as `skipped` (logged by
    count only: what is wrong names no client data, but the count is what an operator acts on)."""
    skipped = [r for r in read if isinstance(r, dict)]
    if skipped:
        log.warning("XPM listing: %d unreadable record(s) skipped", len(skipped))
    return Page([r for r in read if not isinstance(r, dict)], skipped=skipped, **kwargs)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _holds(record: ClientProfile, changes: Mapping[str, Any]) -> bool:
    """Whether `record` already carries `changes`, compared as XPM is sent them (so both address lines and
    the wire spelling of each value count, nothing else)."""
    flat = flatten(record)
    now = {f: flat.get(f) for f in changes}
    return xml.render(mapping.client_fields_to_xml(now)) == xml.render(mapping.client_fields_to_xml(changes))
