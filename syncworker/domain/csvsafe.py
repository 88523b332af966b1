"""CSV cells that spreadsheets cannot run: a cell from data that begins with `=`, `+`, `-`, `@`, tab or
carriage return is a formula to Excel and LibreOffice (`=cmd|' /C calc'!A0`, `=HYPERLINK(...)`), so it is
written with a leading `'` (OWASP, "CSV Injection"). Plain numbers (`-3.25`) stay as they are: they are no
formula and must stay numbers. Practice staff open our exports in Excel; every CSV we write goes through
`safe_writer`."""

from __future__ import annotations

import csv
import itertools
import operator
import re
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    # The usual signed decimal ("-3.25") without the regular expression: a column of negative
    # weights is all such cells. (str.isdecimal holds for exactly the digits the pattern's \d takes.)
    return (text[:1] in ("-", "+") and text[1:].replace(".", "", 1).isdecimal()) or bool(_NUMBER.fullmatch(text))


def safe_column(values: Sequence[str]) -> list[str]:
    """`safe_cell` of each string of a column, at C speed where (as almost always) no value needs it:
    the set of first characters shows whether any value starts with a formula character, and only
    then is the column gone through cell by cell (a call per cell cost 1-2 s for a 100k-row export)."""
    if _FORMULA_CHARS.isdisjoint(map(_FIRST_CHAR, values)):
        return list(values)
    return [v if not v.startswith(FORMULA_START) or _is_number(v) else "'" + v for v in values]


_FORMULA_CHARS = frozenset(FORMULA_START)  # (each one character)
_FIRST_CHAR = operator.itemgetter(slice(0, 1))


class SafeWriter:
    """`csv.writer` whose rows are neutralised cell by cell."""

    def __init__(self, fh: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(fh, **kwargs)
        self._fh, self._plain = fh, not kwargs  # csv's default dialect: writecolumns may join rows itself

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)

    def writecolumns(self, columns: Sequence[Sequence[str]]) -> None:
        """Rows given column by column (all strings, of equal length), neutralised a column at a time.

        In the default dialect (and with two columns or more: a row of one empty cell is quoted) the
        rows are written as csv.writer writes them, with each column quoted a column at a time like
        it is neutralised: csv.writer's call per row cost half a second for a 200k-row export."""
        safe = list(map(safe_column, columns))
        if not self._plain or len(safe) < 2:
            self._writer.writerows(zip(*safe, strict=True))
            return
        rows = zip(*map(_quoted_column, safe), strict=True)
        while chunk := list(itertools.islice(rows, _CHUNK_ROWS)):  # the text of a chunk at a time
            self._fh.write("".join(map(_ROW.format, map(",".join, chunk))))


_ROW = "{}\r\n"  # csv's default line terminator
_QUOTE_IF = (",", '"', "\r", "\n")  # QUOTE_MINIMAL: the delimiter, the quote character, a line break
_CHUNK_ROWS = 50_000


def _quoted_column(values: list[str]) -> list[str]:
    """Each value as csv's default dialect writes it: in double quotes (inner ones doubled) where it
    holds a comma, a quote or a line break, else as it is."""
    joined = "\x00".join(values)
    if not any(c in joined for c in _QUOTE_IF):
        return values
    return ['"' + v.replace('"', '""') + '"' if "," in v or '"' in v or "\r" in v or "\n" in v else v for v in values]


def safe_writer(fh: Any, **kwargs: Any) -> SafeWriter:
    return SafeWriter(fh, **kwargs)
