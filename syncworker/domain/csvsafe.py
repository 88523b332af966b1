"""CSV cells that spreadsheets cannot run: a cell from data that begins with `=`, `+`, `-`, `@`, tab or
carriage return is a formula to Excel and LibreOffice (`=cmd|' /C calc'!A0`, `=HYPERLINK(...)`), so it is
written with a leading `'` (OWASP, "CSV Injection"). Plain numbers (`-3.25`) stay as they are: they are no
formula and must stay numbers. Practice staff open our exports in Excel; every CSV we write goes through
`safe_writer`."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_column(values: Sequence[str]) -> list[str]:
    """`safe_cell` of each string of a column, at C speed where (as almost always) no value needs it:
    one joined string shows whether any value starts with a formula character, and only then is
    the column gone through cell by cell (a call per cell cost 1-2 s for a 100k-row export)."""
    joined = "\x00" + "\x00".join(values)
    if not any(_SEP_START[c] in joined for c in FORMULA_START):
        return list(values)
    return [safe_cell(v) for v in values]


_SEP_START = {c: "\x00" + c for c in FORMULA_START}


class SafeWriter:
    """`csv.writer` whose rows are neutralised cell by cell."""

    def __init__(self, fh: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)

    def writecolumns(self, columns: Sequence[Sequence[str]]) -> None:
        """Rows given column by column (all strings, of equal length), neutralised a column at a time."""
        self._writer.writerows(zip(*map(safe_column, columns), strict=True))


def safe_writer(fh: Any, **kwargs: Any) -> SafeWriter:
    return SafeWriter(fh, **kwargs)
