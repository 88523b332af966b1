"""Rules for typing noise of the kind FEBRL simulates (a mistyped word in a building name, one slipped
letter in a short given name, swapped postcode digits), each pinned with the practice case it must not
turn into an auto-link."""

from datetime import date

import numpy as np

from syncworker.domain.profile import Address, ClientKind, ClientProfile
from syncworker.matching import MatchConfig, match_records
from syncworker.matching.blocking import _digit_multiset, link_candidates
from syncworker.matching.compare import LINK, NONE, REVIEW, compare, settle_relatives
from syncworker.matching.features import Vocab, _postcode_digits, build_table

CONFIG = MatchConfig()
IND, CO = ClientKind.INDIVIDUAL, ClientKind.COMPANY


def person(pid, name="", **kw):
    return ClientProfile(pid, IND, name, **kw)


def at(line1, postcode="3000", city="Melbourne", line2=None):
    return Address(line1=line1, line2=line2, city=city, postcode=postcode)


def households():
    """Four families of three at one address each: a list with households (strict family rules)."""
    return [person(f"h{n}{m}", f"{given} {surname}", date_of_birth=date(year + n, 1, 1), address=at(f"{n + 1} Elm Rd"))
            for n, surname in enumerate(["Tran", "Brown", "Kelly", "Novak"])
            for m, (given, year) in enumerate([("Anh", 1950), ("Binh", 1952), ("Chi", 1980)])]


def fillers(n=30):
    return [ClientProfile(f"f{i}", CO, f"Fillerzz{i} Widgets Pty Ltd", email=f"f{i}@w.com") for i in range(n)]


def compared(a_rec, b_rec, strict=False):
    vocab = Vocab()  # shared, as in a run
    a, b = build_table([a_rec], vocab, "AU"), build_table([b_rec], vocab, "AU")
    zero = np.zeros(1, dtype=np.int64)
    return compare(a, b, zero, zero, 1, strict_family=strict, defer_relatives=not strict)


def levels(a_rec, b_rec):
    return {k: int(v[0]) for k, v in compared(a_rec, b_rec).levels.items()}


def decision(local_rec, remote_rec):
    """Decision for the local record in a practice-like list (with households)."""
    found = {x.local_id: x for x in match_records([local_rec, *households()], [remote_rec, *fillers()], CONFIG)}
    return found[local_rec.id].decision if local_rec.id in found else None


# --- One street line holds the other, up to a single mistyped word ---

BUILDING = "Raworth Cottage Medical Practice"


def street_level(x, y, **kx):
    return levels(person("a", "Ann Lee", address=at(x, **kx)), person("b", "Ann Lee", address=at(y)))["street"]


def test_a_line_held_by_the_other_up_to_one_typo_is_similar():
    assert street_level("4 Hodgkinson Street", "4 Raworth Cottage Meedical Practice", line2=BUILDING) == 2
    assert street_level("83 Carslaw Street Croydon", "83 Croyfon") == 2  # only the locality kept, mistyped


def test_one_typo_only_and_house_number_and_short_words_exact():
    assert street_level("4 Hodgkinson Street", "4 Rawroth Cottage Meedical Practice", line2=BUILDING) == 3
    assert street_level("4 Hodgkinson Street", "6 Raworth Cottage Meedical Practice", line2=BUILDING) == 3
    assert street_level("4 Hodgkinson Street", "41 Raworth Cottage Medical Practice", line2=BUILDING) == 3
    assert street_level("12 Kent Street Unit 7", "12 Unit 8") == 3  # another unit is another home
    assert street_level("3 Collins Street Suite 1201", "3 Suite 1210") == 3  # numbers are never typos here
    assert street_level("12 Kent Street Carlton", "12 Kant Road") == 3  # street name and type both differ


def _settled(a_rec, b_rec, context=False):
    c = compared(a_rec, b_rec)
    settle_relatives(c, np.asarray([context]), True)
    return int(c.cap[0])


def test_address_with_a_typo_backs_a_corrupted_record_but_never_a_relative():
    a = person("a", "Jade Quast", date_of_birth=date(1939, 1, 21), address=at("4 Hodgkinson Street", line2=BUILDING))
    b = person("b", "Lkue Quast", date_of_birth=date(1976, 3, 28), address=at("4 Raworth Cottage Meedical Practice"))
    # Registry-style data (fields replaced by noise), no family context: surname and address back the pair.
    assert _settled(a, b) == LINK
    # The same pair where either record lives with relatives: a family member, never the same client.
    assert _settled(a, b, context=True) == NONE
    # A practice (households): another given name and birth date at the same address is a relative.
    assert int(compared(a, b, strict=True).cap[0]) == NONE
    assert decision(a, b) is None


# --- One slipped letter in a given name, after the first letter ---

def given_level(x, y):
    return levels(person("a", "", given_name=x, family_name="Pendle"), person("b", "", given_name=y, family_name="Pendle"))["given"]


def test_one_edit_after_the_first_letter_of_a_given_name_is_similar():
    assert given_level("Seanna", "Sehnna") == 2  # Jaro-Winkler 0.91: 'initial' before
    assert given_level("Seanna", "Saenna") == 2  # two letters swapped
    assert given_level("Jessica", "Jesica") == 2


def test_first_letter_short_names_and_two_edits_are_not_a_slip():
    assert given_level("Jason", "Mason") == 3  # rhyming siblings' names differ in the first letter
    assert given_level("Lana", "Luna") == 3  # four letters: too short to tell a slip from another name
    assert given_level("Seanna", "Sehnma") == 3
    assert given_level("Seanna", "S") == 3  # an initial stays an initial


def test_in_a_list_with_households_a_slipped_letter_stays_initial_beside_a_relative_of_that_initial():
    # There a name one letter off is as often a relative's (Brett / Brent, Louis / Louise): one slip
    # counts only where neither list holds another person of that family and initial nearby.
    a = person("a", "", given_name="Seanna", family_name="Pendle")
    b = person("b", "", given_name="Sehnna", family_name="Pendle")
    assert int(compared(a, b, strict=True).levels["given"][0]) == 2
    sister = person("s", "", given_name="Sarah", family_name="Pendle")
    vocab = Vocab()
    ta, tb = build_table([a, sister], vocab, "AU"), build_table([b], vocab, "AU")
    zero = np.zeros(1, dtype=np.int64)
    assert int(compare(ta, tb, zero, zero, 1, strict_family=True).levels["given"][0]) == 3


def test_similar_given_names_at_one_address_are_not_linked_in_a_practice():
    # Siblings or spouses with names one letter apart, flatmates with similar names: other birth dates.
    brett = person("l", "Brett Smith", date_of_birth=date(1990, 1, 1), address=at("7 Oak St"))
    brent = person("r", "Brent Smith", date_of_birth=date(1992, 5, 5), address=at("7 Oak St"))
    assert decision(brett, brent) == "review"
    seanna = person("l", "Seanna Pendle", date_of_birth=date(1967, 6, 2), address=at("20 Mcleod Place"))
    sehnna = person("r", "Sehnna Clarke", date_of_birth=date(1931, 8, 2), address=at("20 Mcleod Place"))
    assert decision(seanna, sehnna) == "review"


def test_a_slipped_letter_still_links_the_same_client():
    a = person("l", "Seanna Pendle", date_of_birth=date(1967, 6, 2), address=at("20 Mcleod Place"))
    b = person("r", "Sehnna Pendle", date_of_birth=date(1967, 6, 2), address=at("20 Mcleod Pl"))
    assert decision(a, b) == "link"


# --- Blocking: postcode digits swapped, same suburb and surname start ---

def test_digit_multiset_ignores_order_but_not_length_or_digits():
    codes = _digit_multiset(np.asarray([_postcode_digits(p) for p in ["2112", "2121", "1212", "212", "2113", "SW1A", ""]],
                                       dtype=np.int32)).tolist()
    assert codes[0] == codes[1] == codes[2]
    assert len({codes[0], codes[3], codes[4]}) == 3
    assert codes[5:] == [-1, -1]


def _webbs(city_b="Eastwood", postcode_b="2121"):
    local = [person("x", "", family_name="Webb", address=at("Mclachlan Street", "2112", "Eastwood", line2="Anukana"))]
    local += [person(f"p{i}", f"Filler{i} Person{i}", address=at(f"{i} Road{i} St", str(3000 + i), "Carlton"))
              for i in range(20)]
    remote = [person("y", "", family_name="Webxb", address=at("3 Anukana", postcode_b, city_b, line2="Mclachla Nstreet"))]
    return local, remote


def test_blocking_meets_swapped_postcode_digits_in_the_same_suburb():
    vocab = Vocab()
    local, remote = _webbs()
    li, ri = link_candidates(build_table(local, vocab, "AU"), build_table(remote, vocab, "AU"), CONFIG.max_block_pairs)
    assert (0, 0) in set(zip(li.tolist(), ri.tolist(), strict=True))


def test_swapped_postcode_digits_elsewhere_are_another_place():
    for city, postcode in (("Carlton", "2121"), ("Eastwood", "2113")):
        vocab = Vocab()
        local, remote = _webbs(city, postcode)
        li, ri = link_candidates(build_table(local, vocab, "AU"), build_table(remote, vocab, "AU"), CONFIG.max_block_pairs)
        assert (0, 0) not in set(zip(li.tolist(), ri.tolist(), strict=True))


def test_a_surname_and_a_suburb_alone_are_never_an_auto_link_in_a_practice():
    local, remote = _webbs()
    assert decision(local[0], remote[0]) in (None, "review")
    assert int(compared(local[0], remote[0], strict=True).cap[0]) <= REVIEW  # no given name, no birth date
