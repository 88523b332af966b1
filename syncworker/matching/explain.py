"""Short human-readable reasons for a compared pair: which fields agreed and which disagreed."""

from __future__ import annotations

import numpy as np

from .compare import Comparison

_LEVEL_WORDS: dict[str, tuple[str, ...]] = {
    "given": ("", "agree", "similar", "initial", "disagree"),
    "family": ("", "agree", "similar", "similar", "disagree"),
    "middle": ("", "agree", "disagree"),
    "dob": ("", "agree", "near", "disagree"),
    "email": ("", "agree", "similar", "disagree"),
    "phone": ("", "agree", "disagree"),
    "tax": ("", "agree", "agree(masked)", "disagree"),
    "bizno": ("", "agree", "disagree"),
    "postcode": ("", "agree", "near", "disagree"),
    "city": ("", "agree", "similar", "disagree"),
    "street": ("", "agree", "similar", "disagree"),
}
_LABELS = {"tax": "tax_number", "bizno": "business_number", "middle": "middle_initial", "street": "address"}
_WORDED = [[f"{_LABELS.get(name, name)}={w}" if w else "" for w in words] for name, words in _LEVEL_WORDS.items()]


def reasons_for(comparison: Comparison, k: int) -> list[str]:
    return reasons_for_many(comparison, np.asarray([k]))[0]


def reasons_for_many(comparison: Comparison, positions: np.ndarray) -> list[list[str]]:
    """Reasons of many pairs at once: the name similarity, each field's level in words and the rule
    that capped the pair. However many the pairs, their levels and rules come in few combinations
    (and their name similarities in few values): each is worded once, and a pair's reasons are its
    name similarity's words and its combination's (a list per pair, for the caller to extend)."""
    levels, capper = comparison.levels, comparison.capper
    code = capper.reason_code[positions].astype(np.int64) + 1  # 0: no rule
    for name, words in _LEVEL_WORDS.items():  # one number per combination: a digit per field
        code = code * len(words) + levels[name][positions]
    combinations, of = np.unique(code, return_inverse=True)
    worded = [_worded(c, capper.reasons) for c in combinations.tolist()]
    similarities, similarity_of = np.unique(comparison.name_sim[positions], return_inverse=True)  # as few
    names = [f"name={x:.2f}" for x in similarities.tolist()]
    return [[names[n], *worded[k]] for n, k in zip(similarity_of.tolist(), of.tolist(), strict=True)]


def _worded(code: int, rules: list[str]) -> list[str]:
    """The reasons of one combination of levels and rule (`code`, see reasons_for_many), in field
    order, the rule last. A rule may repeat a field's reason (dob=disagree): said once, in order. (No
    field or rule is worded "name=", so the name similarity that precedes them repeats none.)"""
    words = []
    for wording in reversed(_WORDED):
        code, level = divmod(code, len(wording))
        words.append(wording[level])
    words.reverse()
    words.append(rules[code - 1] if code else "")
    return list(dict.fromkeys(filter(None, words)))
