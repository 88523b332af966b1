"""Noisier labelled people data than the practice generator makes: several records per person, each
written as a different system or person would, with invalid dates, missing fields, nicknames,
initials, honorifics, word order and names split differently across given/family/full name.

    rows, truth = noisy_people(5000, seed=5)   # canonical CSV rows (dicts) and {id: person}
"""

from __future__ import annotations

import random
from datetime import date

from benchmarks.matching.generate import DOMAINS, GIVEN_F, GIVEN_M, NICKS, SUBURBS, SURNAMES, TITLES
from syncworker.domain.profile import CLIENT_CSV_COLUMNS


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    k = rng.randrange(1, len(word))
    op = rng.random()
    if op < 0.3:
        return word[:k] + word[k + 1:]
    if op < 0.6 and k < len(word) - 1:
        return word[:k] + word[k + 1] + word[k] + word[k + 2:]
    if op < 0.8:
        return word[:k] + rng.choice("aeiounrst") + word[k:]
    return word[:k] + rng.choice("aeiounrst") + word[k + 1:]


def _dob_text(rng: random.Random, d: date) -> str:
    r = rng.random()
    if r < 0.06:  # an impossible date: a digit slip into a month or day that does not exist
        return rng.choice([f"{d.year}-{d.month:02d}-{d.day + 30}", f"{d.year}-{d.month + 12:02d}-{d.day:02d}",
                           f"{d.year}-02-{30 + rng.randint(0, 1)}", f"{d.year}-{d.month:02d}-{d.day:02d}x"])
    if r < 0.10:
        return f"{d.day:02d}/{d.month:02d}/{d.year}"
    if r < 0.16:  # a typo that is still a date
        day = min(28, max(1, d.day + rng.choice([-1, 1, 10, -10])))
        return f"{d.year}-{d.month:02d}-{day:02d}"
    return d.isoformat()


def _person(rng: random.Random, key: int) -> dict:
    female = rng.random() < 0.5
    pool = GIVEN_F if female else GIVEN_M
    given = pool[min(int(rng.expovariate(1 / 30)), len(pool) - 1)]
    family = SURNAMES[min(int(rng.expovariate(1 / 60)), len(SURNAMES) - 1)]
    middle = rng.choice(GIVEN_F if rng.random() < 0.5 else GIVEN_M) if rng.random() < 0.4 else ""
    return {"key": key, "given": given, "family": family, "middle": middle, "female": female,
            "dob": date(rng.randint(1935, 2005), rng.randint(1, 12), rng.randint(1, 28)),
            "email": f"{given}.{family}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}",
            "mobile": f"04{rng.randint(0, 99):02d}{rng.randint(0, 999999):06d}",
            "city": rng.choice(SUBURBS), "postcode": str(rng.randint(2000, 7999))}


def _render(rng: random.Random, p: dict, rid: str) -> dict:
    given, family, middle = p["given"], p["family"], p["middle"]
    if rng.random() < 0.2 and given in NICKS:
        given = NICKS[given]
    if rng.random() < 0.15:
        given = _typo(rng, given)
    if rng.random() < 0.15:
        family = _typo(rng, family)
    if rng.random() < 0.08:
        given = given[0]  # an initial
    g, f, m = given.title(), family.title(), middle.title()
    title = rng.choice(TITLES[:1] + TITLES[3:4]) if not p["female"] else rng.choice(TITLES[1:])
    shape = rng.random()
    if shape < 0.45:
        row = {"given_name": g, "family_name": f, "middle_name": m if rng.random() < 0.5 else "",
               "name": f"{g} {f}"}
    elif shape < 0.6:  # full name only, with an honorific or family name first
        row = {"name": rng.choice([f"{title} {g} {f}", f"{f}, {g}", f"{title} {g} {m} {f}".replace("  ", " "),
                                   f"{f.upper()} {g}"])}
    elif shape < 0.7:  # given and family swapped into each other's fields
        row = {"given_name": f, "family_name": g, "name": f"{f} {g}"}
    elif shape < 0.8:  # the middle name kept in the given-name field
        row = {"given_name": f"{g} {m}".strip(), "family_name": f, "name": f"{g} {m} {f}".replace("  ", " ")}
    else:  # an honorific in the name and structured fields
        row = {"given_name": g, "family_name": f, "name": f"{title} {g} {f}"}
    row.update({"id": rid, "kind": "individual"})
    if rng.random() < 0.8:
        row["date_of_birth"] = _dob_text(rng, p["dob"])
    if rng.random() < 0.6:
        email = p["email"]
        row["email"] = _typo(rng, email) if rng.random() < 0.15 else email
    if rng.random() < 0.5:
        row["mobile"] = p["mobile"]
    if rng.random() < 0.7:
        row["city"] = _typo(rng, p["city"]) if rng.random() < 0.1 else p["city"]
    if rng.random() < 0.6:
        row["postcode"] = p["postcode"]
    return {c: row.get(c, "") for c in CLIENT_CSV_COLUMNS}


def noisy_people(n_people: int, seed: int = 5) -> tuple[list[dict], dict[str, int]]:
    """Records of n_people people (1 to 6 records each; about a third have one) and {id: person}."""
    rng = random.Random(seed)
    rows: list[dict] = []
    truth: dict[str, int] = {}
    for key in range(n_people):
        person = _person(rng, key)
        copies = 1 if rng.random() < 0.35 else rng.randint(2, 6)
        for c in range(copies):
            rid = f"N{key}-{c}"
            rows.append(_render(rng, person, rid))
            truth[rid] = key
    rng.shuffle(rows)
    return rows, truth
