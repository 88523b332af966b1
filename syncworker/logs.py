"""Structured logging: JSON lines when not writing to a terminal, readable text when it is. Tokens,
secrets and personal data are redacted from messages and fields before anything is written."""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from syncworker.store.crypto import is_identifier_key

SENSITIVE_KEYS = re.compile(
    r"(token|secret|password|passwd|authorization|auth|api[_-]?key|signature|cookie|credential|"
    r"email|phone|mobile|name|address|date_of_birth|dob|tax[_-]?(file[_-]?)?n(umbe)?r|tfn|ird[_-]?n(umbe)?r|"
    r"business_number|abn|body|payload)",
    re.IGNORECASE,
)
_PATTERNS = [
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [REDACTED]"),
    (re.compile(r"(?i)\b(refresh_token|access_token|client_secret|code)=([^&\s]+)"), r"\1=[REDACTED]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL]"),
    # Digit runs long enough to be a phone or tax number; not ISO timestamps and dates (`2026-12-07`,
    # `12:30:05`), which operators need and which identify no one.
    (re.compile(r"(?<![\w:.-])(?!\d{4}-\d{2}-\d{2})\+?\d[\d ()-]{7,}\d(?![\w:-])"), "[NUMBER]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"), "[JWT]"),
]
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def redact_text(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _sensitive(key: str) -> bool:
    # A private identifier's key in any spelling (`TFN`, `IRD`, `TaxFileNumber`) as payloads are sealed by.
    return is_identifier_key(key) or \
        (SENSITIVE_KEYS.search(key) is not None and not key.endswith(("_id", "_count", "_at")))


def redact(value: Any, key: str | None = None) -> Any:
    if key is not None and _sensitive(key):
        return "[REDACTED]" if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def format_exception_safely(exc_info: Any) -> str:
    """A traceback operators can act on that quotes no data: the frames (file, line, code) and, per exception
    in the chain, its class and the first line of its message, redacted. SQLAlchemy's statement and
    parameters and PostgreSQL's DETAIL line (which quotes the offending values) come after the first line,
    so they never reach a log."""
    _, value, tb = exc_info
    parts: list[str] = []
    seen: set[int] = set()
    while value is not None and id(value) not in seen:
        seen.add(id(value))
        first = (str(value).strip().splitlines() or [""])[0]
        parts.append("Traceback (most recent call last):\n" + "".join(traceback.format_tb(tb))
                     + f"{type(value).__module__}.{type(value).__qualname__}: {redact_text(first)}")
        value = value.__cause__ or value.__context__
        tb = value.__traceback__ if value is not None else None
    return "\n\nwhich was caused by:\n".join(parts)


class SafeTextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return format_exception_safely(ei)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RESERVED:
                setattr(record, key, redact(value, key))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _ANSI.sub("", record.getMessage()),  # uvicorn colours some messages
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = format_exception_safely(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: Any = None) -> None:
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if use_json else SafeTextFormatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "alembic.runtime.migration", "apscheduler", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
