"""Realistic noisy practices with ground truth: one practice's clients as the local system and a
remote system (XPM-like) see them.

Noise modelled: typos, swapped and missing tokens, nicknames, "Last, First", titles, initials and
middle names, legal-form and trust-name variants, trading names, couples, families sharing an address
and surname (not duplicates), same-named father and son, trustee companies beside their trusts,
numbered entities ("... No 2"), true duplicates inside the local list, missing fields, masked tax
numbers, phone formats and street-type abbreviations. All names are generated; no real people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from syncworker.domain.profile import Address, ClientKind, ClientProfile, ClientStatus

GIVEN_M = """james john robert michael william david richard joseph thomas charles christopher daniel matthew
anthony andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary nicholas
eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander frank patrick raymond jack
dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle noah ethan jeremy walter christian
keith roger terry austin sean gerald carl harold dylan arthur lawrence jordan jesse bryan billy bruce gabriel
joe logan alan juan albert willie elijah wayne randy vincent mason roy ralph bobby russell bradley philip
eugene liam oliver lachlan cooper hamish angus callum declan fergus rhys toby hugo felix oscar archie harvey
mitchell cameron blake riley jayden nguyen wei hiroshi rajesh arjun mohammed ali omar luca marco giovanni""".split()
GIVEN_F = """mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret
sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca sharon laura
cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha katherine christine debra
rachel carolyn janet catherine maria heather diane ruth julie olivia joyce virginia victoria kelly lauren
christina joan evelyn judith megan andrea cheryl hannah jacqueline martha gloria teresa ann sara madison frances
kathryn janice jean abigail alice judy sophia grace denise amber doris marilyn danielle beverly isabella
charlotte chloe mia zoe matilda ruby isla willow harper ivy sienna georgia eloise priya mei yuki fatima aisha
giulia francesca sofia chiara lucia""".split()
SURNAMES = """smith jones williams brown wilson taylor johnson white martin anderson thompson nguyen thomas walker
harris lee ryan robinson kelly king davis wright evans roberts green hall wood jackson clarke patel khan lewis
james phillips mitchell turner moore walsh campbell murphy scott young edwards hill baker cooper morris ward
mcdonald collins russell stewart watson bell chen wang li zhang liu tran pham le hoang murray harrison
thomson grant fraser sullivan oconnor obrien hughes price bennett gray cook kennedy wallace carter morgan
hunt parker dixon ellis graham fisher hamilton mason reid simpson marshall stevens webb burke gibson palmer
matthews shaw lloyd hayes sharp crawford harvey holmes knight barnes lawrence henderson mills rose fox
wells spencer jenkins hunter dawson pearce fletcher lane porter warren armstrong ferguson chapman cole
duncan ross rogers howard ford berry andrews gordon black hart payne long adams hudson mcKenzie chambers
saunders mckay grey curtis douglas mann pearson todd riley hardy tucker kerr byrne doyle flynn quinn
costa rossi russo romano greco bruno esposito ricci marino conti lombardi moretti barbieri fontana
mueller schmidt schneider fischer weber meyer wagner becker schulz hoffmann koch richter klein wolf
schroeder neumann schwarz zimmermann braun kruger hofmann hartmann lange schmitt werner krause
kowalski nowak wisniewski wojcik kaminski lewandowski zielinski szymanski dabrowski kozlowski
papadopoulos nikolaidis georgiou dimitriou ioannou pappas andreou christodoulou vlahos katsaros
singh sharma kumar gupta verma reddy rao iyer menon pillai nair das bose sen chatterjee
tanaka suzuki takahashi watanabe ito yamamoto nakamura kobayashi kato yoshida yamada sasaki
kim park choi jung kang cho yoon jang lim han oh seo shin kwon hwang ahn song""".split()
_SYLLABLES = "bar ber bin bor cal cor dan del den dor fal fen gar gil han hol kar kel lan lor mar mel mor nor pal per ran ril sal sel tar tel val ven wal win".split()
_ENDINGS = "ton son ley field worth wood by ham man dale stone ridge ford well more hurst er s".split()
BIZ_WORDS = """harbour coastal summit pinnacle southern northern eastern western pacific outback red gum wattle
banksia kookaburra platypus emu bluegum ironbark sandstone granite river valley mountain bay ocean
reef island harbourside city metro urban rural country bush paddock orchard vineyard dairy grain
cattle sheep timber steel copper silver golden diamond crystal precision quality premier prime elite
smart clever bright swift rapid express direct total complete alpha omega delta apex vertex zenith
horizon sunrise sunset northstar compass anchor beacon lighthouse bridge gateway pathway junction
crossroads cornerstone keystone foundation heritage legacy pioneer frontier venture quest""".split()
BIZ_TRADES = """plumbing electrical building construction carpentry landscaping cleaning catering consulting
accounting legal medical dental physio pharmacy bakery cafe butchery transport logistics freight
couriers engineering design architecture marketing media printing signs automotive mechanical
panel beating tyres hardware nursery florist fitness yoga salon barber tattoo photography events
security roofing painting tiling flooring glazing fencing pools solar hvac refrigeration""".split()
BIZ_SUFFIX = ["", "", "", "group", "holdings", "services", "solutions", "enterprises", "industries", "partners",
              "australia", "investments", "properties", "co"]
STREETS = """main high church station george king queen victoria albert elizabeth william park railway bridge
mill river beach ocean hill forest lake garden school market oxford cambridge york wellington nelson
collins bourke flinders swanston pitt macquarie hunter sussex kent clarence harris jones smith anzac
banksia wattle acacia grevillea jacaranda waratah boronia melaleuca casuarina eucalypt""".split()
STREET_TYPES = [("street", "st"), ("road", "rd"), ("avenue", "ave"), ("drive", "dr"), ("court", "ct"),
                ("place", "pl"), ("crescent", "cres"), ("parade", "pde"), ("terrace", "tce"), ("lane", "ln")]
SUBURBS = """richmond carlton fitzroy brunswick northcote preston coburg essendon footscray williamstown
manly bondi coogee randwick paddington glebe newtown balmain mosman chatswood parramatta penrith
toowong paddington newfarm indooroopilly sunnybank fremantle subiaco cottesloe scarborough
glenelg norwood unley prospect hobart sandy bay launceston kingston belconnen woden tuggeranong
geelong ballarat bendigo wollongong newcastle maitland toowoomba cairns townsville darwin""".split()
NICKS = {"robert": "bob", "william": "bill", "richard": "rick", "katherine": "kate", "elizabeth": "liz",
         "margaret": "maggie", "james": "jim", "michael": "mike", "thomas": "tom", "joseph": "joe",
         "christopher": "chris", "daniel": "dan", "matthew": "matt", "anthony": "tony", "andrew": "andy",
         "nicholas": "nick", "benjamin": "ben", "samuel": "sam", "alexander": "alex", "edward": "ted",
         "charles": "charlie", "david": "dave", "stephen": "steve", "patrick": "pat", "timothy": "tim",
         "jennifer": "jenny", "jessica": "jess", "rebecca": "becky", "susan": "sue", "deborah": "deb",
         "victoria": "vicky", "gregory": "greg", "jacob": "jake", "zachary": "zac", "catherine": "cathy",
         "abigail": "abby", "kathleen": "kathy", "patricia": "trish", "jacqueline": "jackie", "peter": "pete"}
TITLES = ["Mr", "Mrs", "Ms", "Dr", "Miss"]
DOMAINS = ["gmail.com", "outlook.com", "bigpond.com", "icloud.com", "yahoo.com.au", "optusnet.com.au"]


@dataclass(slots=True)
class Entity:
    key: int
    kind: ClientKind
    given: str = ""
    middle: str = ""
    family: str = ""
    given2: str = ""  # couples
    suffix: str = ""
    org_core: str = ""  # organisation words (title case)
    org_form: str = ""  # "Pty Ltd", "Trust", ...
    trustee: str = ""  # trustee company name of a trust
    trading: str = ""
    email: str = ""
    phone: str = ""
    mobile: str = ""
    street_no: str = ""
    street: str = ""
    street_type: tuple[str, str] = ("street", "st")
    suburb: str = ""
    postcode: str = ""
    dob: date | None = None
    tfn: str = ""
    abn: str = ""


@dataclass(slots=True)
class Practice:
    local: list[ClientProfile]
    remote: list[ClientProfile]
    local_entity: dict[str, int]  # local id -> entity key
    remote_entity: dict[str, int]
    dup_pairs: set[tuple[str, str]] = field(default_factory=set)  # true duplicate pairs within local


def _tfn(rng: random.Random) -> str:
    weights = (1, 4, 3, 7, 5, 8, 6, 9, 10)
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        partial = sum(w * d for w, d in zip(weights, digits, strict=False))
        for last in range(10):
            if (partial + 10 * last) % 11 == 0:
                return "".join(map(str, digits + [last]))


def _abn(rng: random.Random) -> str:
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    rest = [rng.randint(0, 9) for _ in range(9)]
    partial = sum(w * d for w, d in zip(weights[2:], rest, strict=True))
    for d1 in range(1, 10):
        for d2 in range(10):
            if (10 * (d1 - 1) + d2 + partial) % 89 == 0:
                return "".join(map(str, [d1, d2, *rest]))
    return _abn(rng)


class _Names:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        synthetic = {rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) + rng.choice(_ENDINGS) for _ in range(6000)}
        self.surnames = SURNAMES + sorted(synthetic)
        # Zipf-like: common surnames are much more common.
        self.surname_weights = [1.0 / (i + 8) for i in range(len(self.surnames))]

    def surname(self) -> str:
        return self.rng.choices(self.surnames, self.surname_weights)[0].lower()

    def given(self, female: bool | None = None) -> str:
        female = self.rng.random() < 0.5 if female is None else female
        pool = GIVEN_F if female else GIVEN_M
        return pool[min(int(self.rng.expovariate(1 / 40)), len(pool) - 1)]


def _phone(rng: random.Random, mobile: bool) -> str:
    if mobile:
        return f"04{rng.randint(0, 99):02d}{rng.randint(0, 999999):06d}"
    return f"0{rng.choice('2378')}{rng.randint(0, 99999999):08d}"


def _address(rng: random.Random, e: Entity) -> None:
    e.street_no = str(rng.randint(1, 400)) if rng.random() > 0.15 else f"{rng.randint(1, 30)}/{rng.randint(1, 200)}"
    e.street = rng.choice(STREETS)
    e.street_type = rng.choice(STREET_TYPES)
    e.suburb = rng.choice(SUBURBS)
    e.postcode = str(rng.randint(2000, 7999))


def _person(rng, names: _Names, key: int, family: str | None = None, female=None, year=None) -> Entity:
    e = Entity(key, ClientKind.INDIVIDUAL, given=names.given(female), family=family or names.surname())
    if rng.random() < 0.35:
        e.middle = names.given()
    year = year or rng.randint(1935, 2004)
    e.dob = date(year, rng.randint(1, 12), rng.randint(1, 28))
    e.email = _person_email(rng, e)
    e.mobile = _phone(rng, True)
    if rng.random() < 0.3:
        e.phone = _phone(rng, False)
    if rng.random() < 0.7:
        e.tfn = _tfn(rng)
    return e


def _person_email(rng: random.Random, e: Entity) -> str:
    # Distinct people never share a personal address (families may share one, set separately).
    return f"{e.given}.{e.family}{e.key}@{rng.choice(DOMAINS)}"


def _org_words(rng: random.Random, names: _Names) -> str:
    shape = rng.random()
    if shape < 0.3:
        words = [names.surname().title(), rng.choice(BIZ_TRADES).title()]
    elif shape < 0.6:
        words = [rng.choice(BIZ_WORDS).title(), rng.choice(BIZ_TRADES).title()]
    elif shape < 0.8:
        words = [rng.choice(BIZ_WORDS).title(), rng.choice(BIZ_WORDS).title()]
    else:
        words = [names.surname().title(), "&", names.surname().title()]
    suffix = rng.choice(BIZ_SUFFIX)
    if suffix:
        words.append(suffix.title())
    return " ".join(words)


def _entities(n: int, rng: random.Random) -> list[Entity]:
    names = _Names(rng)
    out: list[Entity] = []
    while len(out) < n:
        r = rng.random()
        key = len(out)
        if r < 0.22:  # a single person
            out.append(_person(rng, names, key))
        elif r < 0.34:  # a household: parents and adult children, same surname and address
            family = names.surname()
            parent_year = rng.randint(1940, 1975)
            members = [_person(rng, names, key, family, False, parent_year),
                       _person(rng, names, key + 1, family, True, parent_year + rng.randint(-3, 3))]
            for c in range(rng.randint(0, 3)):
                members.append(_person(rng, names, key + 2 + c, family, None, parent_year + rng.randint(22, 35)))
            if rng.random() < 0.15:  # a son with his father's name
                junior = _person(rng, names, key + len(members), family, False, parent_year + 28)
                junior.given = members[0].given
                junior.email = _person_email(rng, junior)
                members.append(junior)
            _address(rng, members[0])
            landline = _phone(rng, False)
            shared_email = f"{family}.family@{rng.choice(DOMAINS)}" if rng.random() < 0.4 else ""
            for m in members:
                m.street_no, m.street, m.street_type = members[0].street_no, members[0].street, members[0].street_type
                m.suburb, m.postcode = members[0].suburb, members[0].postcode
                m.phone = landline if rng.random() < 0.6 else m.phone
                if shared_email and rng.random() < 0.6:
                    m.email = shared_email
            for i, m in enumerate(members):
                m.key = key + i
            out.extend(members)
            continue
        elif r < 0.42:  # a couple client
            e = _person(rng, names, key, female=False)
            e.given2 = names.given(True)
            e.email = f"{e.family}s@{rng.choice(DOMAINS)}"
            out.append(e)
        elif r < 0.47:  # sole trader
            e = _person(rng, names, key)
            e.kind = ClientKind.SOLE_TRADER
            if rng.random() < 0.5:
                e.trading = f"{e.family.title()} {rng.choice(BIZ_TRADES).title()}"
            out.append(e)
        elif r < 0.72:  # company, sometimes numbered siblings
            e = Entity(key, ClientKind.COMPANY, org_core=_org_words(rng, names), org_form="Pty Ltd")
            if rng.random() < 0.1:
                e.trading = f"{rng.choice(BIZ_WORDS).title()} {rng.choice(BIZ_TRADES).title()}"
            out.append(e)
            if rng.random() < 0.05:
                sibling = Entity(key + 1, ClientKind.COMPANY, org_core=e.org_core + " No 2", org_form="Pty Ltd")
                out.append(sibling)
        elif r < 0.95:  # a family trust with its trustee company (both clients)
            family = names.surname().title()
            trustee = Entity(key, ClientKind.COMPANY, org_core=f"{family} {rng.choice(['Nominees', 'Holdings', 'Investments', 'Enterprises'])}", org_form="Pty Ltd")
            trust = Entity(key + 1, ClientKind.TRUST, org_core=f"{family} {rng.choice(['Family', 'Family', 'Investment', 'Unit', 'Superannuation'])}",
                           org_form="Trust" if "Superannuation" not in family else "Fund", trustee=f"{trustee.org_core} Pty Ltd")
            if trust.org_core.endswith("Superannuation"):
                trust.org_form = "Fund"
            out.extend([trustee, trust])
        else:  # partnership
            a, b = names.surname().title(), names.surname().title()
            out.append(Entity(key, ClientKind.PARTNERSHIP, org_core=f"{a} & {b}", org_form="Partners"))
    for e in out:
        if not e.postcode:
            _address(rng, e)
        if not e.kind.is_person:
            slug = e.org_core.lower().replace(" ", "").replace("&", "")
            slug += str(e.key)  # same-named entities (two Smith Family Trusts) have their own domains
            e.email = f"{rng.choice(['info', 'admin', 'accounts', 'office'])}@{slug}.com.au"
            e.phone = _phone(rng, False)
            e.abn = _abn(rng) if rng.random() < 0.8 else ""
            if e.kind == ClientKind.TRUST and rng.random() < 0.7:
                e.tfn = _tfn(rng)
        if e.kind == ClientKind.SOLE_TRADER:
            e.abn = _abn(rng)
    return out[:n]


# ---- noise ---------------------------------------------------------------------------------------

def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.random()
    if op < 0.3:
        return word[:i] + word[i + 1 :]
    if op < 0.6:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op < 0.8:
        return word[:i] + rng.choice("aeiounrst") + word[i + 1 :]
    return word[:i] + rng.choice("aeiounrst") + word[i:]


def _maybe(rng, p: float, value: str) -> str:
    return "" if rng.random() < p else value


def _phone_format(rng: random.Random, number: str) -> str:
    if not number:
        return ""
    style = rng.random()
    if style < 0.4:
        return number
    if style < 0.7:
        return "+61 " + number[1:4] + " " + number[4:7] + " " + number[7:]
    return number[:4] + " " + number[4:7] + " " + number[7:]


def _person_name(rng: random.Random, e: Entity, noise: float) -> tuple[str, str, str, str]:
    given, family, middle = e.given, e.family, e.middle
    if rng.random() < noise * 0.6 and given in NICKS:
        given = NICKS[given]
    if rng.random() < noise * 0.5:
        family = _typo(rng, family)
    elif rng.random() < noise * 0.4:
        given = _typo(rng, given)
    if rng.random() < 0.3:
        middle = middle[:1]
    elif rng.random() < 0.3:
        middle = ""
    g, f, m = given.title(), family.title(), middle.title()
    if e.given2:
        second = e.given2.title()
        style = rng.random()
        if style < 0.4:
            name = f"{f}, {g}{' ' + m[:1] + '.' if m else ''} & {second}"
        elif style < 0.8:
            name = f"{g} and {second} {f}"
        else:
            name = f"{g} & {second} {f}"
        return name, g, m, f
    style = rng.random()
    if style < 0.3:
        name = f"{f}, {g}{' ' + m if m else ''}"
    elif style < 0.45:
        name = f"{rng.choice(TITLES)} {g} {f}"
    else:
        name = " ".join(x for x in (g, m, f) if x)
    if e.trading and rng.random() < 0.5:
        name += f" T/A {e.trading}"
    if rng.random() < 0.1:
        name = name.upper()
    return name, g, m, f


def _org_name(rng: random.Random, e: Entity, noise: float) -> str:
    core = e.org_core
    if rng.random() < noise * 0.4:
        words = core.split()
        k = rng.randrange(len(words))
        words[k] = _typo(rng, words[k])
        core = " ".join(words)
    if rng.random() < noise * 0.2 and "&" in core:
        core = core.replace("&", "and")
    if e.kind == ClientKind.TRUST:
        style = rng.random()
        if style < 0.3:
            return f"{core} {e.org_form}"
        if style < 0.55:
            return f"The {core} {e.org_form}"
        if style < 0.8:
            return f"The Trustee for the {core} {e.org_form}"
        return f"{e.trustee} ATF {core} {e.org_form}"
    form = e.org_form
    if e.kind == ClientKind.COMPANY:
        form = rng.choice(["Pty Ltd", "Pty Ltd", "Pty. Ltd.", "PTY LTD", "Proprietary Limited", "Pty Limited", ""])
    name = f"{core} {form}".strip()
    if e.trading and rng.random() < 0.4:
        name += f" T/A {e.trading}"
    if rng.random() < 0.1:
        name = name.upper()
    return name


def render(e: Entity, rid: str, rng: random.Random, noise: float, remote: bool) -> ClientProfile:
    """One system's view of an entity, with that system's noise."""
    st_full, st_abbr = e.street_type
    street_type = st_abbr if rng.random() < 0.5 else st_full
    line1 = f"{e.street_no} {e.street.title()} {street_type.title()}"
    if rng.random() < noise * 0.3:
        line1 = _typo(rng, line1)
    address = Address(line1=line1, city=e.suburb.title(), postcode=e.postcode, country="AU")
    if rng.random() < noise * 0.3:
        address = Address(city=e.suburb.title(), postcode=e.postcode)
    tax = e.tfn
    if remote and tax and rng.random() < 0.7:
        tax = "******" + tax[-3:]  # XPM masks tax numbers on read
    email = e.email
    if rng.random() < noise * 0.15 and email:
        email = "old." + email  # an outdated address
    common = dict(
        email=_maybe(rng, noise * 0.5, email.upper() if rng.random() < 0.1 else email),
        phone=_maybe(rng, noise * 0.6, _phone_format(rng, e.phone)),
        mobile=_maybe(rng, noise * 0.5, _phone_format(rng, e.mobile)),
        address=None if rng.random() < noise * 0.3 else address,
        tax_number=_maybe(rng, noise * 0.5, tax) or None,
        business_number=_maybe(rng, noise * 0.4, e.abn) or None,
        status=ClientStatus.ARCHIVED if remote and rng.random() < 0.03 else ClientStatus.ACTIVE,
    )
    if e.kind.is_person:
        name, g, m, f = _person_name(rng, e, noise)
        structured = rng.random() < 0.6
        return ClientProfile(
            rid, e.kind, name, given_name=g if structured else None, middle_name=m or None if structured else None,
            family_name=f if structured else None,
            date_of_birth=None if rng.random() < (0.5 if remote else 0.15) else e.dob, **common,
        )
    return ClientProfile(rid, e.kind, _org_name(rng, e, noise), **common)


def generate_practice(n: int, seed: int = 1, noise: float = 0.5) -> Practice:
    """About n records per side; 85% of entities are in both systems, 3% are duplicated locally."""
    rng = random.Random(seed)
    entities = _entities(int(n / 0.92), rng)
    local: list[ClientProfile] = []
    remote: list[ClientProfile] = []
    local_entity: dict[str, int] = {}
    remote_entity: dict[str, int] = {}
    dup_pairs: set[tuple[str, str]] = set()
    for e in entities:
        in_local = rng.random() < 0.92
        in_remote = rng.random() < (0.92 if in_local else 1.0)
        if in_local:
            lid = f"L{e.key}"
            local.append(render(e, lid, rng, noise * 0.5, remote=False))
            local_entity[lid] = e.key
            if rng.random() < 0.03:
                did = f"L{e.key}d"
                local.append(render(e, did, rng, noise, remote=False))
                local_entity[did] = e.key
                dup_pairs.add((lid, did) if lid < did else (did, lid))
        if in_remote:
            rid = f"R{e.key}"
            remote.append(render(e, rid, rng, noise, remote=True))
            remote_entity[rid] = e.key
    rng.shuffle(local)
    rng.shuffle(remote)
    return Practice(local, remote, local_entity, remote_entity, dup_pairs)
