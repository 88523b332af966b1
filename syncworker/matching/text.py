"""Low-level text folding shared by every normaliser: case, diacritics, punctuation, white space."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

# Punctuation becomes a space, except apostrophes and dots which are dropped so that
# "O'Brien" -> "obrien" and "P.T.Y." -> "pty". "&" becomes " and " so both spellings meet.
_DROP = "'\u2019`."
_SPACE = "!\"#$%()*+,-/:;<=>?@[\\]^_{|}~\t\r\n\u2013\u2014"
_TABLE = str.maketrans({**{c: None for c in _DROP}, **{c: " " for c in _SPACE}, "&": " and "})
_WS = re.compile(r"\s+")
_ASCII_SPACE = "".join(c for c in _SPACE if c.isascii())
_ASCII_TABLE = bytes.maketrans(_ASCII_SPACE.encode(), b" " * len(_ASCII_SPACE))
_ASCII_DROP = "".join(c for c in _DROP if c.isascii()).encode()


def strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=50_000)  # given and family names repeat; one-off strings churn through
def fold(text: str | None) -> str:
    """Lower-case, accent-free, punctuation-free text with single spaces ('' for None)."""
    if not text:
        return ""
    if text.isascii():  # the common case, through a byte table (several times faster than str tables)
        if "&" in text:
            text = text.replace("&", " and ")
        return " ".join(text.lower().encode().translate(_ASCII_TABLE, _ASCII_DROP).decode().split())
    folded = strip_accents(text).lower().translate(_TABLE)
    return " ".join(folded.split())


JOIN = "\x00"  # folding keeps it and it is not white space: it joins texts to fold them as one


def folded_words(texts: Sequence[str]) -> list[list[str]]:
    """fold(text).split() of each text. The ASCII texts are folded together, as one string joined by a
    character none of them holds: a few string operations for all of them instead of several each."""
    words: list[list[str] | None] = [None] * len(texts)
    plain = [i for i, text in enumerate(texts) if text.isascii() and JOIN not in text]
    if plain:
        joined = JOIN.join([texts[i] for i in plain]).replace("&", " and ")
        folded = joined.lower().encode().translate(_ASCII_TABLE, _ASCII_DROP).decode()
        for i, text in zip(plain, folded.split(JOIN), strict=True):
            words[i] = text.split()
    return [fold(text).split() if w is None else w for text, w in zip(texts, words, strict=True)]


def fold_all(texts: Sequence[str], spelled: Mapping[str, str] | None = None) -> list[str]:
    """fold(text) of each text, each word that `spelled` holds replaced by its value ('st' -> 'street').

    When all texts are ASCII (the common case) they are folded as one string joined by JOIN (see
    folded_words), and their words too are split, replaced and re-joined all at once: a few string
    operations for the whole column instead of several Python steps per text."""
    joined = JOIN.join(texts)
    if joined.isascii() and joined.count(JOIN) == len(texts) - 1:
        return _fold_joined(joined, spelled)
    words = folded_words(texts)
    if spelled is not None:
        words = [list(map(spelled.get, w, w)) for w in words]
    return list(map(" ".join, words))


def _fold_joined(joined: str, spelled: Mapping[str, str] | None) -> list[str]:
    """fold_all of the ASCII texts joined by JOIN (none holding it)."""
    folded = joined.replace("&", " and ").lower().encode().translate(_ASCII_TABLE, _ASCII_DROP).decode()
    words: Iterable[str] = folded.replace(JOIN, f" {JOIN} ").split()  # JOIN stays a word of its own
    if spelled is not None:
        words = map(spelled.get, words, words)
    # Words joined by single spaces as fold does; each text's then loses the spaces around its JOINs.
    return list(map(str.strip, " ".join(words).split(JOIN)))


def squash(text: str) -> str:
    """Folded text without spaces, for compact keys."""
    return _WS.sub("", text)


def digits_only(text: str | None) -> str:
    if not text:
        return ""
    return _NON_DIGITS.sub("", text)


_NON_DIGITS = re.compile(r"[^0-9]")


def one_edit(a: str, b: str) -> bool:
    """One letter changed, dropped or added, or two neighbours swapped."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                   and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:k] + long_[k + 1:] == short for k in range(len(long_)))
