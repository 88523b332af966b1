"""The XPM simulator: a real HTTP server on loopback serving Xero Identity, GET /connections and the
Practice Manager v3.1 API, with Xero's limits, a steerable clock and fault injection.

Request pipeline for `/practicemanager/3.1/…`: bearer token and Xero-Tenant-Id (401/403) → limits (429)
→ injected fault → the endpoint. Limit headers go on every API response. Admin endpoints under `/_sim/`
(JSON, no auth, loopback only) steer a simulator running in another process:

    GET  /_sim/info             urls, client id/secret, tenant ids
    GET  /_sim/stats            calls per endpoint, peak concurrency, 429s, faults fired
    POST /_sim/faults           {"kind": "500", "times": 2, "path_contains": null, "delay": null, "retry_after": null}
                                or {"random_rate": 0.05, "kinds": ["500", "reset"]}
    DELETE /_sim/faults         clear pending faults
    POST /_sim/clock            {"advance": 1800}
    POST /_sim/limits/reset     forget the minute/day windows
    POST /_sim/refresh-token    {"refresh_token": "..."} a fresh grant, no browser
    POST /_sim/authorize        {"redirect_uri": "...", "state": "..."} -> {"code": "..."}
    POST /_sim/clients/{uuid}   {"fields": {"Email": "x@y"}, "archive": false, "delete": false}
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from simulators.http import LoopbackSimulator
from simulators.xero_identity import (
    SimClock,
    SimRequest,
    SimResponse,
    Tenant,
    XeroIdentitySimulator,
    xero_problem,
)
from simulators.xpm import api
from simulators.xpm.faults import Fault, FaultPlan
from simulators.xpm.limits import Limits, RateLimiter
from simulators.xpm.store import PracticeStore
from simulators.xpm.xml_out import error_envelope
from syncworker.domain.profile import ClientKind

PRACTICEMANAGER = "PRACTICEMANAGER"
WRITE_SCOPES = frozenset({"practicemanager", "practicemanager.client"})
READ_SCOPES = frozenset({"practicemanager.read", "practicemanager.client.read"})


class SimStats:
    """What the simulator saw, for tests and benchmarks."""

    def __init__(self, limiter: RateLimiter, faults: FaultPlan, identity: XeroIdentitySimulator) -> None:
        self._lock = threading.Lock()
        self._limiter, self._faults, self._identity = limiter, faults, identity
        self.calls: Counter[str] = Counter()
        self.sent_429: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.list_seconds = 0.0  # time detailed listings took (simulated when time-travelled)
        self.list_bytes = 0  # their bodies' size

    def note_list(self, seconds: float, size: int) -> None:
        with self._lock:
            self.list_seconds += seconds
            self.list_bytes += size

    def record(self, endpoint: str, status: int, problem: str | None = None) -> None:
        with self._lock:
            self.calls[endpoint] += 1
            self.statuses[status] += 1
            if problem:
                self.sent_429[problem] += 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def peak_concurrency(self) -> int:
        return self._limiter.peak_concurrency()

    @property
    def total_429(self) -> int:
        return sum(self.sent_429.values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls), "total_calls": sum(self.calls.values()),
                "peak_concurrency": self._limiter.peak_concurrency(), "sent_429": dict(self.sent_429),
                "statuses": {str(k): v for k, v in self.statuses.items()}, "faults_fired": dict(self._faults.fired),
                "token_calls": dict(self._identity.token_calls),
            }

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.sent_429.clear()
            self.statuses.clear()
        self._faults.fired.clear()


class XpmSimulator(LoopbackSimulator):
    """See the module docstring. `clients`/`seed`/`country` generate the practice unless `practice` (a
    `syncworker.sample.SamplePractice`) is given."""

    def __init__(
        self,
        clients: int = 200,
        seed: int = 7,
        port: int = 0,
        practice: Any = None,
        *,
        host: str = "127.0.0.1",
        country: str = "AU",
        concurrent_limit: int = 5,
        minute_limit: int = 60,
        day_limit: int = 5000,
        app_minute_limit: int = 10_000,
        access_ttl: float = 1800,
        refresh_grace: float = 1800,
        refresh_ttl: float = 60 * 86400,
        code_ttl: float = 300,
        slow_delay: float = 2.0,
        faults: Iterable[str | tuple[str, int] | Mapping[str, Any]] = (),
        clock: SimClock | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        business_structures: Mapping[ClientKind, str] | None = None,
        practice_name: str = "Sample Practice",
        detailed_list_bytes_per_second: float = 0.0,
        detailed_list_time_travel: bool = True,
        notes_per_client: float = 0.0,
    ) -> None:
        """Size and pace of `client.api/list?detailed=true` (Xero reports several minutes and 50 MB+ at
        15,000 clients, ~3.5 KB a client at ~200 KB/s): `notes_per_client` file notes on average per client
        (the detailed record carries them with contacts, groups and relationships; ~8 makes the real size),
        `detailed_list_bytes_per_second` the rate it is sent at (0: at once). With `detailed_list_time_travel`
        the transfer time moves the simulator's clock instead (a benchmark sees the real minutes, and the
        limits' windows move with them, in no real time); without it the body is streamed in chunks at that
        rate, so a client's read timeout and incremental parse meet a real slow answer. Time and size are in
        `stats.list_seconds` / `stats.list_bytes`."""
        super().__init__(host, port)
        self.detailed_list_bytes_per_second = detailed_list_bytes_per_second
        self.detailed_list_time_travel = detailed_list_time_travel
        rng = random.Random(seed)
        self.clock = clock or SimClock()
        self.country = country
        self.slow_delay = slow_delay
        self.xero_tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.organisation_tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.identity = XeroIdentitySimulator(
            self.clock,
            [Tenant(self.xero_tenant_id, PRACTICEMANAGER, practice_name),
             Tenant(self.organisation_tenant_id, "ORGANISATION", f"{practice_name} (Xero)")],
            client_id=client_id or f"{rng.getrandbits(128):032X}",
            client_secret=client_secret or f"sim-{rng.getrandbits(192):048x}",
            access_ttl=access_ttl, refresh_grace=refresh_grace, refresh_ttl=refresh_ttl, code_ttl=code_ttl,
        )
        self.limiter = RateLimiter(self.clock, Limits(concurrent_limit, minute_limit, day_limit, app_minute_limit))
        self.faults = FaultPlan(self.identity.revoke_all, seed=seed)
        self.stats = SimStats(self.limiter, self.faults, self.identity)
        self.store = PracticeStore(self.clock, business_structures=business_structures, seed=seed)
        if practice is None:
            from syncworker.sample import generate_practice  # the generator is only needed when seeding here

            practice = generate_practice(clients, seed, country)
        self.practice = practice
        self.store.seed_from(practice.remote, practice.remote_contacts, practice.remote_relationships, practice.remote_groups)
        if notes_per_client:
            _seed_notes(self.store, notes_per_client, random.Random(f"{seed}:notes"))
        for spec in faults:
            self._inject_spec(spec)

    # ---- what differs from the shared loopback server ----
    server_version = "XpmSimulator/3.1"
    poll_interval = 0.02

    def internal_error(self) -> SimResponse:
        return SimResponse(500, b"An unexpected error has occurred", {"Content-Type": "text/plain"})

    # ---- addresses and credentials (port, root_url: LoopbackSimulator) ----
    @property
    def base_url(self) -> str:
        return f"{self.root_url}{api.API_PREFIX}"

    @property
    def identity_url(self) -> str:
        return self.root_url

    @property
    def api_url(self) -> str:
        return self.root_url

    @property
    def authorize_url(self) -> str:
        return f"{self.root_url}/identity/connect/authorize"

    @property
    def client_id(self) -> str:
        return self.identity.client_id

    @property
    def client_secret(self) -> str:
        return self.identity.client_secret

    def issue_refresh_token(self, scope: list[str] | None = None) -> str:
        """A fresh grant (default scopes: openid profile email offline_access practicemanager)."""
        return self.identity.issue_refresh_token(scope)

    def authorize_code(self, redirect_uri: str, state: str | None = None) -> str:
        return self.identity.authorize_code(redirect_uri, state)

    def env(self) -> dict[str, str]:
        """The SYNCWORKER_* settings that point the XPM adapter at this simulator."""
        return {
            "SYNCWORKER_XPM_URL": self.base_url, "SYNCWORKER_XERO_IDENTITY_URL": self.identity_url,
            "SYNCWORKER_XERO_API_URL": self.api_url, "SYNCWORKER_XERO_CLIENT_ID": self.client_id,
            "SYNCWORKER_XERO_CLIENT_SECRET": self.client_secret,
        }

    def info(self) -> dict[str, Any]:
        return {
            **self.env(), "authorize_url": self.authorize_url, "xero_tenant_id": self.xero_tenant_id,
            "organisation_tenant_id": self.organisation_tenant_id, "clients": len(self.store.clients),
        }

    # ---- request handling (called from server threads) ----
    def handle(self, req: SimRequest) -> SimResponse:
        if req.path.startswith("/_sim/"):
            return self._admin(req)
        if req.path.startswith(api.API_PREFIX):
            return self._api(req)
        fault = self.faults.take(req.path, is_identity=True)
        if fault is not None and fault.kind != "reset":
            pre = self._pre_fault(fault, None)
            if pre is not None:
                return pre
        resp = self.identity.handle(req) or SimResponse(404, b"Not Found", {"Content-Type": "text/plain"})
        if fault is not None and fault.kind == "reset":
            resp.reset_connection = True  # processed (token rotated), response lost
        elif fault is not None:
            resp = self._post_fault(fault, resp)
        return resp

    def _api(self, req: SimRequest) -> SimResponse:
        endpoint = api.endpoint_name(req)
        tenant = (req.headers.get("xero-tenant-id") or "").strip().lower()
        denied = self.identity.check_api_access(req.bearer(), tenant)
        if denied is not None:
            self.stats.record(endpoint, denied.status)
            return denied
        if not self._scope_allows(req):
            self.stats.record(endpoint, 401)
            resp = xero_problem(401, "Unauthorized", "AuthorizationUnsuccessful")
            resp.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
            return resp
        admission = self.limiter.acquire(tenant)
        if admission.problem is not None:
            self.stats.record(endpoint, 429, admission.problem)
            return SimResponse(429, b"", {**admission.headers, "Content-Type": "text/plain"})
        try:
            fault = self.faults.take(req.path)
            resp = self._pre_fault(fault, tenant) if fault is not None else None
            if resp is None:
                resp = api.dispatch(api.ApiContext(self.store, self.base_url, self.country), req)
                self._detailed_list_latency(req, resp)
                if fault is not None:
                    resp = self._post_fault(fault, resp)
            if resp.status == 429:
                self.stats.record(endpoint, 429, resp.headers.get("X-Rate-Limit-Problem"))
            else:
                self.stats.record(endpoint, resp.status)
            # Remaining counts as of this call, on every response (429s carry their own).
            resp.headers = {**self.limiter.headers(tenant), **resp.headers}
            return resp
        finally:
            self.limiter.release(tenant)

    def _detailed_list_latency(self, req: SimRequest, resp: SimResponse) -> None:
        if resp.status != 200 or not api.is_detailed_list(req):
            return
        rate = self.detailed_list_bytes_per_second
        seconds = len(resp.body) / rate if rate else 0.0
        self.stats.note_list(seconds, len(resp.body))
        if rate and self.detailed_list_time_travel:
            self.clock.advance(seconds)
        elif rate:
            resp.bytes_per_second = rate

    def _scope_allows(self, req: SimRequest) -> bool:
        # Client endpoints accept practicemanager or practicemanager.client; reads also the .read variants.
        granted = set(self.identity.token_scopes(req.bearer()))
        needed = WRITE_SCOPES if req.method != "GET" else WRITE_SCOPES | READ_SCOPES
        return bool(granted & needed)

    def _pre_fault(self, fault: Fault, tenant: str | None) -> SimResponse | None:
        """Faults that replace the response; None lets the request through."""
        if fault.kind == "slow":
            time.sleep(fault.delay if fault.delay is not None else self.slow_delay)
            return None
        if fault.kind == "reset":
            return SimResponse(0, reset_connection=True)
        if fault.kind == "500":
            return SimResponse(500, b"An unexpected error has occurred", {"Content-Type": "text/plain"})
        if fault.kind == "status_error":
            return SimResponse(200, error_envelope("An error has occurred processing your request"), dict(api.XML_HEADERS))
        if fault.kind in ("minute_429", "day_429"):
            problem = "minute" if fault.kind == "minute_429" else "day"
            if fault.retry_after is not None:
                retry = fault.retry_after
            elif problem == "minute":
                retry = 1
            else:
                retry = max(int(self.limiter.day_resets_at(tenant or "") - self.clock.time()), 1)
            return SimResponse(429, b"", {"Content-Type": "text/plain", "X-Rate-Limit-Problem": problem, "Retry-After": str(retry)})
        return None

    @staticmethod
    def _post_fault(fault: Fault, resp: SimResponse) -> SimResponse:
        if fault.kind == "malformed_xml":
            body = resp.body or b"<Response><Status>OK</Status></Response>"
            return SimResponse(200, body[: max(len(body) * 2 // 3, 12)], dict(resp.headers))
        return resp

    def _inject_spec(self, spec: str | tuple[str, int] | Mapping[str, Any]) -> None:
        if isinstance(spec, str):
            kind, _, rest = spec.partition(":")
            times, _, path = rest.partition(":")
            self.faults.inject(kind, int(times or 1), path or None)
        elif isinstance(spec, tuple):
            self.faults.inject(*spec)
        else:
            self.faults.inject(**dict(spec))

    # ---- admin ----
    def _admin(self, req: SimRequest) -> SimResponse:
        try:
            payload = json.loads(req.body or b"{}") if req.method in ("POST", "PUT") else {}
        except ValueError:
            return SimResponse.json(400, {"error": "body must be JSON"})
        path, method = req.path.rstrip("/"), req.method
        try:
            if path == "/_sim/info" and method == "GET":
                return SimResponse.json(200, self.info())
            if path == "/_sim/stats" and method == "GET":
                return SimResponse.json(200, self.stats.snapshot())
            if path == "/_sim/stats" and method == "DELETE":
                self.stats.reset()
                return SimResponse.json(200, {"ok": True})
            if path == "/_sim/faults" and method == "POST":
                if "random_rate" in payload:
                    self.faults.random(float(payload["random_rate"]), tuple(payload.get("kinds") or ("500", "reset", "slow", "minute_429")))
                else:
                    self.faults.inject(payload["kind"], int(payload.get("times", 1)), payload.get("path_contains"),
                                       delay=payload.get("delay"), retry_after=payload.get("retry_after"))
                return SimResponse.json(200, {"pending": self.faults.pending()})
            if path == "/_sim/faults" and method == "DELETE":
                self.faults.clear()
                return SimResponse.json(200, {"pending": []})
            if path == "/_sim/clock" and method == "POST":
                self.clock.advance(float(payload.get("advance", 0)))
                return SimResponse.json(200, {"now": self.clock.now().isoformat()})
            if path == "/_sim/limits/reset" and method == "POST":
                self.limiter.reset()
                return SimResponse.json(200, {"ok": True})
            if path == "/_sim/refresh-token" and method == "POST":
                return SimResponse.json(200, {"refresh_token": self.issue_refresh_token()})
            if path == "/_sim/authorize" and method == "POST":
                return SimResponse.json(200, {"code": self.authorize_code(payload["redirect_uri"], payload.get("state"))})
            m = re.fullmatch(r"/_sim/clients/([0-9a-fA-F-]{36})", path)
            if m and method == "POST":
                cid = m.group(1).lower()
                if payload.get("fields"):
                    self.store.edit_client(cid, **payload["fields"])
                if payload.get("archive"):
                    self.store.archive_client(cid)
                if payload.get("delete"):
                    self.store.delete_client(cid)
                return SimResponse.json(200, {"ok": True})
        except (KeyError, ValueError, TypeError) as exc:
            return SimResponse.json(400, {"error": str(exc)})
        except Exception as exc:  # a store refusal, reported to the operator
            return SimResponse.json(400, {"error": str(exc)})
        return SimResponse.json(404, {"error": "unknown admin endpoint"})


_NOTE_TITLES = ("File note", "Phone call", "Meeting", "Engagement letter", "Email received", "Tax planning",
                "BAS query", "Year-end checklist", "ATO correspondence", "Payroll")
_NOTE_SENTENCES = (
    "Client called about the timing of this year's return and asked what is still outstanding.",
    "Bank statements for the last quarter received; two accounts still to reconcile.",
    "Discussed the depreciation schedule for the new equipment and the instant asset write-off.",
    "Reminder sent for the signed engagement letter and the ID documents.",
    "Agreed to review the fringe benefits position before the end of the FBT year.",
    "Payment plan with the ATO confirmed; next instalment due at the end of the month.",
    "Super contributions checked against the caps; no excess this year.",
    "Asked for the settlement statement and the agent's commission invoice for the property sale.",
    "Trust distribution minutes to be prepared before 30 June; resolution drafted.",
    "Payroll year-end finalisation done through single touch payroll.",
    "Client will drop off receipts for work-related expenses next week.",
    "GST registration reviewed: turnover is close to the threshold, keep monitoring.",
)


def _seed_notes(store: PracticeStore, per_client: float, rng: random.Random) -> None:
    """File notes as a practice accumulates them (generic text, no client data), `per_client` on average."""
    from simulators.xpm.store import Note

    staff = [s.name for s in store.staff]
    for client in store.clients.values():
        for _ in range(rng.randint(0, round(2 * per_client))):
            text = " ".join(rng.sample(_NOTE_SENTENCES, rng.randint(1, 3)))
            client.notes.append(Note(rng.choice(_NOTE_TITLES), text, client.modified, rng.choice(staff),
                                     rng.choice(("", "General", "Tax", "Compliance"))))
