"""XPM v3.1 client and client-group endpoints over the in-memory practice.

Error choices where the docs are silent (documented here so adapters know what they are up against):
- Business-rule failures (missing Name, unknown BusinessStructure, masked TaxNumber written back, unknown
  UUID inside a request body, bad relationship) answer HTTP 200 with `<Status>ERROR</Status>`, as the
  reference warns the real API does.
- An unknown UUID in the URL (`get/{uuid}`, `contact/{uuid}`, `clientgroup.api/get/{uuid}`) answers 404
  with the ERROR envelope; a body that is not XML answers 400 with the ERROR envelope; bad paging
  parameters (pageSize outside 1–500, unknown pageToken, malformed modifiedsince) answer 400 likewise.
- `PUT client.api/update` keeps fields left out of the body; an empty element (`<Email />`) clears one.
- `modifiedsince` (any case) keeps clients modified at or after the instant, archived and deleted included.
- Relationships are listed on the client they were added to (ClientUUID side); no inverse is created.
- Contacts paged list and paged-list order by name then UUID, with an opaque keyset pageToken, so records
  added or removed between pages neither repeat nor vanish from the rest of the walk.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlencode
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from simulators.xero_identity import SimRequest, SimResponse
from simulators.xpm import xml_out as X
from simulators.xpm.store import (
    WRITABLE_FIELDS,
    ContactLink,
    NotFoundError,
    PracticeStore,
    SimClient,
    StoreError,
)

API_PREFIX = "/practicemanager/3.1/"
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


class BadRequest(Exception):
    pass


@dataclass(slots=True)
class ApiContext:
    store: PracticeStore
    base_url: str
    country: str
    web_host: str = "https://practicemanager.xero.com"


def ok(*parts: str) -> SimResponse:
    return SimResponse(200, X.envelope(*parts), dict(XML_HEADERS))


def error(description: str, status: int = 200) -> SimResponse:
    return SimResponse(status, X.error_envelope(description), dict(XML_HEADERS))


Route = Callable[[ApiContext, SimRequest, re.Match[str]], SimResponse]
_ROUTES: list[tuple[str, re.Pattern[str], Route]] = []
_UUID = r"([0-9a-fA-F-]{36})"


def route(method: str, pattern: str) -> Callable[[Route], Route]:
    def register(fn: Route) -> Route:
        _ROUTES.append((method, re.compile(pattern + r"/?$"), fn))
        return fn
    return register


def endpoint_name(req: SimRequest) -> str:
    """A stable stats key: method plus path with UUIDs replaced."""
    path = req.path[len(API_PREFIX):] if req.path.startswith(API_PREFIX) else req.path
    return f"{req.method} {re.sub(_UUID, '{uuid}', path)}"


def dispatch(ctx: ApiContext, req: SimRequest) -> SimResponse:
    path = req.path[len(API_PREFIX):]
    allowed = False
    for method, pattern, fn in _ROUTES:
        m = pattern.match(path)
        if m is None:
            continue
        allowed = True
        if method == req.method:
            try:
                return fn(ctx, req, m)
            except NotFoundError as exc:
                return error(str(exc), 404)
            except StoreError as exc:
                return error(str(exc))
            except BadRequest as exc:
                return error(str(exc), 400)
    return error("Method not allowed", 405) if allowed else error("Not found", 404)


# ---- request parsing ----

def _parse_body(req: SimRequest, root_tag: str) -> Element:
    try:
        root = SafeET.fromstring(req.body or b"")
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise BadRequest(f"Invalid XML: {exc}") from exc
    if root.tag != root_tag:
        raise BadRequest(f"Expected <{root_tag}>")
    return root


def _children(root: Element, names: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for child in root:
        if child.tag in names and len(child) == 0:
            out[child.tag] = child.text or ""
    return out


def _text(root: Element, tag: str) -> str:
    node = root.find(tag)
    return (node.text or "").strip() if node is not None else ""


def _flag(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() in ("yes", "true", "1")


def _query(req: SimRequest, name: str) -> str | None:
    for key, value in req.query.items():
        if key.lower() == name.lower():
            return value
    return None


def _page_params(req: SimRequest) -> tuple[int, tuple[str, str] | None]:
    raw = _query(req, "pageSize")
    try:
        size = 50 if raw in (None, "") else int(raw)
    except ValueError as exc:
        raise BadRequest("pageSize must be a number between 1 and 500") from exc
    if not 1 <= size <= 500:
        raise BadRequest("pageSize must be between 1 and 500")
    token = _query(req, "pageToken")
    if not token:
        return size, None
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return size, (str(key[0]), str(key[1]))
    except (ValueError, binascii.Error, IndexError, TypeError) as exc:
        raise BadRequest("Invalid pageToken") from exc


def _page_token(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).rstrip(b"=").decode()


def _paginate(ctx: ApiContext, req: SimRequest, items: list, endpoint: str) -> tuple[list, str]:
    size, after = _page_params(req)
    if after is not None:
        items = [i for i in items if i.sort_key() > after]
    page, more = items[:size], len(items) > size
    first = f"{ctx.base_url}{endpoint}?{urlencode({'pageSize': size})}"
    nxt = f"{ctx.base_url}{endpoint}?{urlencode({'pageToken': _page_token(page[-1].sort_key()), 'pageSize': size})}" if more else None
    return page, X.render_pagination(first, nxt)


def _detailed(req: SimRequest) -> bool:
    return (_query(req, "detailed") or "").lower() == "true"


def is_detailed_list(req: SimRequest) -> bool:
    return req.method == "GET" and req.path.endswith("client.api/list") and _detailed(req)


def listed_clients(body: bytes) -> int:
    """Top-level clients in a `<Response><Clients>` body (each opens with its UUID right after `<Client>`)."""
    return body.count(b"<Client>\n      <UUID>")


def _modified_since(req: SimRequest) -> datetime | None:
    raw = _query(req, "modifiedsince")
    if not raw:
        return None
    try:
        return datetime.strptime(raw.strip(), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadRequest("modifiedsince must be yyyy-MM-ddTHH:mm:ss") from exc


# ---- clients ----

@route("GET", r"client\.api/list")
def list_clients(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    view = X.DETAILED_LIST_VIEW if _detailed(req) else X.LIST_VIEW
    with ctx.store.lock:
        clients = ctx.store.list_clients(modified_since=_modified_since(req))
        return ok(X.render_clients(ctx.store, clients, view, ctx.country))


@route("GET", r"client\.api/paged-list")
def paged_clients(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    with ctx.store.lock:
        page, pagination = _paginate(ctx, req, ctx.store.active_clients(), "client.api/paged-list")
        return ok(X.render_clients(ctx.store, page, X.PAGED_VIEW, ctx.country), pagination)


@route("GET", r"client\.api/search")
def search_clients(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    query = _query(req, "query")
    if not query:
        raise BadRequest("query is required")
    view = X.DETAILED_SEARCH_VIEW if _detailed(req) else X.SEARCH_VIEW
    with ctx.store.lock:
        return ok(X.render_clients(ctx.store, ctx.store.search_clients(query), view, ctx.country))


def _detailed_client(ctx: ApiContext, client: SimClient) -> SimResponse:
    web_url = f"  {X.el('WebUrl', f'{ctx.web_host}/Client/{client.web_id}/Detail')}\n"
    return ok(web_url, X.render_client(ctx.store, client, X.GET_VIEW, ctx.country, ind="    "))


@route("GET", r"client\.api/get/" + _UUID)
def get_client(ctx: ApiContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    with ctx.store.lock:
        return _detailed_client(ctx, ctx.store.get_client(m.group(1)))


def _contact_values(node: Element) -> dict[str, str]:
    return {tag.lower(): (node.findtext(tag) or "").strip() for tag in
            ("Name", "Salutation", "Addressee", "Mobile", "Email", "Phone") if node.find(tag) is not None}


@route("POST", r"client\.api/add")
def add_client(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Client")
    values = _children(root, WRITABLE_FIELDS + ("AccountManagerUUID", "JobManagerUUID", "BillingClientUUID"))
    with ctx.store.lock:
        contacts = []
        for node in root.findall("Contacts/Contact"):
            cv = _contact_values(node)
            if not cv.get("name"):
                raise StoreError("Contact Name is required")
            contacts.append((ctx.store.new_contact(**cv), bool(_flag(node.findtext("IsPrimary"))), (node.findtext("Position") or "").strip()))
        return _detailed_client(ctx, ctx.store.add_client(values, contacts))


@route("PUT", r"client\.api/update")
def update_client(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Client")
    client_uuid = _text(root, "UUID")
    if not client_uuid:
        raise StoreError("UUID is required")
    values = _children(root, WRITABLE_FIELDS + ("AccountManagerUUID", "JobManagerUUID", "BillingClientUUID"))
    with ctx.store.lock:
        return _detailed_client(ctx, ctx.store.update_client(client_uuid, values))


@route("PUT", r"client\.api/archive")
def archive_client(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Client")
    with ctx.store.lock:
        return _detailed_client(ctx, ctx.store.archive_client(_text(root, "UUID")))


@route("POST", r"client\.api/delete")
def delete_client(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Client")
    ctx.store.delete_client(_text(root, "UUID"))
    return ok()


# ---- contacts ----

@route("GET", r"client\.api/contacts")
def list_contacts(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    with ctx.store.lock:
        page, pagination = _paginate(ctx, req, ctx.store.live_contacts(), "client.api/contacts")
        return ok(X.render_contacts(page), pagination)


def _contact_response(ctx: ApiContext, contact_uuid: str, client_uuid: str | None) -> SimResponse:
    contact = ctx.store.get_contact(contact_uuid)
    link = ctx.store.contact_link(contact.uuid, client_uuid) if client_uuid else None
    return ok(X.render_contact(contact, "  ", is_primary=link.is_primary if link else None,
                               position=link.position if link else None, linked=link is not None))


@route("GET", r"client\.api/contact/" + _UUID)
def get_contact(ctx: ApiContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    with ctx.store.lock:
        return _contact_response(ctx, m.group(1), _query(req, "clientUuid"))


@route("PUT", r"client\.api/contact/" + _UUID)
def update_contact(ctx: ApiContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Contact")
    client_uuid = (root.findtext("Client/UUID") or "").strip() or None
    position = root.findtext("Position")
    with ctx.store.lock:
        contact = ctx.store.update_contact(m.group(1), _contact_values(root), client_uuid,
                                           _flag(root.findtext("IsPrimary")), position.strip() if position is not None else None)
        return _contact_response(ctx, contact.uuid, client_uuid)


@route("DELETE", r"client\.api/contact/" + _UUID)
def delete_contact(ctx: ApiContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    ctx.store.delete_contact(m.group(1), _query(req, "clientUuid"))
    return ok()


@route("POST", r"client\.api/contact")
def add_contact(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Contact")
    client_uuid = (root.findtext("Client/UUID") or "").strip()
    if not client_uuid:
        raise StoreError("Client UUID is required")
    with ctx.store.lock:
        contact = ctx.store.add_contact(client_uuid, ctx.store.new_contact(**_contact_values(root)),
                                        bool(_flag(root.findtext("IsPrimary"))), (root.findtext("Position") or "").strip())
        return _contact_response(ctx, contact.uuid, client_uuid)


@route("POST", r"client\.api/client/" + _UUID + r"/contacts")
def link_contacts(ctx: ApiContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Client")
    links = [
        ContactLink((n.findtext("UUID") or "").strip().lower(), bool(_flag(n.findtext("IsPrimary"))), (n.findtext("Position") or "").strip())
        for n in root.findall("Contacts/Contact")
    ]
    ctx.store.link_contacts(m.group(1), links)
    return ok()


# ---- relationships ----

def _int(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(float(value))
    except ValueError as exc:
        raise StoreError(f"'{value}' is not a number") from exc


def _float(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise StoreError(f"'{value}' is not a number") from exc


def _date(value: str | None) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise StoreError(f"'{value}' is not a yyyy-MM-dd date") from exc


@route("POST", r"client\.api/addrelationship")
def add_relationship(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Relationship")
    with ctx.store.lock:
        rel = ctx.store.add_relationship(
            _text(root, "ClientUUID"), _text(root, "RelatedClientUUID"), _text(root, "Type"),
            shares=_int(root.findtext("NumberOfShares")), percentage=_float(root.findtext("Percentage")),
            start=_date(root.findtext("StartDate")), end=_date(root.findtext("EndDate")),
        )
        return ok(X.render_relationship(ctx.store, rel, "  "))


@route("PUT", r"client\.api/updaterelationship")
def update_relationship(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Relationship")
    values: dict[str, object] = {}
    for tag, key, conv in (("NumberOfShares", "number_of_shares", _int), ("Percentage", "percentage", _float),
                           ("StartDate", "start_date", _date), ("EndDate", "end_date", _date)):
        node = root.find(tag)
        if node is not None:
            values[key] = conv(node.text)
    with ctx.store.lock:
        rel = ctx.store.update_relationship(_text(root, "UUID"), values=values)
        return ok(X.render_relationship(ctx.store, rel, "  "))


@route("POST", r"client\.api/deleterelationship")
def delete_relationship(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    ctx.store.delete_relationship(_text(_parse_body(req, "Relationship"), "UUID"))
    return ok()


# ---- client groups ----

@route("GET", r"clientgroup\.api/list")
def list_groups(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    with ctx.store.lock:
        body = "".join(X.render_group(ctx.store, g, members=False) for g in ctx.store.list_groups())
        return ok(f"  <Groups>\n{body}  </Groups>\n" if body else "  <Groups />\n")


@route("GET", r"clientgroup\.api/get/" + _UUID)
def get_group(ctx: ApiContext, req: SimRequest, m: re.Match[str]) -> SimResponse:
    with ctx.store.lock:
        return ok(X.render_group(ctx.store, ctx.store.get_group(m.group(1)), members=True, ind="    "))


@route("POST", r"clientgroup\.api/add")
def add_group(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Group")
    with ctx.store.lock:
        group = ctx.store.add_group(_text(root, "Name"), _text(root, "ClientUUID"), bool(_flag(root.findtext("Taxable"))))
        return ok(X.render_group(ctx.store, group, members=True, ind="    "))


@route("PUT", r"clientgroup\.api/members")
def group_members(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    root = _parse_body(req, "Group")
    add = [n.get("uuid", "") for n in root.findall("add")]
    remove = [n.get("uuid", "") for n in root.findall("remove")]
    with ctx.store.lock:
        group = ctx.store.change_members(_text(root, "UUID"), add, remove)
        return ok(X.render_group(ctx.store, group, members=True, ind="    "))


@route("POST", r"clientgroup\.api/delete")
def delete_group(ctx: ApiContext, req: SimRequest, _: re.Match[str]) -> SimResponse:
    ctx.store.delete_group(_text(_parse_body(req, "Group"), "UUID"))
    return ok()
