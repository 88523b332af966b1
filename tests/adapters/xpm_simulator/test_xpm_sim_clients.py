"""Client endpoints: paging, modifiedsince, archived/deleted visibility, reads and writes with XPM's quirks."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from simulators.xpm import XpmSimulator

pytestmark = pytest.mark.e2e


def _active(sim: XpmSimulator) -> set[str]:
    return {c.uuid for c in sim.store.clients.values() if not c.is_archived and not c.is_deleted}


def _since(sim: XpmSimulator, seconds_ago: float = 1) -> str:
    return (sim.clock.now() - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S")


def test_paged_list_walks_every_active_client_once_following_next(sim: XpmSimulator, xpm) -> None:
    url, seen, pages = "client.api/paged-list", [], 0
    params: dict[str, object] = {"pageSize": 7}
    while url:
        root = xpm.ok("GET", url, **params)
        params = {}
        pages += 1
        seen += [c.findtext("UUID") for c in root.findall("Clients/Client")]
        assert root.find("Pagination/Links/First") is not None
        url = root.findtext("Pagination/Links/Next")
    assert len(seen) == len(set(seen))
    assert set(seen) == _active(sim)
    assert pages == -(-len(seen) // 7)


def test_paged_list_defaults_to_50_and_rejects_sizes_outside_1_to_500(sim: XpmSimulator, xpm) -> None:
    assert len(_active(sim)) > 50
    root = xpm.ok("GET", "client.api/paged-list")
    assert len(root.findall("Clients/Client")) == 50
    assert "pageSize=50" in (root.findtext("Pagination/Links/Next") or "")
    for bad in (0, 501, "ten"):
        resp = xpm.call("GET", "client.api/paged-list", pageSize=bad)
        assert resp.status_code == 400 and "<Status>ERROR</Status>" in resp.text
    assert xpm.call("GET", "client.api/paged-list", pageToken="not-a-token").status_code == 400


def test_paged_list_omits_contacts_groups_relationships_and_business_number(sim: XpmSimulator, xpm) -> None:
    root = xpm.ok("GET", "client.api/paged-list", pageSize=500)
    client = root.find("Clients/Client")
    assert client is not None
    for absent in ("Contacts", "Groups", "Relationships", "Notes", "BusinessNumber"):
        assert client.find(absent) is None, absent
    assert client.find("BusinessStructure") is not None


def test_paged_list_survives_a_deletion_between_pages(sim: XpmSimulator, xpm) -> None:
    first = xpm.ok("GET", "client.api/paged-list", pageSize=10)
    page1 = [c.findtext("UUID") for c in first.findall("Clients/Client")]
    sim.store.delete_client(page1[-1])
    rest, url = [], first.findtext("Pagination/Links/Next")
    while url:
        root = xpm.ok("GET", url)
        rest += [c.findtext("UUID") for c in root.findall("Clients/Client")]
        url = root.findtext("Pagination/Links/Next")
    assert set(page1) | set(rest) == _active(sim) | {page1[-1]}
    assert not set(page1) & set(rest)


def test_list_includes_archived_and_deleted_but_paged_list_does_not(sim: XpmSimulator, xpm) -> None:
    uuids = sorted(_active(sim))
    sim.store.archive_client(uuids[0])
    sim.store.delete_client(uuids[1])
    listed = {c.findtext("UUID"): c for c in xpm.ok("GET", "client.api/list").findall("Clients/Client")}
    assert listed[uuids[0]].findtext("IsArchived") == "Yes"
    assert listed[uuids[1]].findtext("IsDeleted") == "Yes"
    assert len(listed) == len(sim.store.clients)
    paged = {c.findtext("UUID") for c in xpm.ok("GET", "client.api/paged-list", pageSize=500).findall("Clients/Client")}
    assert uuids[0] not in paged and uuids[1] not in paged


def test_modifiedsince_returns_only_changes_including_archive_and_delete(sim: XpmSimulator, xpm) -> None:
    since = _since(sim)
    assert xpm.ok("GET", "client.api/list", modifiedsince=since).find("Clients/Client") is None
    a, b, c = sorted(_active(sim))[:3]
    sim.store.edit_client(a, Email="new@example.com")
    sim.store.archive_client(b)
    sim.store.delete_client(c)
    changed = xpm.ok("GET", "client.api/list", modifiedsince=since, detailed="true").findall("Clients/Client")
    assert {x.findtext("UUID") for x in changed} == {a, b, c}
    # the parameter name's case does not matter (the OpenAPI spells it modifiedSince)
    assert len(xpm.ok("GET", "client.api/list", modifiedSince=since).findall("Clients/Client")) == 3


def test_modifiedsince_with_a_bad_format_is_refused(xpm) -> None:
    resp = xpm.call("GET", "client.api/list", modifiedsince="23/11/2026")
    assert resp.status_code == 400 and "<Status>ERROR</Status>" in resp.text


def test_one_element_list_is_still_wrapped(sim: XpmSimulator, xpm) -> None:
    since = _since(sim)
    target = sorted(_active(sim))[0]
    sim.store.edit_client(target, Phone="(02) 9999 0000")
    root = xpm.ok("GET", "client.api/list", modifiedsince=since)
    assert [c.findtext("UUID") for c in root.findall("Clients/Client")] == [target]


def test_get_is_detailed_with_weburl_masked_tax_number_and_date_only_birthday(sim: XpmSimulator, xpm) -> None:
    person = next(c for c in sim.store.clients.values() if c.fields.get("TaxNumber") and c.fields.get("DateOfBirth"))
    root = xpm.ok("GET", f"client.api/get/{person.uuid}")
    assert re.fullmatch(r"https://practicemanager\.xero\.com/Client/\d+/Detail", root.findtext("WebUrl") or "")
    client = root.find("Client")
    assert client is not None
    tax = client.findtext("TaxNumber") or ""
    assert tax.endswith(person.fields["TaxNumber"].replace(" ", "")[-3:]) and set(tax[:-3]) == {"*"}
    assert client.findtext("DateOfBirth") == person.fields["DateOfBirth"]
    for present in ("Groups", "Relationships", "Notes", "Contacts", "BusinessStructure", "Website"):
        assert client.find(present) is not None, present
    listed = next(c for c in xpm.ok("GET", "client.api/list").findall("Clients/Client") if c.findtext("UUID") == person.uuid)
    assert listed.findtext("DateOfBirth") == person.fields["DateOfBirth"] + "T00:00:00"


def test_get_unknown_client_is_404_with_error_envelope(xpm) -> None:
    resp = xpm.call("GET", "client.api/get/00000000-0000-4000-8000-000000000000")
    assert resp.status_code == 404 and "<Status>ERROR</Status>" in resp.text


def test_multiline_address_has_leading_whitespace(sim: XpmSimulator, xpm) -> None:
    target = sorted(_active(sim))[0]
    sim.store.edit_client(target, Address="Level 3\n12 George Street")
    raw = xpm.call("GET", f"client.api/get/{target}").text
    assert re.search(r"<Address>\n +Level 3\n +12 George Street\n +</Address>", raw)


def _add(xpm, body: str):
    return xpm.xml("POST", "client.api/add", f"<Client>{body}</Client>")


def test_add_returns_the_detailed_client_with_its_contacts(xpm) -> None:
    root = _add(xpm, "<Name>Kestrel Joinery Pty Ltd</Name><Email>hi@kestrel.example.com</Email>"
                     "<WebSite>www.kestrel.example.com</WebSite><BusinessStructure>Company</BusinessStructure>"
                     "<Contacts><Contact><Name>Ann Lee</Name><IsPrimary>Yes</IsPrimary></Contact>"
                     "<Contact><Name>Bo Lee</Name><IsPrimary>Yes</IsPrimary></Contact></Contacts>")
    assert root.findtext("Status") == "OK"
    client = root.find("Client")
    assert client is not None
    assert client.findtext("Website") == "www.kestrel.example.com"
    assert client.findtext("BusinessStructure") == "Company"
    primaries = [c.findtext("Name") for c in client.findall("Contacts/Contact") if c.findtext("IsPrimary") == "Yes"]
    assert primaries == ["Bo Lee"]  # the last primary wins


def test_add_without_name_is_an_http_200_error(xpm) -> None:
    root = _add(xpm, "<Email>x@example.com</Email>")
    assert root.findtext("Status") == "ERROR" and root.findtext("ErrorDescription")


def test_unknown_business_structure_is_refused(xpm) -> None:
    root = _add(xpm, "<Name>X</Name><BusinessStructure>Pty Ltd Company</BusinessStructure>")
    assert root.findtext("Status") == "ERROR"


def test_update_keeps_omitted_fields_clears_empty_ones_and_ignores_read_name_website(sim: XpmSimulator, xpm) -> None:
    target = next(c for c in sim.store.clients.values() if c.fields.get("Email") and c.fields.get("City") and not c.is_deleted)
    city = target.fields["City"]
    root = xpm.ok("PUT", "client.api/update",
                  f"<Client><UUID>{target.uuid}</UUID><Email /><Website>ignored.example.com</Website>"
                  "<Phone>(03) 9000 1111</Phone></Client>")
    client = root.find("Client")
    assert client is not None
    assert client.findtext("City") == city  # omitted: kept
    assert client.findtext("Email") == "" and "Email" not in target.fields  # empty element: cleared
    assert client.findtext("Phone") == "(03) 9000 1111"
    assert client.findtext("Website") != "ignored.example.com"  # `Website` is the read name; writes use WebSite
    xpm.ok("PUT", "client.api/update", f"<Client><UUID>{target.uuid}</UUID><WebSite>w.example.com</WebSite></Client>")
    assert xpm.ok("GET", f"client.api/get/{target.uuid}").findtext("Client/Website") == "w.example.com"


def test_writing_back_a_masked_tax_number_is_refused_and_changes_nothing(sim: XpmSimulator, xpm) -> None:
    target = next(c for c in sim.store.clients.values() if c.fields.get("TaxNumber") and not c.is_deleted)
    before = dict(target.fields)
    masked = xpm.ok("GET", f"client.api/get/{target.uuid}").findtext("Client/TaxNumber")
    root = xpm.xml("PUT", "client.api/update",
                   f"<Client><UUID>{target.uuid}</UUID><Name>Renamed</Name><TaxNumber>{masked}</TaxNumber></Client>")
    assert root.findtext("Status") == "ERROR"
    assert target.fields == before


def test_archive_returns_detailed_and_delete_hides_from_search(sim: XpmSimulator, xpm) -> None:
    a, b = sorted(_active(sim))[:2]
    root = xpm.ok("PUT", "client.api/archive", f"<Client><UUID>{a}</UUID></Client>")
    assert root.findtext("Client/IsArchived") == "Yes"
    name = sim.store.clients[b].name
    xpm.ok("POST", "client.api/delete", f"<Client><UUID>{b}</UUID></Client>")
    found = {c.findtext("UUID") for c in xpm.ok("GET", "client.api/search", query=name).findall("Clients/Client")}
    assert b not in found
    again = xpm.xml("POST", "client.api/delete", f"<Client><UUID>{b}</UUID></Client>")
    assert again.findtext("Status") == "ERROR"


def test_search_finds_by_name_fragment_case_insensitively(sim: XpmSimulator, xpm) -> None:
    target = sim.store.clients[sorted(_active(sim))[0]]
    fragment = target.name[1:6].lower()
    found = {c.findtext("UUID") for c in xpm.ok("GET", "client.api/search", query=fragment).findall("Clients/Client")}
    assert target.uuid in found
    assert xpm.call("GET", "client.api/search").status_code == 400


def test_body_that_is_not_xml_is_a_400(xpm) -> None:
    resp = xpm.call("POST", "client.api/add", "{\"Name\": \"json\"}")
    assert resp.status_code == 400 and "<Status>ERROR</Status>" in resp.text


def test_contacts_paged_list_and_contact_detail_with_client(sim: XpmSimulator, xpm) -> None:
    seen, url, params = [], "client.api/contacts", {"pageSize": 5}
    while url:
        root = xpm.ok("GET", url, **params)
        params = {}
        seen += [c.findtext("UUID") for c in root.findall("Contacts/Contact")]
        url = root.findtext("Pagination/Links/Next")
    assert set(seen) == {c.uuid for c in sim.store.contacts.values() if not c.is_deleted}
    client = next(c for c in sim.store.clients.values() if c.contacts and not c.is_deleted)
    link = client.contacts[0]
    plain = xpm.ok("GET", f"client.api/contact/{link.contact_uuid}").find("Contact")
    assert plain is not None and plain.find("IsPrimary") is None
    detail = xpm.ok("GET", f"client.api/contact/{link.contact_uuid}", clientUuid=client.uuid)
    assert detail.findtext("Contact/IsPrimary") == ("Yes" if link.is_primary else "No")


def test_add_contact_to_a_client_makes_it_primary_and_bumps_the_client(sim: XpmSimulator, xpm) -> None:
    target = sorted(_active(sim))[0]
    since = _since(sim)
    root = xpm.ok("POST", "client.api/contact",
                  f"<Contact><Client><UUID>{target}</UUID></Client><Name>Wyett Coyote</Name>"
                  "<Email>w@example.com</Email><Position>Director</Position><IsPrimary>Yes</IsPrimary></Contact>")
    assert root.findtext("Contact/IsPrimary") == "Yes"
    client = xpm.ok("GET", f"client.api/get/{target}").find("Client")
    assert client is not None
    primaries = [c.findtext("Name") for c in client.findall("Contacts/Contact") if c.findtext("IsPrimary") == "Yes"]
    assert primaries == ["Wyett Coyote"]
    assert target in {c.findtext("UUID") for c in xpm.ok("GET", "client.api/list", modifiedsince=since).findall("Clients/Client")}


def test_a_client_created_in_xpm_by_a_user_shows_up_in_the_next_incremental_pull(sim: XpmSimulator, xpm) -> None:
    from syncworker.domain.profile import ClientKind, ClientProfile

    since = _since(sim)
    created = sim.store.add_profile(ClientProfile(id="ignored", kind=ClientKind.TRUST, name="Nguyen Family Trust"))
    listed = xpm.ok("GET", "client.api/list", modifiedsince=since).findall("Clients/Client")
    assert [(c.findtext("UUID"), c.findtext("Name"), c.findtext("BusinessStructure")) for c in listed] == [
        (created.uuid, "Nguyen Family Trust", "Trust")]
