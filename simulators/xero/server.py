"""XeroSimulator: the Accounting API's contacts endpoints on loopback, with Xero Identity mounted, per-tenant
rate limits, fault injection and signed webhook deliveries.

    sim = XeroSimulator(contacts=100, seed=3, port=0, webhook_url=None, webhook_key="...")
    sim.start(); sim.api_url                      # http://127.0.0.1:PORT (contacts at /api.xro/2.0/Contacts)
    sim.identity_url                              # same server: /connect/token, /connections, ...
    sim.token_set()                               # a TokenSet for adapters.xero_identity TokenManager
    sim.faults.inject("minute_429", times=1); sim.clock.advance(60); sim.stats
    sim.store.edit(id, EmailAddress=...); sim.store.archive(id)   # UI edits; they fire webhooks too
    sim.send_intent_to_receive() -> [(signed_correctly, status), ...]; sim.webhooks.redeliver(times=3)
    sim.stop()

Admin endpoints under /_sim/ steer a simulator in another process (see `admin`).
Request pipeline for API paths: identity check (401/403) -> injected fault -> rate limits (429) -> slow /
malformed faults -> the contacts API. Identity endpoints are neither rate limited nor faulted.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from adapters.base import TokenSet
from simulators.http import LoopbackSimulator
from simulators.xero.admin import handle_admin
from simulators.xero.api import API_PREFIX, ContactsApi
from simulators.xero.faults import Fault, FaultPlan
from simulators.xero.store import ContactStore
from simulators.xero.webhooks import WebhookSender
from simulators.xero_identity import SimClock, SimRequest, SimResponse, Tenant, XeroIdentitySimulator
from simulators.xpm.limits import Limits, RateLimiter

ACCOUNTING_SCOPES = ["openid", "profile", "email", "offline_access", "accounting.contacts"]


class XeroSimulator(LoopbackSimulator):
    def __init__(self, contacts: int = 100, seed: int = 3, port: int = 0, webhook_url: str | None = None,
                 webhook_key: str | None = None, *, limits: Limits | None = None, slow_delay: float = 2.0,
                 webhook_timeout: float = 5.0, host: str = "127.0.0.1", clock: SimClock | None = None,
                 identity: XeroIdentitySimulator | None = None, tenant_name: str = "Demo Company (NZ)",
                 client_id: str | None = None, client_secret: str | None = None,
                 faults: Iterable[str] = ()) -> None:
        super().__init__(host, port)
        rng = random.Random(seed)
        self.clock = clock or SimClock()
        self.xero_tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        # One identity can serve several Xero-family simulators (one grant, several tenants); pass it in
        # to share, else this simulator mounts its own.
        self.identity = identity or XeroIdentitySimulator(self.clock, [], client_id=client_id,
                                                          client_secret=client_secret)
        self.identity.tenants.append(Tenant(self.xero_tenant_id, "ORGANISATION", tenant_name))
        self.webhook_key = webhook_key or secrets.token_urlsafe(64)
        self.webhooks = WebhookSender(self.webhook_key, webhook_url, timeout=webhook_timeout,
                                      rng=random.Random(seed + 1))
        self.store = ContactStore(self.clock, on_change=self._contact_changed, seed=seed)
        self.store.seed(contacts, rng)
        self.api = ContactsApi(self.store, self.clock)
        self.limiter = RateLimiter(self.clock, limits or Limits())
        self.faults = FaultPlan()
        for spec in faults:  # "KIND[:TIMES[:PATH]]", as on the command line
            kind, _, rest = spec.partition(":")
            times, _, path = rest.partition(":")
            self.faults.inject(kind, int(times or 1), path or None)
        self.slow_delay = slow_delay
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()

    # --- what differs from the shared loopback server ---
    server_version = "XeroSimulator/2.0"

    def internal_error(self) -> SimResponse:
        return SimResponse.json(500, {"Type": "UnknownErrorException", "Message": "An error occurred"})

    def _on_start(self) -> None:
        self.webhooks.start()

    def _on_stop(self) -> None:
        self.webhooks.stop()

    # --- addresses and credentials (port, root_url: LoopbackSimulator) ---
    @property
    def api_url(self) -> str:
        return self.root_url

    @property
    def identity_url(self) -> str:
        return self.api_url

    @property
    def webhook_url(self) -> str | None:
        return self.webhooks.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.webhooks.url = url

    def env(self) -> dict[str, str]:
        """The SYNCWORKER_* settings that point the Xero adapter, token manager and webhook receiver here."""
        return {"SYNCWORKER_XERO_API_URL": self.api_url, "SYNCWORKER_XERO_IDENTITY_URL": self.identity_url,
                "SYNCWORKER_XERO_CLIENT_ID": self.identity.client_id,
                "SYNCWORKER_XERO_CLIENT_SECRET": self.identity.client_secret,
                "SYNCWORKER_XERO_WEBHOOK_KEY": self.webhook_key}

    def info(self) -> dict[str, Any]:
        return {**self.env(), "xero_tenant_id": self.xero_tenant_id, "contacts": len(self.store),
                "webhook_url": self.webhook_url, "admin_url": f"{self.api_url}/_sim/"}

    def token_set(self) -> TokenSet:
        """A fresh consent connecting this tenant, as a TokenSet to store for a TokenManager (whose
        client_id/client_secret are `sim.identity.client_id` / `.client_secret`)."""
        return TokenSet(access_token=None, refresh_token=self.identity.issue_refresh_token(ACCOUNTING_SCOPES),
                        expires_at=None, scope=list(ACCOUNTING_SCOPES), remote_tenant_id=self.xero_tenant_id)

    # --- webhooks ---
    def send_intent_to_receive(self, probes: int = 4) -> list[tuple[bool, int | None]]:
        return self.webhooks.intent_to_receive(probes)

    def _contact_changed(self, event_type: str, contact_id: str) -> None:
        self.webhooks.event(event_type=event_type, resource_id=contact_id,
                            resource_url=f"{self.api_url}{API_PREFIX}/Contacts/{contact_id}"
                            if self._server else f"{API_PREFIX}/Contacts/{contact_id}",
                            tenant_id=self.xero_tenant_id, when=self.clock.now())

    # --- stats ---
    @property
    def stats(self) -> dict[str, Any]:
        with self._counts_lock:
            counts = dict(self._counts)
        deliveries = list(self.webhooks.deliveries)
        return {
            **counts,
            "contacts": len(self.store),
            "peak_concurrency": self.limiter.peak_concurrency(),
            "faults_fired": dict(self.faults.fired),
            "webhooks_sent": sum(d.kind == "event" for d in deliveries),
            "webhooks_failed": sum(d.kind == "event" and d.status != 200 for d in deliveries),
            "rate_limit_remaining": self.limiter.headers(self.xero_tenant_id),
        }

    def _count(self, *keys: str) -> None:
        with self._counts_lock:
            self._counts.update(keys)

    # --- request pipeline ---
    def handle(self, req: SimRequest) -> SimResponse:
        if req.path.startswith("/_sim/"):
            return handle_admin(self, req)
        identity = self.identity.handle(req)
        if identity is not None:
            self._count("identity_calls")
            return identity
        if not req.path.startswith(API_PREFIX + "/"):
            return SimResponse.json(404, {"Title": "NotFound", "Status": 404})
        self._count("api_calls", f"{req.method} {_route(req.path)}")
        tenant = (req.headers.get("xero-tenant-id") or "").strip().lower()
        refused = self.identity.check_api_access(req.bearer(), tenant)
        if refused is not None:
            return refused
        fault = self.faults.take(req.path)
        if fault is not None and fault.kind in ("minute_429", "day_429", "500", "reset"):
            resp = self._fault_response(fault, tenant)
            resp.headers = {**self.limiter.headers(tenant), **resp.headers}
            return resp
        admission = self.limiter.acquire(tenant)
        if admission.problem is not None:
            self._count("rate_limited", f"rate_limited_{admission.problem}")
            return SimResponse.json(429, {"Title": "Too Many Requests"}, admission.headers)
        try:
            delay = (fault.delay or self.slow_delay) if fault is not None and fault.kind == "slow" else 0.0
            if delay:
                time.sleep(delay)  # held inside the concurrency slot, like a slow Xero call
            resp = self.api.handle(req)
            if fault is not None and fault.kind == "malformed_json":
                resp = SimResponse(200, resp.body[: max(len(resp.body) // 2, 1)], dict(resp.headers))
            elif fault is not None and fault.kind == "lost_response":
                resp = SimResponse(0, reset_connection=True)
        finally:
            self.limiter.release(tenant)
        resp.headers.update(admission.headers)
        return resp

    def _fault_response(self, fault: Fault, tenant: str) -> SimResponse:
        if fault.kind == "reset":
            return SimResponse(0, reset_connection=True)
        if fault.kind == "500":
            return SimResponse.json(500, {"ErrorNumber": 500, "Type": "UnknownErrorException",
                                          "Message": "An error occurred in Xero. Check the API Status page."})
        headers: dict[str, str] = {}
        if fault.kind == "day_429":
            retry = fault.retry_after or max(int(self.limiter.day_resets_at(tenant) - self.clock.time()), 1)
            headers.update({"X-Rate-Limit-Problem": "day", "Retry-After": str(retry)})
        else:
            headers.update({"X-Rate-Limit-Problem": "minute", "Retry-After": str(fault.retry_after or 1)})
        return SimResponse.json(429, {"Title": "Too Many Requests"}, headers)


def _route(path: str) -> str:
    parts = path[len(API_PREFIX):].strip("/").split("/")
    return "/".join([parts[0]] + ["{id}"] * (len(parts) > 1))
