"""The fast paths of table building give exactly what the general code gives."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from syncworker.domain.profile import Address, ClientKind, ClientProfile
from syncworker.matching.features import Vocab, build_table
from syncworker.matching.identifiers import parse_identifier
from syncworker.matching.keycodes import KEY_CHARS, KeyVocab
from syncworker.matching.text import _TABLE, fold, strip_accents


def _fold_general(text: str) -> str:
    return " ".join(strip_accents(text).lower().translate(_TABLE).split())


@pytest.mark.parametrize("text", [
    "O'Brien & Co.", "P.T.Y. L/T/D", " a\tb\nc ", "Smith-Jones (Holdings)", "x|y~z{}[]", "50% @ #3 $4 ^_^",
    "Zoë–Smith’s", "MÜLLER & SÖHNE GmbH",
])
def test_ascii_fold_fast_path_matches_the_general_rules(text: str) -> None:
    assert fold.__wrapped__(text) == _fold_general(text)


def test_identifier_fast_path_takes_only_ascii_digits() -> None:
    assert parse_identifier("51 824 753 556").digits == "51824753556"
    assert parse_identifier("51-824-753-556").valid
    masked = parse_identifier("*****3556")
    assert masked.masked and masked.full == "" and masked.tail == "556"
    assert parse_identifier("١٢٣٤٥٦٧٨") is None  # Arabic-Indic digits are not ASCII digits: no number here


def test_vocab_normalises_each_distinct_value_once_and_shares_it_with_the_other_table() -> None:
    calls: list[str] = []

    def upper(value: str) -> str:
        calls.append(value)
        return value.upper()

    vocab = Vocab()
    assert vocab.mapped(upper, ["a", "b", "a"]) == ["A", "B", "A"]
    assert vocab.mapped(upper, ["b", "c"]) == ["B", "C"]
    assert sorted(calls) == ["a", "b", "c"]


def test_vocab_codes_agree_across_tables_and_differ_across_namespaces() -> None:
    vocab = Vocab()
    first, second = vocab.codes(["x", "", "y"], "f"), vocab.codes(["y", "x"], "f")
    assert first[0] == second[1] and first[2] == second[0] and first[1] == -1
    assert vocab.codes(["x"], "g")[0] not in set(first.tolist())


def _person(rid: str, **fields) -> ClientProfile:
    return ClientProfile(id=rid, kind=ClientKind.INDIVIDUAL, **fields)


def test_table_columns_for_people_organisations_and_missing_fields() -> None:
    records = [
        _person("p1", name="Dr Bob Smith Jr", given_name="Bob", family_name="Smith", email="Bob@Example.com",
                phone="02 9999 0000", mobile="0412 345 678", date_of_birth=date(1970, 5, 6),
                address=Address(line1="12 High St", line2="Unit 4", city="Parramatta", postcode="2150")),
        ClientProfile(id="o1", kind=ClientKind.TRUST, name="The Trustee for the Smith Family",
                      business_number="51 824 753 556", postal_address=Address(line1="PO Box 9", postcode="2000")),
        _person("p2", name="Slater, Thomas & Katherine"),
    ]
    t = build_table(records, Vocab(), "AU")
    assert list(t.name_key) == ["robert smith", "smith family", "thomas slater"]
    assert list(t.form) == ["", "trust", ""]  # a trust by kind even when the name has no form
    assert list(t.generation) == ["jr", "", ""] and list(t.given2) == ["", "", "katherine"]
    assert t.dob.tolist() == [19700506, 0, 0]
    assert list(t.street) == ["12 high street unit 4", "po box 9", ""]
    assert t.bizno[1] >= 0 and t.bizno_valid.tolist() == [False, True, False]
    assert t.mobile[0] == t.phone2[0] >= 0 and t.mobile[1] == -1
    assert t.email[0] >= 0 and t.email[2] == -1


def test_blocking_key_hash_is_positional_and_cut_at_key_chars() -> None:
    codes = KeyVocab.factor(["ab", "ba", "", "x" * KEY_CHARS, "x" * KEY_CHARS + "tail"])
    assert codes[0] != codes[1] and codes[2] == -1
    assert codes[3] == codes[4]  # only the first KEY_CHARS characters count
    assert np.all(codes[[0, 1, 3]] < 1 << 28)


def test_blocking_key_hash_of_a_string_does_not_depend_on_its_batch() -> None:
    alone = KeyVocab.factor(["#6"])[0]
    assert KeyVocab.factor(["#6", "a much longer key string"])[0] == alone
    assert KeyVocab.factor(["a much longer key string", "#6"])[1] == alone


def test_words_sorted_with_the_normalising_equal_the_plain_definition() -> None:
    records = [
        _person("p1", name="Zed Adams", given_name="Zed", family_name="Adams",
                address=Address(line1="12 High St", line2="Unit 4", postcode="2150")),
        _person("p2", name="Amy van der Berg", given_name="Amy", family_name="van der Berg"),
        ClientProfile(id="o1", kind=ClientKind.COMPANY, name="Zenith Alpha Holdings Pty Ltd t/a Beta Alpha"),
        ClientProfile(id="o2", kind=ClientKind.COMPANY, name="Acme"),
        _person("p3", name=""),
    ]
    t = build_table(records, Vocab(), "AU")
    for column in ("name_key", "alt", "street"):
        made = t.derived[("sorted", column)]  # made with the normalising, before any comparison asked
        assert made.tolist() == [" ".join(sorted(v.split())) for v in getattr(t, column).tolist()]
        assert t.sorted_words(column) is made
    assert t.words_moved("name_key").tolist() == [True, True, True, False, False]


def test_initial_ranks_equal_numpy_unique() -> None:
    rng = np.random.default_rng(3)
    initials = rng.choice(np.array(["", "a", "b", "z", "é", "m"], dtype=object), size=500)
    t = build_table([_person("p", name="A B")], Vocab(), "AU")
    t.given_initial = initials
    assert t.namesake_given("initial").tolist() == np.unique(initials, return_inverse=True)[1].ravel().tolist()


_DISPLAY_NAMES = [
    "Betty B Scort", "Fletcher, Rachel", "Mr Christopher Marwalhurst", "Mrs Jim Galmelham", "Deb O'Brien-Smith",
    "Mr & Mrs John Smith", "John and Mary Smith", "JOHN AND MARY SMITH", "Sandra Anderson", "Alexander",
    "Andrew Sand Andrews", "Dr Bob Smith Jr", "Prof. Ann Lee PhD", "Ann Lee III", "Mr", "Mrs Dr", "", " ",
    "J", "J. R. R. Tolkien", "Smith, John & Mary", "Kim Lee t/a Lee Plumbing", "Kim Lee trading as Lee's",
    "Tradingham Tan", "Ta Ta", "Zoë Müller", "José Ñúñez-García", "Nul\x00Byte Name", "Kate & ", "and",
    "Mr and Mrs", "Bob Smith Snr", "Sir Elton Hercules John", "Ms. Mary-Jane van der Berg", "O'Neil",
    "Smith,", ", John", "Smith, Mr", "Dr, Smith", "van der Berg, Mary Jane", "Smith, John, Jr", "Smith,John&Mary",
    "Anderson, Sandra", "Müller, Zoë", "Lee, Kim t/a Lee Plumbing", ",", "Smith ,  J . R .", "Sand and Co, John",
]


@pytest.mark.parametrize("fields", [(n, None, None, None) for n in _DISPLAY_NAMES]
                         + [(n, "Ann", None, None) for n in _DISPLAY_NAMES[:8]]
                         + [(n, None, "Q", "Lee") for n in _DISPLAY_NAMES[:8]] + [(n, None, "Q", None) for n in _DISPLAY_NAMES])
def test_people_parsed_together_equal_each_parsed_alone(fields) -> None:
    from syncworker.matching.features import _people_features, _person_features
    from syncworker.matching.names import parse_people, parse_person

    assert _people_features([fields]) == [_person_features(fields)]
    if fields[0]:
        assert parse_people([fields[0]]) == [parse_person.__wrapped__(fields[0])]


def test_people_parsed_together_equal_each_parsed_alone_in_bulk() -> None:
    from benchmarks.matching.noisy import noisy_people
    from syncworker.matching.features import _people_features, _person_features

    rows, _ = noisy_people(300, seed=2)
    keys = [(r["name"], None, None, None) for r in rows] + [(n, None, None, None) for n in _DISPLAY_NAMES]
    assert _people_features(keys) == [_person_features(k) for k in keys]
