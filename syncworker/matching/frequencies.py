"""How common a value is within each list, estimated from the data of the run (no fixed lists).

A name or e-mail domain that one record of each list carries, and no other record of either, tells the
two apart from everyone else in a way a common one ("Smith Family Trust", gmail.com) does not.
"""

from __future__ import annotations

import numpy as np

from .features import Table, each_distinct

OWN_DOMAIN_MAX = 3  # an organisation's own domain: at most this many records of a list use it


def _counts(codes: np.ndarray) -> np.ndarray:
    """Per record: how many records of the list share its code (0 where the code is missing, < 0)."""
    out = np.zeros(len(codes), dtype=np.int64)
    present = codes >= 0
    if present.any():
        _, inverse, counts = np.unique(codes[present], return_inverse=True, return_counts=True)
        out[present] = counts[inverse]
    return out


def domain_codes(t: Table) -> np.ndarray:
    """Per record: a code of its e-mail's domain (the same on both sides of a link), -1 without one; also
    a blocking key (blocking.key_arrays), so computed once per table."""
    from .blocking import _KeyVocab  # the blocking keys' batch-independent string hash

    return t._derive(("domain", "email"), lambda: _KeyVocab().factor_each(t.email_text, key=lambda e: e.rpartition("@")[2]))


def own_domain_agrees(a: Table, b: Table, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair: the two e-mails (different addresses or not) are at one domain that few records of
    either list use: the organisation's own, not a free-mail provider's."""
    da, db = domain_codes(a), domain_codes(b)
    ca = a._derive(("count", "domain"), lambda: _counts(da))
    cb = b._derive(("count", "domain"), lambda: _counts(db))
    return (da[i] >= 0) & (da[i] == db[j]) & (ca[i] <= OWN_DOMAIN_MAX) & (cb[j] <= OWN_DOMAIN_MAX)


def _org_name_counts(t: Table) -> np.ndarray:
    """Per record: how many organisations of the list carry its name; 0 for people and for names of
    fewer than two distinctive words ("Smith Family Trust", "Taylor Enterprises": a surname and words
    any organisation may use say too little on their own)."""
    from .blocking import _ORG_STOPWORDS

    def distinctive(name: str) -> int:
        return sum(len(w) > 1 and w not in _ORG_STOPWORDS for w in name.split())

    orgs = np.flatnonzero(~t.is_person)
    words = np.zeros(len(t), dtype=np.int64)
    words[orgs] = each_distinct(distinctive, t.name_key[orgs].tolist())
    return _counts(np.where(t.is_person | (words < 2), -1, t.name_code))


def name_unique(a: Table, b: Table, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair: each record's organisation name (its core, without the legal form, of two distinctive
    words or more) is carried by no other record of its list. Deduplicating, the pair's own two records
    share it: never unique."""
    ca = a._derive(("count", "org_name"), lambda: _org_name_counts(a))
    cb = ca if b is a else b._derive(("count", "org_name"), lambda: _org_name_counts(b))
    return (ca[i] == 1) & (cb[j] == 1)


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
        differ = ((dob_both & (t.dob[x] != t.dob[y])) | (both(t.mobile) & (t.mobile[x] != t.mobile[y]))
                  | (both(t.tax_full) & (t.tax_full[x] != t.tax_full[y])))
        twice = agree & ~differ
        counts[x[twice]] = 1
        counts[y[twice]] = 1
        return counts

    return t._derive(("namesakes_apart", by), compute)


def namesake_groups(t: Table) -> np.ndarray:
    """Per record: a number shared by the people of the list with its family name, given name
    (nicknames as the full name) and postcode, the namesakes Table.namesakes counts; -1 for
    organisations and for people without both names or without a postcode."""
    named = t.is_person & (t.family_code >= 0) & (t.given_canon_code >= 0) & (t.postcode >= 0)
    out = np.full(len(t), -1, dtype=np.int64)
    if named.any():
        key = np.zeros(int(named.sum()), dtype=np.int64)
        for part in (t.family_code, t.namesake_given("given"), t.postcode):  # each part as its rank: fits
            values, rank = np.unique(part[named], return_inverse=True)
            key = key * len(values) + rank.ravel()
        out[named] = np.unique(key, return_inverse=True)[1].ravel()
    return out
