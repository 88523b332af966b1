"""A strict XPM v3.1, written from Xero's public documentation of the client API, not from our simulator.

Source: the developer.xero.com pages for practice-manager-3-1 clients and client groups, and the v3.1 OpenAPI
file, as summarised in /work/shared/reference/xpm_aps_xero.md §1.4-1.6. Only what they document is served:

    GET  client.api/list            detailed=true, modifiedsince=yyyy-MM-ddTHH:mm:ss (UTC); not paged
    GET  client.api/paged-list      pageSize (1-500), pageToken; active clients only, no detail
    GET  client.api/get/{uuid}      the detailed client
    GET  client.api/search          query, detailed
    PUT  client.api/update          <Client><UUID>... ; answers the detailed client
    GET  clientgroup.api/list       the groups
    GET  clientgroup.api/get/{uuid} a group with its clients

Anything else (another path, a parameter the docs do not name, a bad date, a body without <UUID>) is answered
as XPM answers errors (`<Status>ERROR</Status>`) and recorded in `rejected`, so a test can assert there was
none. Every call is counted in `calls` by method and endpoint. A record carries `Contacts`, `Notes`, `Groups`
and `Relationships` in detailed answers only; booleans are Yes/No; the tax number is masked.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

import requests
import responses

BASE = "https://api.xero.com/practicemanager/3.1/"
DOCUMENTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "client.api/list"): frozenset({"detailed", "modifiedsince"}),
    ("GET", "client.api/paged-list"): frozenset({"pageSize", "pageToken"}),
    ("GET", "client.api/get"): frozenset(),
    ("GET", "client.api/search"): frozenset({"query", "detailed"}),
    ("PUT", "client.api/update"): frozenset(),
    ("GET", "clientgroup.api/list"): frozenset(),
    ("GET", "clientgroup.api/get"): frozenset(),
}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_FIELDS = ("Name", "FirstName", "LastName", "Email", "Phone", "Address", "City", "Region", "PostCode", "Country",
           "TaxNumber", "BusinessStructure")
_WRITABLE = frozenset(_FIELDS) - {"TaxNumber"} | {"WebSite", "MiddleName", "PostalAddress", "PostalCity",
                                                  "PostalRegion", "PostalPostCode", "PostalCountry", "DateOfBirth",
                                                  "BusinessNumber", "CompanyNumber", "Fax", "Title", "OtherName"}


@dataclass
class FakeClient:
    uuid: str
    fields: dict[str, str]
    modified: datetime
    archived: bool = False
    groups: list[str] = field(default_factory=list)


@dataclass
class StrictXpm:
    clients: dict[str, FakeClient] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)  # uuid -> name
    now: datetime = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    calls: Counter[str] = field(default_factory=Counter)
    rejected: list[str] = field(default_factory=list)

    # --- the practice ---
    def add_client(self, uuid: str, **fields: str) -> FakeClient:
        client = self.clients[uuid] = FakeClient(uuid, dict(fields), self.now)
        return client

    def edit(self, uuid: str, **fields: str) -> None:
        self.clients[uuid].fields.update(fields)
        self.clients[uuid].modified = self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def reads(self) -> int:
        return sum(n for k, n in self.calls.items() if k.startswith("GET "))

    # --- HTTP ---
    def install(self, mock: responses.RequestsMock) -> None:
        for method in ("GET", "PUT", "POST", "DELETE"):
            mock.add_callback(method, re.compile(re.escape(BASE) + ".*"), callback=self._answer)

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.url or "")
        path = url.path.removeprefix(urlsplit(BASE).path)
        by_id = re.fullmatch(r"(client(?:group)?\.api/get)/([^/]+)", path)
        endpoint, tail = (by_id.group(1), by_id.group(2)) if by_id else (path, "")
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        method = request.method or "GET"
        self.calls[f"{method} {endpoint}"] += 1
        allowed = DOCUMENTED.get((method, endpoint))
        if allowed is None:
            return self._reject(f"{method} {path}: not a documented endpoint", 404)
        unknown = set(params) - allowed
        if unknown:
            return self._reject(f"{method} {endpoint}: undocumented parameters {sorted(unknown)}")
        if request.headers.get("Xero-Tenant-Id") is None or not str(request.headers.get("Authorization", "")) \
                .startswith("Bearer "):
            return self._reject(f"{method} {endpoint}: no bearer token or Xero-Tenant-Id", 401)
        try:
            body = getattr(self, "_" + endpoint.replace(".api/", "_").replace("-", "_"))(params, tail, request.body)
        except ValueError as exc:
            return self._reject(f"{method} {endpoint}: {exc}")
        return 200, {"Content-Type": "text/xml"}, f"<Response><Status>OK</Status>{body}</Response>".encode()

    def _reject(self, why: str, status: int = 400) -> tuple[int, dict[str, str], bytes]:
        self.rejected.append(why)
        return status, {"Content-Type": "text/xml"}, (
            f"<Response><Status>ERROR</Status><ErrorDescription>{escape(why)}</ErrorDescription></Response>").encode()

    # --- endpoints ---
    def _client_list(self, params: dict[str, str], _: str, __: Any) -> str:
        detailed = _yes(params.get("detailed"))
        chosen = list(self.clients.values())
        if "modifiedsince" in params:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", params["modifiedsince"]):
                raise ValueError("modifiedsince must be yyyy-MM-ddTHH:mm:ss")
            since = datetime.fromisoformat(params["modifiedsince"]).replace(tzinfo=UTC)
            chosen = [c for c in chosen if c.modified >= since]
        return _clients(self, chosen, detailed)

    def _client_paged_list(self, params: dict[str, str], _: str, __: Any) -> str:
        size = int(params.get("pageSize", "50"))
        if not 1 <= size <= 500:
            raise ValueError("pageSize must be 1 to 500")
        active = [c for c in self.clients.values() if not c.archived]
        start = int(params.get("pageToken", "0") or 0)
        page = active[start:start + size]
        nxt = f"<Next>{BASE}client.api/paged-list?pageSize={size}&amp;pageToken={start + size}</Next>" \
            if start + size < len(active) else ""
        return (_clients(self, page, False) + f"<Pagination><Links><First>{BASE}client.api/paged-list?pageSize={size}"
                f"</First>{nxt}</Links></Pagination>")

    def _client_get(self, _: dict[str, str], uuid: str, __: Any) -> str:
        if uuid not in self.clients:
            raise ValueError("client not found")
        return _client_xml(self, self.clients[uuid], True)

    def _client_search(self, params: dict[str, str], _: str, __: Any) -> str:
        query = params.get("query", "").casefold()
        found = [c for c in self.clients.values() if query in c.fields.get("Name", "").casefold()]
        return _clients(self, found, _yes(params.get("detailed")))

    def _client_update(self, _: dict[str, str], __: str, body: Any) -> str:
        root = ET.fromstring(body if isinstance(body, bytes | str) else b"")
        uuid = (root.findtext("UUID") or "").strip()
        if root.tag != "Client" or uuid not in self.clients:
            raise ValueError("the body must be <Client> with the UUID of a client")
        changes = {el.tag: (el.text or "").strip() for el in root if el.tag != "UUID"}
        undocumented = set(changes) - _WRITABLE
        if undocumented:
            raise ValueError(f"not writable: {sorted(undocumented)}")
        self.edit(uuid, **{("Website" if k == "WebSite" else k): v for k, v in changes.items()})
        return _client_xml(self, self.clients[uuid], True)

    def _clientgroup_list(self, _: dict[str, str], __: str, ___: Any) -> str:
        items = "".join(f"<Group><UUID>{g}</UUID><Name>{escape(n)}</Name><Taxable>No</Taxable></Group>"
                        for g, n in self.groups.items())
        return f"<Groups>{items}</Groups>"

    def _clientgroup_get(self, _: dict[str, str], uuid: str, __: Any) -> str:
        if uuid not in self.groups:
            raise ValueError("group not found")
        members = "".join(f"<Client><UUID>{c.uuid}</UUID><Name>{escape(c.fields.get('Name', ''))}</Name></Client>"
                          for c in self.clients.values() if uuid in c.groups)
        return f"<Group><UUID>{uuid}</UUID><Name>{escape(self.groups[uuid])}</Name><Clients>{members}</Clients></Group>"


def _yes(value: str | None) -> bool:
    return (value or "").lower() in ("true", "yes")


def _clients(fake: StrictXpm, clients: list[FakeClient], detailed: bool) -> str:
    return "<Clients>" + "".join(_client_xml(fake, c, detailed) for c in clients) + "</Clients>"


def _client_xml(fake: StrictXpm, c: FakeClient, detailed: bool) -> str:
    f = dict(c.fields)
    if f.get("TaxNumber"):
        f["TaxNumber"] = "*" * (len(f["TaxNumber"]) - 3) + f["TaxNumber"][-3:]
    parts = [f"<UUID>{c.uuid}</UUID>"]
    parts += [f"<{k}>{escape(v)}</{k}>" if v else f"<{k} />" for k, v in f.items()]
    parts.append(f"<IsArchived>{'Yes' if c.archived else 'No'}</IsArchived><IsDeleted>No</IsDeleted>")
    if detailed:
        groups = "".join(f"<Group><UUID>{g}</UUID><Name>{escape(fake.groups[g])}</Name></Group>" for g in c.groups)
        parts.append(f"<Contacts /><Notes /><Groups>{groups}</Groups><Relationships />")
    return f"<Client>{''.join(parts)}</Client>"
