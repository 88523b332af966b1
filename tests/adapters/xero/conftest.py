"""Shared fixtures for the Xero adapter tests."""

from __future__ import annotations

import pytest


class FakeTokens:
    """The TokenManager shape: a fixed tenant, a token that changes on every forced refresh."""

    remote_tenant_id = "11111111-2222-3333-4444-555555555555"

    def __init__(self, token: str = "tok-1") -> None:
        self.token = token
        self.refreshes = 0

    def access_token(self) -> str:
        return self.token

    def force_refresh(self, rejected_access_token: str | None = None) -> str:
        self.refreshes += 1
        self.token = f"tok-{self.refreshes + 1}"
        return self.token


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()
