"""Shared fakes and XML builders for the XPM adapter unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

BASE = "https://xpm.test/practicemanager/3.1/"
TENANT = "2f7d4c1e-0000-4000-8000-00000000a001"
NOW = datetime(2026, 11, 23, 6, 0, 0, tzinfo=UTC)


class StaticTokens:
    """A TokenManager stand-in: hands out `token`, and on force_refresh switches to `refreshed`."""

    def __init__(self) -> None:
        self.token = "access-1"
        self.refreshed = "access-2"
        self.force_calls: list[str | None] = []

    def access_token(self) -> str:
        return self.token

    def force_refresh(self, rejected_access_token: str | None = None) -> str:
        self.force_calls.append(rejected_access_token)
        self.token = self.refreshed
        return self.token

    @property
    def remote_tenant_id(self) -> str:
        return TENANT


class Sleeps(list[float]):
    """Records every wait and advances a fake monotonic clock by it, so nothing really sleeps."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def envelope(inner: str) -> str:
    return f"<Response>\n  <Status>OK</Status>\n{inner}\n</Response>"


def client_xml(uuid: str, name: str, extra: str = "") -> str:
    return f"<Client><UUID>{uuid}</UUID><Name>{name}</Name>{extra}</Client>"
