"""The codes blocking and the frequency counts share: the batch-independent key hash, e-mail domain
codes and the organisation words too common to tell organisations apart."""

from __future__ import annotations

from collections.abc import Callable

import jellyfish
import numpy as np

from .features import Table

# Organisation words too common to block on.
ORG_STOPWORDS = frozenset(
    """family trust holdings holding investments investment group services service super fund
    nominees enterprises australia nz new zealand the of and consulting management properties property
    trading company partners partnership no unit discretionary pty ltd co inc""".split()
)


def distinctive_words(name: str) -> list[str]:
    """The words of an organisation name that tell it apart: no legal-form or stock words, no initials."""
    return [w for w in name.split() if len(w) > 1 and w not in ORG_STOPWORDS]

KEY_CHARS = 32  # longer key strings are cut: a 32-character prefix is as selective as the whole
FNV_OFFSET, FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
CODE_MASK = (1 << 28) - 1  # codes are 28 bits


class KeyVocab:
    """Integer codes for key parts, equal on both sides of a link for equal strings.

    Codes are 28-bit string hashes rather than dictionary entries: no table of every key string is
    kept (that was the largest transient allocation of a run). A rare hash collision only adds a
    spurious candidate pair, which scoring then rejects; it never hides a pair. The hash is FNV-1a over
    the code points, computed for a whole column at once in NumPy, not Python's `hash()`, which is
    salted per process: with it, two runs on the same data in different processes (two workers, or
    today's run and tomorrow's) could meet different stray pairs, and a stray runner-up can turn a
    link into a review.
    """

    def __init__(self) -> None:
        self.soundex_cache: dict[str, str] = {}

    @staticmethod
    def factor(values) -> np.ndarray:
        """28-bit hash of each string's first KEY_CHARS characters; -1 for ''."""
        n = len(values)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        chars = np.asarray(values, dtype=f"<U{KEY_CHARS}").view(np.uint32).reshape(n, KEY_CHARS)
        width = int(np.flatnonzero(chars.any(axis=0))[-1]) + 1 if chars.any() else 0
        h = np.full(n, FNV_OFFSET, dtype=np.uint64)
        for k in range(width):  # one vectorised step per character position, not per string
            c = chars[:, k]
            # Padding past a string's end must not count: a code may not depend on the batch it is in.
            h = np.where(c != 0, (h ^ c) * FNV_PRIME, h)
        codes = ((h >> np.uint64(36)) & np.uint64(CODE_MASK)).astype(np.int64)
        codes[chars[:, 0] == 0] = -1
        return codes

    def factor_each(self, values, key: Callable[[str], str] | None = None) -> np.ndarray:
        """`factor` of every value's `key(value)` (of the value itself without one), made and hashed once
        per distinct value: names, streets and domains repeat."""
        distinct, inverse = distinct_values(values)
        return self.factor(distinct if key is None else [key(v) for v in distinct])[inverse]

    @staticmethod
    def factor_many(recs: np.ndarray, values, codes_of: Callable[[list], tuple[np.ndarray, np.ndarray]]):
        """(record, code) for every key of each record's value, where `codes_of(distinct values)` gives
        (per value its number of keys, their codes one value after the other): the keys are made and
        hashed once per distinct value and repeated for each record carrying it."""
        distinct, inverse = distinct_values(values)
        per_value, codes = codes_of(distinct)
        per_record = per_value[inverse]
        # Record r's codes are its value's run of codes: [first[value], first[value] + count).
        run_start = np.repeat((np.cumsum(per_value) - per_value)[inverse] - (np.cumsum(per_record) - per_record),
                              per_record)
        return np.repeat(np.asarray(recs, dtype=np.int64), per_record), codes[run_start + np.arange(len(run_start))]

    def soundex(self, values) -> np.ndarray:
        cache = self.soundex_cache
        distinct, inverse = distinct_values(values)
        for v in set(distinct).difference(cache):
            cache[v] = ("~" + (jellyfish.soundex(v) if v[:1].isalpha() else v[:4])) if v else ""
        return self.factor(list(map(cache.__getitem__, distinct)))[inverse]


def distinct_values(values) -> tuple[list, np.ndarray]:
    """The distinct values of a column, in order of first appearance, and each value's position among
    them: per-value work is then done once per distinct value and mapped back with `[inverse]`."""
    position: dict = {}
    # One pass, one hash look-up per value (a dict of the distinct values, then a second look-up of
    # every value in it, took twice as long where most values are distinct: streets, e-mails).
    inverse = [position.setdefault(v, len(position)) for v in values]
    return list(position), np.asarray(inverse, dtype=np.int64)


DOMAIN = ("domain", "email")  # Table.derived key of domain_codes


def domain_codes(t: Table) -> np.ndarray:
    """Per record: a code of its e-mail's domain (the same on both sides of a link), -1 without one; a
    blocking key (blocking.key_arrays) and counted by frequencies, so computed once per table (or
    with its normalising: blocking.own_keys)."""
    return t._derive(DOMAIN, lambda: email_domain_codes(t.email_text))


def email_domain_codes(emails) -> np.ndarray:
    """domain_codes of a column of normalised e-mails. Each e-mail's domain first, then those coded once
    per distinct domain: most e-mails are distinct, their domains are not."""
    return KeyVocab().factor_each([e.rpartition("@")[2] for e in emails])
