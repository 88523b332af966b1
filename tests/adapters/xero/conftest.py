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


# --- e2e fixtures: the simulator over real sockets --------------------------------------------------------

import base64  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402


class WebhookReceiver:
    """A minimal receiver that checks x-xero-signature the way ours must: HMAC of the raw bytes,
    constant-time compare, 200 or 401 with an empty body."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.received: list[tuple[bytes, str, bool]] = []  # (raw body, signature, valid)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signature = self.headers.get("x-xero-signature", "")
                expected = base64.b64encode(hmac.new(receiver.key.encode(), body, hashlib.sha256).digest()).decode()
                valid = hmac.compare_digest(signature, expected)
                receiver.received.append((body, signature, valid))
                self.send_response(200 if valid else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/xero"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sim():
    from simulators.xero import XeroSimulator

    simulator = XeroSimulator(contacts=30, seed=3, port=0, slow_delay=1.0).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def receiver(sim):
    rec = WebhookReceiver(sim.webhook_key)
    sim.webhook_url = rec.url
    yield rec
    rec.close()


@pytest.fixture
def sim_tokens(sim):
    from adapters.xero_identity.memory_store import InMemoryTokenStore
    from adapters.xero_identity.tokens import TokenManager

    return TokenManager(InMemoryTokenStore(sim.token_set()), client_id=sim.identity.client_id,
                        client_secret=sim.identity.client_secret, identity_url=sim.identity_url)


@pytest.fixture
def sim_client(sim, sim_tokens):
    from adapters.xero import RetryPolicy, XeroContactsClient

    # Waiting happens on the simulator's clock, so Retry-After and backoff cost no real time.
    return XeroContactsClient(sim_tokens, api_url=sim.api_url, page_size=10, timeout=(2.0, 5.0),
                              retry=RetryPolicy(attempts=3, backoff_initial=0.2, rate_limit_attempts=4),
                              sleep=sim.clock.advance)
