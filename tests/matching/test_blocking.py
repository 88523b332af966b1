"""Blocking keys are made once per distinct name, yet each record gets exactly the keys of its own."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date

import numpy as np

from syncworker.domain.profile import Address, ClientKind, ClientProfile
from syncworker.matching import MatchConfig
from syncworker.matching.blocking import (
    NEIGHBOURHOOD_CHARS,
    UNIQUE_NAME_KEY,
    _deletion_neighbourhoods,
    _groups,
    _one_part_groups,
    _own_keys_of,
    _shared_keys,
    dedupe_candidates,
    key_arrays,
    link_candidates,
)
from syncworker.matching.features import Vocab, build_table
from syncworker.matching.keycodes import KeyVocab, distinct_values, email_domain_codes

CO, IND = ClientKind.COMPANY, ClientKind.INDIVIDUAL


def _records() -> list[ClientProfile]:
    """Organisation and trading names that repeat (in a different order each time), people among them."""
    names = ["Davis Holdings Pty Ltd", "Prie Nominees Pty Ltd", "Smith Family Trust",
             "Acme Plumbing Pty Ltd trading as Acme Pipes", "Jo Brown trading as Brown Bakery", "Ng Co"]
    out = []
    for i in range(24):
        name = names[(i * 7) % len(names)] if i % 5 else names[i % len(names)]
        kind = IND if name.startswith("Jo ") else CO
        out.append(ClientProfile(f"r{i}", kind, name, email=f"office{i % 3}@{name.split()[0].lower()}.com.au",
                                 address=Address(line1=f"{i % 4 + 1} Banksia St", city="Perth", postcode="6000")))
    out.append(ClientProfile("p", IND, "Ann Lee", date_of_birth=date(1970, 1, 2)))
    return out


def _keys_by_record(recs: np.ndarray, codes: np.ndarray) -> dict[int, Counter]:
    out: dict[int, Counter] = {}
    for rec, code in zip(recs.tolist(), codes.tolist(), strict=True):
        out.setdefault(rec, Counter())[code] += 1
    return out


def test_each_record_gets_the_keys_it_has_alone_however_often_its_name_repeats():
    records = _records()
    vocab = Vocab()
    together = _keys_by_record(*key_arrays(build_table(records, vocab, "AU"), KeyVocab()))
    for i, record in enumerate(records):
        # Alone in its list, and after another list's keys were made with the same key vocabulary.
        key_vocab = KeyVocab()
        key_arrays(build_table(records[::-1], vocab, "AU"), key_vocab)
        alone = _keys_by_record(*key_arrays(build_table([record], vocab, "AU"), key_vocab))
        assert together[i] == alone[0], record.name  # the same keys, each as often (block sizes count them)
    shared = Counter(code for keys in together.values() for code in keys)
    assert max(shared.values()) > 4  # the names do repeat: a per-distinct shortcut has work to share


def test_organisation_names_one_letter_apart_are_candidates_with_nothing_else_in_common():
    local = [ClientProfile("l", CO, "Davis Holdings Pty Ltd", address=Address(line1="1 Oak St", postcode="2000"))]
    remote = [ClientProfile("r", CO, "Dvais Holdings Pty Ltd", address=Address(line1="9 Elm Rd", postcode="4000")),
              ClientProfile("x", CO, "Harris Holdings Pty Ltd", address=Address(line1="9 Elm Rd", postcode="4000"))]
    vocab = Vocab()
    li, ri = link_candidates(build_table(local, vocab, "AU"), build_table(remote, vocab, "AU"),
                             MatchConfig().max_block_pairs)
    assert list(zip(li.tolist(), ri.tolist(), strict=True)) == [(0, 0)]


def _neighbourhood_by_strings(name: str) -> set[str]:
    head = "".join(filter(str.isalpha, name))[:NEIGHBOURHOOD_CHARS]
    return {head, *(head[:k] + head[k + 1:] for k in range(len(head)))} if len(head) >= 4 else set()


def test_deletion_neighbourhood_codes_are_the_codes_of_each_distinct_variant_string():
    names = ["davis holdings", "elliott", "aaaa", "bookkeeping", "abc", "ab 12 cd", "", "2020 nominees",
             "zoë müller", "abcdefghijklmnopqrstuvwxyz", "mississippi river", "ab ba", "llll lll"]
    counts, codes = _deletion_neighbourhoods(names)
    ends = np.cumsum(counts)
    for name, end, count in zip(names, ends.tolist(), counts.tolist(), strict=True):
        variants = sorted(_neighbourhood_by_strings(name))
        # One code per distinct variant string: a record's keys count once each in its blocks.
        assert sorted(codes[end - count:end].tolist()) == sorted(KeyVocab.factor(variants).tolist()), name


def test_a_whole_name_each_list_holds_once_pairs_records_that_share_nothing_else():
    # Twenty people per list whose names share Brenda Kato's coarse keys (family-name sound K300 with
    # given initial B, given-name sound with family initial K): those blocks are too large to keep.
    surnames = ["kate", "katy", "kati", "kadi", "kade", "kado", "kota", "kote", "kodi", "kuta",
                "kude", "kita", "kido", "keto", "kedi", "kaat", "koot", "kaid", "kout", "kudo"]
    crowd = [ClientProfile(f"c{i}", IND, f"Brenda {s.title()}", phone=f"0299{i:06d}") for i, s in enumerate(surnames)]
    local = crowd + [ClientProfile("l", IND, "Brenda Kato", email="brenda.kato6909@bigpond.com")]
    remote = crowd + [ClientProfile("r", IND, "Brenda Kato", phone="0736 777 562")]
    vocab = Vocab()
    a, b = build_table(local, vocab, "AU"), build_table(remote, vocab, "AU")
    li, ri = link_candidates(a, b, MatchConfig().max_block_pairs)
    assert (20, 20) in set(zip(li.tolist(), ri.tolist(), strict=True))
    # Where a list holds the name twice, the name alone yields no pair: it never yields more than one.
    twice = remote + [ClientProfile("r2", IND, "Brenda Kato", phone="0736 000 111")]
    li, ri = link_candidates(a, build_table(twice, vocab, "AU"), MatchConfig().max_block_pairs)
    assert not {(20, 20), (20, 21)} & set(zip(li.tolist(), ri.tolist(), strict=True))


def test_own_keys_and_those_with_shared_codes_are_of_different_kinds():
    """Candidates are joined within each of the two sets apart: a kind in both would miss pairs."""
    table = build_table(_records(), Vocab(), "AU")
    own = _own_keys_of(table, KeyVocab())
    kinds = [set((codes >> 56).tolist()) for codes in (own["blocks"], _shared_keys(table, own)[1])]
    assert kinds[0] and kinds[1] and not kinds[0] & kinds[1]


def _blocks(table) -> dict[int, list[int]]:
    """The records of each blocking key of a table, as plain lists (as often as the record holds it)."""
    blocks: dict[int, list[int]] = {}
    for rec, code in zip(*(a.tolist() for a in key_arrays(table, KeyVocab())), strict=True):
        blocks.setdefault(code, []).append(rec)
    return blocks


def _kept_by_hand(code: int, pairs: int, max_block_pairs: int) -> bool:
    return pairs <= max_block_pairs and (code >> 56 != UNIQUE_NAME_KEY or pairs == 1)


def test_candidates_are_the_pairs_of_every_kept_block_each_once_in_order():
    """The vectorised joins against the plain definition: every pair of records two lists' blocks of
    one key put side by side (one within a list, deduplicating), unless the block is too large."""
    records = _records()
    vocab = Vocab()
    left, right = (_blocks(build_table(r, vocab, "AU")) for r in (records, records[3:] + records[:5]))
    found = []
    for limit in (12, 10_000):  # blocks too large to keep, and none
        expected = sorted({(x, y) for code, xs in left.items() for x in xs for y in right.get(code, [])
                           if _kept_by_hand(code, len(xs) * len(right.get(code, [])), limit)})
        li, ri = link_candidates(build_table(records, vocab, "AU"),
                                 build_table(records[3:] + records[:5], vocab, "AU"), limit)
        assert list(zip(li.tolist(), ri.tolist(), strict=True)) == expected
        # Within one list: each pair of distinct records once, the lower first.
        within = sorted({(min(x, y), max(x, y)) for code, xs in left.items() for x, y in itertools.combinations(xs, 2)
                         if x != y and _kept_by_hand(code, len(xs) * (len(xs) - 1) // 2, limit)})
        i, j = dedupe_candidates(build_table(records, vocab, "AU"), limit)
        assert list(zip(i.tolist(), j.tolist(), strict=True)) == within
        found.append((len(expected), len(within)))
    assert found[0][0] < found[1][0] and found[0][1] < found[1][1]  # the limit did drop blocks
    assert min(found[0]) > 5 and min(found[1]) > 2 * len(records)  # blocks of several records each


def test_distinct_values_in_order_of_first_appearance_with_each_values_position():
    values = np.asarray(["b", "a", "b", "", "c", "a", ""], dtype=object)
    distinct, inverse = distinct_values(values)
    assert distinct == ["b", "a", "", "c"]
    assert inverse.dtype == np.int64 and inverse.tolist() == [0, 1, 0, 2, 3, 1, 2]
    none, positions = distinct_values([])
    assert none == [] and len(positions) == 0


def test_an_email_domain_code_is_the_code_of_the_domain_alone_and_none_without_an_email():
    emails = ["ann@acme.com.au", "bob@acme.com.au", "", "x@y@gmail.com", "carol@gmail.com", "noatsign"]
    codes = email_domain_codes(emails).tolist()
    assert codes[:2] == KeyVocab.factor(["acme.com.au"]).tolist() * 2
    assert codes[2] == -1 and codes[3] == codes[4] == KeyVocab.factor(["gmail.com"])[0]
    assert codes[5] == KeyVocab.factor(["noatsign"])[0]  # no '@': the whole text, as rpartition gives it


def test_keys_of_one_code_are_grouped_as_any_keys_are():
    rng = np.random.default_rng(7)
    recs = rng.integers(0, 300, 2_000)
    codes = rng.integers(0, 1 << 28, 2_000) % 400  # blocks of several records, a record twice in some
    blocks, _, counts, grouped = _groups(recs, (19 << 56) | (codes << 28))
    by_sort = _one_part_groups(19, recs, codes)
    assert by_sort[0].tolist() == blocks.tolist() and by_sort[1].tolist() == counts.tolist()
    ends = np.cumsum(counts).tolist()
    for end, count in zip(ends, counts.tolist(), strict=True):  # the same records in each block
        assert sorted(by_sort[2][end - count:end].tolist()) == sorted(grouped[end - count:end].tolist())
    assert all(len(part) == 0 for part in _one_part_groups(19, recs[:0], codes[:0]))


def test_own_key_blocks_are_distinct_and_in_code_order():
    """As the join with the other list's blocks (a sorted search) needs them."""
    own = _own_keys_of(build_table(_records(), Vocab(), "AU"), KeyVocab())
    assert np.all(np.diff(own["blocks"]) > 0) and own["counts"].sum() == len(own["recs"])
    assert (own["blocks"] >> 56 == 19).any() and (own["blocks"] >> 56 != 19).any()
