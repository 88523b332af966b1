"""How the same client ends up spelled differently in two systems: typing slips, nicknames, legal-form
and trust wording, name order, phone and address formatting."""

from __future__ import annotations

import random
import re

from syncworker.sample.fake_data import FEMALE_NAMES, MALE_NAMES, STREET_TYPES

NICKNAMES: dict[str, tuple[str, ...]] = {k: v for k, v in {**MALE_NAMES, **FEMALE_NAMES}.items() if v}

_LEGAL_FORMS_AU = ("Pty Ltd", "Pty. Ltd.", "Proprietary Limited", "PTY LTD", "Pty Limited")
_LEGAL_FORMS_NZ = ("Limited", "Ltd", "Ltd.", "LIMITED")
_TRUST_PATTERNS = (
    "The Trustee for the {core} Trust", "The Trustee for {core} Trust", "Trustee for the {core} Trust",
    "{core} Trust", "The {core} Trust", "{core} Trust (The)", "T/F {core} Trust",
)
_ABBREVIATIONS = {full: short for full, short in STREET_TYPES}
_EXPANSIONS = {short: full for full, short in STREET_TYPES}


def typo(rng: random.Random, text: str) -> str:
    """One keyboard slip in a word of 4+ letters: swap, drop, double or replace a letter."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    pos = rng.randrange(1, len(w) - 1)
    op = rng.randrange(4)
    if op == 0:
        w = w[:pos] + w[pos + 1] + w[pos] + w[pos + 2:]
    elif op == 1:
        w = w[:pos] + w[pos + 1:]
    elif op == 2:
        w = w[:pos] + w[pos] + w[pos:]
    else:
        w = w[:pos] + rng.choice("aeiou") + w[pos + 1:]
    words[i] = w
    return " ".join(words)


def nickname(rng: random.Random, given: str) -> str:
    options = NICKNAMES.get(given)
    return rng.choice(options) if options else given


def legal_form_variant(rng: random.Random, name: str, country: str) -> str:
    forms = _LEGAL_FORMS_AU if country == "AU" else _LEGAL_FORMS_NZ
    for form in sorted(forms, key=len, reverse=True):
        if name.endswith(" " + form):
            others = [f for f in forms if f != form]
            return name[: -len(form)] + rng.choice(others)
    return name


def without_legal_form(name: str) -> str:
    for form in sorted(_LEGAL_FORMS_AU + _LEGAL_FORMS_NZ, key=len, reverse=True):
        if name.endswith(" " + form):
            return name[: -len(form) - 1]
    return name


def trust_variant(rng: random.Random, core: str, current: str) -> str:
    options = [p.format(core=core) for p in _TRUST_PATTERNS]
    options = [o for o in options if o != current] or options
    return rng.choice(options)


def and_variant(name: str) -> str:
    if " & " in name:
        return name.replace(" & ", " and ")
    return name.replace(" and ", " & ")


def phone_variant(rng: random.Random, phone: str, country: str) -> str:
    """The same number written another way: international, no spaces, or other grouping."""
    digits = re.sub(r"\D", "", phone)
    code = "61" if country == "AU" else "64"
    style = rng.randrange(3)
    if style == 0:
        return f"+{code} {digits[1:]}"
    if style == 1:
        return digits
    return f"{digits[:4]}-{digits[4:7]}-{digits[7:]}" if len(digits) >= 10 else digits


def street_variant(line: str) -> str:
    """Abbreviate (or expand) the street type, and write units the other common way."""
    m = re.match(r"^Unit (\d+), (.*)$", line)
    if m:
        line = f"{m.group(1)}/{m.group(2)}"
    else:
        m = re.match(r"^(\d+)/(.*)$", line)
        if m:
            line = f"Unit {m.group(1)}, {m.group(2)}"
    words = line.split(" ")
    for i, w in enumerate(words):
        if w in _ABBREVIATIONS:
            words[i] = _ABBREVIATIONS[w]
            break
        if w in _EXPANSIONS:
            words[i] = _EXPANSIONS[w]
            break
    return " ".join(words)
