"""Xero-specific refinements of the shared adapter errors."""

from __future__ import annotations

from adapters.errors import RemoteRejected


class DuplicateContactName(RemoteRejected):
    """Xero refuses a second active contact with the same name. `name` is the name that clashed, so the
    caller can pick a distinguishing name (connectors commonly append a suffix) or link the existing one."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"Xero already has an active contact named {name!r}: {detail}")
        self.name = name


class XeroValidationError(RemoteRejected):
    """HTTP 400 `ValidationException`: `messages` are Xero's ValidationErrors, `elements` the rejected
    objects as Xero echoed them."""

    def __init__(self, messages: list[str], elements: list[dict]) -> None:
        super().__init__("Xero rejected the request: " + ("; ".join(messages) or "validation failed"))
        self.messages = messages
        self.elements = elements
