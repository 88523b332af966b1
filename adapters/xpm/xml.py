"""XPM's XML envelope and value quirks, in one place.

Parsing uses defusedxml only (no entities, no DTDs: the body comes from the network). Rendering uses the
standard library's ElementTree, which escapes text and is safe for output.

Quirks (xpm_aps_xero.md §1.3, §1.5, §4):
- `<Status>ERROR</Status>` can come with HTTP 200, so the envelope is always checked;
- a collection with one element is still a collection: always read `Clients/Client` etc. as lists;
- booleans are the strings "Yes"/"No";
- empty elements (`<Fax />`) mean "no value" (None), never "";
- multi-line `Address` text is indented: trim every line, drop blank ones.
"""

from __future__ import annotations

import math
import re
import uuid as uuidlib
import xml.etree.ElementTree as ET
from datetime import date, datetime
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from adapters.errors import MalformedResponse, NotFound, RemoteRejected

# XPM words "not found" errors in several ways; these are the ones seen in its docs and forums.
_NOT_FOUND = re.compile(r"not\s+found|does\s+not\s+exist|no\s+\w+\s+found|unknown\s+(client|uuid|group)", re.I)
_MAX_DESCRIPTION = 300
# Everything the parser raises on a hostile body: an unknown or non-text `encoding=` in the declaration is a
# LookupError, a bad byte sequence a UnicodeError (a ValueError), deep nesting a RecursionError.
PARSE_ERRORS = (ET.ParseError, DefusedXmlException, ValueError, LookupError, RecursionError)
# Whole numbers XPM sends (NumberOfShares) fit a 64-bit column; anything larger is not a value we keep.
_MAX_INT = 2**63 - 1


def parse_envelope(body: bytes) -> Element:
    """The `<Response>` root of a successful call; raises on ERROR status or unparseable XML."""
    root = parse_xml(body)
    if root.tag != "Response":
        raise MalformedResponse(f"expected <Response>, got <{root.tag[:40]}>")
    status = (root.findtext("Status") or "").strip().upper()
    if status == "OK":
        return root
    if status == "ERROR":
        raise_error_description(root.findtext("ErrorDescription"))
    raise MalformedResponse(f"unexpected <Status> {status[:20]!r}")


def parse_xml(body: bytes) -> Element:
    try:
        return SafeET.fromstring(body)
    except PARSE_ERRORS as exc:
        raise MalformedResponse(f"unparseable XML ({type(exc).__name__})") from exc


def error_description(body: bytes) -> str | None:
    """The ErrorDescription of an XML error body, if the body is one."""
    try:
        root = SafeET.fromstring(body)
    except PARSE_ERRORS:
        return None
    return _clip(root.findtext("ErrorDescription"))


def raise_error_description(description: str | None) -> None:
    text = _clip(description) or "XPM answered Status ERROR without a description"
    if _NOT_FOUND.search(text):
        raise NotFound(text)
    raise RemoteRejected(text)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text[:_MAX_DESCRIPTION] or None


# --- reading values ---
def text(el: Element | None, tag: str) -> str | None:
    """Trimmed text of a child; None when the child is missing or empty."""
    if el is None:
        return None
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    value = child.text.strip()
    return value or None


def lines(el: Element | None, tag: str) -> list[str]:
    """A multi-line free-text field as its non-blank, trimmed lines."""
    value = text(el, tag)
    if value is None:
        return []
    return [line.strip() for line in value.splitlines() if line.strip()]


def yes_no(el: Element | None, tag: str) -> bool | None:
    value = text(el, tag)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("yes", "true", "1"):
        return True
    if lowered in ("no", "false", "0"):
        return False
    return None


def items(el: Element | None, collection: str, item: str) -> list[Element]:
    """Members of a collection element, always as a list (one element or none are still a list)."""
    if el is None:
        return []
    container = el.find(collection)
    return [] if container is None else container.findall(item)


def date_value(el: Element | None, tag: str) -> date | None:
    """XPM dates come as `1970-11-26` or `1970-11-26T00:00:00`."""
    value = text(el, tag)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value[:19]).date() if "T" in value else date.fromisoformat(value[:10])
    except ValueError:
        return None


def int_value(el: Element | None, tag: str) -> int | None:
    """A whole number; None when missing, not a number, not finite or beyond 64 bits (like a bad date)."""
    number = float_value(el, tag)
    return int(number) if number is not None and abs(number) <= _MAX_INT else None


def float_value(el: Element | None, tag: str) -> float | None:
    """A finite number; None when missing or not one (`inf`, `nan` and `1e999` are not values)."""
    value = text(el, tag)
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def uuid_value(el: Element | None, tag: str) -> str | None:
    """A UUID in its canonical lower-case form; None when missing. A malformed one makes the record
    unreadable (`MalformedResponse`): it could name no record, and it is the key everything else hangs on."""
    value = text(el, tag)
    if value is None:
        return None
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        raise MalformedResponse(f"<{tag}> is not a UUID") from None


# --- writing ---
def element(tag: str, fields: list[tuple[str, str | None]] | None = None) -> Element:
    """`<tag>` with one child per (name, value); None renders as an empty element, which clears the
    field on XPM (leaving a field out keeps it)."""
    root = Element(tag)
    for name, value in fields or []:
        child = ET.SubElement(root, name)
        if value is not None:
            child.text = value
    return root


def render(el: Element) -> bytes:
    return ET.tostring(el, encoding="utf-8", xml_declaration=False)


def yes_no_text(value: bool | None) -> str | None:
    return None if value is None else ("Yes" if value else "No")
