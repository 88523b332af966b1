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


def reasons_for(comparison: Comparison, k: int) -> list[str]:
    return reasons_for_many(comparison, np.asarray([k]))[0]


def reasons_for_many(comparison: Comparison, positions: np.ndarray) -> list[list[str]]:
    """Reasons of many pairs at once: one lookup table per field instead of a loop per pair."""
    levels = comparison.levels
    columns = [[f"name={x:.2f}" for x in comparison.name_sim[positions].tolist()]]
    for field_name, words in _LEVEL_WORDS.items():
        label = _LABELS.get(field_name, field_name)
        table = np.asarray([""] + [f"{label}={w}" for w in words[1:]], dtype=object)
        columns.append(table[levels[field_name][positions]].tolist())
    capper = comparison.capper
    cap_table = np.asarray([*capper.reasons, ""], dtype=object)  # code -1 -> ""
    columns.append(cap_table[capper.reason_code[positions]].tolist())
    # dict.fromkeys: a rule may repeat a field's reason (dob=disagree); say it once, in order.
    return [list(dict.fromkeys(filter(None, row))) for row in zip(*columns, strict=True)]
