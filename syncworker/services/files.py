"""Reading operator files (CSV or JSON) into rows that remember where they came from, reporting every
line that is not valid UTF-8 instead of stopping at the first."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class FileUnreadable(ValueError):
    """The file as a whole cannot be read (missing, empty, not CSV/JSON, bad header)."""


@dataclass(slots=True)
class SourceRow:
    location: str  # "line 7" (CSV) or "record 3" (JSON)
    values: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # problems found while reading (encoding, shape)


@dataclass(slots=True)
class SourceFile:
    columns: list[str]
    rows: list[SourceRow]


def read_records(path: Path) -> SourceFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileUnreadable(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FileUnreadable(f"{path}: is a directory") from None
    if not raw.strip():
        raise FileUnreadable(f"{path}: the file is empty")
    if path.suffix.lower() == ".json" or raw.lstrip()[:1] in (b"[", b"{"):
        return _read_json(path, raw)
    return _read_csv(path, raw)


def _decode_lines(raw: bytes) -> tuple[str, dict[int, str]]:
    """Decode as UTF-8 line by line; bad lines are kept (with replacement characters, so the CSV structure
    survives) and reported by line number."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    bad: dict[int, str] = {}
    parts = []
    for number, line in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            parts.append(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            bad[number] = (
                f"not valid UTF-8 (byte 0x{line[exc.start]:02X} at column {exc.start + 1}); save the file as UTF-8"
            )
            parts.append(line.decode("utf-8", errors="replace"))
    return "".join(parts), bad


def _read_csv(path: Path, raw: bytes) -> SourceFile:
    text, bad_lines = _decode_lines(raw)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise FileUnreadable(f"{path}: cannot read the CSV header: {exc}") from None
    if 1 in bad_lines:
        raise FileUnreadable(f"{path}: line 1 (the header) is {bad_lines[1]}")
    columns = [c.strip().lower() for c in header]
    rows: list[SourceRow] = []
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append(SourceRow(f"line {start}", {}, [f"malformed CSV: {exc}"]))
            start = reader.line_num + 1
            continue
        end = reader.line_num
        if not any(cell.strip() for cell in record):  # blank line
            start = end + 1
            continue
        problems = [bad_lines[n] for n in range(start, end + 1) if n in bad_lines]
        if len(record) != len(columns):
            problems.append(f"has {len(record)} fields, the header has {len(columns)}")
        rows.append(SourceRow(f"line {start}", dict(zip(columns, record, strict=False)), problems))
        start = end + 1
    return SourceFile(columns, rows)


def _read_json(path: Path, raw: bytes) -> SourceFile:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileUnreadable(f"{path}: line {line} is not valid UTF-8; save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise FileUnreadable(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise FileUnreadable(f"{path}: JSON nested too deeply (records are flat objects)") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))  # {"clients": [...]} or {"contacts": [...]}
    if not isinstance(data, list):
        raise FileUnreadable(f"{path}: expected a JSON array of records")
    columns: list[str] = []
    rows = []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            rows.append(SourceRow(f"record {index}", {}, ["is not a JSON object"]))
            continue
        values = {str(k).strip().lower(): v for k, v in item.items()}
        nested = [k for k, v in values.items() if isinstance(v, dict | list)]
        problems = [f"{k}: must be a plain value, not {type(values[k]).__name__}" for k in nested]
        for key in values:
            if key not in columns:
                columns.append(key)
        rows.append(SourceRow(f"record {index}", values, problems))
    return SourceFile(columns, rows)
