"""CSV cells that spreadsheets cannot run: a cell from data that begins with `=`, `+`, `-`, `@`, tab or
carriage return is a formula to Excel and LibreOffice (`=cmd|' /C calc'!A0`, `=HYPERLINK(...)`), so it is
written with a leading `'` (OWASP, "CSV Injection"). Plain numbers (`-3.25`) stay as they are: they are no
formula and must stay numbers. Practice staff open our exports in Excel; every CSV we write goes through
`safe_writer`."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeWriter:
    """`csv.writer` whose rows are neutralised cell by cell."""

    def __init__(self, fh: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(fh: Any, **kwargs: Any) -> SafeWriter:
    return SafeWriter(fh, **kwargs)
