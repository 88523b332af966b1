"""The Accounting API's Contacts endpoints, as pure request -> response functions over a ContactStore.

GET  /api.xro/2.0/Contacts            page, pageSize (default 100, max 1000), where, order, IDs, searchTerm,
                                      includeArchived; header If-Modified-Since. Without `page` Xero returns
                                      every match in one response; with it, a `pagination` block is added.
GET  /api.xro/2.0/Contacts/{id}       by ContactID or ContactNumber; archived included.
PUT  /api.xro/2.0/Contacts            create; POST /Contacts creates or (with ContactID) updates.
POST /api.xro/2.0/Contacts/{id}       update.
Writes take {"Contacts":[...]}, honour `summarizeErrors` (default true: any invalid element -> 400
ValidationException; false: 200 with every element in the order sent, each marked `StatusAttributeString`
OK or ERROR, the invalid ones carrying their own ValidationErrors) and the Idempotency-Key header (a repeated
key replays the first answer).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from adapters.xero.dates import format_ms_date
from simulators.xero.store import ContactStore, ValidationFailed
from simulators.xero_identity import SimClock, SimRequest, SimResponse

API_PREFIX = "/api.xro/2.0"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_WHERE_TERM = re.compile(r'^\s*(\w+)\s*==\s*(?:"((?:[^"\\]|\\.)*)"|guid\("([0-9a-fA-F-]+)"\)|(true|false))\s*$')
_ORDER = re.compile(r"^\s*(\w+)(?:\s+(ASC|DESC))?\s*$", re.IGNORECASE)


class BadQuery(ValueError):
    pass


def envelope(clock: SimClock, contacts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "syncworker Xero simulator",
            "DateTimeUTC": format_ms_date(clock.now()), **extra, "Contacts": contacts}


def _problem(status: int, error_type: str, message: str, elements: list[dict[str, Any]] | None = None
             ) -> SimResponse:
    body: dict[str, Any] = {"ErrorNumber": {400: 10, 404: 404, 500: 500}.get(status, status),
                            "Type": error_type, "Message": message}
    if elements is not None:
        body["Elements"] = elements
    return SimResponse.json(status, body)


def parse_where(where: str) -> Callable[[dict[str, Any]], bool]:
    """The subset of Xero's `where` used for contacts: `Field=="text"`, `ContactID==guid("...")`,
    `IsSupplier==true`, joined with AND / &&."""
    terms = []
    for raw in re.split(r"\s+AND\s+|&&", where, flags=re.IGNORECASE):
        m = _WHERE_TERM.match(raw)
        if not m:
            raise BadQuery(f"could not parse where clause term {raw.strip()!r}")
        field, text, guid, boolean = m.groups()
        if boolean is not None:
            terms.append((field, boolean == "true"))
        else:
            terms.append((field, guid.lower() if guid else re.sub(r"\\(.)", r"\1", text)))
    return lambda c: all(c.get(f, "" if not isinstance(v, bool) else False) == v for f, v in terms)


def parse_if_modified_since(value: str) -> datetime:
    """Xero documents `yyyy-mm-ddThh:mm:ss` (UTC); HTTP-date form is accepted too."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError) as exc:
            raise BadQuery(f"invalid If-Modified-Since {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class ContactsApi:
    def __init__(self, store: ContactStore, clock: SimClock) -> None:
        self.store = store
        self.clock = clock
        self._idempotent: dict[tuple[str, str], SimResponse] = {}
        self._idem_lock = threading.Lock()

    def handle(self, req: SimRequest) -> SimResponse:
        rest = req.path[len(API_PREFIX):].rstrip("/")
        parts = rest.split("/")[1:]
        if not parts or parts[0].lower() != "contacts" or len(parts) > 2:
            return _problem(404, "NotFound", "The resource you're looking for cannot be found")
        contact_id = parts[1] if len(parts) == 2 else None
        query = {k.lower(): v for k, v in req.query.items()}
        try:
            if req.method == "GET":
                return self._get_one(contact_id) if contact_id else self._list(req, query)
            if req.method == "POST" or (req.method == "PUT" and contact_id is None):
                return self._idempotent_write(req, lambda: self._write(req, query, contact_id))
            return _problem(405, "MethodNotAllowed", f"{req.method} is not supported here")
        except BadQuery as exc:
            return _problem(400, "QueryParseException", str(exc))

    # --- reads ---
    def _get_one(self, contact_id: str) -> SimResponse:
        found = self.store.get(contact_id)
        if found is None:
            return _problem(404, "NotFound", "The resource you're looking for cannot be found")
        return SimResponse.json(200, envelope(self.clock, [found]))

    def _list(self, req: SimRequest, query: dict[str, str]) -> SimResponse:
        include_archived = query.get("includearchived", "false").lower() == "true"
        match_where = parse_where(query["where"]) if query.get("where") else (lambda c: True)
        ids = {i.strip().lower() for i in query.get("ids", "").split(",") if i.strip()}
        term = query.get("searchterm", "").casefold()
        since_header = req.headers.get("if-modified-since")
        since = parse_if_modified_since(since_header) if since_header else None

        def wanted(c: dict[str, Any]) -> bool:
            if not include_archived and c["ContactStatus"] == "ARCHIVED":
                return False
            if ids and c["ContactID"] not in ids:
                return False
            if term and not any(term in str(c.get(f, "")).casefold()
                                for f in ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress")):
                return False
            return match_where(c)

        order_by, descending = self._order(query.get("order"))
        if "page" not in query:
            _, contacts = self.store.query(wanted, modified_since=since, order_by=order_by, descending=descending)
            return SimResponse.json(200, envelope(self.clock, contacts))
        try:
            page = max(int(query["page"]), 1)
            size = min(max(int(query.get("pagesize", DEFAULT_PAGE_SIZE)), 1), MAX_PAGE_SIZE)
        except ValueError as exc:
            raise BadQuery("page and pageSize must be integers") from exc
        total, chunk = self.store.query(wanted, modified_since=since, order_by=order_by, descending=descending,
                                        window=slice((page - 1) * size, page * size))
        pagination = {"page": page, "pageSize": size, "pageCount": -(-total // size), "itemCount": total}
        return SimResponse.json(200, envelope(self.clock, chunk, pagination=pagination))

    @staticmethod
    def _order(order: str | None) -> tuple[str, bool]:
        """(field, descending) for `order`; default Name ASC. ContactID breaks ties so pages are stable."""
        if not order:
            return "Name", False
        m = _ORDER.match(order)
        if not m:
            raise BadQuery(f"could not parse order {order!r}")
        return m.group(1), (m.group(2) or "ASC").upper() == "DESC"

    # --- writes ---
    def _idempotent_write(self, req: SimRequest, write: Callable[[], SimResponse]) -> SimResponse:
        key = req.headers.get("idempotency-key")
        if not key:
            return write()
        cache_key = (req.path, key)
        with self._idem_lock:  # serialises keyed writes, so a concurrent replay cannot write twice
            if cache_key not in self._idempotent:
                self._idempotent[cache_key] = write()
            return self._idempotent[cache_key]

    def _write(self, req: SimRequest, query: dict[str, str], contact_id: str | None) -> SimResponse:
        try:
            payload = json.loads(req.body or b"{}")
            items = payload["Contacts"] if isinstance(payload, dict) and "Contacts" in payload else [payload]
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ValueError
        except (ValueError, KeyError):
            return _problem(400, "PostDataInvalidException", "The request body is not a valid Contacts object")
        summarize = query.get("summarizeerrors", "true").lower() != "false"
        done: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for item in items:
            target = contact_id or (item.get("ContactID") if req.method == "POST" else None)
            try:
                if target:
                    result = self.store.update(target, item)
                    if result is None:
                        return _problem(404, "NotFound", "The resource you're looking for cannot be found")
                else:
                    result = self.store.create(item)
                done.append({**result, "StatusAttributeString": "OK"})
            except ValidationFailed as exc:
                element = {**exc.element, "HasValidationErrors": True, "StatusAttributeString": "ERROR",
                           "ValidationErrors": [{"Message": m} for m in exc.messages]}
                failed.append(element)
                done.append(element)
        if failed and summarize:
            return _problem(400, "ValidationException", "A validation exception occurred", failed)
        return SimResponse.json(200, envelope(self.clock, done))
