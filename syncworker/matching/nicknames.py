"""Common English given-name diminutives mapped to one canonical form.

A name maps to the canonical form of its group, so "bob" and "rob" both meet "robert".
Groups are deliberately conservative: a wrong entry can merge two different people.
"""

from __future__ import annotations

from .text import one_edit

_GROUPS: dict[str, tuple[str, ...]] = {
    "robert": ("rob", "robbie", "bob", "bobby", "bert"),
    "william": ("will", "bill", "billy", "willy", "liam"),
    "richard": ("rick", "ricky", "dick", "rich", "richie"),
    "katherine": ("kate", "katie", "kathy", "kath", "cathy", "catherine", "kathryn", "katharine", "kat", "kitty"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby", "elisabeth"),
    "margaret": ("maggie", "meg", "peggy", "marge", "margie", "greta"),
    "james": ("jim", "jimmy", "jamie"),
    "john": ("jack", "johnny", "jon"),
    "jonathan": ("jonny", "jono"),
    "michael": ("mike", "mick", "mickey", "micky"),
    "thomas": ("tom", "tommy"),
    "joseph": ("joe", "joey"),
    "christopher": ("chris", "kit"),
    "christine": ("chris", "chrissy", "christina", "tina"),
    "daniel": ("dan", "danny"),
    "matthew": ("matt", "matty"),
    "anthony": ("tony", "ant"),
    "andrew": ("andy", "drew"),
    "nicholas": ("nick", "nicky", "nic"),
    "benjamin": ("ben", "benny"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sam", "sammie"),
    "alexander": ("alex", "sandy", "xander"),
    "alexandra": ("alex", "sandra", "lexie"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "charles": ("charlie", "chuck", "chas"),
    "david": ("dave", "davy"),
    "stephen": ("steve", "stevie", "steven"),
    "peter": ("pete",),
    "patrick": ("pat", "paddy"),
    "patricia": ("pat", "patty", "trish", "tricia"),
    "timothy": ("tim", "timmy"),
    "gregory": ("greg",),
    "jennifer": ("jen", "jenny", "jenn"),
    "jessica": ("jess", "jessie"),
    "rebecca": ("becky", "bec", "becca"),
    "susan": ("sue", "susie", "suzie"),
    "deborah": ("deb", "debbie", "debra"),
    "victoria": ("vicky", "vicki", "tori"),
    "kimberly": ("kim",),
    "rachel": ("rach",),
    "abigail": ("abby", "abbie"),
    "frederick": ("fred", "freddie"),
    "lawrence": ("larry", "laurie"),
    "raymond": ("ray",),
    "ronald": ("ron", "ronnie"),
    "donald": ("don", "donnie"),
    "kenneth": ("ken", "kenny"),
    "douglas": ("doug",),
    "gerald": ("gerry", "jerry"),
    "harold": ("harry", "hal"),
    "henry": ("hank", "harry"),
    "jacqueline": ("jackie", "jacqui"),
    "josephine": ("jo", "josie"),
    "joanne": ("jo", "joanna"),
    "angela": ("angie",),
    "barbara": ("barb", "babs"),
    "dorothy": ("dot", "dottie"),
    "frances": ("fran", "frankie"),
    "francis": ("frank", "frankie"),
    "gabriel": ("gabe",),
    "jeffrey": ("jeff",),
    "joshua": ("josh",),
    "leonard": ("len", "lenny", "leo"),
    "louise": ("lou",),
    "matilda": ("tilly", "tilda"),
    "nathan": ("nate",),
    "nathaniel": ("nat", "nate"),
    "philip": ("phil", "phillip"),
    "vincent": ("vince", "vinny"),
    "zachary": ("zac", "zach", "zack"),
    "terence": ("terry",),
    "theodore": ("theo", "ted", "teddy"),
    "alfred": ("alf", "alfie"),
    "albert": ("al", "bert"),
    "allan": ("al", "alan", "allen"),
    "bradley": ("brad",),
    "cameron": ("cam",),
    "mitchell": ("mitch",),
    "jacob": ("jake",),
    "madeline": ("maddie", "maddy", "madeleine"),
    "natalie": ("nat",),
    "penelope": ("penny",),
    "rosemary": ("rosie",),
    "sarah": ("sara", "sally"),
    "ann": ("anne", "annie", "anna"),
    "helen": ("nell", "ellie"),
    "eleanor": ("ellie", "nora", "nell"),
}

# A diminutive shared by two groups (e.g. "chris", "pat") is ambiguous and maps to itself.
_counts: dict[str, int] = {}
for _canon, _alts in _GROUPS.items():
    for _alt in _alts:
        _counts[_alt] = _counts.get(_alt, 0) + 1

NICKNAMES: dict[str, str] = {
    alt: canon for canon, alts in _GROUPS.items() for alt in alts if _counts[alt] == 1 and alt not in _GROUPS
}
# Ambiguous diminutives: the set of canonical names they may stand for.
AMBIGUOUS: dict[str, frozenset[str]] = {
    alt: frozenset(c for c, alts in _GROUPS.items() if alt in alts) for alt, n in _counts.items() if n > 1
}


def canonical_given(name: str) -> str:
    """The canonical form of a folded given name ('bob' -> 'robert'); unknown names map to themselves."""
    return NICKNAMES.get(name, name)


def nickname_compatible(a: str, b: str) -> bool:
    """True when two folded given names are the same person's name under the nickname list."""
    if not a or not b:
        return False
    ca, cb = canonical_given(a), canonical_given(b)
    if ca == cb:
        return True
    return cb in AMBIGUOUS.get(a, ()) or ca in AMBIGUOUS.get(b, ())


def _groups_of(name: str) -> frozenset[str]:
    """The canonical names a known given name stands for (itself when it is one)."""
    groups = set(AMBIGUOUS.get(name, ()))
    if name in _GROUPS or name in NICKNAMES:
        groups.add(canonical_given(name))
    return frozenset(groups)


# Every given name the list knows (canonical, nickname or ambiguous): a name outside it may be a slip of one.
KNOWN_NAMES = frozenset(_GROUPS) | frozenset(NICKNAMES) | frozenset(AMBIGUOUS)
_MIN_SLIP_LENGTH = 3  # "al", "ed", "jo" are one letter from too many names to count a slip


def _deletions(name: str) -> set[str]:
    return {name, *(name[:k] + name[k + 1:] for k in range(len(name)))}


_BY_DELETION: dict[str, set[str]] = {}
for _name in KNOWN_NAMES:
    if len(_name) >= _MIN_SLIP_LENGTH:
        for _variant in _deletions(_name):
            _BY_DELETION.setdefault(_variant, set()).add(_name)


def slipped_groups(name: str) -> frozenset[str]:
    """For a given name the nickname list does not know ('toyn', 'jses'): the canonical names of the
    known names one slip away ('tony' -> anthony, 'jess' -> jessica). Known names: their own groups."""
    if name in KNOWN_NAMES or len(name) < _MIN_SLIP_LENGTH:
        return _groups_of(name)
    near = {k for v in _deletions(name) for k in _BY_DELETION.get(v, ()) if one_edit(name, k)}
    return frozenset(g for k in near for g in _groups_of(k))


def slipped_nickname(a: str, b: str) -> bool:
    """Two given names that are one name under the nickname list once a slip in one of them is
    undone ('Toyn' / 'Anthony', 'Tonny' / 'Anthrny', 'Jses' / 'Jessica'). Two known names are left to
    the list itself: 'Jake' is not 'Jack'."""
    if not a or not b or (a in KNOWN_NAMES and b in KNOWN_NAMES):
        return False
    return bool(slipped_groups(a) & slipped_groups(b))
