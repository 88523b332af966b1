"""Parsing of XPM's XML quirks into canonical profiles (no HTTP)."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.errors import MalformedResponse, NotFound, RemoteRejected
from adapters.xpm import mapping, xml
from syncworker.domain.profile import Address, ClientKind, ClientStatus

STRUCTURES = mapping.BusinessStructures(
    {"Individual": ClientKind.INDIVIDUAL, "Private Company": ClientKind.COMPANY, "Family Trust": ClientKind.TRUST}
)
TYPES = mapping.RelationshipTypes({"Director": "director", "Public Officer": "public_officer"})

DETAILED = b"""<Response>
  <Status>OK</Status>
  <WebUrl>https://practicemanager.xero.com/Client/1/Detail</WebUrl>
  <Client>
    <UUID>F8235E1A-D383-48B7-9139-BA97AB8CA889</UUID>
    <Name>Acme Widgets Pty Ltd</Name>
    <Email>accounts@acme.example</Email>
    <DateOfBirth>1970-11-26T00:00:00</DateOfBirth>
    <Address>
       Level 32, Example Building
       188 Quay Street

    </Address>
    <City>Auckland</City>
    <Region />
    <PostCode>1001</PostCode>
    <Country></Country>
    <PostalAddress />
    <PostalCity />
    <Phone>(02) 1723 5265</Phone>
    <Fax />
    <Website>https://acme.example</Website>
    <IsArchived>No</IsArchived>
    <IsDeleted>No</IsDeleted>
    <IsProspect>Yes</IsProspect>
    <Type><Name>Company</Name><CostMarkup>30.00</CostMarkup></Type>
    <TaxNumber>******123</TaxNumber>
    <CompanyNumber>123 456 789</CompanyNumber>
    <BusinessNumber>51 824 753 556</BusinessNumber>
    <BusinessStructure>  private   COMPANY </BusinessStructure>
    <Groups>
      <Group><UUID>0dd913a9-6c7b-4060-ac4b-6ff7b41bd233</UUID><Name>Acme Family</Name></Group>
    </Groups>
    <Relationships>
      <Relationship>
        <UUID>1d44f4b8-094f-4b91-a73e-b00b83593f71</UUID>
        <Type>Public Officer</Type>
        <RelatedClient><UUID>7b57ae35-244b-4ded-b237-b3ea8a222dd2</UUID><Name>Jo Bloggs</Name></RelatedClient>
        <NumberOfShares>1000</NumberOfShares>
        <Percentage>0</Percentage>
        <StartDate>2011-01-01</StartDate>
        <EndDate />
      </Relationship>
    </Relationships>
  </Client>
</Response>"""


def _client(body: bytes = DETAILED):
    root = xml.parse_envelope(body)
    return root, mapping.client_from_xml(root.find("Client"), STRUCTURES, detailed=True)


def test_detailed_client_maps_every_quirk() -> None:
    _, c = _client()
    assert c.id == "f8235e1a-d383-48b7-9139-ba97ab8ca889"  # UUIDs normalised to lower case
    assert c.kind is ClientKind.COMPANY  # from BusinessStructure (case/space-insensitive), not Type
    assert c.extra["billing_type"] == "Company"  # Type is kept, but only as the billing type
    assert c.website == "https://acme.example"  # read as Website
    assert c.tax_number == "******123"  # masked value kept as read
    assert c.business_number == "51 824 753 556"
    assert c.date_of_birth == date(1970, 11, 26)
    assert c.address == Address(line1="Level 32, Example Building", line2="188 Quay Street", city="Auckland",
                                postcode="1001")
    assert c.postal_address is None  # all-empty elements mean "no address", not ""
    assert c.extra["is_prospect"] is True and c.status is ClientStatus.ACTIVE
    assert c.extra["group_ids"] == ["0dd913a9-6c7b-4060-ac4b-6ff7b41bd233"]
    assert "fax" not in c.extra  # <Fax /> is no value


def test_one_element_relationship_list_is_a_list() -> None:
    root, _ = _client()
    rels = [mapping.relationship_from_xml(r, "f8235e1a-d383-48b7-9139-ba97ab8ca889", TYPES)
            for r in xml.items(root.find("Client"), "Relationships", "Relationship")]
    assert len(rels) == 1
    r = rels[0]
    assert (r.type, r.related_client_id, r.number_of_shares, r.start_date, r.end_date) == (
        "public_officer", "7b57ae35-244b-4ded-b237-b3ea8a222dd2", 1000, date(2011, 1, 1), None)


@pytest.mark.parametrize(
    ("archived", "deleted", "status"),
    [("No", "No", ClientStatus.ACTIVE), ("Yes", "No", ClientStatus.ARCHIVED), ("Yes", "Yes", ClientStatus.DELETED),
     ("No", "Yes", ClientStatus.DELETED)],
)
def test_yes_no_status_flags(archived: str, deleted: str, status: ClientStatus) -> None:
    el = xml.parse_xml(
        f"<Client><UUID>9e023415-b173-4375-b8d5-4220b5a6b294</UUID><Name>A</Name>"
        f"<IsArchived>{archived}</IsArchived><IsDeleted>{deleted}</IsDeleted></Client>".encode()
    )
    assert mapping.client_from_xml(el, STRUCTURES, detailed=False).status is status


def test_unmapped_and_missing_business_structure() -> None:
    unmapped = xml.parse_xml(b"<Client><UUID>9e023415-b173-4375-b8d5-4220b5a6b294</UUID><Name>Club</Name>"
                             b"<BusinessStructure>Bowls Club</BusinessStructure></Client>")
    c = mapping.client_from_xml(unmapped, STRUCTURES, detailed=False)
    assert c.kind is ClientKind.OTHER and c.extra["business_structure"] == "Bowls Club"
    person = xml.parse_xml(b"<Client><UUID>9e023415-b173-4375-b8d5-4220b5a6b294</UUID><Name>Jo Bloggs</Name>"
                           b"<FirstName>Jo</FirstName><LastName>Bloggs</LastName><BusinessStructure /></Client>")
    c = mapping.client_from_xml(person, STRUCTURES, detailed=False)
    assert c.kind is ClientKind.INDIVIDUAL and (c.given_name, c.family_name) == ("Jo", "Bloggs")
    assert c.extra["detailed"] is False and "group_ids" not in c.extra


def test_plain_date_of_birth_and_empty_values() -> None:
    el = xml.parse_xml(b"<Client><UUID>9e023415-b173-4375-b8d5-4220b5a6b294</UUID><Name> Jo </Name>"
                       b"<DateOfBirth>1980-02-29</DateOfBirth><Email>   </Email><Phone/></Client>")
    c = mapping.client_from_xml(el, STRUCTURES, detailed=False)
    assert (c.name, c.date_of_birth, c.email, c.phone) == ("Jo", date(1980, 2, 29), None, None)


def test_client_without_uuid_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        mapping.client_from_xml(xml.parse_xml(b"<Client><Name>x</Name></Client>"), STRUCTURES, detailed=False)


def test_contacts_and_groups() -> None:
    contact = xml.parse_xml(b"<Contact><UUID>DD92BCF4-4227-447A-A0D9-81984609AA5E</UUID><Name>Wyett Coyote</Name>"
                            b"<Salutation>Wyett</Salutation><Mobile>021 555 0101</Mobile><Email />"
                            b"<IsDeleted>No</IsDeleted><IsPrimary>Yes</IsPrimary><Position>Director</Position></Contact>")
    c = mapping.contact_from_xml(contact, client_id="f8235e1a-d383-48b7-9139-ba97ab8ca889")
    assert (c.id, c.is_primary, c.deleted, c.position, c.email) == (
        "dd92bcf4-4227-447a-a0d9-81984609aa5e", True, False, "Director", None)
    assert c.client_ids == ("f8235e1a-d383-48b7-9139-ba97ab8ca889",) and c.extra["salutation"] == "Wyett"
    group = xml.parse_xml(b"<Group><UUID>46e1db32-6c94-43f6-b5eb-fa082feb1fc4</UUID><Name>Smith Family</Name>"
                          b"<Taxable>No</Taxable><Clients><Client><UUID>c2490566-78e2-4898-ad30-a3b220e98f47</UUID>"
                          b"<Name>Jo</Name></Client></Clients></Group>")
    g = mapping.group_from_xml(group)
    assert (g.name, g.taxable, g.member_ids) == ("Smith Family", False, ("c2490566-78e2-4898-ad30-a3b220e98f47",))


# --- envelope ---
def test_status_error_on_http_200_is_rejected() -> None:
    with pytest.raises(RemoteRejected, match="Name is required") as info:
        xml.parse_envelope(b"<Response><Status>ERROR</Status><ErrorDescription>Name is required</ErrorDescription></Response>")
    assert not isinstance(info.value, NotFound)


def test_status_error_not_found_is_notfound() -> None:
    with pytest.raises(NotFound):
        xml.parse_envelope(b"<Response><Status>ERROR</Status><ErrorDescription>Client not found</ErrorDescription></Response>")


@pytest.mark.parametrize(
    "body",
    [b"<Response><Status>OK</Status><Clients><Client>", b"not xml at all", b"", b"<Clients/>",
     b"<Response><Status>MAYBE</Status></Response>"],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MalformedResponse):
        xml.parse_envelope(body)


def test_entity_expansion_is_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<Response><Status>OK</Status><X>&b;</X></Response>")
    with pytest.raises(MalformedResponse):
        xml.parse_envelope(bomb)


# --- writing ---
def test_write_uses_website_spelling_and_clears_with_empty_elements() -> None:
    body = xml.render(mapping.client_fields_to_xml({"website": "https://new.example", "email": None},
                                                   uuid="f8235e1a-d383-48b7-9139-ba97ab8ca889"))
    assert b"<WebSite>https://new.example</WebSite>" in body and b"<Website>" not in body
    assert b"<Email />" in body
    assert body.startswith(b"<Client><UUID>f8235e1a-d383-48b7-9139-ba97ab8ca889</UUID>")


def test_tax_number_is_not_writable() -> None:
    assert "tax_number" not in mapping.WRITABLE_FIELDS
    with pytest.raises(ValueError, match="tax_number"):
        mapping.client_fields_to_xml({"tax_number": "123456789"})


def test_relationship_type_must_map_back() -> None:
    with pytest.raises(ValueError, match="no XPM equivalent"):
        TYPES.xpm_name("godparent")
    assert TYPES.canonical("Grand Parent Of") == "grand_parent_of"
