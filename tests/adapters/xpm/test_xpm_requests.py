"""Request shaping and paging of XpmClient against the `responses` mock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import defusedxml.ElementTree as SafeET
import pytest
import requests
import responses
from xpm_fakes import BASE, NOW, TENANT, client_xml, envelope

from adapters.errors import NotFound
from adapters.xpm.client import XpmClient
from syncworker.domain.profile import (
    Address,
    ClientGroup,
    ClientKind,
    ClientProfile,
    ClientStatus,
    Relationship,
)

A = "f8235e1a-d383-48b7-9139-ba97ab8ca889"
B = "7b57ae35-244b-4ded-b237-b3ea8a222dd2"
G = "46e1db32-6c94-43f6-b5eb-fa082feb1fc4"
C = "0b7d3c1e-1111-4222-8333-444455556666"


def _query(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def _page(clients: str, next_token: str | None) -> str:
    links = "<First>https://api.xero.com/practicemanager/3.1/client.api/paged-list?pageSize=500</First>"
    if next_token:
        links += f"<Next>https://api.xero.com/practicemanager/3.1/client.api/paged-list?pageToken={next_token}&amp;pageSize=500</Next>"
    return envelope(f"<Clients>{clients}</Clients><Pagination><Links>{links}</Links></Pagination>")


def test_every_request_has_auth_tenant_accept_and_timeouts(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(BASE + "client.api/search", body=envelope(f"<Clients>{client_xml(A, 'Acme')}</Clients>"))
    found = client.search_clients("Acme & Co")
    assert [c.id for c in found] == [A]
    call = mocked.calls[0]
    assert call.request.headers["Authorization"] == "Bearer access-1"
    assert call.request.headers["Xero-Tenant-Id"] == TENANT
    assert call.request.headers["Accept"] == "application/xml"
    assert _query(call) == {"query": ["Acme & Co"]}
    connect, read = call.request.req_kwargs["timeout"]
    assert connect > 0 and read > 0


def test_full_load_is_one_detailed_listing_with_relationships_groups_and_contacts(
    mocked: responses.RequestsMock, make_client: Callable[..., XpmClient]
) -> None:
    client = make_client(page_size=2)
    rel = ("<Relationships><Relationship><UUID>a1b2c3d4-0000-4000-8000-000000000001</UUID><Type>Director</Type>"
           f"<RelatedClient><UUID>{B}</UUID><Name>Bloggs</Name></RelatedClient></Relationship></Relationships>"
           f"<Groups><Group><UUID>{G}</UUID><Name>Family</Name></Group></Groups>"
           "<Contacts><Contact><UUID>c0ffee00-0000-4000-8000-000000000001</UUID><Name>Jo</Name></Contact></Contacts>")
    clients = client_xml(A, "Acme", rel) + client_xml(B, "Bloggs") + client_xml(C, "Carr")
    mocked.get(BASE + "client.api/list", body=envelope(f"<Clients>{clients}</Clients>"),
               match=[responses.matchers.query_param_matcher({"detailed": "true"})])
    pages = list(client.iter_client_pages())
    assert [[c.id for c in p.items] for p in pages] == [[A, B], [C]]
    assert [p.checkpoint for p in pages] == ["list:2", None]
    assert pages[-1].next_cursor is not None and pages[0].next_cursor is None
    acme = pages[0].items[0]
    assert acme.extra["detailed"] is True and acme.extra["group_ids"] == [G]
    assert acme.extra["groups"] == [{"id": G, "name": "Family"}]
    assert acme.extra["contact_ids"] == ["c0ffee00-0000-4000-8000-000000000001"]
    assert [(r["related_client_id"], r["type"]) for r in acme.extra["relationships"]] == [(B, "director")]
    assert len(mocked.calls) == 1 and client.call_stats()["calls"] == 1


def test_full_load_falls_back_to_paged_list_when_the_listing_cannot_finish(
    mocked: responses.RequestsMock, client: XpmClient
) -> None:
    mocked.get(BASE + "client.api/list", body=requests.exceptions.ReadTimeout("read timed out"),
               match=[responses.matchers.query_param_matcher({"detailed": "true"})])
    mocked.get(BASE + "client.api/paged-list", body=_page(client_xml(A, "Acme"), "tok2"),
               match=[responses.matchers.query_param_matcher({"pageSize": "500"})])
    mocked.get(BASE + "client.api/paged-list", body=_page(client_xml(B, "Bloggs"), None),
               match=[responses.matchers.query_param_matcher({"pageSize": "500", "pageToken": "tok2"})])
    pages = list(client.iter_client_pages())
    assert [[c.id for c in p.items] for p in pages] == [[A], [B]]  # one-element lists are lists
    assert [p.checkpoint for p in pages] == ["page:tok2", None]
    assert all(not p.incremental and not c.extra["detailed"] for p in pages for c in p.items)
    assert pages[-1].next_cursor is not None
    listing_tries = sum(1 for c in mocked.calls if "paged-list" not in c.request.url)
    assert listing_tries == 4 and client.call_stats()["calls"] == listing_tries + 2  # max_retries=3


def test_full_load_stream_cut_mid_body_falls_back_for_the_rest(
    mocked: responses.RequestsMock, make_client: Callable[..., XpmClient]
) -> None:
    client = make_client(page_size=1)
    cut = envelope(f"<Clients>{client_xml(A, 'Acme')}{client_xml(B, 'Bloggs')}<Client><UUID>")
    mocked.get(BASE + "client.api/list", body=cut)
    mocked.get(BASE + "client.api/paged-list", body=_page(client_xml(A, "Acme") + client_xml(C, "Carr"), None))
    pages = list(client.iter_client_pages())
    # A's page was delivered from the stream (detailed) and is not repeated from paged-list; the page
    # held back when the body broke (B) is not lost: paged-list has every active client.
    ids = [c.id for p in pages for c in p.items]
    assert ids[0] == A and pages[0].items[0].extra["detailed"] is True
    assert ids.count(A) == 1 and C in ids and pages[-1].checkpoint is None


def test_full_load_resumes_from_checkpoint(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(BASE + "client.api/paged-list", body=_page(client_xml(B, "Bloggs"), None))
    pages = list(client.iter_client_pages(resume_from="page:tok2"))
    assert [c.id for c in pages[0].items] == [B]
    assert _query(mocked.calls[0]) == {"pageSize": ["500"], "pageToken": ["tok2"]}


def test_incremental_pull_reports_archived_and_deleted_and_a_resumable_cursor(
    mocked: responses.RequestsMock, make_client
) -> None:
    client = make_client(page_size=2, incremental_overlap=timedelta(minutes=5))
    rows = "".join([
        client_xml(A, "Acme", "<IsArchived>No</IsArchived><IsDeleted>No</IsDeleted>"),
        client_xml(B, "Bloggs", "<IsArchived>Yes</IsArchived><IsDeleted>No</IsDeleted>"),
        client_xml(G, "Gone", "<IsArchived>No</IsArchived><IsDeleted>Yes</IsDeleted>"),
    ])
    # The server's clock runs 30 s ahead of ours.
    server_date = "Mon, 23 Nov 2026 06:00:30 GMT"
    mocked.get(BASE + "client.api/list", body=envelope(f"<Clients>{rows}</Clients>"), headers={"Date": server_date})
    since = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    pages = list(client.iter_client_pages(modified_since=since))
    assert _query(mocked.calls[0]) == {"modifiedsince": ["2026-11-20T08:30:00"], "detailed": ["true"]}
    assert [[c.status for c in p.items] for p in pages] == [
        [ClientStatus.ACTIVE, ClientStatus.ARCHIVED], [ClientStatus.DELETED]]
    assert all(p.incremental for p in pages)
    # Before the last page, resuming repeats the same pull; the last page carries the next cursor.
    assert pages[0].checkpoint == f"since:{since.isoformat()}"
    expected_next = NOW + timedelta(seconds=30) - timedelta(minutes=5)
    assert pages[1].checkpoint == f"since:{expected_next.isoformat()}"
    mocked.get(BASE + "client.api/list", body=envelope("<Clients />"))
    again = list(client.iter_client_pages(resume_from=pages[1].checkpoint))
    assert again[0].items == [] and _query(mocked.calls[1])["modifiedsince"] == ["2026-11-23T05:55:30"]


def test_get_client_not_found_on_http_200_is_none(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(BASE + f"client.api/get/{A}",
               body="<Response><Status>ERROR</Status><ErrorDescription>Client not found</ErrorDescription></Response>")
    assert client.get_client(A.upper()) is None
    assert client.get_client("12345") is None  # a v3.0 integer id names no v3.1 record: no call
    with pytest.raises(NotFound, match="UUID"):  # an adapter error, never a bare ValueError
        client.update_client("12345", {"name": "x"})
    assert len(mocked.calls) == 1


def test_update_sends_only_changed_fields_with_website_spelling(
    mocked: responses.RequestsMock, client: XpmClient
) -> None:
    mocked.put(BASE + "client.api/update",
               body=envelope(client_xml(A, "Acme", "<Website>https://new.example</Website><TaxNumber>******123</TaxNumber>")))
    updated = client.update_client(A, {"website": "https://new.example", "phone": None})
    sent = SafeET.fromstring(mocked.calls[0].request.body)
    assert [child.tag for child in sent] == ["UUID", "Phone", "WebSite"]
    assert sent.findtext("WebSite") == "https://new.example" and sent.find("Phone").text is None
    assert mocked.calls[0].request.headers["Content-Type"].startswith("application/xml")
    assert updated.website == "https://new.example" and updated.extra["detailed"] is True


def test_update_never_writes_tax_number(mocked: responses.RequestsMock, client: XpmClient) -> None:
    with pytest.raises(ValueError, match="tax_number"):
        client.update_client(A, {"tax_number": "******123", "email": "a@b.example"})
    with pytest.raises(ValueError, match="mobile"):
        client.update_client(A, {"mobile": "021"})
    assert len(mocked.calls) == 0


def test_update_of_one_address_line_keeps_the_other(mocked: responses.RequestsMock, client: XpmClient) -> None:
    current = client_xml(A, "Acme", "<Address>\n   1 Old Road\n   Unit 4\n</Address><City>Perth</City>")
    mocked.get(BASE + f"client.api/get/{A}", body=envelope(current))
    mocked.put(BASE + "client.api/update", body=envelope(client_xml(A, "Acme")))
    client.update_client(A, {"address.line1": "2 New Road"})
    sent = SafeET.fromstring(mocked.calls[1].request.body)
    assert sent.findtext("Address") == "2 New Road\nUnit 4"
    assert sent.find("City") is None  # unchanged fields are left out (XPM keeps them)


def test_create_sends_business_structure_and_never_tax_number(
    mocked: responses.RequestsMock, client: XpmClient
) -> None:
    mocked.post(BASE + "client.api/add", body=envelope(client_xml(A, "Smith Family Trust",
                                                                 "<BusinessStructure>Trust</BusinessStructure>")))
    profile = ClientProfile(
        id="local-1", kind=ClientKind.TRUST, name="Smith Family Trust", website="https://smith.example",
        tax_number="123456782", address=Address(line1="1 Main St", city="Hobart"),
        date_of_birth=date(1990, 1, 2), status=ClientStatus.ACTIVE,
    )
    created = client.create_client(profile)
    body = mocked.calls[0].request.body
    sent = SafeET.fromstring(body)
    assert b"TaxNumber" not in body and b"123456782" not in body
    assert sent.findtext("BusinessStructure") == "Trust"
    assert sent.findtext("WebSite") == "https://smith.example" and sent.findtext("Address") == "1 Main St"
    assert sent.findtext("DateOfBirth") == "1990-01-02"
    assert created.id == A and created.kind is ClientKind.TRUST


def test_archive_body(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.put(BASE + "client.api/archive", body=envelope(client_xml(A, "Acme", "<IsArchived>Yes</IsArchived>")))
    client.archive_client(A)
    assert mocked.calls[0].request.body == f"<Client><UUID>{A}</UUID></Client>".encode()


def test_contacts_pages(mocked: responses.RequestsMock, client: XpmClient) -> None:
    page1 = envelope(f"<Contacts><Contact><UUID>{A}</UUID><Name>Jo</Name><IsDeleted>No</IsDeleted></Contact></Contacts>"
                     "<Pagination><Links><Next>https://x/client.api/contacts?pageSize=500&amp;pageToken=c2</Next></Links></Pagination>")
    page2 = envelope("<Contacts />")
    mocked.get(BASE + "client.api/contacts", body=page1,
               match=[responses.matchers.query_param_matcher({"pageSize": "500"})])
    mocked.get(BASE + "client.api/contacts", body=page2,
               match=[responses.matchers.query_param_matcher({"pageSize": "500", "pageToken": "c2"})])
    pages = list(client.iter_contact_pages())
    assert [len(p.items) for p in pages] == [1, 0] and [p.checkpoint for p in pages] == ["page:c2", None]


def test_relationship_add_maps_type_and_learns_uuid(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.post(BASE + "client.api/addrelationship", body=envelope(""))
    detail = client_xml(A, "Acme", f"<Relationships><Relationship><UUID>{G}</UUID><Type>Public Officer</Type>"
                                   f"<RelatedClient><UUID>{B}</UUID></RelatedClient></Relationship></Relationships>")
    mocked.get(BASE + f"client.api/get/{A}", body=envelope(detail))
    rel = client.add_relationship(Relationship(id=None, client_id=A, related_client_id=B, type="public_officer",
                                               start_date=date(2020, 7, 1)))
    sent = SafeET.fromstring(mocked.calls[0].request.body)
    assert (sent.findtext("ClientUUID"), sent.findtext("RelatedClientUUID"), sent.findtext("Type"),
            sent.findtext("StartDate")) == (A, B, "Public Officer", "2020-07-01")
    assert rel.id == G


def test_group_members_body_uses_add_and_remove_attributes(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.put(BASE + "clientgroup.api/members", body=envelope(f"<Group><UUID>{G}</UUID><Name>F</Name></Group>"))
    client.set_group_members(G, add=[A], remove=[B])
    sent = SafeET.fromstring(mocked.calls[0].request.body)
    assert sent.findtext("UUID") == G
    assert [(e.tag, e.get("uuid")) for e in sent if e.tag in ("add", "remove")] == [("add", A), ("remove", B)]


def test_list_groups_reads_members_per_group(mocked: responses.RequestsMock, client: XpmClient) -> None:
    mocked.get(BASE + "clientgroup.api/list",
               body=envelope(f"<Groups><Group><UUID>{G}</UUID><Name>Smith Family</Name><Taxable>Yes</Taxable></Group></Groups>"))
    mocked.get(BASE + f"clientgroup.api/get/{G}", body=envelope(
        f"<Group><UUID>{G}</UUID><Name>Smith Family</Name><Taxable>Yes</Taxable>"
        f"<Clients><Client><UUID>{A}</UUID><Name>x</Name></Client><Client><UUID>{B}</UUID><Name>y</Name></Client></Clients></Group>"))
    groups = client.list_groups()
    assert groups == [ClientGroup(id=G, name="Smith Family", member_ids=(A, B), taxable=True)]
    assert len(mocked.calls) == 2
    assert client.list_groups(members=False) == [ClientGroup(id=G, name="Smith Family", taxable=True)]
    assert len(mocked.calls) == 3  # the list alone: members come from detailed clients


def test_add_group_needs_a_first_client(mocked: responses.RequestsMock, client: XpmClient) -> None:
    with pytest.raises(ValueError):
        client.add_group(ClientGroup(id=None, name="Empty"))
    mocked.post(BASE + "clientgroup.api/add", body=envelope(f"<Group><UUID>{G}</UUID><Name>Smith</Name></Group>"))
    group = client.add_group(ClientGroup(id=None, name="Smith", member_ids=(A,), taxable=False))
    sent = SafeET.fromstring(mocked.calls[0].request.body)
    assert (sent.findtext("Name"), sent.findtext("Taxable"), sent.findtext("ClientUUID")) == ("Smith", "No", A)
    assert group.id == G


def test_capabilities_describe_xpm() -> None:
    caps = XpmClient.capabilities
    assert caps.incremental and caps.reports_deletes and not caps.webhooks
    assert "tax_number" not in caps.writable_fields and "website" in caps.writable_fields
