"""Equal in meaning is equal: each kind of field, and what the merge makes of it at the first sync."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from syncworker.domain import equivalence as eq
from syncworker.domain.sync import Action, Direction, FieldRule, FieldRules, Policy, decide, merge_record

MANUAL = FieldRule(Direction.BOTH, Policy.MANUAL, Policy.MANUAL)


@pytest.mark.parametrize(("a", "b"), [
    ("AU", "Australia"), ("au", "AUSTRALIA"), ("Australia ", "aus"), ("NZ", "New Zealand"), ("UK", "United Kingdom"),
    ("GB", "united kingdom"), ("USA", "United States"), ("The Netherlands", "NL"), ("U.S.A.", "US"), ("U.K.", "GB"),
    ("Viet Nam", "Vietnam"), ("Korea, Republic of", "KR"),
])
def test_countries_by_code_name_and_case(a: str, b: str) -> None:
    assert eq.same("address.country", a, b)


@pytest.mark.parametrize(("a", "b"), [("AU", "New Zealand"), ("Australia", "Austria"), ("AU", None)])
def test_different_countries_stay_different(a: str, b: str | None) -> None:
    assert not eq.same("postal_address.country", a, b)


@pytest.mark.parametrize(("a", "b", "region"), [
    ("0412 345 678", "+61 412 345 678", "AU"), ("(02) 9555 0101", "+61295550101", "AU"),
    ("0412-345-678", "61412345678", "AU"), ("021 123 4567", "+64 21 123 4567", "NZ"),
])
def test_phones_in_e164_with_the_tenant_default_region(a: str, b: str, region: str) -> None:
    assert eq.same("phone", a, b, default_region=region)


def test_a_national_number_depends_on_the_default_region() -> None:
    assert eq.phone("021 123 4567", "NZ") == "+64211234567"
    assert eq.phone("021 123 4567", "NZ") != eq.phone("021 123 4567", "AU")
    assert not eq.same("phone", "0412 345 678", "0412 345 679")


def test_emails_by_case_only() -> None:
    assert eq.same("email", "Jo.Bloggs@Example.COM", " jo.bloggs@example.com")
    assert not eq.same("email", "jo.bloggs@example.com", "jo.bloggs1@example.com")


@pytest.mark.parametrize(("a", "b"), [
    ("Ward, Shane", "Shane Ward"), ("shane  WARD", "Shane Ward"), ("Zoë Lee", "Zoe Lee"),
    ("Acme Pty. Ltd.", "ACME PTY LTD"), ("Acme Proprietary Limited", "Acme Pty Ltd"), ("Smith and Jones", "Smith & Jones"),
    ("The Trustee for the Ward Family Trust", "Ward Family Trust"), ("Ward Family Trust (The)", "T/F Ward Family Trust"),
    ("Shane A. Ward", "Shane Ward"), ("Ward, Shane A. & Mary B.", "Shane & Mary Ward"), ("Mr Shane Ward", "Shane Ward"),
    ("Mrs Mary Ward", "Ward, Mary"), ("Ward Pty Ltd", "Ward P/L"),
])
def test_client_names(a: str, b: str) -> None:
    assert eq.same("name", a, b)


@pytest.mark.parametrize(("a", "b"), [
    ("Shane Ward", "Shane Warde"), ("Shane Ward", "Shayne Ward"), ("Smith, Jones & Co", "Jones & Co Smith"),
    ("Acme Pty Ltd", "Acme"), ("Jo Ward", "Joanne Ward"), ("A & B Plumbing", "B Plumbing"),
    ("Ward Family Trust", "Warde Family Trust"), ("Dr Lee", "Lee"), ("Dr Lee Dental Pty Ltd", "Lee Dental Pty Ltd"),
])
def test_different_names_stay_different(a: str, b: str) -> None:
    assert not eq.same("name", a, b)


def test_person_name_parts_by_case_and_whitespace() -> None:
    assert eq.same("given_name", "  MARY ", "mary")
    assert eq.same("family_name", "O'Brien", "O Brien")
    assert not eq.same("given_name", "Mary", "Maria")


@pytest.mark.parametrize(("a", "b"), [
    (("12 Smith Street", None), ("12 Smith St", None)),
    (("Unit 3, 12 Smith Street", None), ("3/12 Smith St", None)),
    (("Unit 3", "12 Smith Rd"), ("3/12 Smith Road", None)),
    (("Level 5", "12 Smith Rd"), ("Level 5\n12 Smith Road", None)),
    (("12 Smith Road", None), ("12 smith rd", "Parramatta")),  # the suburb typed into the street as well
    (("PO Box 42", None), ("P.O. Box 42", None)),
    (("Unit 3/12 Smith St", None), ("3/12 Smith Street", None)), (("U3/12 Smith St", None), ("3 / 12 Smith St", None)),
    (("Cnr George and King Sts", None), ("Corner George & King Sts", None)),
])
def test_streets_by_meaning(a: tuple[str, str | None], b: tuple[str, str | None]) -> None:
    assert eq.street_key(*a, city="Parramatta") == eq.street_key(*b, city="Parramatta")


def test_different_streets_stay_different() -> None:
    assert eq.street_key("12 Smith St") != eq.street_key("14 Smith St")
    assert eq.street_key("12 Smith St") != eq.street_key("12 Smith Rd")
    assert eq.street_key("Unit 3, 12 Smith St") != eq.street_key("12 Smith St")
    assert eq.street_key("12/3 Smith St") != eq.street_key("3/12 Smith St")


def test_suburbs_by_meaning() -> None:
    assert eq.same("address.city", "St Kilda", "SAINT KILDA") and eq.same("postal_address.city", "Mt Eden", "Mount Eden")
    assert not eq.same("address.city", "Mt Eden", "Eden")


def test_regions_and_postcodes() -> None:
    assert eq.same("address.region", "NSW", "New South Wales") and eq.same("address.region", "nsw", "NSW")
    assert eq.same("address.postcode", "2000", " 2000") and not eq.same("address.postcode", "2000", "2001")


@pytest.mark.parametrize("value", [date(1980, 2, 29), datetime(1980, 2, 29), "1980-02-29", "1980-02-29T00:00:00",
                                   "29/02/1980", "1980-02-29T00:00:00+10:00", "1980-2-29"])
def test_dates(value: object) -> None:
    assert eq.canonical("date_of_birth", value) == "1980-02-29"


def test_a_time_of_day_is_not_a_date() -> None:
    assert not eq.same("date_of_birth", "1980-02-29T10:00:00", "1980-02-29")
    assert not eq.same("date_of_birth", "1980-02-29", "1980-02-28")


def test_blank_is_blank() -> None:
    for field in ("name", "email", "phone", "address.country", "address.line1", "date_of_birth"):
        assert eq.canonical(field, "  ") is None and eq.canonical(field, None) is None


# --- what the first sync makes of it ---------------------------------------------------------------------

def test_equal_in_meaning_is_neither_written_nor_in_conflict() -> None:
    for field, local, remote in (("address.country", "AU", "Australia"), ("name", "Shane Ward", "Ward, Shane"),
                                 ("phone", "0412 345 678", "+61412345678"), ("email", "A@X.TEST", "a@x.test")):
        d = decide(field, local=local, remote=remote, rule=MANUAL)
        assert d.action == Action.AGREE, (field, d)


def test_a_blank_side_is_filled_at_first_sync_whatever_the_rule() -> None:
    assert (decide("address.country", local="AU", remote=None, rule=MANUAL).action,) == (Action.PUSH,)
    d = decide("postal_address.line1", local=None, remote="PO Box 1", rule=MANUAL)
    assert (d.action, d.value) == (Action.PULL, "PO Box 1") and "filled" in d.reason
    # ... but never across a direction that forbids it, and never onto a system that cannot store it.
    one_way = FieldRule(Direction.LOCAL_TO_REMOTE, Policy.MANUAL)
    assert decide("email", local=None, remote="a@x.test", rule=one_way).action == Action.NOOP
    assert decide("email", local="a@x.test", remote=None, rule=MANUAL, remote_writable=False).action == Action.NOOP


def test_first_sync_differences_follow_first_sync_not_policy() -> None:
    rule = FieldRule(Direction.BOTH, Policy.MANUAL, Policy.ALWAYS_LOCAL)
    d = decide("name", local="Shane Ward", remote="Shayne Ward", rule=rule)
    assert (d.action, d.value) == (Action.PUSH, "Shane Ward")
    # Once there is a base, a change on both sides is the policy's (manual) business.
    assert decide("name", local="Shane Ward", remote="Shayne Ward", base="S Ward", rule=rule).action == Action.CONFLICT
    newest = FieldRule(Direction.BOTH, Policy.MANUAL, Policy.MOST_RECENT)
    assert decide("email", local="a@x.test", remote="b@x.test", rule=newest, local_newer=False).action == Action.PULL
    d = decide("email", local="a@x.test", remote="b@x.test", rule=newest)
    assert d.action == Action.CONFLICT and "unknown" in d.reason


def _merge(local: dict, remote: dict, rules: FieldRules | None = None) -> dict[str, Action]:
    rules = rules or FieldRules.parse({})
    fields = frozenset(local) | frozenset(remote)
    return {d.field: d.action for d in merge_record("xpm", rules, local=local, remote=remote, bases={},
                                                     remote_writable=fields, comparable=fields)}


def test_a_street_split_differently_over_two_lines_writes_nothing() -> None:
    actions = _merge({"address.line1": "Unit 3, 12 Smith Street", "address.line2": None, "address.city": "Ryde"},
                     {"address.line1": "3/12 Smith St", "address.line2": "Ryde", "address.city": "RYDE"})
    assert set(actions.values()) == {Action.AGREE}


def test_a_different_street_is_one_conflict_not_one_per_line() -> None:
    actions = _merge({"address.line1": "12 Smith St", "address.line2": None, "address.city": "Ryde"},
                     {"address.line1": "40 Jones Rd", "address.line2": "Ryde", "address.city": "Ryde"})
    assert actions == {"address.line1": Action.CONFLICT, "address.line2": Action.AGREE, "address.city": Action.AGREE}


def test_a_postal_address_on_one_side_only_is_a_fill() -> None:
    remote = {"postal_address.line1": "PO Box 9", "postal_address.city": "Ryde", "postal_address.postcode": "2112",
              "postal_address.country": "Australia"}
    actions = _merge(dict.fromkeys(remote), remote)
    assert set(actions.values()) == {Action.PULL}


def test_xpm_one_phone_holding_the_local_mobile_is_not_a_difference() -> None:
    actions = _merge({"phone": None, "mobile": "0412 345 678"}, {"phone": "+61 412 345 678", "mobile": None})
    assert actions["phone"] == Action.AGREE  # nothing written on either side; only the base is recorded


def test_a_blank_country_on_an_address_is_the_tenants_own_country() -> None:
    """XPM leaves Country blank on domestic addresses: `AU` against a blank is neither a fill nor a write;
    a blank against another country, or on a missing address, is still filled."""
    local = {"address.line1": "12 Smith St", "address.city": "Ryde", "address.country": "AU"}
    assert _merge(local, {**local, "address.country": None})["address.country"] == Action.AGREE
    assert _merge({**local, "address.country": None}, {**local, "address.country": "Australia"})["address.country"] \
        == Action.AGREE
    assert _merge({**local, "address.country": "NZ"}, {**local, "address.country": None})["address.country"] \
        == Action.PUSH
    assert _merge(local, dict.fromkeys(local))["address.country"] == Action.PUSH  # no address there: filled
    # Later, with `AU` as the base: a move abroad on one side is that side's change, not a conflict.
    moved = merge_record("xpm", FieldRules.parse({}), local={**local, "address.country": "NZ"},
                         remote={**local, "address.country": None}, bases={"address.country": "AU"},
                         remote_writable=frozenset(local), comparable=frozenset(local))
    assert {d.field: d.action for d in moved}["address.country"] == Action.PUSH


def test_xpm_phone_and_mobile_sync_separately() -> None:
    """XPM clients have one Phone slot and no Mobile (reference §1.5): the practice often keeps the mobile
    there. That is no difference to fill or fight over, but it is recorded (the local phone as the base), so
    a later local phone edit is pushed, not taken for the same old mobile."""
    rules = FieldRules.parse({})
    fields = frozenset({"phone", "mobile"})

    def merge(local: dict, bases: dict) -> object:
        return {d.field: d for d in merge_record("xpm", rules, local=local, remote={"phone": "0412 345 678"},
                                                 bases=bases, remote_writable=fields, comparable=fields)}["phone"]

    first = merge({"phone": "02 9876 5432", "mobile": "0412345678"}, {})
    assert (first.action, first.value) == (Action.AGREE, "02 9876 5432")
    assert merge({"phone": "02 9876 5432", "mobile": "0412345678"}, {"phone": "02 9876 5432"}).action == Action.NOOP
    edited = merge({"phone": "02 9000 0000", "mobile": "0412345678"}, {"phone": "02 9876 5432"})
    assert (edited.action, edited.value) == (Action.PUSH, "02 9000 0000")
    added = merge({"phone": "02 9000 0000", "mobile": "0412345678"}, {"phone": None})  # none before, one now
    assert (added.action, added.value) == (Action.PUSH, "02 9000 0000")
