"""An in-memory `TokenStore` for tests and demos, with the same compare-and-swap contract as the
database store (`syncworker.store.tokens`)."""

from __future__ import annotations

import threading
from dataclasses import replace

from adapters.base import TokenSet


class InMemoryTokenStore:
    def __init__(self, initial: TokenSet | None = None) -> None:
        self._lock = threading.Lock()
        self._current = replace(initial, version=initial.version or 1) if initial else None
        self.reconnect_reason: str | None = None
        self.history: list[TokenSet] = []  # every stored token set, oldest first (tests inspect the order)

    def load(self) -> TokenSet | None:
        with self._lock:
            return replace(self._current) if self._current else None

    def compare_and_swap(self, expected_version: int, new: TokenSet) -> bool:
        with self._lock:
            stored = self._current.version if self._current else 0
            if stored != expected_version:
                return False
            self._current = replace(new, version=expected_version + 1)
            self.history.append(replace(self._current))
            new.version = expected_version + 1
            return True

    def mark_reconnect_required(self, reason: str) -> None:
        with self._lock:
            self.reconnect_reason = reason
