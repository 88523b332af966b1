"""Short human-readable reasons for a compared pair: which fields agreed and which disagreed."""

from __future__ import annotations

from .compare import Comparison

_LEVEL_WORDS: dict[str, tuple[str, ...]] = {
    "given": ("", "agree", "similar", "initial", "disagree"),
    "middle": ("", "agree", "disagree"),
    "dob": ("", "agree", "near", "disagree"),
    "email": ("", "agree", "disagree"),
    "phone": ("", "agree", "disagree"),
    "tax": ("", "agree", "agree(masked)", "disagree"),
    "bizno": ("", "agree", "disagree"),
    "postcode": ("", "agree", "disagree"),
    "city": ("", "agree", "similar", "disagree"),
    "street": ("", "agree", "similar", "disagree"),
    "family": ("", "agree", "similar", "similar", "disagree"),
}
_LABELS = {"tax": "tax_number", "bizno": "business_number", "middle": "middle_initial", "street": "address"}


def reasons_for(comparison: Comparison, k: int) -> list[str]:
    levels = comparison.levels
    out: list[str] = [f"name={comparison.name_sim[k]:.2f}"]
    for field_name, words in _LEVEL_WORDS.items():
        level = int(levels[field_name][k])
        if level:
            out.append(f"{_LABELS.get(field_name, field_name)}={words[level]}")
    reason = comparison.cap_reason(k)
    if reason:
        out.append(reason)
    return out
