"""Xero-specific refinements of the shared adapter errors."""

from __future__ import annotations

from adapters.errors import RemoteRejected


class DuplicateContactName(RemoteRejected):
    """Xero refuses a second active contact with the same name. `name` is the name that clashed, so the
    caller can pick a distinguishing name (connectors commonly append a suffix) or link the existing one."""

    def __init__(self, name: str) -> None:
        # The name stays out of the message: messages end up in logs, names are personal data.
        super().__init__("Xero already has an active contact with this name (names must be unique among "
                         "active contacts); use a distinguishing name or link the existing contact")
        self.name = name


class XeroValidationError(RemoteRejected):
    """HTTP 400 `ValidationException`: `messages` are Xero's ValidationErrors, `elements` the rejected
    objects as Xero echoed them."""

    def __init__(self, messages: list[str], elements: list[dict]) -> None:
        super().__init__("Xero rejected the request: " + ("; ".join(_loggable(m) for m in messages)
                                                          or "validation failed"))
        self.messages = messages
        self.elements = elements

    @property
    def is_duplicate_name(self) -> bool:
        return any(_is_duplicate_name(m) for m in self.messages)


def _is_duplicate_name(message: str) -> bool:
    text = message.lower()
    return "already assigned to another contact" in text or "name must be unique" in text


def _loggable(message: str) -> str:
    # Xero's duplicate-name message quotes the name; everything else it says here is a fixed template.
    return "contact name already used by an active contact" if _is_duplicate_name(message) else message
