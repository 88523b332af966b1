"""Field-by-field comparison of candidate pairs, vectorised: similarity levels and hard caps.

Every field gets a level per pair (0 = missing on either side). Caps encode the rules that no
amount of agreeing evidence overrides: the most a pair may become is LINK, REVIEW or NONE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from syncworker.domain.profile import ClientKind

from .features import KIND_CODES, KIND_NAMES, Table, each_distinct
from .frequencies import (
    domain_counts,
    name_unique,
    namesakes_apart,
    org_name_counts,
    own_domain_agrees,
    rare_name_unique,
)
from .nicknames import KNOWN_NAMES, nickname_compatible, slipped_groups

LINK, REVIEW, NONE = 2, 1, 0
INDIVIDUAL = KIND_CODES[ClientKind.INDIVIDUAL]
SOLE_TRADER = KIND_CODES[ClientKind.SOLE_TRADER]
KIND_CLASH_BITS = 10.0
FIELDS = ("name", "family", "given", "middle", "dob", "email", "phone", "tax", "bizno", "street",
          "postcode", "city")


@dataclass(slots=True)
class Comparison:
    left: np.ndarray  # index into the left table
    right: np.ndarray
    levels: dict[str, np.ndarray]
    name_sim: np.ndarray  # float32 in [0, 1]: organisation name, or person family+given average
    cap: np.ndarray  # int8: LINK, REVIEW or NONE
    penalty: np.ndarray  # float64 log2 evidence against the pair beyond the field weights (kind clashes)
    capper: _Capper  # why each capped pair was capped
    relatives: np.ndarray  # bool: people whose given name and birth date both differ, rule not yet applied
    # int8: held for review only because a namesake (1), or for given names one slip apart a relative of
    # that initial (2), or both (3), lives nearby; engine.decide_links frees such a pair where every one
    # of them is linked to someone else
    namesake_held: np.ndarray

    def cap_reason(self, i: int) -> str | None:
        return self.capper.reason(i)

    def cap_reasons(self, positions: np.ndarray) -> list[str | None]:
        """cap_reason of each position, at once."""
        reasons = [*self.capper.reasons, None]  # code -1: none
        return list(map(reasons.__getitem__, self.capper.reason_code[positions].tolist()))

    def __len__(self) -> int:
        return len(self.left)


# rapidfuzz copies every string it is given before scoring: a million pairs at once held ~150 MB more
# at the run's peak (100k x 100k) than the same pairs taken in slices of this size.
_SIM_SLICE = 1 << 17


def _sim(scorer, a: np.ndarray, b: np.ndarray, workers: int) -> np.ndarray:
    out = np.empty(len(a), dtype=np.float32)
    for k in range(0, len(a), _SIM_SLICE):
        out[k: k + _SIM_SLICE] = process.cpdist(a[k: k + _SIM_SLICE], b[k: k + _SIM_SLICE], scorer=scorer,
                                                workers=workers, dtype=np.float32)
    return out / 100.0 if scorer is not JaroWinkler.normalized_similarity else out


# Table columns whose strings the run's Vocab already codes (the same code, the same string).
_VOCAB_CODES = {"family": "family_code", "city": "city_code", "name_key": "name_code"}


def _codes(t: Table, column: str) -> np.ndarray:
    """Per record: an integer per distinct string of the column (this table's own numbering, dense,
    unless the Vocab codes the column), kept with the table for its every comparison."""
    vocab = _VOCAB_CODES.get(column)
    if vocab is not None:
        return getattr(t, vocab)

    def number() -> np.ndarray:  # dense: 0, 1, ... in order of first appearance
        values = getattr(t, column)
        index = {value: code for code, value in enumerate(dict.fromkeys(values))}
        return np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(t))

    return t._derive(("code", column), number)


def _short_codes(t: Table, column: str) -> np.ndarray:
    """Per record: the column's string of at most three characters (an initial, 'jr') as one integer,
    0 when empty. The same string has the same integer in every table and column, so pairs compare
    integers: a fraction of the cost of comparing a million pairs of Python strings."""
    def compute() -> np.ndarray:
        chars = getattr(t, column).astype("U4").view(np.uint32).reshape(len(t), 4).astype(np.int64)
        if chars[:, 3].any():
            raise ValueError(f"{column} holds strings of more than three characters")
        return chars[:, 0] | (chars[:, 1] << 21) | (chars[:, 2] << 42)

    return t._derive(("short", column), compute)


def _same_initial(a: Table, b: Table, i: np.ndarray, j: np.ndarray, column_a: str = "given_initial",
                  column_b: str = "given_initial") -> np.ndarray:
    """Per pair: a's column_a at i equals b's column_b at j (both empty counts as equal)."""
    return _short_codes(a, column_a)[i] == _short_codes(b, column_b)[j]


def each_key_once(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of non-negative integer keys: the first position of each distinct key, in ascending order of
    the keys (as np.unique orders them), and the distinct key of each position (so
    `result_of_distinct[inverse]` is the result of every key).

    One plain sort of the keys with their positions packed into the low bits: an argsort (what
    np.unique's inverse costs) takes several times as long. Keys below their count (pairs of suburbs
    from a few dozen) are not sorted at all: see _each_small_key_once."""
    n = len(key)
    if n and int(key.max()) < n:
        return _each_small_key_once(key)
    position_bits = max(n - 1, 1).bit_length()
    if n == 0 or int(key.max()).bit_length() + position_bits > 63:
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        return first, inverse.ravel()
    packed = np.sort((key.astype(np.int64) << position_bits) | np.arange(n))
    order = packed & ((1 << position_bits) - 1)
    packed >>= position_bits
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(packed[1:], packed[:-1], out=first[1:])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return order[first], inverse


def _each_small_key_once(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """each_key_once of non-negative keys each smaller than len(key) (np.minimum.at would wrap a
    negative one): each key's first position found by one pass over a table indexed by the key itself (np.minimum.at), several times faster than sorting them."""
    n = len(key)
    first = np.full(int(key.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, key, np.arange(n))
    occurs = first < n
    return first[occurs], (np.cumsum(occurs) - 1)[key]


def _each_pair_once(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """each_key_once of the pairs of integer codes (x[k], y[k])."""
    x, y = x.astype(np.int64), y.astype(np.int64)
    if len(x) == 0:
        return each_key_once(x)
    x -= x.min()
    y -= y.min()
    if ((int(x.max()) + 1) * (int(y.max()) + 1)).bit_length() + len(x).bit_length() > 63:
        x, y = each_key_once(x)[1], each_key_once(y)[1]  # numbered densely first: the pair then packs
    return each_key_once(x * (int(y.max()) + 1) + y)


def _sim_once(scorer, a: Table, b: Table, i: np.ndarray, j: np.ndarray, column_a: str, column_b: str, workers: int,
              strings_a: np.ndarray | None = None, strings_b: np.ndarray | None = None) -> np.ndarray:
    """_sim of a's column_a at i and b's column_b at j (or of `strings_*`, per record and determined by
    that column's string: its words sorted), scoring each distinct pair of strings once: the candidate
    pairs repeat a family name, a given name or a suburb many times over."""
    rep, inverse = _each_pair_once(_codes(a, column_a)[i], _codes(b, column_b)[j])
    xa = getattr(a, column_a) if strings_a is None else strings_a
    xb = getattr(b, column_b) if strings_b is None else strings_b
    return _sim(scorer, xa[i[rep]], xb[j[rep]], workers)[inverse]


def derive_columns(t: Table) -> None:
    """Make now the per-record columns of `t` that comparing it with any list derives on first use and
    keeps with the table (Table._derive): its name and street lines with their words sorted, its
    strings numbered, its initials as integers, its namesakes and name frequencies. The same columns
    as on first use, only sooner: `tables.read_link_sides` makes those of one side while the other
    side is still being normalised in a second process."""
    for column in ("name_key", "alt", "street"):
        t.sorted_words(column)
    t.words_moved("name_key")
    for column in ("name_key", "alt", "street", "family", "given", "given2"):
        t.present(column)
    t.nicknamed()
    for column in ("given", "given2", "alt"):
        _codes(t, column)
    for column in ("given", "given2"):
        _slips(t, column)
    for column in ("given_initial", "given2_initial", "family_initial", "middle_initial", "generation"):
        _short_codes(t, column)
    for by in ("given", "initial"):
        namesakes_apart(t, by)
    org_name_counts(t)
    domain_counts(t)


def _test_once(test, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """test(x, y) -> bool of each pair of strings xa[k], xb[k], called once per distinct pair."""
    return np.asarray(each_distinct(lambda pair: test(*pair), list(zip(xa, xb, strict=True))), dtype=bool)


def _code_level(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 agree, 2 disagree, 0 missing, for integer codes (-1 = missing)."""
    level = np.not_equal(a, b).view(np.int8) + np.int8(1)
    level[(a < 0) | (b < 0)] = 0
    return level


def personal_agreement(
    a: Table, b: Table, i: np.ndarray, j: np.ndarray, tax: np.ndarray, email: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair a[i], b[j], given its tax and e-mail levels: whether something only this person has
    agrees (the whole or masked tax number, an own e-mail, the mobile); whether both e-mails are the
    person's own (not one the list shares); the mobile's level (1 agree, 2 disagree, 0 missing). The
    person rules and engine.personal_evidence both judge a pair by these."""
    own_email = ~a.email_shared[i] & ~b.email_shared[j]
    mobile = _code_level(a.mobile[i], b.mobile[j])
    agree = (tax == 1) | (tax == 2) | ((email == 1) & own_email) | (mobile == 1)
    return agree, own_email, mobile


def _bucket(sim: np.ndarray, cuts: tuple[float, ...]) -> np.ndarray:
    """Level 1 for sim >= cuts[0], 2 for >= cuts[1], ..., last level below the last cut."""
    level = np.full(len(sim), len(cuts) + 1, dtype=np.int8)
    for i in range(len(cuts) - 1, -1, -1):
        level[sim >= cuts[i]] = i + 1
    return level


def _dob_levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 same date, 2 one digit off, two neighbouring digits swapped ('1853-01-81' / '1853-01-18':
    a malformed date is compared by its digits as written), day and month swapped, or within a month
    (days counted as 31 a month, 372 a year), 3 other; 0 where either is missing."""
    level = np.zeros(len(a), dtype=np.int8)
    both = (a != 0) & (b != 0)
    level[both & (a == b)] = 1
    differ_at = np.flatnonzero(both & (a != b))  # only these need the digits
    a, b = a[differ_at], b[differ_at]
    da_digits, db_digits = _low_digits(a, 8), _low_digits(b, 8)
    differ = da_digits != db_digits
    mismatched_digits = differ.sum(axis=0)
    transposed = (mismatched_digits == 2) & (differ[:-1] & differ[1:] & (da_digits[:-1] == db_digits[1:])
                                             & (da_digits[1:] == db_digits[:-1])).any(axis=0)
    ya, ma, da = a // 10000, (a // 100) % 100, a % 100
    yb, mb, db = b // 10000, (b // 100) % 100, b % 100
    swapped = (ya == yb) & (ma == db) & (da == mb)
    within_month = np.abs((ya * 372 + ma * 31 + da) - (yb * 372 + mb * 31 + db)) <= 31
    level[differ_at] = np.where((mismatched_digits <= 1) | swapped | transposed | within_month, 2, 3)
    return level


class _Capper:
    """Lowers the cap of pairs and remembers the first rule that capped each one."""

    def __init__(self, n: int) -> None:
        self.cap = np.full(n, LINK, dtype=np.int8)
        self.reason_code = np.full(n, -1, dtype=np.int16)
        self.reasons: list[str] = []
        self._codes: dict[str, int] = {}

    def _code(self, reason: str) -> int:
        code = self._codes.get(reason)
        if code is None:
            code = self._codes[reason] = len(self.reasons)
            self.reasons.append(reason)
        return code

    def apply(self, mask: np.ndarray, to: int, reason: str) -> None:
        self.apply_at(np.flatnonzero(mask), to, reason)

    def apply_at(self, positions: np.ndarray, to: int, reason: str) -> None:
        """Cap the pairs at `positions` (work in proportion to them, not to all pairs)."""
        code = self._code(reason)
        hit = positions[self.cap[positions] > to]
        self.cap[hit] = to
        self.reason_code[hit[self.reason_code[hit] < 0]] = code

    def apply_kinds(self, positions: np.ndarray, to: int, ka: np.ndarray, kb: np.ndarray, verdict: str) -> None:
        """Cap pairs of two kinds, each with the reason 'kind=<a>/<b>:<verdict>' (one pass per kind pair)."""
        combo = ka.astype(np.int16) * 8 + kb
        for value in np.unique(combo).tolist():
            self.apply_at(positions[combo == value], to, f"kind={KIND_NAMES[value // 8]}/{KIND_NAMES[value % 8]}:{verdict}")

    def reason(self, i: int) -> str | None:
        code = int(self.reason_code[i])
        return self.reasons[code] if code >= 0 else None


def compare(
    a: Table, b: Table, li: np.ndarray, ri: np.ndarray, workers: int, strict_family: bool = True,
    defer_relatives: bool = False,
) -> Comparison:
    """Levels and caps of each pair. With `defer_relatives` (lists without households only), pairs
    whose given name and birth date both differ are marked in `relatives` instead of being ruled
    out; the caller settles them with `settle_relatives` once it knows the family context."""
    n = len(li)
    pa, pb = a.is_person[li], b.is_person[ri]
    pp = pa & pb
    oo = ~pa & ~pb
    cross = pa != pb
    levels: dict[str, np.ndarray] = {f: np.zeros(n, dtype=np.int8) for f in FIELDS}
    caps = _Capper(n)
    # A trust is not its trustee company, a person is not a company: strong evidence, not just a cap,
    # so such a pair never outranks the right one in the one-to-one assignment.
    penalty = np.zeros(n, dtype=np.float64)

    # Organisation (and cross-kind) names: best of name and trading/trustee name on each side.
    name_sim = np.zeros(n, dtype=np.float32)
    idx = np.flatnonzero(~pp)
    if len(idx):
        la, lb = li[idx], ri[idx]
        an, bn, aa, ba = a.sorted_words("name_key"), b.sorted_words("name_key"), a.sorted_words("alt"), b.sorted_words("alt")
        sim = _sim_once(fuzz.ratio, a, b, la, lb, "name_key", "name_key", workers, an, bn)  # token_sort_ratio (see Table.sorted_words)
        # Sorting the words ignores their order, but a slip in a word's first letters moves the word
        # ("city grain group" / "city grain gorup" sorts to "city gorup grain": 0.62): the names as
        # written are compared too where sorting moved a word of either.
        moved = np.flatnonzero((sim < 0.95) & (a.words_moved("name_key")[la] | b.words_moved("name_key")[lb]))
        if len(moved):
            as_written = _sim_once(fuzz.ratio, a, b, la[moved], lb[moved], "name_key", "name_key", workers)
            sim[moved] = np.maximum(sim[moved], as_written)
        has_alt = np.flatnonzero(a.present("alt")[la] | b.present("alt")[lb])
        if len(has_alt):
            ha, hb = la[has_alt], lb[has_alt]
            alt_best = np.maximum.reduce([
                _sim_once(fuzz.ratio, a, b, ha, hb, "alt", "name_key", workers, aa, bn),
                _sim_once(fuzz.ratio, a, b, ha, hb, "name_key", "alt", workers, an, ba),
                _sim_once(fuzz.ratio, a, b, ha, hb, "alt", "alt", workers, aa, ba),
            ])
            sim[has_alt] = np.maximum(sim[has_alt], alt_best)
        name_sim[idx] = sim
        name_level = _bucket(sim, (1.0, 0.95, 0.88, 0.75))
        name_level[~(a.present("name_key")[la] & b.present("name_key")[lb])] = 0
        levels["name"][idx] = name_level
        org_idx = np.flatnonzero(oo[idx])
        org_pairs = idx[org_idx]
        oa, ob = li[org_pairs], ri[org_pairs]
        caps.apply_at(org_pairs[name_level[org_idx] >= 5], REVIEW, "name:dissimilar")
        caps.apply_at(org_pairs[a.name_numbers[oa] != b.name_numbers[ob]], REVIEW, "name_number:differs")
        ka, kb = a.kind[oa], b.kind[ob]
        kind_clash = (ka != kb) & (ka != 5) & (kb != 5)
        clash_pos = org_pairs[kind_clash]
        caps.apply_kinds(clash_pos, REVIEW, ka[kind_clash], kb[kind_clash], "blocked")
        fa, fb = a.form_group[oa], b.form_group[ob]
        form_clash = (fa != fb) & (fa > 0) & (fb > 0)
        caps.apply_at(org_pairs[form_clash], REVIEW, "legal_form:conflict")
        penalty[org_pairs[kind_clash | form_clash]] = KIND_CLASH_BITS
    cross_idx = np.flatnonzero(cross)
    penalty[cross_idx] = KIND_CLASH_BITS
    if len(cross_idx):
        ka, kb = a.kind[li[cross_idx]], b.kind[ri[cross_idx]]
        # An individual is never a candidate for an organisation ("Rose Nasser" is not "Nasser Family
        # Trust"); a sole trader may be one for a company or partnership, as a review.
        individual = (ka == INDIVIDUAL) | (kb == INDIVIDUAL)
        caps.apply_kinds(cross_idx[individual], NONE, ka[individual], kb[individual], "never")
        caps.apply_kinds(cross_idx[~individual], REVIEW, ka[~individual], kb[~individual], "blocked")

    # Fields shared by every kind.
    email = _code_level(a.email[li], b.email[ri])
    near_idx = np.flatnonzero(email == 2)
    if len(near_idx):
        # A mistyped address ('ivy.llee@' / 'ivy.lee@'): at most two edits, and the same digits, as
        # addresses made from one name differ by their numbers (namesakes: 'j.smith4@' / 'j.smith59@').
        x, y = li[near_idx], ri[near_idx]
        same_digits = a.email_digits[x] == b.email_digits[y]
        edits = np.full(len(near_idx), 99, dtype=np.int64)
        check = np.flatnonzero(same_digits)
        if len(check):
            # score_cutoff: a distance past it comes back as cutoff + 1 (a banded search, several
            # times faster on addresses that differ a lot); only "at most two" is asked.
            edits[check] = process.cpdist(a.email_text[x[check]], b.email_text[y[check]],
                                          scorer=DamerauLevenshtein.distance, workers=workers, score_cutoff=2)
        email[near_idx] = np.where(edits <= 2, 2, 3)
        # Two addresses of an organisation at its own domain ("office@" / "old.accounts@"): similar.
        org_idx = near_idx[oo[near_idx] & (email[near_idx] == 3)]
        email[org_idx[own_domain_agrees(a, b, li[org_idx], ri[org_idx])]] = 2
    levels["email"] = email
    phone_agree = np.zeros(n, dtype=bool)
    for x in (a.phone1[li], a.phone2[li]):
        for y in (b.phone1[ri], b.phone2[ri]):
            phone_agree |= (x == y) & (x >= 0)
    has_a = (a.phone1[li] >= 0) | (a.phone2[li] >= 0)
    has_b = (b.phone1[ri] >= 0) | (b.phone2[ri] >= 0)
    levels["phone"] = np.where(phone_agree, 1, np.where(has_a & has_b, 2, 0)).astype(np.int8)

    full = _code_level(a.tax_full[li], b.tax_full[ri])
    tail = _code_level(a.tax_tail[li], b.tax_tail[ri])
    tax = np.where(full == 1, 1, np.where(full == 2, 3, np.where(tail == 1, 2, np.where(tail == 2, 3, 0))))
    levels["tax"] = tax.astype(np.int8)
    reliable_clash = ((full == 2) & a.tax_valid[li] & b.tax_valid[ri]) | ((full == 0) & (tail == 2))
    caps.apply(reliable_clash, REVIEW, "tax_number=disagree")

    levels["bizno"] = _code_level(a.bizno[li], b.bizno[ri])
    caps.apply((levels["bizno"] == 2) & a.bizno_valid[li] & b.bizno_valid[ri], REVIEW, "business_number=disagree")

    street_idx = np.flatnonzero(a.present("street")[li] & b.present("street")[ri])
    if len(street_idx):
        sim = _sim(fuzz.ratio, a.sorted_words("street")[li[street_idx]], b.sorted_words("street")[ri[street_idx]],
                   workers)  # token_sort_ratio (see Table.sorted_words)
        # Words run together or split ("copeplace", "mcleod pl ace"): compare without spaces too.
        split = np.flatnonzero((sim >= 0.5) & (sim < 0.95))
        if len(split):
            sa, sb = a.street[li[street_idx[split]]], b.street[ri[street_idx[split]]]
            squashed = _sim(fuzz.ratio, _squash(sa), _squash(sb), workers)
            sim[split] = np.maximum(sim[split], squashed)
        street_level = _bucket(sim, (0.95, 0.80))
        # One line holds the other (a building name added, or only the house number kept): similar.
        same_number = a.street_number[li[street_idx]] == b.street_number[ri[street_idx]]
        partial = np.flatnonzero((street_level == 3) & same_number & (a.street_number[li[street_idx]] >= 0))
        if len(partial):
            sa, sb = a.street[li[street_idx[partial]]], b.street[ri[street_idx[partial]]]
            # Word by word: few pairs share a house number but not the street line.
            street_level[partial[_test_once(_street_holds_other, sa, sb)]] = 2
        levels["street"][street_idx] = street_level
    postcode = _code_level(a.postcode[li], b.postcode[ri])
    near_idx = np.flatnonzero(postcode == 2)
    if len(near_idx):  # one digit mistyped or two swapped: level 2 ("near")
        postcode[near_idx] = np.where(_digits_near(a.postcode_digits[li[near_idx]], b.postcode_digits[ri[near_idx]]), 2, 3)
    levels["postcode"] = postcode
    city = _code_level(a.city_code[li], b.city_code[ri])
    near_idx = np.flatnonzero(city == 2)
    if len(near_idx):
        sim = _sim_once(JaroWinkler.normalized_similarity, a, b, li[near_idx], ri[near_idx], "city", "city", workers)
        city[near_idx] = np.where(sim >= 0.9, 2, 3)
    levels["city"] = city

    # An organisation name alone (nothing else on file agrees) is not enough: same-named trusts exist.
    # Enough are the organisation's own e-mail domain, the same name (up to a slip) of two distinctive
    # words where each list holds it once, or the very same name with a rare word ('Falsalfield Family
    # Trust') where each list holds it once and nothing on file disagrees: the fields each side lacks
    # (a business number, a phone on one side only) are not a disagreement, but another phone or
    # e-mail is as likely another organisation of that name as an outdated one.
    other_agree = np.zeros(n, dtype=bool)
    for name in ("email", "phone", "tax", "bizno", "street", "postcode"):
        level = levels[name]
        other_agree |= (level == 1) | ((level == 2) & (name in ("tax", "street")))
    only = np.flatnonzero(~pp & ~other_agree)
    settled = own_domain_agrees(a, b, li[only], ri[only]) | (
        (levels["name"][only] <= 2) & name_unique(a, b, li[only], ri[only]))
    rest = np.flatnonzero(~settled & ~_disagrees(levels, only))
    settled[rest] = rare_name_unique(a, b, li[only[rest]], ri[only[rest]])
    caps.apply_at(only[~settled], REVIEW, "name_only:review")

    # People: family and given names (allowing a swap), initials, nicknames, couples, middle initial.
    idx = np.flatnonzero(pp)
    relatives = np.zeros(n, dtype=bool)
    namesake_held = np.zeros(n, dtype=np.int8)
    if len(idx):
        _compare_people(a, b, li, ri, idx, levels, name_sim, caps, workers, strict_family,
                        relatives if defer_relatives and not strict_family else None, namesake_held)
    return Comparison(li, ri, levels, name_sim, caps.cap, penalty, caps, relatives, namesake_held)


def settle_relatives(comparison: Comparison, in_family_context: np.ndarray, fields_corrupted: bool) -> None:
    """Apply the deferred relative rule (given name and birth date both differ).

    A relative, hence never a match, unless the data show whole-field corruption and the pair is in
    no family context; such a pair is then decided by its other evidence, and may auto-link only
    when surname and address both back it (otherwise it is a review at most).
    """
    pos = np.flatnonzero(comparison.relatives)
    if len(pos) == 0:
        return
    caps = comparison.capper
    freed = ~in_family_context if fields_corrupted else np.zeros(len(pos), dtype=bool)
    caps.apply_at(pos[~freed], NONE, "given=disagree")
    lv = {name: comparison.levels[name][pos] for name in ("family", "street", "postcode", "city")}
    backed = ((lv["family"] == 1) | (lv["family"] == 2)) & ((lv["street"] == 1) | (lv["street"] == 2)) & (
        (lv["postcode"] == 1) | (lv["city"] == 1)
    )
    caps.apply_at(pos[freed & ~backed], REVIEW, "given+dob=disagree:review")
    comparison.cap = caps.cap
    comparison.relatives[:] = False


def _digits_near(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Same-length numbers (see features._postcode_digits) with one digit different or two
    neighbouring digits swapped."""
    out = np.zeros(len(x), dtype=bool)
    at = np.flatnonzero((x >= 0) & (y >= 0) & (x // 10_000_000 == y // 10_000_000))
    dx, dy = _low_digits(x[at], 6), _low_digits(y[at], 6)
    differ = dx != dy
    mismatched = differ.sum(axis=0)
    swap = (differ[:-1] & differ[1:] & (dx[:-1] == dy[1:]) & (dx[1:] == dy[:-1])).any(axis=0)
    out[at] = (mismatched == 1) | ((mismatched == 2) & swap)
    return out


def _low_digits(x: np.ndarray, count: int) -> np.ndarray:
    """The `count` lowest decimal digits of non-negative integers, lowest first: shape (count, len(x))."""
    out = np.empty((count, len(x)), dtype=np.int8)
    for k in range(count):
        x, out[k] = np.divmod(x, 10)
    return out


def _street_holds_other(x: str, y: str) -> bool:
    """One street line holds the other: every word of one is a word of the other (what
    fuzz.token_set_ratio scores 100: a building name added, or only the house number kept), or all but
    one mistyped word (_holds_with_one_typo). One split of each line serves both tests."""
    wx, wy = x.split(), y.split()
    sx, sy = set(wx), set(wy)
    if not sx.isdisjoint(sy) and (sx <= sy or sy <= sx):
        return True
    return _holds_with_one_typo(wx, sx, wy, sy)


def _holds_with_one_typo(wx: list[str], sx: set[str], wy: list[str], sy: set[str]) -> bool:
    """Of two lines' words (and their sets): every word of the line with fewer words is a word of the
    other line, except at most one that is one edit (of 4+ letters) from a word there: one line holds
    the other, up to a single typo ("medical" / "meedical"). House numbers and short words must agree
    exactly."""
    short, others = (wx, sy) if len(wx) <= len(wy) else (wy, sx)
    missing = [w for w in short if w not in others]
    if len(missing) != 1 or len(missing[0]) < 4 or missing[0][:1].isdigit():
        return False
    word = missing[0]
    return any(len(w) >= 4 and DamerauLevenshtein.distance(word, w, score_cutoff=1) <= 1 for w in others)


def _disagrees(levels: dict[str, np.ndarray], pos: np.ndarray) -> np.ndarray:
    """Per pair at `pos`: a field both records hold differs (e-mail, phone, tax or business number,
    street, postcode or suburb); a field one side lacks is no disagreement."""
    lv = {name: levels[name][pos] for name in ("email", "phone", "tax", "bizno", "street", "postcode", "city")}
    return ((lv["email"] == 3) | (lv["phone"] == 2) | (lv["tax"] == 3) | (lv["bizno"] == 2) | (lv["street"] == 3)
            | (lv["postcode"] == 3) | (lv["city"] == 3))


def _squash(values: np.ndarray) -> list[str]:
    return [v.replace(" ", "") for v in values]


def _compare_people(
    a, b, li, ri, idx, levels, name_sim, caps: _Capper, workers: int, strict_family: bool,
    deferred: np.ndarray | None, namesake_held: np.ndarray,
) -> None:
    la, lb = li[idx], ri[idx]
    jw = JaroWinkler.normalized_similarity
    fam = _sim_once(jw, a, b, la, lb, "family", "family", workers)
    giv = straight_giv = _sim_once(jw, a, b, la, lb, "given", "given", workers)
    has_fam = a.present("family")[la] & b.present("family")[lb]
    has_giv = a.present("given")[la] & b.present("given")[lb]
    # Swapped given/family (e.g. "Smith John" keyed the wrong way round), possibly with one of the two
    # names also damaged: the family name of one side is the given name of the other, or vice versa.
    swapped = np.zeros(len(idx), dtype=bool)
    sw_fam = np.zeros(len(idx), dtype=np.float32)  # a.family ~ b.given
    sw_giv = np.zeros(len(idx), dtype=np.float32)  # a.given ~ b.family
    cross_fam = a.present("family")[la] & b.present("given")[lb]
    cross_giv = a.present("given")[la] & b.present("family")[lb]
    straight = np.where(has_fam, fam, 0) + np.where(has_giv, giv, 0)
    # Only these can gain: a name that could meet its counterpart on the other side (same initial).
    meets = _same_initial(a, b, la, lb, "family_initial", "given_initial") | _same_initial(a, b, la, lb, "given_initial", "family_initial")
    poor = np.flatnonzero((cross_fam | cross_giv) & (straight < 1.8) & meets)
    if len(poor):
        sw_fam[poor] = _sim_once(jw, a, b, la[poor], lb[poor], "family", "given", workers)
        sw_giv[poor] = _sim_once(jw, a, b, la[poor], lb[poor], "given", "family", workers)
        sw_fam[~cross_fam] = 0
        sw_giv[~cross_giv] = 0
        one_found = (np.minimum(sw_fam, sw_giv) >= 0.9) | (np.maximum(sw_fam, sw_giv) >= 0.92)
        swapped = one_found & (sw_fam + sw_giv > straight + 0.2)
    fam = np.where(swapped, sw_fam, fam)
    giv = np.where(swapped, sw_giv, giv)
    has_fam = np.where(swapped, cross_fam, has_fam)
    has_giv = np.where(swapped, cross_giv, has_giv)

    family_level = _bucket(fam, (1.0, 0.92, 0.80))
    family_level[~has_fam] = 0
    given_level = _bucket(giv, (1.0, 0.92, 0.80))
    nick = a.given_canon_code[la] == b.given_canon_code[lb]
    given_level[nick & ~swapped & (a.given_canon_code[la] >= 0)] = 1
    same_initial = _same_initial(a, b, la, lb)
    initial_ok = same_initial & ((a.given_len[la] == 1) | (b.given_len[lb] == 1))
    given_level[(given_level == 4) & initial_ok & ~swapped] = 3
    given_level[~has_giv] = 0
    # One letter mistyped, dropped, added or two swapped after the first letter ("Seanna" / "Sehnna"):
    # Jaro-Winkler rates such a slip early in a short name below 'similar', yet it is one edit like
    # any other. Not at the first letter, where different names differ (Jason / Mason). In lists with
    # households a name one letter off is as often a relative's (Brett / Brent, Louis / Louise), so
    # there only where neither list holds another person of that family and initial nearby.
    slip = np.flatnonzero((given_level == 3) & ~swapped & (a.given_len[la] >= 5) & (b.given_len[lb] >= 5)
                          & same_initial)
    if strict_family and len(slip):
        slip = slip[~_namesake_nearby(a, b, la[slip], lb[slip], by="initial")]
    edits = process.cpdist(a.given[la[slip]], b.given[lb[slip]], scorer=DamerauLevenshtein.distance, workers=workers,
                           score_cutoff=1)
    given_level[slip[edits <= 1]] = 2
    # A nickname with a typo ("Jenifer" / "Jenny"): compare the canonical forms too.
    # (only where that can differ from the spelling compared above: a nickname, or swapped names)
    weak = np.flatnonzero((given_level == 4) & (a.nicknamed()[la] | b.nicknamed()[lb] | swapped))
    if len(weak):
        canon_sim = _sim_once(jw, a, b, la[weak], lb[weak], "given", "given", workers, a.given_canon, b.given_canon)
        given_level[weak[canon_sim >= 0.88]] = 2
    # A nickname with a slip the list does not know ("Toyn" / "Anthony", "Jses" / "Jessica"): one by
    # one, there are few. Only 'resembles' (level 3): without a birth date it still asks for more.
    slipped = np.flatnonzero((given_level == 4) & ~swapped)
    if len(slipped):
        given_level[slipped[_slipped_pairs(a, b, la[slipped], lb[slipped])]] = 3
    # Ambiguous diminutives ("chris", "pat") are checked one by one; there are few.
    maybe = np.flatnonzero((given_level == 4) & (a.given_ambiguous[la] | b.given_ambiguous[lb]))
    if len(maybe):
        given_level[maybe[_test_once(nickname_compatible, a.given[la[maybe]], b.given[lb[maybe]])]] = 1

    # Couples: compare the set of given names; a couple is never auto-linked to one person.
    ca, cb = a.present("given2")[la], b.present("given2")[lb]
    couple_pos = np.flatnonzero(ca | cb)
    if len(couple_pos):
        i, j = la[couple_pos], lb[couple_pos]
        g1 = _same_given(a, b, i, j, "", "", workers, straight_giv[couple_pos])
        g12 = _same_given(a, b, i, j, "", "2", workers)
        g21 = _same_given(a, b, i, j, "2", "", workers)
        g22 = _same_given(a, b, i, j, "2", "2", workers)
        both = ca[couple_pos] & cb[couple_pos]
        same_couple = (g1 & g22) | (g12 & g21)
        single_in_couple = np.where(ca[couple_pos], g1 | g21, g1 | g12)
        same = np.where(both, same_couple, single_in_couple)
        given_level[couple_pos] = np.where(same, 1, 4)
        caps.apply_at(idx[couple_pos[both & ~same_couple]], REVIEW, "couple:different")
        caps.apply_at(idx[couple_pos[~both]], REVIEW, "couple/single:review")

    mid = _code_pairs(a, la, b, lb, "middle_initial")
    levels["family"][idx] = family_level
    levels["given"][idx] = given_level
    levels["middle"][idx] = mid
    levels["dob"][idx] = _dob_levels(a.dob[la], b.dob[lb])
    giv = np.where(given_level == 1, 1.0, giv)
    name_sim[idx] = np.where(has_fam & has_giv, (fam + giv) / 2, np.where(has_fam, fam, giv))

    dob = levels["dob"][idx]
    dob_exact = dob == 1
    # Family members share a surname and an address but not a given name and date of birth:
    # a given-name conflict is only a typo when the date of birth agrees exactly.
    conflict = given_level == 4
    gen = _code_pairs(a, la, b, lb, "generation")
    caps.apply_at(idx[gen == 2], NONE, "generation=disagree")
    # Another given name and another birth date: a relative (see households.py for the exception).
    if deferred is None:
        caps.apply_at(idx[conflict & (dob == 3)], NONE, "given=disagree")
    else:
        deferred[idx[conflict & (dob == 3)]] = True
    if not strict_family:
        return
    tax, email = levels["tax"][idx], levels["email"][idx]
    personal_agree, own_email, mobile = personal_agreement(a, b, la, lb, tax, email)
    # A business number is this person's own only where both records are a sole trader's: an individual's
    # record may carry the family partnership's or the employer's ABN, which twins, spouses and colleagues
    # share.
    own_bizno = (levels["bizno"][idx] == 1) & (a.kind[la] == SOLE_TRADER) & (b.kind[lb] == SOLE_TRADER)
    # A given name that differs where either record lacks a birth date is a typo, not a relative, when the
    # family name and initial agree and something only this person has agrees: a whole tax number, a
    # sole trader's own business number or a mobile, and none differs ("Ketith J Vencaler" / "Knith
    # Vencaler", both slips of Keith, with one e-mail, mobile, ABN and tax number). One such identifier
    # asks a reviewer; two (an own e-mail counts then) link. An e-mail alone does not: relatives share one.
    ids = (tax == 1).astype(np.int8) + own_bizno + (mobile == 1) + ((email == 1) & own_email)
    typo = (conflict & (dob == 0) & ((family_level == 1) | (family_level == 2)) & same_initial
            & ((tax == 1) | own_bizno | (mobile == 1)) & (tax != 3) & (mobile != 2))
    caps.apply_at(idx[conflict & ~dob_exact & ~typo], NONE, "given=disagree")
    # Twins share a birthday, a family e-mail, an address and a partnership's ABN, but never a tax number:
    # beside the same birthday, a given name that differs is a typo only where the same whole tax number
    # agrees (not a masked tail), the family name and initial agree, and no mobile or own e-mail differs.
    twin_ruled_out = (conflict & dob_exact & (family_level == 1) & same_initial
                      & (tax == 1) & (mobile != 2) & ~((email == 3) & own_email))
    # The same birthday otherwise (twins or spouses: never a typo, whatever else agrees), or a typo with
    # a single identifier: a review.
    caps.apply_at(idx[conflict & ~(typo & (ids >= 2)) & ~twin_ruled_out], REVIEW, "given=disagree")
    # A family name that differs is a slip on each side (Roeid / Rid) or a new married name, not another
    # person, where the given names agree and two things only this person has agree (birth date,
    # mobile, own e-mail, whole tax number, a sole trader's own business number) and none differs. One
    # alone may be a relative's, or a colleague's (Mary Smith / Mary Jones at one firm, its ABN and
    # office e-mail on both records).
    renamed = (((given_level == 1) | (given_level == 2)) & (ids + dob_exact >= 2)
               & (tax != 3) & (mobile != 2) & (dob != 3))
    caps.apply_at(idx[(family_level == 4) & ~renamed], REVIEW, "family=disagree")
    # Different dates of birth in a list with households: a same-named relative (father and son).
    caps.apply_at(idx[dob == 3], REVIEW, "dob=disagree")
    # Without dates of birth, a shared address, landline or family email does not tell a person from
    # a same-named relative. A tax number or mobile that differs is another person, and so is one
    # whose e-mail and phones all differ. Where either list holds a namesake nearby (same names and
    # postcode: a father and his son), or, for given names one slip apart (a relative's name is often
    # a letter away: Brett / Brent), a relative of that initial nearby, or where the given names only
    # share an initial or resemble each other (John / Joan), ask for something personal that agrees
    # and no e-mail that differs. With no such relative in either list, he would have to be missing
    # from both, and an e-mail that differs alone is as often an outdated one.
    email_clash = (email == 3) & own_email
    # An e-mail and phones that all differ are outdated contact details, not another person, where the
    # tax number agrees: whole, or its masked tail ("******017") for given names that agree.
    tax_backs = (tax == 1) | ((tax == 2) & ((given_level == 1) | (given_level == 2)))
    hard_clash = (tax == 3) | (mobile == 2) | (email_clash & (levels["phone"][idx] == 2) & ~tax_backs)
    close = given_level == 2
    namesake = _namesake_nearby(a, b, la, lb)
    ask = given_level >= 3
    relative = np.zeros(len(idx), dtype=bool)
    if close.any():
        relative[close] = _namesake_nearby(a, b, la[close], lb[close], by="initial")
    # An e-mail that differs is as often an outdated one: the same mobile (or tax number) outweighs it
    # where the given names are the same (or a nickname or one slip apart); names that only resemble
    # each other (John / Joan, who may share a phone) ask for both.
    outweighed = np.where(given_level <= 2, (mobile == 1) | (tax == 1), (mobile == 1) & ((tax == 1) | (tax == 2)))
    doubt = (email_clash & ~outweighed) | ~personal_agree
    unsure = hard_clash | ((ask | namesake | relative) & doubt)
    uncapped = caps.cap[idx] == LINK
    caps.apply_at(idx[(dob == 0) & unsure], REVIEW, "dob=missing:review")
    caps.apply_at(idx[mid == 2], REVIEW, "middle_initial=disagree")
    strong_id = (dob == 1) | (dob == 2) | (levels["tax"][idx] == 1) | (levels["tax"][idx] == 2)
    partial_name = (~has_giv | ~has_fam) & ~strong_id
    caps.apply_at(idx[partial_name], REVIEW, "name:incomplete")
    # Held for the namesake or relative alone: no other rule would hold the pair.
    alone = uncapped & (dob == 0) & doubt & ~hard_clash & ~ask & (mid != 2) & ~partial_name
    namesake_held[idx] = np.where(alone, namesake + 2 * relative.astype(np.int8), 0)


def _slip_lookup(names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For distinct given names: each one's nicknames.slipped_groups, and whether it may share one with
    another name (0: it has none, 1: a known name with groups, 2: a name the list does not know)."""
    groups = np.empty(len(names), dtype=object)
    groups[:] = [slipped_groups(name) if name else frozenset() for name in names.tolist()]
    kind = np.fromiter(((2 if name not in KNOWN_NAMES else 1) if g else 0
                        for name, g in zip(names.tolist(), groups.tolist(), strict=True)), dtype=np.int8, count=len(names))
    return groups, kind


def _slipped_nicknames(slips_a: tuple[np.ndarray, np.ndarray], xa: np.ndarray,
                       slips_b: tuple[np.ndarray, np.ndarray], xb: np.ndarray) -> np.ndarray:
    """nicknames.slipped_nickname of each pair of given names, the names given as codes into each
    side's _slip_lookup: at 100k x 100k a few hundred thousand pairs get here, and a call per pair cost
    a tenth of the run. Only pairs where both names have groups and one is not a known name can
    share one; each distinct such pair of names is compared once."""
    (groups_a, kind_a), (groups_b, kind_b) = slips_a, slips_b
    ka, kb = kind_a[xa], kind_b[xb]
    out = np.zeros(len(xa), dtype=bool)
    maybe = np.flatnonzero((ka > 0) & (kb > 0) & (ka + kb >= 3))
    if len(maybe):
        rep, inverse = _each_pair_once(xa[maybe], xb[maybe])
        ga, gb = groups_a[xa[maybe[rep]]].tolist(), groups_b[xb[maybe[rep]]].tolist()
        out[maybe] = np.fromiter(map(_share, ga, gb), dtype=bool, count=len(rep))[inverse]
    return out


def _share(x: frozenset[str], y: frozenset[str]) -> bool:
    return not x.isdisjoint(y)


def _slipped_pairs(a: Table, b: Table, i: np.ndarray, j: np.ndarray, column_a: str = "given",
                   column_b: str = "given") -> np.ndarray:
    """_slipped_nicknames of a's column_a at i and b's column_b at j ("given" or "given2"), each
    table's names looked up once and kept with it."""
    return _slipped_nicknames(_slips(a, column_a), _codes(a, column_a)[i], _slips(b, column_b), _codes(b, column_b)[j])


def _slips(t: Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """_slip_lookup of the table's distinct names of the column, by their _codes."""
    def names() -> np.ndarray:
        codes = _codes(t, column)
        out = np.empty(int(codes.max()) + 1 if len(codes) else 0, dtype=object)
        out[codes] = getattr(t, column)
        return out

    groups, kind = ("slip_groups", column), ("slip_kind", column)
    if groups not in t.derived:
        t.derived[groups], t.derived[kind] = _slip_lookup(names())
    return t.derived[groups], t.derived[kind]


def _namesake_nearby(a: Table, b: Table, i: np.ndarray, j: np.ndarray, by: str = "given") -> np.ndarray:
    """Per pair: a person other than the two, in either list, with the same family name, postcode and
    given name (`by="initial"`: given name's first letter) as one of them (people without both names
    count as having one)."""
    ca, cb = namesakes_apart(a, by)[i], namesakes_apart(b, by)[j]
    unnamed = (ca == 0) | (cb == 0)
    if a is b:  # deduplicating: the pair itself may be two of the group
        given = a.namesake_given(by)
        same_group = (a.family_code[i] == a.family_code[j]) & (given[i] == given[j]) & (a.postcode[i] == a.postcode[j])
        return unnamed | np.where(same_group, ca >= 3, (ca >= 2) | (cb >= 2))
    return unnamed | (ca >= 2) | (cb >= 2)


def _same_given(a: Table, b: Table, i: np.ndarray, j: np.ndarray, sa: str, sb: str, workers: int,
                sim: np.ndarray | None = None) -> np.ndarray:
    """Whether given name (or second given name, suffix '2') of a[i] and b[j] are the same name:
    equal or close under the nickname list, close in spelling, or an initial of the other. `sim`: the
    names' Jaro-Winkler similarity where the caller has it already."""
    col_a, col_b = "given" + sa, "given" + sb
    present = a.present(col_a)[i] & b.present(col_b)[j]
    jw = JaroWinkler.normalized_similarity
    sim = _sim_once(jw, a, b, i, j, col_a, col_b, workers) if sim is None else sim.copy()
    low = np.flatnonzero(present & (sim < 0.85))
    if len(low):
        canon_a, canon_b = getattr(a, col_a + "_canon"), getattr(b, col_b + "_canon")  # a function of the name
        sim[low] = np.maximum(sim[low], _sim_once(jw, a, b, i[low], j[low], col_a, col_b, workers, canon_a, canon_b))
    len_a, len_b = getattr(a, col_a + "_len")[i], getattr(b, col_b + "_len")[j]
    initial = ((len_a == 1) | (len_b == 1)) & _same_initial(a, b, i, j, col_a + "_initial", col_b + "_initial")
    same = present & ((sim >= 0.85) | initial)
    # Ambiguous diminutives ("chris") one by one: equal canonical forms are already 'same' above, so
    # only a pair with an ambiguous side can still be compatible.
    rest = np.flatnonzero(present & ~same)
    ambiguous = getattr(a, col_a + "_ambiguous")[i[rest]] | getattr(b, col_b + "_ambiguous")[j[rest]]
    rest = rest[ambiguous]
    same[rest] = _test_once(nickname_compatible, getattr(a, col_a)[i[rest]], getattr(b, col_b)[j[rest]])
    # A nickname with a slip ("Rcik & Heather" / "Richard & Heather"): both names of the couple must
    # still agree, which one person's given name alone cannot offer.
    rest = np.flatnonzero(present & ~same)
    if len(rest):
        same[rest] = _slipped_pairs(a, b, i[rest], j[rest], col_a, col_b)
    return same


def _code_pairs(a: Table, i: np.ndarray, b: Table, j: np.ndarray, column: str) -> np.ndarray:
    """1 same, 2 different, 0 missing, for a column of short strings (middle initial, generation)."""
    x, y = _short_codes(a, column)[i], _short_codes(b, column)[j]
    return np.where((x != 0) & (y != 0), np.where(x == y, 1, 2), 0).astype(np.int8)
