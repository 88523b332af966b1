"""Common English given-name diminutives mapped to one canonical form.

A name maps to the canonical form of its group, so "bob" and "rob" both meet "robert".
Groups are deliberately conservative: a wrong entry can merge two different people.
"""

from __future__ import annotations

_GROUPS: dict[str, tuple[str, ...]] = {
    "robert": ("rob", "robbie", "bob", "bobby", "bert"),
    "william": ("will", "bill", "billy", "willy", "liam"),
    "richard": ("rick", "ricky", "dick", "rich", "richie"),
    "katherine": ("kate", "katie", "kathy", "kath", "cathy", "catherine", "kathryn", "katharine", "kat", "kitty"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby", "lisa", "elisabeth"),
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
