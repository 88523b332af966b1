"""Admin endpoints under `/_sim/` (JSON, no auth, loopback only), to steer a simulator running in another
process (e.g. `syncworker simulate xero`), mirroring the XPM simulator's:

    GET    /_sim/info                      urls, client id/secret, tenant id, webhook key
    GET    /_sim/stats                     calls per endpoint, 429s, faults fired, webhooks sent
    POST   /_sim/faults                    {"kind": "500", "times": 2, "path_contains": null, "delay": null,
                                            "retry_after": null}
    DELETE /_sim/faults                    clear pending faults
    POST   /_sim/clock                     {"advance": 1800}
    POST   /_sim/limits/reset              forget the minute/day windows
    POST   /_sim/refresh-token             -> {"refresh_token": "..."}: a fresh grant, no browser
    POST   /_sim/contacts                  {"Name": "...", ...}: a contact created "in Xero's UI" (webhook)
    POST   /_sim/contacts/{id}             {"fields": {"EmailAddress": "x@y.test"}, "archive": false}
    POST   /_sim/webhooks/url              {"url": "http://127.0.0.1:8000/webhooks/xero"}
    POST   /_sim/webhooks/intent-to-receive {"probes": 4} -> {"results": [[signed_correctly, status], ...]}
    POST   /_sim/webhooks/redeliver        {"times": 3} -> {"statuses": [...]}
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from simulators.xero.store import ValidationFailed
from simulators.xero_identity import SimRequest, SimResponse

if TYPE_CHECKING:
    from simulators.xero.server import XeroSimulator


def handle_admin(sim: XeroSimulator, req: SimRequest) -> SimResponse:
    try:
        payload = json.loads(req.body or b"{}") if req.method in ("POST", "PUT") else {}
        return _route(sim, req.method, req.path.rstrip("/"), payload)
    except ValidationFailed as exc:
        return SimResponse.json(400, {"error": str(exc)})
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        return SimResponse.json(400, {"error": f"{type(exc).__name__}: {exc}"})


def _route(sim: XeroSimulator, method: str, path: str, payload: dict[str, Any]) -> SimResponse:
    ok = SimResponse.json
    if (method, path) == ("GET", "/_sim/info"):
        return ok(200, sim.info())
    if (method, path) == ("GET", "/_sim/stats"):
        return ok(200, sim.stats)
    if (method, path) == ("POST", "/_sim/faults"):
        sim.faults.inject(payload["kind"], int(payload.get("times", 1)), payload.get("path_contains"),
                          delay=payload.get("delay"), retry_after=payload.get("retry_after"))
        return ok(200, {"pending": sim.faults.pending()})
    if (method, path) == ("DELETE", "/_sim/faults"):
        sim.faults.clear()
        return ok(200, {"pending": []})
    if (method, path) == ("POST", "/_sim/clock"):
        sim.clock.advance(float(payload.get("advance", 0)))
        return ok(200, {"now": sim.clock.now().isoformat()})
    if (method, path) == ("POST", "/_sim/limits/reset"):
        sim.limiter.reset()
        return ok(200, {"ok": True})
    if (method, path) == ("POST", "/_sim/refresh-token"):
        return ok(200, {"refresh_token": sim.token_set().refresh_token})
    if (method, path) == ("POST", "/_sim/contacts"):
        return ok(200, sim.store.create(payload))
    if m := re.fullmatch(r"/_sim/contacts/([0-9a-fA-F-]{36})", path):
        if method != "POST":
            raise ValueError("use POST")
        contact = sim.store.edit(m.group(1), **payload.get("fields", {})) if payload.get("fields") else None
        if payload.get("archive"):
            contact = sim.store.archive(m.group(1))
        return ok(200, contact or sim.store.get(m.group(1)) or {})
    if (method, path) == ("POST", "/_sim/webhooks/url"):
        sim.webhook_url = payload.get("url")
        return ok(200, {"url": sim.webhook_url})
    if (method, path) == ("POST", "/_sim/webhooks/intent-to-receive"):
        return ok(200, {"results": sim.send_intent_to_receive(int(payload.get("probes", 4)))})
    if (method, path) == ("POST", "/_sim/webhooks/redeliver"):
        return ok(200, {"statuses": sim.webhooks.redeliver(int(payload.get("times", 1)))})
    return ok(404, {"error": "unknown admin endpoint"})
