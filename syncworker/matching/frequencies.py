"""How common a value is within each list, estimated from the data of the run (no fixed lists).

A name or e-mail domain that one record of each list carries, and no other record of either, tells the
two apart from everyone else in a way a common one ("Smith Family Trust", gmail.com) does not.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from .features import Table, each_distinct
from .keycodes import distinctive_words, domain_codes

OWN_DOMAIN_MAX = 3  # an organisation's own domain: at most this many records of a list use it


def _counts(codes: np.ndarray) -> np.ndarray:
    """Per record: how many records of the list share its code (0 where the code is missing, < 0)."""
    out = np.zeros(len(codes), dtype=np.int64)
    present = codes >= 0
    if present.any():
        _, inverse, counts = np.unique(codes[present], return_inverse=True, return_counts=True)
        out[present] = counts[inverse]
    return out


def own_domain_agrees(a: Table, b: Table, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair: the two e-mails (different addresses or not) are at one domain that few records of
    either list use: the organisation's own, not a free-mail provider's."""
    da, db = domain_codes(a), domain_codes(b)
    ca, cb = domain_counts(a), domain_counts(b)
    return (da[i] >= 0) & (da[i] == db[j]) & (ca[i] <= OWN_DOMAIN_MAX) & (cb[j] <= OWN_DOMAIN_MAX)


def domain_counts(t: Table) -> np.ndarray:
    """Per record: how many records of the list use its e-mail's domain (0 without one); kept with t."""
    return t._derive(("count", "domain"), lambda: _counts(domain_codes(t)))


def org_name_counts(t: Table) -> None:
    """Make the per-record counts of organisation names that name_unique and rare_name_unique ask for
    (kept with t)."""
    for min_words in (1, 2):
        _org_name_count(t, min_words)


def _org_name_count(t: Table, min_words: int) -> np.ndarray:
    return t._derive(("count", f"org_name{min_words}"), lambda: _org_name_counts(t, min_words))


def _org_name_counts(t: Table, min_words: int) -> np.ndarray:
    """Per record: how many organisations of the list carry its name; 0 for people and for names of
    fewer than `min_words` distinctive words."""
    def words() -> np.ndarray:
        orgs = np.flatnonzero(~t.is_person)
        out = np.zeros(len(t), dtype=np.int64)
        out[orgs] = each_distinct(lambda name: len(distinctive_words(name)), t.name_key[orgs].tolist())
        return out

    distinctive = t._derive(("words", "org_name"), words)
    return _counts(np.where(t.is_person | (distinctive < min_words), -1, t.name_code))


def _unique(a: Table, b: Table, i: np.ndarray, j: np.ndarray, min_words: int) -> np.ndarray:
    ca = _org_name_count(a, min_words)
    cb = ca if b is a else _org_name_count(b, min_words)
    return (ca[i] == 1) & (cb[j] == 1)


def name_unique(a: Table, b: Table, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair: each record's organisation name (its core, without the legal form, of two distinctive
    words or more) is carried by no other record of its list. Deduplicating, the pair's own two records
    share it: never unique. ("Smith Family Trust", "Taylor Enterprises": a surname and words any
    organisation may use say too little on their own; see `rare_name_unique` for such names.)"""
    return _unique(a, b, i, j, 2)


RARE_WORD_SHARE = 1_000  # a rare word: carried by at most one record in this many of a list
# ... and by at most this many or fewer: so a list of at least RARE_WORD_SHARE * RARE_WORD_MIN_COUNT
# (10,000) records. A count is a sample of how common a name is: in a list of 1,000 records "at most
# one" is any word the list holds once, a common surname's own trust included; at 10,000, a surname
# one person in 300 carries (expected 33) comes to 10 or fewer in fewer than one list in 100,000.
RARE_WORD_MIN_COUNT = 10


def _word_counts(t: Table, words: set[str]) -> Counter[str]:
    """How often each of `words` occurs in the names of the list: people's family names, organisations'
    names and trading or trustee names (so that a common surname is a common word in an organisation's
    name too). Counted over all the text at once: a word twice in one name counts twice."""
    people = t.is_person
    text = " ".join(itertools.chain(t.family[people].tolist(), t.name_key[~people].tolist(), t.alt[~people].tolist()))
    return Counter(filter(words.__contains__, text.split()))


def _has_rare_word(t: Table, records: np.ndarray) -> np.ndarray:
    """Per record: its organisation name has a word that at most one record in RARE_WORD_SHARE of the
    list carries in its name (see `_word_counts`); none in a list too small to show it (fewer than
    RARE_WORD_SHARE * RARE_WORD_MIN_COUNT records)."""
    most = len(t) // RARE_WORD_SHARE
    if most < RARE_WORD_MIN_COUNT or len(records) == 0:
        return np.zeros(len(records), dtype=bool)
    keys = t.name_key[records].tolist()
    words = {k: distinctive_words(k) for k in set(keys)}
    counts = _word_counts(t, set(itertools.chain.from_iterable(words.values())))
    rare = {k: any(counts[w] <= most for w in own) for k, own in words.items()}
    return np.fromiter(map(rare.__getitem__, keys), dtype=bool, count=len(keys))


def rare_name_unique(a: Table, b: Table, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair: the two organisations carry the same name (core, without the legal form), no other
    record of either list carries it, and a word of it is rare in both lists: 'Falsalfield Family
    Trust' where no more than one record in RARE_WORD_SHARE of each list has 'falsalfield' in its
    name. Only a list of RARE_WORD_SHARE * RARE_WORD_MIN_COUNT records or more can show a word rare:
    in a smaller one, a surname the list happens to hold once ('Nguyen Family Trust' among 1,200
    clients) would count as rare; in a large one a common surname is not. Deduplicating, never (see
    `name_unique`)."""
    out = (a.name_code[i] == b.name_code[j]) & ~a.is_person[i] & _unique(a, b, i, j, 1)
    at = np.flatnonzero(out)
    out[at] = _has_rare_word(a, i[at]) & _has_rare_word(b, j[at])  # the words counted only when needed
    return out


def namesakes_apart(t: Table, by: str = "given") -> np.ndarray:
    """Table.namesakes, except that two records of one name and postcode that are evidently one client
    entered twice (a birth date, mobile, own e-mail or whole tax number in common, and none of them
    different) count as one person: the list's duplicate is not a father or son of that name."""
    def compute() -> np.ndarray:
        counts = t.namesakes(by).copy()
        two = np.flatnonzero(counts == 2)
        if len(two) == 0:
            return counts
        given = t.namesake_given(by)
        order = two[np.lexsort((t.postcode[two], given[two], t.family_code[two]))]
        x, y = order[0::2], order[1::2]  # each group of two is adjacent once sorted by its key

        def both(col: np.ndarray) -> np.ndarray:
            return (col[x] >= 0) & (col[y] >= 0)

        dob_both = (t.dob[x] > 0) & (t.dob[y] > 0)
        own = both(t.email) & ~t.email_shared[x] & ~t.email_shared[y]
        agree = ((dob_both & (t.dob[x] == t.dob[y])) | (both(t.mobile) & (t.mobile[x] == t.mobile[y]))
                 | (own & (t.email[x] == t.email[y])) | (both(t.tax_full) & (t.tax_full[x] == t.tax_full[y])))
        differ = evidently_apart(t, x, y) | (both(t.mobile) & (t.mobile[x] != t.mobile[y]))
        twice = agree & ~differ
        counts[x[twice]] = 1
        counts[y[twice]] = 1
        return counts

    return t._derive(("namesakes_apart", by), compute)


def evidently_apart(t: Table, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per pair of records of one list: a birth date or whole tax number that differs (two people, not
    one client entered twice). Not a mobile: a client's old duplicate record keeps an old mobile, and
    taking it for another person would free that person's namesake to link to it."""
    tax = t.tax_full
    return (((t.dob[x] > 0) & (t.dob[y] > 0) & (t.dob[x] != t.dob[y]))
            | ((tax[x] >= 0) & (tax[y] >= 0) & (tax[x] != tax[y])))


def namesakes_apart_and_linked(t: Table, records: np.ndarray, linked: np.ndarray, by: str = "given") -> np.ndarray:
    """Per record (a person with both names and a postcode): every other person of the list with its
    family name and given name (`by="initial"`: its first letter), at its postcode or without one
    (who may live there too), is `linked`, and evidently another person than the record (see
    evidently_apart: not the record entered twice). False for records without both names or a
    postcode. One look-up per record: for the few pairs a namesake holds back."""
    given = t.namesake_given(by)
    out = np.zeros(len(records), dtype=bool)
    named = t.is_person[records] & (t.family_code[records] >= 0) & (t.given_canon_code[records] >= 0) & (
        t.postcode[records] >= 0)
    if not named.any():
        return out
    people = np.flatnonzero(t.is_person & np.isin(t.family_code, t.family_code[records[named]]))
    members: dict[tuple[int, int], list[int]] = {}
    for k, f, g in zip(people.tolist(), t.family_code[people].tolist(), given[people].tolist(), strict=True):
        members.setdefault((f, g), []).append(k)
    for n in np.flatnonzero(named).tolist():
        x = int(records[n])
        others = np.asarray([k for k in members.get((int(t.family_code[x]), int(given[x])), ())
                             if k != x and (t.postcode[k] == t.postcode[x] or t.postcode[k] < 0)], dtype=np.int64)
        out[n] = bool(np.all(linked[others]) and np.all(evidently_apart(t, np.full(len(others), x), others)))
    return out
