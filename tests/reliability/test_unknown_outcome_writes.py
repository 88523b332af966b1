"""An XPM update whose answer is lost or unreadable is not sent again blindly.

The PostgreSQL soak found updates applied twice: a `client.api/update` answered HTTP 200 with a body cut
short (the write had been applied), the core retried it as an idempotent call, and XPM applied it again (a
second write, which would also undo any edit made in XPM between the two). Now the adapter reads the record
back after any unknown outcome and sends the update again only if the record lacks it. Real HTTP against the
XPM simulator; every write the simulator applies is counted."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.base import TokenSet
from adapters.ratelimit import Limits, RateLimiter
from adapters.xero_identity.memory_store import InMemoryTokenStore
from adapters.xero_identity.tokens import TokenManager
from adapters.xpm.client import XpmClient
from simulators.xpm import XpmSimulator, api
from simulators.xpm import server as xpm_server

UPDATE = "client.api/update"


@pytest.fixture
def sim() -> Iterator[XpmSimulator]:
    with XpmSimulator(clients=5, seed=5) as s:
        yield s


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Writes the simulator applied (answered 2xx by the endpoint, before any fault spoils the answer)."""
    counts: Counter[str] = Counter()
    original = xpm_server.api.dispatch

    def dispatch(ctx: Any, req: Any) -> Any:
        resp = original(ctx, req)
        if req.method != "GET" and 200 <= resp.status < 300:
            counts[req.path.rsplit("/", 1)[-1] if UPDATE not in req.path else UPDATE] += 1
        return resp

    monkeypatch.setattr(xpm_server.api, "dispatch", dispatch)
    return counts


def client_for(sim: XpmSimulator) -> XpmClient:
    store = InMemoryTokenStore(TokenSet(access_token=None, refresh_token=sim.issue_refresh_token(), expires_at=None,
                                        remote_tenant_id=sim.xero_tenant_id))
    clock = sim.clock
    tokens = TokenManager(store, client_id=sim.client_id, client_secret=sim.client_secret,
                          identity_url=sim.identity_url, clock=clock.now, sleep=clock.advance)
    limiter = RateLimiter(Limits(), clock=clock.elapsed, now=clock.now, sleep=clock.advance)
    return XpmClient(tokens, base_url=sim.base_url, limiter=limiter, sleep=clock.advance, clock=clock.now,
                     timeout=5.0, connect_timeout=2.0)


def some_client(sim: XpmSimulator) -> str:
    return sorted(c.uuid for c in sim.store.active_clients())[0]


@pytest.mark.parametrize("fault", ["malformed_xml", "500", "reset"])
def test_an_update_with_an_unknown_outcome_is_applied_exactly_once(sim: XpmSimulator, applied: Counter[str],
                                                                   fault: str) -> None:
    client, target = client_for(sim), some_client(sim)
    sim.faults.inject(fault, times=1, path_contains=UPDATE)
    # MiddleName is written but not read back, so the record alone cannot show that the write landed.
    stored = client.update_client(target, {"phone": "02 9123 4567", "middle_name": "David"})
    assert stored.phone == "02 9123 4567"
    assert sim.faults.fired[fault] == 1  # the fault really hit the update
    assert applied[UPDATE] == 1  # malformed: applied once and read back; 500/reset: not applied, sent again
    assert client.get_client(target).phone == "02 9123 4567"  # type: ignore[union-attr]



def _raw_put(sim: XpmSimulator, body: bytes, declared: int) -> bytes:
    """A PUT whose Content-Length says `declared` and which sends `body`, then stops sending (as a worker
    killed mid-request does); everything the server answers before it closes."""
    head = (f"PUT {api.API_PREFIX}{UPDATE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", sim.port), timeout=30) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_request_cut_short_by_a_dying_client_is_neither_run_nor_counted(sim: XpmSimulator) -> None:
    # A worker SIGKILLed while sending an update: the simulator used to run what it had (a truncated body:
    # answered 400) and count it as a call, so the e2e kill test saw 9 updates for 8 records.
    body = b"<Client><UUID>00000000-0000-0000-0000-000000000000</UUID><Email>x@example.test</Email></Client>"
    assert _raw_put(sim, body[:40], declared=len(body)) == b""
    assert sim.stats.calls[f"PUT {UPDATE}"] == 0 and not sim.stats.statuses
    # The same request whole is run (and refused: no token) and counted.
    assert _raw_put(sim, body, declared=len(body)).startswith(b"HTTP/1.1 401")
    assert sim.stats.calls[f"PUT {UPDATE}"] == 1
