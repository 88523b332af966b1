"""A fake accounting practice seen from both sides: the practice's own client list (`local`) and what its
XPM holds (`remote`), derived from the same true entities with realistic noise, plus the answer key.

The true entities come in clusters, as a practice's clients do: single people; households (same surname
and address, several people, NOT duplicates); couples kept as one joint client; family structures (a
couple, their trustee company and family trust, with relationships and a client group); companies with
directors as contacts; partnerships; sole traders; standalone trusts.

Then each entity is placed: on both sides (most), local only (new clients), remote only (old XPM
records). Some entities are entered twice on one side (duplicates), some XPM records are archived or
deleted. `n_clients` is the number of true entities; both `local` and `remote` come out at n_clients
records (duplicates balance the one-sided entities), of which a few remote ones are archived/deleted.

Deterministic for a given (n_clients, seed, country).
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from syncworker.domain.profile import (
    CLIENT_CSV_COLUMNS,
    CONTACT_CSV_COLUMNS,
    Address,
    ClientGroup,
    ClientKind,
    ClientProfile,
    ClientStatus,
    ContactProfile,
    Relationship,
)
from syncworker.sample import identifiers as ids
from syncworker.sample import noise
from syncworker.sample.fake_data import (
    AU_PLACES,
    BUSINESS_TRADES,
    BUSINESS_WORDS,
    EMAIL_DOMAINS,
    FEMALE_NAMES,
    MALE_NAMES,
    NZ_PLACES,
    STREET_NAMES,
    STREET_TYPES,
    SURNAMES,
)

_MALE = tuple(MALE_NAMES)
_FEMALE = tuple(FEMALE_NAMES)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # seeded XPM modification times fall in the 3 years before


@dataclass(slots=True)
class _Person:
    given: str
    middle: str | None
    family: str
    female: bool
    dob: date
    email: str
    mobile: str
    tax_number: str

    @property
    def full_name(self) -> str:
        return f"{self.given} {self.family}"


@dataclass(slots=True)
class _Entity:
    key: int
    kind: ClientKind
    name: str
    address: Address
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    website: str | None = None
    person: _Person | None = None  # individuals and sole traders
    partner: _Person | None = None  # the second person of a joint (couple) client
    tax_number: str | None = None
    abn: str | None = None
    acn: str | None = None
    core: str | None = None  # trust name without the wording ("Smith Family")
    trading_name: str | None = None
    contacts: list[tuple[_Person, str]] = field(default_factory=list)  # (person, position)
    postal: Address | None = None


@dataclass(slots=True)
class _Link:
    """A relationship between true entities: `a` is `kind` of `b` (a is a director of company b, a is the
    husband of b, a is a parent of b). XPM keeps it on b's record naming a: ClientUUID=b, RelatedClient=a,
    Type=kind, read "the related client is <Type> of this client", as config/relationships.yaml reads it
    (on b's record a shows as "Director"/"Husband"/"Parent", on a's record b shows with the inverse)."""

    a: int
    b: int
    kind: str
    shares: int | None = None
    percentage: float | None = None


@dataclass(slots=True)
class SamplePractice:
    seed: int
    country: str
    local: list[ClientProfile]
    local_contacts: list[ContactProfile]
    remote: list[ClientProfile]
    remote_contacts: list[ContactProfile]
    remote_relationships: list[Relationship]
    remote_groups: list[ClientGroup]
    truth: dict[str, str]  # local id -> remote id of the same true entity (its surviving XPM record)
    local_duplicate_groups: list[set[str]]
    remote_duplicate_groups: list[set[str]]
    local_only: list[str] = field(default_factory=list)  # local ids with no XPM record
    remote_only: list[str] = field(default_factory=list)  # XPM ids with no local record

    def write_local_csv(self, path: str | Path) -> Path:
        """The local clients in the canonical client CSV schema (CLIENT_CSV_COLUMNS)."""
        return _write_csv(path, CLIENT_CSV_COLUMNS,
                          ([_csv_value(p, col) for col in CLIENT_CSV_COLUMNS] for p in self.local))

    def write_local_contacts_csv(self, path: str | Path) -> Path:
        """The local contacts in the canonical contact CSV schema (CONTACT_CSV_COLUMNS)."""
        return _write_csv(path, CONTACT_CSV_COLUMNS, (_contact_row(c) for c in self.local_contacts))


def _write_csv(path: str | Path, columns: Sequence[str], rows: Iterable[list[str]]) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def _contact_row(c: ContactProfile) -> list[str]:
    row = {
        "id": c.id, "client_id": c.client_ids[0] if c.client_ids else "", "name": c.name,
        "given_name": c.given_name, "family_name": c.family_name, "email": c.email, "phone": c.phone,
        "mobile": c.mobile, "position": c.position, "is_primary": "true" if c.is_primary else "false",
    }
    return [row[col] or "" for col in CONTACT_CSV_COLUMNS]


def _csv_value(p: ClientProfile, col: str) -> str:
    if col.startswith("address_") or col in ("city", "region", "postcode", "country"):
        addr = p.address or Address()
        attr = {"address_line1": "line1", "address_line2": "line2"}.get(col, col)
        return getattr(addr, attr) or ""
    value = getattr(p, col)
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# ----------------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, n: int, seed: int, country: str) -> None:
        if country not in ("AU", "NZ"):
            raise ValueError("country must be AU or NZ")
        self.n, self.country = n, country
        self.rng = random.Random(f"{seed}:{country}:{n}")
        self.places = AU_PLACES if country == "AU" else NZ_PLACES
        self.entities: list[_Entity] = []
        self.links: list[_Link] = []
        self.groups: list[tuple[str, list[int]]] = []

    # ---- people, places, numbers ----
    def person(self, family: str | None = None, female: bool | None = None, age: tuple[int, int] = (25, 80)) -> _Person:
        r = self.rng
        female = r.random() < 0.5 if female is None else female
        given = r.choice(_FEMALE if female else _MALE)
        middle = r.choice(_FEMALE if female else _MALE) if r.random() < 0.6 else None
        family = family or r.choice(SURNAMES)
        dob = (_EPOCH - timedelta(days=r.randrange(age[0] * 365, age[1] * 365))).date()
        handle = f"{given}.{family}".lower().replace(" ", "").replace("'", "")
        if r.random() < 0.3:
            handle += str(r.randrange(1, 99))
        return _Person(given, middle, family, female, dob, f"{handle}@{r.choice(EMAIL_DOMAINS)}", self.mobile(),
                       self.tax_number())

    def mobile(self) -> str:
        r = self.rng
        if self.country == "AU":
            return f"04{r.randrange(10)}{r.randrange(10)} {r.randrange(1000):03d} {r.randrange(1000):03d}"
        return f"02{r.choice('1179')} {r.randrange(1000):03d} {r.randrange(10000):04d}"

    def landline(self) -> str:
        r = self.rng
        if self.country == "AU":
            return f"({r.choice(['02', '03', '07', '08'])}) {r.randrange(5, 10)}{r.randrange(100):02d}{r.randrange(10)} {r.randrange(10000):04d}"
        return f"({r.choice(['03', '04', '06', '07', '09'])}) {r.randrange(2, 10)}{r.randrange(100):02d} {r.randrange(10000):04d}"

    def tax_number(self) -> str:
        return ids.make_tfn(self.rng) if self.country == "AU" else ids.make_ird(self.rng)

    def business_numbers(self, company: bool) -> tuple[str | None, str | None]:
        """(business_number, company_number): ABN/ACN in AU, NZBN/company number in NZ."""
        r = self.rng
        if self.country == "AU":
            acn = ids.make_acn(r) if company else None
            return ids.make_abn(r, acn), acn
        return ids.make_nzbn(r), (str(r.randrange(1_000_000, 9_999_999)) if company else None)

    def address(self) -> Address:
        r = self.rng
        suburb, region, postcode = r.choice(self.places)
        full, _short = r.choice(STREET_TYPES)
        line1 = f"{r.randrange(1, 400)} {r.choice(STREET_NAMES)} {full}"
        line2 = None
        if r.random() < 0.15:
            line1 = f"Unit {r.randrange(1, 40)}, {line1}"
        elif r.random() < 0.08:
            line2, line1 = line1, f"Level {r.randrange(1, 30)}"
        return Address(line1, line2, suburb, region, postcode, self.country)

    def postal(self, street: Address) -> Address | None:
        if self.rng.random() < 0.12:
            return Address(f"PO Box {self.rng.randrange(10, 9999)}", None, street.city, street.region, street.postcode, self.country)
        return None

    # ---- entity templates ----
    def add(self, entity_kind: ClientKind, name: str, address: Address, **kw: object) -> _Entity:
        e = _Entity(len(self.entities), entity_kind, name, address, **kw)  # type: ignore[arg-type]
        self.entities.append(e)
        return e

    def individual(self, p: _Person, address: Address) -> _Entity:
        phone = self.landline() if self.rng.random() < 0.25 else None
        return self.add(ClientKind.INDIVIDUAL, p.full_name, address, email=p.email, mobile=p.mobile, phone=phone,
                        person=p, tax_number=p.tax_number, postal=self.postal(address))

    def household(self) -> list[_Entity]:
        r = self.rng
        family = r.choice(SURNAMES)
        home = self.address()
        a = self.person(family, female=False, age=(40, 75))
        b = self.person(family, female=True, age=(38, 73))
        if r.random() < 0.5:  # a shared family email is common, and a trap for matchers
            b.email = a.email
        members = [self.individual(a, home), self.individual(b, home)]
        self.links.append(_Link(members[0].key, members[1].key, r.choice(("spouse", "husband"))))
        for _ in range(r.choice((0, 1, 1, 2))):
            kid = self.individual(self.person(family, age=(18, 30)), home)
            self.links.append(_Link(members[0].key, kid.key, "parent_of"))
            members.append(kid)
        if len(members) > 2:
            self.groups.append((f"{family} Family", [m.key for m in members]))
        return members

    def couple(self) -> _Entity:
        r = self.rng
        family = r.choice(SURNAMES)
        a, b = self.person(family, female=False), self.person(family, female=True)
        home = self.address()
        return self.add(ClientKind.INDIVIDUAL, f"{a.given} & {b.given} {family}", home, email=a.email, mobile=a.mobile,
                        person=a, partner=b, postal=self.postal(home))

    def company_name(self, family: str | None = None) -> str:
        r = self.rng
        suffix = "Pty Ltd" if self.country == "AU" else "Limited"
        if family and r.random() < 0.6:
            return f"{family} {r.choice(('Holdings', 'Investments', 'Nominees', 'Enterprises', 'Group'))} {suffix}"
        base = f"{r.choice(BUSINESS_WORDS)} {r.choice(BUSINESS_TRADES)}"
        return f"{base} & Co {suffix}" if r.random() < 0.08 else f"{base} {suffix}"

    def company(self, directors: list[_Person] | None = None, family: str | None = None) -> _Entity:
        r = self.rng
        name = self.company_name(family)
        abn, acn = self.business_numbers(company=True)
        slug = "".join(ch for ch in name.split(" Pty")[0].split(" Limited")[0].lower() if ch.isalnum())[:24]
        directors = directors or [self.person() for _ in range(r.choice((1, 1, 2)))]
        office = self.address()
        e = self.add(ClientKind.COMPANY, name, office, email=f"accounts@{slug}.example.com", phone=self.landline(),
                     website=f"www.{slug}.example.com" if r.random() < 0.5 else None, abn=abn, acn=acn,
                     tax_number=ids.make_tfn(r) if self.country == "AU" else ids.make_ird(r), postal=self.postal(office))
        e.contacts = [(d, "Director") for d in directors]
        return e

    def trust(self, core: str, trustees: list[_Person], address: Address) -> _Entity:
        abn, _ = self.business_numbers(company=False)
        e = self.add(ClientKind.TRUST, f"{core} Trust", address, abn=abn if self.rng.random() < 0.7 else None,
                     tax_number=self.tax_number(), core=core, email=trustees[0].email if trustees else None)
        e.contacts = [(t, "Trustee") for t in trustees]
        return e

    def family_structure(self) -> list[_Entity]:
        r = self.rng
        members = self.household()[:2]
        a, b = members[0].person, members[1].person
        assert a is not None and b is not None
        family = a.family
        co = self.company(directors=[a, b], family=family)
        tr = self.trust(f"{family} Family", [a, b], members[0].address)
        self.links += [
            _Link(a_ent.key, co.key, "director") for a_ent in members
        ] + [
            _Link(members[0].key, co.key, "shareholder", shares=r.choice((50, 100, 500, 1000))),
            _Link(co.key, tr.key, "trustee"),
            _Link(members[0].key, tr.key, "beneficiary"), _Link(members[1].key, tr.key, "beneficiary"),
            _Link(members[0].key, tr.key, "appointer"),
        ]
        keys = [m.key for m in members] + [co.key, tr.key]
        self.groups.append((f"{family} Family Group", keys))
        if r.random() < 0.3:
            self.groups.append((f"{family} Business Interests", [co.key, tr.key]))
        return [*members, co, tr]

    def partnership(self) -> _Entity:
        r = self.rng
        p1, p2 = self.person(), self.person()
        if r.random() < 0.5:
            name = f"{p1.family} & {p2.family}"
        else:
            name = f"{p1.given[0]} & {p2.given[0]} {p1.family}"
            p2.family = p1.family
        if r.random() < 0.5:
            name += " Partnership"
        abn, _ = self.business_numbers(company=False)
        office = self.address()
        e = self.add(ClientKind.PARTNERSHIP, name, office, email=p1.email, phone=self.landline(), abn=abn,
                     tax_number=self.tax_number())
        e.contacts = [(p1, "Partner"), (p2, "Partner")]
        return e

    def sole_trader(self) -> _Entity:
        p = self.person()
        abn, _ = self.business_numbers(company=False)
        home = self.address()
        trade = f"{p.family} {self.rng.choice(BUSINESS_TRADES)}"
        return self.add(ClientKind.SOLE_TRADER, p.full_name, home, email=p.email, mobile=p.mobile, person=p,
                        tax_number=p.tax_number, abn=abn, trading_name=trade, postal=self.postal(home))

    def super_fund(self) -> _Entity:
        p = self.person(age=(45, 80))
        core = f"{p.family} {self.rng.choice(('Superannuation Fund', 'Super Fund', 'Investment', 'Property'))}"
        e = self.trust(core, [p], self.address())
        if "Fund" in core:
            e.name = core
            e.core = None
        return e

    def build_entities(self) -> None:
        r = self.rng
        templates = (
            (self.individual_single, 34), (self.household, 12), (self.couple, 4), (self.family_structure, 7),
            (self.company, 17), (self.partnership, 5), (self.sole_trader, 9), (self.super_fund, 4),
        )
        funcs, weights = zip(*templates, strict=True)
        while len(self.entities) < self.n:
            r.choices(funcs, weights)[0]()
        # Clusters can overshoot: drop the surplus and anything that pointed at it.
        del self.entities[self.n:]
        self.links = [lk for lk in self.links if lk.a < self.n and lk.b < self.n]
        self.groups = [(name, [k for k in keys if k < self.n]) for name, keys in self.groups]
        self.groups = [(name, keys) for name, keys in self.groups if keys]

    def individual_single(self) -> _Entity:
        return self.individual(self.person(), self.address())

    # ---- the local record (clean, as the practice keeps it) ----
    def local_profile(self, e: _Entity, local_id: str) -> ClientProfile:
        p = e.person
        profile = ClientProfile(
            id=local_id, kind=e.kind, name=e.name, email=e.email, phone=e.phone, mobile=e.mobile, website=e.website,
            address=e.address, postal_address=e.postal, tax_number=e.tax_number,
            business_number=e.abn, company_number=e.acn,
        )
        if p is not None:
            profile.given_name = p.given if e.partner is None else f"{p.given} & {e.partner.given}"
            profile.middle_name = p.middle if e.partner is None else None
            profile.family_name = p.family
            profile.date_of_birth = p.dob if e.partner is None else None
        if e.trading_name and e.kind == ClientKind.SOLE_TRADER:
            profile.extra["trading_name"] = e.trading_name
        return profile

    def local_duplicate(self, original: ClientProfile, local_id: str) -> ClientProfile:
        """The same client entered again later: a nickname or slip, an old email, or a missing phone."""
        r = self.rng
        dup = original.with_changes(id=local_id, extra=dict(original.extra))
        if dup.given_name and r.random() < 0.5:
            nick = noise.nickname(r, dup.given_name)
            dup.name = dup.name.replace(dup.given_name, nick, 1)
            dup.given_name = nick
        else:
            dup.name = noise.typo(r, dup.name)
        if r.random() < 0.4:
            dup.email = None
        if r.random() < 0.4:
            dup.phone, dup.mobile = None, dup.mobile if r.random() < 0.5 else None
        if r.random() < 0.3:
            dup.tax_number = None
        return dup

    # ---- the XPM record (noisy) ----
    def remote_profile(self, e: _Entity, remote_id: str) -> ClientProfile:
        r = self.rng
        local = self.local_profile(e, remote_id)
        prof = local.with_changes(extra={})
        prof.name = self.remote_name(e)
        if e.person is not None and e.partner is None:
            prof.given_name = e.person.given if r.random() < 0.95 else noise.nickname(r, e.person.given)
            prof.middle_name = e.person.middle if r.random() < 0.5 else None
            prof.date_of_birth = e.person.dob if r.random() < 0.7 else None
            prof.tax_number = e.person.tax_number if r.random() < 0.65 else None
        elif e.partner is not None:
            prof.given_name = prof.family_name = None
        if prof.email and r.random() < 0.12:
            prof.email = None
        elif prof.email and r.random() < 0.06:
            prof.email = prof.email.upper() if r.random() < 0.5 else prof.email.replace("@", "1@", 1)
        # XPM has one Phone field: a mobile-only client's mobile ends up there.
        phone = prof.phone or prof.mobile
        if phone and r.random() < 0.3:
            phone = noise.phone_variant(r, phone, self.country)
        prof.phone, prof.mobile = (None if r.random() < 0.1 else phone), None
        prof.address = self.remote_address(e.address)
        if prof.business_number:
            if r.random() < 0.15:
                prof.business_number = None
            elif r.random() < 0.5 and self.country == "AU":
                prof.business_number = ids.format_abn(prof.business_number)
        if prof.tax_number and e.kind != ClientKind.INDIVIDUAL and r.random() < 0.3:
            prof.tax_number = None
        if prof.website and r.random() < 0.3:
            prof.website = "https://" + prof.website
        prof.modified_at = _EPOCH - timedelta(seconds=r.randrange(1, 3 * 365 * 86400))
        return prof

    def remote_name(self, e: _Entity) -> str:
        r = self.rng
        roll = r.random()
        if e.kind == ClientKind.INDIVIDUAL and e.partner is not None:
            a, b = e.person, e.partner
            assert a is not None
            if roll < 0.6:
                mid_a = f" {a.middle[0]}." if a.middle else ""
                mid_b = f" {b.middle[0]}." if b.middle else ""
                return f"{a.family}, {a.given}{mid_a} & {b.given}{mid_b}"
            return f"{a.given} and {b.given} {a.family}" if roll < 0.8 else e.name
        if e.kind in (ClientKind.INDIVIDUAL, ClientKind.SOLE_TRADER) and e.person is not None:
            p = e.person
            if e.kind == ClientKind.SOLE_TRADER and e.trading_name and roll < 0.4:
                return f"{p.full_name} T/as {e.trading_name}" if roll < 0.25 else e.trading_name
            if roll < 0.35:
                return f"{p.family}, {p.given}"
            if roll < 0.5:
                return f"{noise.nickname(r, p.given)} {p.family}"
            if roll < 0.6:
                return noise.typo(r, e.name)
            if roll < 0.7 and p.middle:
                return f"{p.given} {p.middle[0]} {p.family}"
            return e.name
        if e.kind == ClientKind.COMPANY:
            if roll < 0.4:
                return noise.legal_form_variant(r, e.name, self.country)
            if roll < 0.5:
                return noise.and_variant(e.name)
            if roll < 0.58:
                return noise.typo(r, e.name)
            if roll < 0.66:  # the legal form left off
                return noise.without_legal_form(e.name)
            return e.name.upper() if roll < 0.71 else e.name
        if e.kind == ClientKind.TRUST:
            if e.core and roll < 0.6:
                return noise.trust_variant(r, e.core, e.name)
            return noise.typo(r, e.name) if roll < 0.66 else e.name
        if e.kind == ClientKind.PARTNERSHIP:
            if roll < 0.3:
                return noise.and_variant(e.name)
            if roll < 0.45:
                return e.name.removesuffix(" Partnership") if e.name.endswith(" Partnership") else f"{e.name} Partnership"
            return noise.typo(r, e.name) if roll < 0.55 else e.name
        return e.name

    def remote_address(self, a: Address) -> Address | None:
        r = self.rng
        if r.random() < 0.08:
            return None
        line1 = noise.street_variant(a.line1 or "") if r.random() < 0.3 else a.line1
        postcode = None if r.random() < 0.05 else a.postcode
        region = a.region.upper() if a.region and r.random() < 0.1 else a.region
        line2 = a.line2
        if line2 is None and r.random() < 0.2:  # the suburb typed into XPM's free-text Address as well
            line2 = a.city
        country = {"AU": "Australia", "NZ": "New Zealand"}[self.country] if r.random() < 0.7 else None
        return Address(line1, line2, a.city, region, postcode, country)

    def remote_duplicate(self, e: _Entity, remote_id: str) -> ClientProfile:
        """XPM holds the entity twice (imported twice, or re-entered): another noisy rendering."""
        dup = self.remote_profile(e, remote_id)
        if self.rng.random() < 0.5:
            dup.email = None
        return dup

    # ---- assembly ----
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def build(self, seed: int) -> SamplePractice:
        r = self.rng
        self.build_entities()
        n = len(self.entities)
        order = list(range(n))
        r.shuffle(order)
        k_one_sided = round(n * 0.04)
        local_only, remote_only = set(order[:k_one_sided]), set(order[k_one_sided:2 * k_one_sided])
        on_local = [k for k in order if k not in remote_only]
        on_remote = [k for k in order if k not in local_only]
        local_dups = set(r.sample(on_local, min(len(remote_only), len(on_local))))
        remote_dups = set(r.sample(on_remote, min(len(local_only), len(on_remote))))

        # Local records, numbered in a shuffled order (duplicates sit later, as re-entries do).
        local: list[ClientProfile] = []
        local_ids: dict[int, str] = {}
        local_dup_groups: list[set[str]] = []
        numbering = on_local[:]
        r.shuffle(numbering)
        for k in numbering:
            lid = f"C{len(local) + 1:05d}"
            local_ids[k] = lid
            local.append(self.local_profile(self.entities[k], lid))
        by_local_id = {p.id: p for p in local}
        for k in sorted(local_dups):
            lid = f"C{len(local) + 1:05d}"
            local.append(self.local_duplicate(by_local_id[local_ids[k]], lid))
            local_dup_groups.append({local_ids[k], lid})

        # Remote records; the archived/deleted ones and the duplicates.
        remote: list[ClientProfile] = []
        remote_ids: dict[int, str] = {}
        remote_dup_groups: list[set[str]] = []
        for k in on_remote:
            rid = self.uuid()
            remote_ids[k] = rid
            prof = self.remote_profile(self.entities[k], rid)
            if r.random() < 0.05:
                prof.status = ClientStatus.ARCHIVED
            elif k in remote_only and r.random() < 0.2:
                prof.status = ClientStatus.DELETED
            remote.append(prof)
        for k in sorted(remote_dups):
            rid = self.uuid()
            dup = self.remote_duplicate(self.entities[k], rid)
            roll = r.random()
            dup.status = ClientStatus.DELETED if roll < 0.35 else ClientStatus.ARCHIVED if roll < 0.5 else ClientStatus.ACTIVE
            remote.append(dup)
            remote_dup_groups.append({remote_ids[k], rid})
        r.shuffle(remote)

        truth: dict[str, str] = {}
        for k, lid in local_ids.items():
            if k in remote_ids:
                truth[lid] = remote_ids[k]
        for group in local_dup_groups:
            original = min(group)
            for lid in group:
                if original in truth:
                    truth[lid] = truth[original]
        # Archived remote records: the practice has usually made the client inactive too.
        remote_status = {p.id: p.status for p in remote}
        for p in local:
            rid = truth.get(p.id)
            if rid and remote_status[rid] == ClientStatus.ARCHIVED and r.random() < 0.6:
                p.status = ClientStatus.INACTIVE

        local_contacts, remote_contacts = self.contacts(local_ids, remote_ids)
        return SamplePractice(
            seed=seed, country=self.country, local=local, local_contacts=local_contacts, remote=remote,
            remote_contacts=remote_contacts, remote_relationships=self.relationships(remote_ids),
            remote_groups=self.client_groups(remote_ids), truth=truth, local_duplicate_groups=local_dup_groups,
            remote_duplicate_groups=remote_dup_groups,
            local_only=sorted(local_ids[k] for k in local_only), remote_only=sorted(remote_ids[k] for k in remote_only),
        )

    def contacts(self, local_ids: dict[int, str], remote_ids: dict[int, str]) -> tuple[list[ContactProfile], list[ContactProfile]]:
        r = self.rng
        local: list[ContactProfile] = []
        remote_by_person: dict[int, ContactProfile] = {}
        for e in self.entities:
            for i, (person, position) in enumerate(e.contacts):
                primary = i == 0
                if e.key in local_ids:
                    local.append(ContactProfile(
                        id=f"K{len(local) + 1:05d}", name=person.full_name, given_name=person.given,
                        family_name=person.family, email=person.email, mobile=person.mobile, position=position,
                        is_primary=primary, client_ids=(local_ids[e.key],),
                    ))
                if e.key in remote_ids:
                    existing = remote_by_person.get(id(person))
                    if existing is not None:  # XPM contacts are shared between clients
                        existing.client_ids = (*existing.client_ids, remote_ids[e.key])
                        continue
                    given = person.given if r.random() < 0.85 else noise.nickname(r, person.given)
                    remote_by_person[id(person)] = ContactProfile(
                        id=self.uuid(), name=f"{given} {person.family}", given_name=given, family_name=person.family,
                        email=person.email if r.random() < 0.85 else None, mobile=person.mobile if r.random() < 0.8 else None,
                        position=position, is_primary=primary, client_ids=(remote_ids[e.key],),
                    )
        return local, list(remote_by_person.values())

    def relationships(self, remote_ids: dict[int, str]) -> list[Relationship]:
        out = []
        for lk in self.links:
            if lk.a in remote_ids and lk.b in remote_ids:
                out.append(Relationship(
                    id=self.uuid(), client_id=remote_ids[lk.b], related_client_id=remote_ids[lk.a], type=lk.kind,
                    number_of_shares=lk.shares, percentage=lk.percentage,
                    start_date=date(2015 + self.rng.randrange(10), 7, 1) if self.rng.random() < 0.5 else None,
                ))
        return out

    def client_groups(self, remote_ids: dict[int, str]) -> list[ClientGroup]:
        out = []
        for name, keys in self.groups:
            members = tuple(remote_ids[k] for k in keys if k in remote_ids)
            if members:
                out.append(ClientGroup(id=self.uuid(), name=name, member_ids=members, taxable=self.rng.random() < 0.3))
        return out


def generate_practice(n_clients: int, seed: int, country: str = "AU") -> SamplePractice:
    """A practice of `n_clients` true entities (see the module docstring)."""
    if n_clients < 0:
        raise ValueError("n_clients must be >= 0")
    return _Builder(n_clients, seed, country.upper()).build(seed)
