"""Each normalisation rule, pinned."""

import random

import pytest

from syncworker.matching.contact import (
    normalise_email,
    normalise_phone,
    normalise_phones,
    normalise_street,
    normalise_streets,
)
from syncworker.matching.identifiers import (
    abn_is_valid,
    checksum_holds,
    checksums_hold,
    ird_is_valid,
    parse_identifier,
    tfn_is_valid,
    visible_digits,
    visible_digits_of_each,
)
from syncworker.matching.names import forms_conflict, parse_org, parse_person, person_from_fields
from syncworker.matching.nicknames import canonical_given, nickname_compatible
from syncworker.matching.text import fold, fold_all, folded_words


def test_fold_case_punctuation_diacritics_whitespace():
    assert fold("  José   MÜLLER-O'Brien ") == "jose muller obrien"
    assert fold("Smith & Jones") == fold("Smith and Jones") == "smith and jones"


def test_folding_many_texts_together_folds_each_as_alone():
    texts = ["  José   MÜLLER-O'Brien ", "Smith & Jones", "", "P.T.Y. L/td\t\n", "a\x00b", "\x0bUnit\x1c3 ", "x"]
    assert fold_all(texts) == [fold(t) for t in texts]
    assert folded_words(texts) == [fold(t).split() for t in texts]
    assert fold_all([]) == []


@pytest.mark.parametrize("name", ["Acme Widgets Pty Ltd", "ACME WIDGETS PROPRIETARY LIMITED", "Acme Widgets Pty. Ltd.",
                                  "The Acme Widgets Pty Limited", "Acme Widgets"])
def test_company_legal_forms_and_leading_the(name):
    assert parse_org(name).core == "acme widgets"


@pytest.mark.parametrize("name,form", [("Smith Ltd", "ltd"), ("Smith Limited", "ltd"), ("Smith Inc", "inc"),
                                       ("Smith Incorporated", "inc"), ("Smith LLC", "llc"), ("Smith PLC", "plc"),
                                       ("Smith & Co", "co"), ("Smith and Company", "co")])
def test_legal_form_canonical(name, form):
    org = parse_org(name)
    assert (org.core, org.form) == ("smith", form)


def test_ampersand_and_and_meet():
    assert parse_org("Smith & Jones Pty Ltd").core == parse_org("Smith and Jones").core == "smith jones"


@pytest.mark.parametrize("name", ["The Smith Family Trust", "Smith Family Trust", "The Trustee for the Smith Family Trust",
                                  "Smith Nominees Pty Ltd ATF Smith Family Trust",
                                  "Smith Nominees Pty Ltd as trustee for the Smith Family Trust"])
def test_trust_forms(name):
    org = parse_org(name)
    assert (org.core, org.form, org.is_trust) == ("smith family", "trust", True)


def test_trustee_company_kept_as_alternative_name():
    assert parse_org("Smith Nominees Pty Ltd ATF Smith Family Trust").alt == "smith nominees"


@pytest.mark.parametrize("name", ["Acme Pty Ltd T/A Joe's Plumbing", "Acme Pty Ltd trading as Joe's Plumbing"])
def test_trading_names(name):
    org = parse_org(name)
    assert (org.core, org.alt) == ("acme", "joes plumbing")


def test_trust_and_company_forms_conflict_but_company_forms_do_not():
    assert forms_conflict("trust", "pty ltd")
    assert not forms_conflict("pty ltd", "ltd")
    assert not forms_conflict("", "trust")


def test_last_comma_first_with_titles_and_initials():
    p = parse_person("Smith, Dr John A.")
    assert (p.given, p.middle, p.family, p.couple) == ("john", "a", "smith", False)


def test_couple_last_comma_first():
    p = parse_person("Slater, Thomas G. & Katherine I.")
    assert (p.given, p.middle, p.family, p.given2) == ("thomas", "g", "slater", "katherine")
    assert p.couple


def test_couple_shared_surname_and_two_surnames():
    p = parse_person("Thomas and Katherine Slater")
    assert (p.given, p.family, p.given2) == ("thomas", "slater", "katherine")
    q = parse_person("Thomas Slater & Katherine Jones")
    assert (q.given, q.family, q.given2, q.family2) == ("thomas", "slater", "katherine", "jones")


def test_middle_names_titles_and_suffixes():
    p = parse_person("Mrs Mary Jane Anne Smith Jr")
    assert (p.given, p.middle, p.family) == ("mary", "jane anne", "smith")


def test_structured_fields_win_and_name_adds_the_couple():
    p = person_from_fields("Slater, Thomas G. & Katherine I.", "Tom", None, "Slater")
    assert (p.given, p.family, p.given2) == ("tom", "slater", "katherine")


def test_nicknames():
    assert canonical_given("bob") == "robert"
    assert canonical_given("kate") == "katherine"
    assert nickname_compatible("bob", "robert") and nickname_compatible("katie", "kate")
    assert nickname_compatible("chris", "christopher") and nickname_compatible("chris", "christine")
    assert not nickname_compatible("bob", "william")


def test_email_lowercased_and_invalid_dropped():
    assert normalise_email("  Tom.Smith@Example.COM ") == "tom.smith@example.com"
    assert normalise_email("not an email") == ""


@pytest.mark.parametrize("raw,region,e164", [
    ("0412 345 678", "AU", "+61412345678"), ("(02) 9876 5432", "AU", "+61298765432"),
    ("+61 412 345 678", "NZ", "+61412345678"), ("021 123 4567", "NZ", "+64211234567"),
    ("+64-21-123-4567", "AU", "+64211234567"),
])
def test_phones_to_e164_with_region_from_config(raw, region, e164):
    assert normalise_phone(raw, region) == e164


def test_phones_of_many_values_at_once_agree_with_one_at_a_time():
    rng = random.Random(1)
    parts = ["0", "+", "61", "4", " ", "-", "(", ")", ".", "\t", "\n", "(0)", "00", "1", "9", "x", ""]
    values = ["".join(rng.choices(parts, k=rng.randint(0, 14))) for _ in range(3000)] + [None, "0412 345 678"]
    for batch in (values, [*values, "٣٤"]):  # all ASCII, and not
        assert normalise_phones(batch, "AU") == [normalise_phone(v, "AU") for v in batch]
    assert sum(map(bool, normalise_phones(values, "NZ"))) > 100


def test_street_types_spelled_out():
    assert normalise_street("Unit 3/12 Smith St.") == normalise_street("unit 3 12 smith street")


def test_streets_of_many_lines_at_once_agree_with_one_at_a_time():
    rng = random.Random(3)
    parts = ["12", "Smith", "St", "st.", "RD", "&", "/", " ", "  ", "-", "'", "\t", "\x0b", "Pde", "U", "po", "x"]
    lines = ["".join(rng.choices(parts, k=rng.randint(0, 9))) for _ in range(3000)] + ["", " ", "St"]
    for batch in (lines, [*lines, "Rue Émile St", "a\x00b st"], []):  # all ASCII, and not
        assert normalise_streets(batch) == [normalise_street(line) for line in batch]
    assert fold_all(["Smith St", "", "St Kilda Rd"], {"st": "street"}) == ["smith street", "", "street kilda rd"]


def test_abn_tfn_ird_checksums():
    assert abn_is_valid("51824753556") and not abn_is_valid("51824753557")
    assert tfn_is_valid("123456782") and not tfn_is_valid("123456789")
    assert ird_is_valid("49091850") and ird_is_valid("136410132") and not ird_is_valid("136410133")


def test_checksums_of_many_numbers_at_once_agree_with_one_at_a_time():
    rng = random.Random(5)
    numbers = ["51824753556", "51824753557", "123456782", "123456789", "49091850", "136410132", "136410133", "", "7"]
    numbers += ["".join(rng.choices("0123456789", k=rng.choice((7, 8, 9, 10, 11)))) for _ in range(20_000)]
    expected = [checksum_holds(n) for n in numbers]
    assert sum(expected) > 500  # ABNs, TFNs and IRD numbers of both weightings among them
    assert checksums_hold(numbers).tolist() == expected


def test_visible_digits_of_many_values_at_once_agree_with_one_at_a_time():
    rng = random.Random(1)
    parts = ["0", "1", "9", " ", "-", ".", "/", "\t", "\n", "*", "x", "•", "#", "a", "", "12345"]
    values = ["".join(rng.choices(parts, k=rng.randint(0, 12))) for _ in range(3000)] + [None, "51 824 753 556"]
    expected = [visible_digits(v) for v in values]
    assert sum(1 for v in expected if v and not v[1]) > 100 and sum(1 for v in expected if v and v[1]) > 100
    ascii_only = [v for v in values if v is None or v.isascii()]
    assert visible_digits_of_each(ascii_only) == [visible_digits(v) for v in ascii_only]
    assert visible_digits_of_each(values) == expected


def test_masked_identifier_keeps_visible_digits_only():
    masked = parse_identifier("******782")
    assert masked is not None
    assert (masked.masked, masked.tail, masked.full, masked.valid) == (True, "782", "", False)
    full = parse_identifier("123 456 782")
    assert full is not None and (full.full, full.tail, full.valid) == ("123456782", "782", True)


def test_mr_and_mrs_is_a_couple_with_an_unknown_partner():
    p = parse_person("Mr & Mrs John Smith")
    assert (p.given, p.family, p.couple) == ("john", "smith", True)


def test_a_slip_in_a_word_that_shapes_an_organisation_name_is_undone():
    assert parse_org("Ocean Panel Pattners Pty Limited").core == parse_org("Ocean Panel Partners").core == "ocean panel"
    assert parse_org("Vertex Architecture Anustralia Pty Ltd").core == "vertex architecture australia"
    assert parse_org("Legacy Sheep Srvices").core == "legacy sheep services"
    assert parse_org("Smith Fmaily Trust").core == "smith family"
    # Not the first letter, not a word of its own ("investment" is not a slip of "investments").
    assert parse_org("Hamily Trust").core == "hamily"
    assert parse_org("Chen Investment Trust").core == "chen investment"


def test_two_letters_changed_in_a_structural_word_are_not_a_slip():
    # One of the two changed letters is its neighbour's ("Fmxily": the m moved, the a became an x): two
    # slips, not a swap, so the word stays among the distinguishing words.
    assert parse_org("Smith Fmxily Trust").core == "smith fmxily"
    assert parse_org("Chen Hodxings Pty Ltd").core == "chen hodxings"
    assert parse_org("Chen Hodlings Pty Ltd").core == "chen holdings"  # a true swap is still undone
