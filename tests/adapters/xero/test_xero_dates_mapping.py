"""Parsing Xero's dates and contact JSON, and shaping write bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from xero_python.api_client.serializer import serialize

from adapters.xero.dates import format_if_modified_since, format_ms_date, parse_ms_date
from adapters.xero.mapping import (
    check_link_key,
    contact_for_create,
    contact_for_update,
    infer_kind,
    link_key_of,
    profile_from_contact,
    with_link_key,
)
from syncworker.domain.profile import Address, ClientKind, ClientProfile, ClientStatus


def test_ms_date_parses_to_utc_and_ignores_the_display_offset():
    assert parse_ms_date("/Date(1573755038314+0000)/") == datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)
    # the offset says where it was entered; the milliseconds are already the instant
    assert parse_ms_date("/Date(1573755038314+1300)/") == parse_ms_date("/Date(1573755038314)/")
    assert parse_ms_date("/Date(-86400000+0000)/") == datetime(1969, 12, 31, tzinfo=UTC)
    assert parse_ms_date("2019-11-14T18:10:38") == datetime(2019, 11, 14, 18, 10, 38, tzinfo=UTC)
    assert parse_ms_date(None) is None and parse_ms_date("") is None
    with pytest.raises(ValueError):
        parse_ms_date("/Date(abc)/")


def test_ms_date_round_trips():
    moment = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    assert format_ms_date(moment) == "/Date(1772600767891+0000)/"
    assert parse_ms_date(format_ms_date(moment)) == moment


def test_if_modified_since_is_utc_seconds_truncated_with_an_explicit_zone():
    from datetime import timedelta, timezone

    nz = timezone(timedelta(hours=13))
    sent = format_if_modified_since(datetime(2026, 1, 2, 16, 4, 5, 999999, tzinfo=nz))
    assert sent == "2026-01-02T03:04:05Z"
    # A reader in any time zone gets the same instant back.
    assert datetime.fromisoformat(sent.replace("Z", "+00:00")) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


FULL_CONTACT = {
    "ContactID": "bd2270c3-8706-4c11-9cfb-000b551c3f51",
    "ContactNumber": "SW-42",
    "ContactStatus": "ACTIVE",
    "Name": "Jane Citizen",
    "FirstName": "Jane",
    "LastName": "Citizen",
    "EmailAddress": "jane@example.test",
    "Website": "",
    "TaxNumber": "12-345-678",
    "CompanyNumber": "",
    "Addresses": [
        {"AddressType": "STREET", "AddressLine1": "1 Fake St", "AddressLine2": "Unit 2", "AddressLine3": "Rear",
         "City": "Wellington", "Region": "", "PostalCode": "6011", "Country": "NZ"},
        {"AddressType": "POBOX", "AddressLine1": "", "City": "", "Region": "", "PostalCode": "", "Country": ""},
    ],
    "Phones": [
        {"PhoneType": "DEFAULT", "PhoneNumber": "555 0101", "PhoneAreaCode": "04", "PhoneCountryCode": "64"},
        {"PhoneType": "DDI", "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""},
        {"PhoneType": "MOBILE", "PhoneNumber": "021 555 0199", "PhoneAreaCode": "", "PhoneCountryCode": ""},
        {"PhoneType": "FAX", "PhoneNumber": "555 0102", "PhoneAreaCode": "04"},
    ],
    "UpdatedDateUTC": "/Date(1573755038314+0000)/",
    "IsSupplier": False,
    "IsCustomer": True,
}


def test_contact_json_maps_to_profile():
    p = profile_from_contact(FULL_CONTACT)
    assert p.id == FULL_CONTACT["ContactID"] and p.name == "Jane Citizen"
    assert (p.given_name, p.family_name, p.email) == ("Jane", "Citizen", "jane@example.test")
    assert p.phone == "64 04 555 0101" and p.mobile == "021 555 0199"
    assert p.address == Address(line1="1 Fake St", line2="Unit 2, Rear", city="Wellington", postcode="6011",
                                country="NZ")
    assert p.postal_address is None  # Xero always sends both address types; the empty one is no address
    assert p.website is None and p.company_number is None and p.tax_number == "12-345-678"
    assert p.status is ClientStatus.ACTIVE
    assert p.modified_at == datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)
    assert p.kind is ClientKind.INDIVIDUAL and p.extra["kind_inferred"] is True
    assert p.extra["fax"] == "04 555 0102" and p.extra["is_customer"] is True and p.extra["is_supplier"] is False
    assert link_key_of(p) == "SW-42"


def test_archived_contact_maps_to_archived_status():
    p = profile_from_contact({**FULL_CONTACT, "ContactStatus": "ARCHIVED"})
    assert p.status is ClientStatus.ARCHIVED and p.extra["contact_status"] == "ARCHIVED"


def test_contact_without_id_is_rejected():
    with pytest.raises(ValueError):
        profile_from_contact({"Name": "No Id"})


@pytest.mark.parametrize(("name", "first", "last", "kind"), [
    ("Jane Citizen", "Jane", "Citizen", ClientKind.INDIVIDUAL),
    ("Citizen, Jane", "Jane", "Citizen", ClientKind.INDIVIDUAL),
    ("Acme Widgets Pty Ltd", None, None, ClientKind.COMPANY),
    ("Citizen Family Trust", "Jane", "Citizen", ClientKind.COMPANY),  # org word vetoes person
    ("J & J Citizen", "Jane", "Citizen", ClientKind.COMPANY),
    ("Jane Citizen Plumbing", "Jane", "Citizen", ClientKind.COMPANY),  # name differs from the person's names
    ("Jane Citizen", None, None, ClientKind.COMPANY),  # no first/last: do not guess
])
def test_kind_inference_is_conservative(name, first, last, kind):
    assert infer_kind(name, first, last)[0] is kind


def test_create_body_carries_link_key_and_only_filled_fields():
    profile = with_link_key(ClientProfile(id="local-1", kind=ClientKind.COMPANY, name="Acme Pty Ltd",
                                          mobile="021 1", postal_address=Address(line1="PO Box 1", city="X")),
                            "SW-1")
    body = serialize(contact_for_create(profile))
    assert body["ContactNumber"] == "SW-1" and body["Name"] == "Acme Pty Ltd"
    assert body["Phones"] == [{"PhoneType": "MOBILE", "PhoneNumber": "021 1", "PhoneAreaCode": "",
                               "PhoneCountryCode": ""}]
    assert [a["AddressType"] for a in body["Addresses"]] == ["POBOX"]
    assert "EmailAddress" not in body and "FirstName" not in body


def test_update_body_clears_with_empty_string_and_merges_partial_address():
    current = ClientProfile(id="c", kind=ClientKind.COMPANY, name="Acme",
                            address=Address(line1="1 Main", city="Old", postcode="1010"))
    body = serialize(contact_for_update({"email": None, "address.city": "New", "status": "archived"}, current))
    assert body["EmailAddress"] == ""
    assert body["ContactStatus"] == "ARCHIVED"
    assert body["Addresses"] == [{"AddressType": "STREET", "AddressLine1": "1 Main", "AddressLine2": "",
                                  "AddressLine3": "", "AddressLine4": "", "City": "New", "Region": "",
                                  "PostalCode": "1010", "Country": ""}]
    assert "Name" not in body


def test_update_refuses_fields_xero_cannot_write():
    with pytest.raises(ValueError, match="date_of_birth"):
        contact_for_update({"date_of_birth": "2000-01-01"}, None)


@pytest.mark.parametrize("bad", ["", "x" * 51, 'a"b', "a b", "a\\b"])
def test_link_key_validation(bad):
    with pytest.raises(ValueError):
        check_link_key(bad)
    assert check_link_key("x" * 50) == "x" * 50


def test_writing_back_a_read_address_is_stable():
    """Lines 3-4 fold into line2 on read; writing that back must not repeat them (echo drift)."""
    read = profile_from_contact(FULL_CONTACT)
    body = serialize(contact_for_update({"address.line2": read.address.line2}, read))
    # Xero merges the fields sent onto the stored address of that type
    stored_street = next(a for a in FULL_CONTACT["Addresses"] if a["AddressType"] == "STREET")
    xero_after = {**FULL_CONTACT, "Addresses": [{**stored_street, **body["Addresses"][0]}]}
    assert profile_from_contact(xero_after).address == read.address
