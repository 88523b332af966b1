"""Candidate generation: several blocking keys per record, joined by key with NumPy.

A pair is a candidate when the two records share at least one key. Keys whose block would yield
more than `max_block_pairs` pairs are skipped (they carry too little information to be worth the
cost); the other keys still reach those records.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from .features import Normalised, Table
from .keycodes import (
    CODE_MASK,
    DOMAIN,
    FNV_OFFSET,
    FNV_PRIME,
    KeyVocab,
    distinct_values,
    distinctive_words,
    domain_codes,
    email_domain_codes,
)


def _street_keys(streets) -> tuple[list[str], list[str]]:
    """Per street line, one split: its first two words ('12 banksia') and the house number with the
    street's first letters ('#12 ba'); '' where a line has none."""
    two, number_street = [], []
    for street in streets:
        words = street.split(maxsplit=2)
        two.append(" ".join(words[:2]))
        number_street.append(f"#{words[0]} {words[1][:2]}" if street[:1].isdigit() and len(words) > 1 else "")
    return two, number_street


def _prefixes(values, k: int) -> np.ndarray:
    """The first k characters of each string, for the whole column at once."""
    return np.asarray(values, dtype=f"<U{k}")


def _digit_multiset(postcode_digits: np.ndarray) -> np.ndarray:
    """The digits of a numeric postcode regardless of their order (see features._postcode_digits), as
    a code below 2^28 (sum of 7^digit over the digits); -1 when not numeric."""
    x = postcode_digits.astype(np.int64)
    length, number = x // 10_000_000, x % 10_000_000
    code = np.zeros(len(x), dtype=np.int64)
    for k in range(6):
        code += np.where(k < length, 7 ** ((number // 10**k) % 10), 0)
    return np.where(x >= 0, code, -1)


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A 28-bit code of two non-negative codes (a rare collision only adds a spurious candidate pair)."""
    h = (x * 0x9E3779B1 + y) & 0xFFFFFFFFFFFF
    return (h ^ (h >> 28)) & CODE_MASK


def _initial(values) -> np.ndarray:
    """Code point of each string's first character, 0 for ''."""
    return _prefixes(values, 1).view(np.uint32).astype(np.int64)


class _Keys:
    def __init__(self) -> None:
        self.recs: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []

    def add(self, kind: int, rec: np.ndarray, a: np.ndarray, b: np.ndarray | int = 0, valid=None) -> None:
        ok = a >= 0
        if valid is not None:
            ok &= valid
        if not isinstance(b, int):
            ok &= b >= 0
            b = b[ok]
        self.recs.append(rec[ok])
        self.codes.append((kind << 56) | (a[ok] << 28) | b)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.recs), np.concatenate(self.codes)


OwnKeys = dict[str, np.ndarray]  # see own_keys
_OWN = "own keys"  # Table.derived[(_OWN, part)]: made with the table's normalising, for key_arrays


def own_keys(t, vocab: KeyVocab) -> OwnKeys:
    """The parts of a list's blocking keys made of its own strings alone (hashes, initials, birth dates):
    the same whichever list it meets, so made wherever the list is normalised (tables: one side in a
    second process). `t` is a Table or a Normalised's fields as attributes; `key_arrays` adds the
    parts coded by the run's shared Vocab.

    "blocks", "counts" and "recs" are whole keys, grouped as `_groups` groups them: each distinct
    code, its number of records, and the records block by block. The others, per record
    ("name_initial", "street2", "number_street", "domain": keycodes.domain_codes), per person
    ("family_sx", "family3", "canon3", "swapped_postcode") or per organisation ("org_word",
    "org_initial"), are halves of keys whose other half is a shared code."""
    keys = _Keys()
    streets, street_of = distinct_values(t.street)
    street2, number_street = (vocab.factor(column)[street_of] for column in _street_keys(streets))

    people = np.flatnonzero(t.is_person)
    family, given = t.family[people], t.given[people]
    canon = t.given_canon[people]
    family_sx, given_sx = vocab.soundex(family), vocab.soundex(given)
    given_initial, family_initial = _initial(given), _initial(family)
    keys.add(7, people, family_sx, given_initial)
    keys.add(7, people, given_sx, family_initial, valid=family_initial > 0)  # meets swapped names
    keys.add(7, people, family_sx, _initial(t.given2[people]), valid=_initial(t.given2[people]) > 0)
    keys.add(7, people, vocab.soundex(t.family2[people]), _initial(t.given2[people]))
    # A nickname whose first letter is not its name's ("Trish" / "Patricia"): the canonical initial.
    canon_initial = _initial(canon)
    keys.add(7, people, family_sx, canon_initial, valid=(canon_initial != given_initial) & (canon_initial > 0))
    dob = t.dob[people].astype(np.int64)
    has_dob = dob > 0
    keys.add(10, people, vocab.soundex(canon), dob, valid=has_dob)
    keys.add(11, people, dob, valid=has_dob)

    # Distinctive words: of a person's trading name, of an organisation's name and trading name.
    named = np.flatnonzero(~t.is_person | (t.alt != ""))
    texts = [a if person else f"{k} {a}" for person, k, a in
             zip(t.is_person[named].tolist(), t.name_key[named].tolist(), t.alt[named].tolist(), strict=True)]
    keys.add(12, *vocab.factor_many(named, texts, _hashed(_tokens)))
    orgs = np.flatnonzero(~t.is_person)
    org_names, org_name_of = distinct_values(t.name_key[orgs])
    compact = [k.replace(" ", "")[:6] for k in org_names]
    keys.add(13, orgs, vocab.factor(["q" + c if c else "" for c in compact])[org_name_of])
    first = [next(iter(distinctive_words(k)), "") for k in org_names]
    # An organisation name with one slip ("Dvais Holdings", "Prie Nominees") whose words are each too
    # common to block on alone, and nothing else on file in common: its spelling one deletion away.
    # Each of the two names of a record brings its own keys.
    blocks, _, counts, recs = _groups(*keys.arrays())
    # Three own keys in four are these, of one code each: grouped apart (see _one_part_groups). Their
    # kind is the highest of the own keys, so their blocks follow the others' in code order.
    assert len(blocks) == 0 or blocks[-1] >> 56 < NEIGHBOURHOOD_KEY
    neighbourhoods = vocab.factor_many(np.r_[orgs, orgs], np.r_[t.name_key[orgs], t.alt[orgs]], _deletion_neighbourhoods)
    blocks, counts, recs = (np.r_[mine, theirs] for mine, theirs in zip(
        (blocks, counts, recs), _one_part_groups(NEIGHBOURHOOD_KEY, *neighbourhoods), strict=True))
    own = {
        "blocks": blocks, "counts": counts, "recs": recs,
        "name_initial": _initial(t.name_key), "street2": street2, "number_street": number_street,
        "domain": domain_codes(t) if isinstance(t, Table) else email_domain_codes(t.email_text),
        "family_sx": family_sx, "family3": vocab.factor(_prefixes(family, 3)),
        "canon3": vocab.factor(_prefixes(canon, 3)),
        "swapped_postcode": _digit_multiset(t.postcode_digits[people]),
        "org_word": vocab.factor(["r" + w[:2] if w else "" for w in first])[org_name_of],
        "org_initial": _initial(first)[org_name_of],
    }
    # All but the key codes fit 32 bits: that halves what the second process sends back.
    return {part: values if part == "blocks" else values.astype(np.int32) for part, values in own.items()}


def own_keys_of(columns: Normalised) -> OwnKeys:
    """own_keys of a list not yet coded (see tables)."""
    return own_keys(SimpleNamespace(**columns.fields), KeyVocab())


def key_arrays(t: Table, vocab: KeyVocab) -> tuple[np.ndarray, np.ndarray]:
    """(record index, key code) for every blocking key of every record."""
    own = _own_keys_of(t, vocab)
    recs, codes = _shared_keys(t, own)
    return np.r_[own["recs"], recs], np.r_[np.repeat(own["blocks"], own["counts"]), codes]


def _key_groups(t: Table, vocab: KeyVocab) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The keys of key_arrays grouped as `_groups` groups them, in two sets of kinds: the own keys
    (grouped already) and those with a shared code."""
    own = _own_keys_of(t, vocab)
    counts = own["counts"]
    return [(own["blocks"], np.cumsum(counts) - counts, counts, own["recs"]), _groups(*_shared_keys(t, own))]


def _own_keys_of(t: Table, vocab: KeyVocab) -> OwnKeys:
    """t's own keys: those made with its normalising (taken from t.derived: they serve once), else made now."""
    own = {part: t.derived.pop((_OWN, part)) for part in _OWN_PARTS if (_OWN, part) in t.derived}
    own = own if len(own) == len(_OWN_PARTS) else own_keys(t, vocab)
    return {part: values.astype(np.int64) for part, values in own.items()}


def _shared_keys(t: Table, own: OwnKeys) -> tuple[np.ndarray, np.ndarray]:
    """(record index, key code) for the blocking keys made of codes both lists share, and own parts."""
    every = np.arange(len(t), dtype=np.int64)
    keys = _Keys()
    keys.add(1, every, t.email.astype(np.int64))
    keys.add(2, every, t.phone1.astype(np.int64))
    keys.add(2, every, t.phone2.astype(np.int64))
    keys.add(3, every, t.tax_full.astype(np.int64))
    keys.add(4, every, t.bizno.astype(np.int64))
    name_initial = own["name_initial"]
    keys.add(5, every, t.tax_tail.astype(np.int64), name_initial, valid=name_initial > 0)
    postcode = t.postcode.astype(np.int64)
    number = t.street_number.astype(np.int64)  # the house number, coded alike on both sides
    # Same street address: households, and records whose names are too damaged for name keys.
    keys.add(6, every, postcode, own["street2"])
    keys.add(15, every, postcode, number)  # same house number and postcode, street name misspelt
    # Same house number, street initials and suburb: the postcode mistyped.
    keys.add(16, every, t.city_code.astype(np.int64), own["number_street"])

    people = np.flatnonzero(t.is_person)
    family3, family_sx = own["family3"], own["family_sx"]
    keys.add(8, people, postcode[people], family3)
    # Same surname start and suburb, postcode digits swapped ("2112" / "2121"), while given name, birth
    # date and street line are missing or damaged too.
    city = t.city_code[people].astype(np.int64)
    swapped_postcode = own["swapped_postcode"]
    keys.add(18, people, _mix(city, swapped_postcode), family3, valid=(city >= 0) & (swapped_postcode >= 0))
    keys.add(17, people, family_sx, number[people])  # given name and postcode both damaged
    keys.add(9, people, postcode[people], own["canon3"])

    orgs = np.flatnonzero(~t.is_person)
    keys.add(14, orgs, postcode[orgs], own["org_word"])
    first_initial = own["org_initial"]
    keys.add(21, orgs, postcode[orgs], first_initial, valid=first_initial > 0)  # first word mistyped
    # The same e-mail domain: an organisation's own (free-mail domains yield blocks too large to keep).
    keys.add(20, every, own["domain"])
    # The whole name (a person's canonical given and family name, an organisation's core name), kept
    # only where each list holds it once: records that share nothing else on file ("Brenda Kato" with an
    # e-mail on one side, phones on the other) and whose coarser name keys yield blocks too large to keep.
    keys.add(UNIQUE_NAME_KEY, every, t.name_code.astype(np.int64))
    return keys.arrays()


_OWN_PARTS = ("blocks", "counts", "recs", "name_initial", "street2", "number_street", "domain", "family_sx", "family3",
              "canon3", "swapped_postcode", "org_word", "org_initial")


def keep_own_keys(t: Table, own: OwnKeys | None) -> Table:
    """t, with its own keys made already (see own_keys) kept for key_arrays, which takes them once."""
    if own is not None:
        t.derived.update({(_OWN, part): own[part] for part in _OWN_PARTS})
        t.derived.setdefault(DOMAIN, own["domain"].astype(np.int64))  # keycodes.domain_codes: frequencies counts them
    return t


def make_own_keys(t: Table) -> None:
    """Make t's own keys now unless they are made already: while another process makes the other list's."""
    if (_OWN, "blocks") not in t.derived:
        keep_own_keys(t, own_keys(t, KeyVocab()))


def concat_own_keys(first: OwnKeys, second: OwnKeys, offset: int) -> OwnKeys:
    """The own keys of two lists' records one after the other (the halves of one list): `offset`
    records in the first."""
    keys = {part: np.concatenate([first[part], second[part]]) for part in _OWN_PARTS}
    codes = np.r_[np.repeat(first["blocks"], first["counts"]), np.repeat(second["blocks"], second["counts"])]
    keys["blocks"], _, keys["counts"], keys["recs"] = _groups(np.r_[first["recs"], second["recs"] + offset], codes)
    return keys


UNIQUE_NAME_KEY = 22  # the kind of key kept only for a block of one record per list


def _kept(codes: np.ndarray, pairs: np.ndarray, max_block_pairs: int) -> np.ndarray:
    """Which blocks to keep, by the pairs each yields: at most `max_block_pairs`, one for a whole name."""
    return (pairs <= max_block_pairs) & ((codes >> 56 != UNIQUE_NAME_KEY) | (pairs == 1))


NEIGHBOURHOOD_CHARS = 20  # deletion neighbourhoods of a name's first 20 letters
_CHUNK = 5_000


def _deletion_neighbourhoods(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per name, its first NEIGHBOURHOOD_CHARS letters (no spaces or digits) and every distinct string
    one letter shorter: two spellings one edit (or one swap) apart share one of them. Names of fewer
    than 4 letters have none. Hashed as `factor` hashes those strings, for all names at once: a
    deleted letter is a zeroed code point, which the hash skips as it skips padding."""
    width = NEIGHBOURHOOD_CHARS
    counts, codes = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    skip = np.eye(width, width + 1, dtype=bool)  # row p: the variant that lacks letter p (the last: none)
    for start in range(0, len(names), _CHUNK):
        heads = [_letters(name)[:width] for name in names[start:start + _CHUNK]]  # numbers are compared apart
        chars = np.asarray(heads, dtype=f"<U{width}").view(np.uint32).reshape(len(heads), width).astype(np.uint64)
        h = np.full((len(heads), width + 1), FNV_OFFSET, dtype=np.uint64)
        for p in range(width):
            c = chars[:, p:p + 1]
            h = np.where((c != 0) & ~skip[p], (h ^ c) * FNV_PRIME, h)
        length = (chars != 0).sum(axis=1)
        # Deleting either letter of a doubled pair ("ll") gives one string: only the first of a run counts.
        first_of_run = np.c_[np.ones((len(heads), 1), dtype=bool), chars[:, 1:] != chars[:, :-1]]
        keep = np.c_[first_of_run & (np.arange(width) < length[:, None]), np.ones((len(heads), 1), dtype=bool)]
        keep &= (length >= 4)[:, None]
        counts.append(keep.sum(axis=1))
        codes.append(((h[keep] >> np.uint64(36)) & np.uint64(CODE_MASK)).astype(np.int64))
    return np.concatenate(counts), np.concatenate(codes)


def _letters(name: str) -> str:
    """The letters of a name, without spaces, digits or other signs (most names have only letters and
    spaces: one test then, not one per character)."""
    squeezed = name.replace(" ", "")
    return squeezed if squeezed.isalpha() else "".join(filter(str.isalpha, name))


def _hashed(keys_of: Callable[[str], list[str]]) -> Callable[[list], tuple[np.ndarray, np.ndarray]]:
    """For `factor_many`: the key strings `keys_of` makes of each value, hashed by `factor`."""
    def codes_of(values: list) -> tuple[np.ndarray, np.ndarray]:
        counts: list[int] = []
        codes = [np.empty(0, dtype=np.int64)]
        for start in range(0, len(values), _CHUNK):  # one chunk of strings at a time
            strings: list[str] = []
            for value in values[start:start + _CHUNK]:
                keys = keys_of(value)
                strings.extend(keys)
                counts.append(len(keys))
            codes.append(KeyVocab.factor(strings))
        return np.asarray(counts, dtype=np.int64), np.concatenate(codes)
    return codes_of


def _tokens(text: str) -> list[str]:
    """Up to four distinctive words of a name (no stopwords, no single letters), each as a key."""
    return ["o" + word for word in distinctive_words(text)[:4]]


def _groups(recs: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(each distinct code, in order; where its block starts; its number of keys; the records block by
    block). The order of the records within a block is left to the sort: a block only ever yields the
    set of its pairs, which the candidates sort in the end (an unstable sort of 64-bit codes takes a
    third of the time of a stable one)."""
    order = np.argsort(codes)
    sorted_codes = codes[order]
    if len(sorted_codes) == 0:
        return sorted_codes, order, order, recs[order]
    start = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    count = np.diff(np.r_[start, len(sorted_codes)])
    return sorted_codes[start], start, count, recs[order]


NEIGHBOURHOOD_KEY = 19  # the kind of the deletion-neighbourhood keys: the highest of the own keys
_REC_BITS = 35  # records below 2^35 beside a 28-bit code: 63 bits


def _one_part_groups(kind: int, recs: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(blocks, counts, recs) of keys of one kind made of one 28-bit code (>= 0, no second part), as
    `_groups` gives them: code and record fit one 64-bit integer, and a plain sort of those groups
    them in a third of the time of an argsort of the codes."""
    assert len(recs) == 0 or int(recs.max()) < 1 << _REC_BITS
    packed = np.sort((codes << _REC_BITS) | recs)
    code = packed >> _REC_BITS
    start = np.flatnonzero(np.r_[True, code[1:] != code[:-1]]) if len(code) else np.empty(0, dtype=np.int64)
    counts = np.diff(np.r_[start, len(code)])
    return (kind << 56) | (code[start] << 28), counts, packed & ((1 << _REC_BITS) - 1)


def _sort_distinct(values: np.ndarray) -> np.ndarray:
    """Sorts `values` in place (the caller's array, made for this) and gives its distinct values,
    ascending. A sort and a comparison: np.unique takes a hash table for plain values (NumPy 2.3+),
    twenty times slower here; NumPy's default sort of integers (vectorised) is faster than its stable
    one (a radix sort)."""
    values.sort()  # in place: the caller's array, made for this
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _common(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in a, in b) of the values both hold, for two sorted arrays of distinct values: as
    np.intersect1d's indices, without sorting the two together again."""
    if len(b) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    at = np.searchsorted(b, a)
    at[at == len(b)] = 0
    in_a = np.flatnonzero(b[at] == a)
    return in_a, at[in_a]


def _rows(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per member of each block (start, count): its block, its position within the block and its
    position overall (start + that)."""
    block = np.repeat(np.arange(len(count)), count)
    within = np.arange(len(block)) - np.repeat(np.cumsum(count) - count, count)
    return block, within, start[block] + within


def _runs(first: np.ndarray, length: np.ndarray) -> np.ndarray:
    """first[k], first[k] + 1, ... (length[k] positions) for each k, one run after the other: a repeat
    and an add per position, no division."""
    positions = np.repeat(first - (np.cumsum(length) - length), length)
    positions += np.arange(len(positions))
    return positions


def _cross_pairs(start_a: np.ndarray, count_a: np.ndarray, recs_a: np.ndarray,
                 start_b: np.ndarray, count_b: np.ndarray, recs_b: np.ndarray, n_b: int) -> np.ndarray:
    """Pair codes (record in a * n_b + record in b) of the cross product of each (block in a, block in
    b), without Python loops: each member of a block in a with the run of its block in b."""
    block, _, a = _rows(start_a, count_a)
    width = count_b[block]
    codes = recs_b[_runs(start_b[block], width)]
    codes += np.repeat(recs_a[a] * n_b, width)
    return codes


def _pairs_within(start: np.ndarray, count: np.ndarray, recs: np.ndarray, n: int) -> np.ndarray:
    """Pair codes (lower record * n + higher record) of the members of each block (start, count): each
    member with the rest of its block after it. A record may hold one key twice (its two names'
    deletion neighbourhoods): not a pair."""
    block, within, x = _rows(start, count)
    width = count[block] - 1 - within
    other = recs[_runs(x + 1, width)]
    one = np.repeat(recs[x], width)
    # In place from here (these arrays are the size of the run's pairs): `other` becomes the higher
    # record of each pair, and `lower` its code.
    lower = np.minimum(one, other)
    higher = np.maximum(one, other, out=other)
    distinct = lower != higher
    lower *= n
    lower += higher
    return lower[distinct]


def link_candidates(left: Table, right: Table, max_block_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique (left index, right index) candidate pairs."""
    vocab = KeyVocab()
    pairs = []
    for (ul, sl, cl, recs_l), (ur, sr, cr, recs_r) in zip(_key_groups(left, vocab), _key_groups(right, vocab),
                                                          strict=True):  # no kind in both sets
        il, ir = _common(ul, ur)
        keep = _kept(ul[il], cl[il] * cr[ir], max_block_pairs)
        il, ir = il[keep], ir[keep]
        pairs.append(_cross_pairs(sl[il], cl[il], recs_l, sr[ir], cr[ir], recs_r, len(right)))
    return np.divmod(_sort_distinct(np.concatenate(pairs)), len(right))


def dedupe_candidates(table: Table, max_block_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique (i, j), i < j, candidate pairs within one table."""
    pairs = []
    for u, s, c, recs in _key_groups(table, KeyVocab()):
        keep = (c > 1) & _kept(u, c * (c - 1) // 2, max_block_pairs)
        pairs.append(_pairs_within(s[keep], c[keep], recs, len(table)))
    return np.divmod(_sort_distinct(np.concatenate(pairs)), len(table))
