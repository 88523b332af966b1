"""Outgoing Xero webhooks: signed event deliveries, Intent-to-Receive probes and redeliveries.

Payload and signing follow the reference (§2.4): `{"events":[...], "firstEventSequence",
"lastEventSequence", "entropy"}`, header `x-xero-signature` = base64(HMAC-SHA256(raw body, webhook key)).
Events are thin (no record body). Deliveries run on a background thread, in order, like Xero's; the
receiver has `timeout` seconds (Xero: 5) to answer. Failed deliveries are recorded, not retried (Xero
retries for 24 h; tests replay explicitly with `redeliver`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import random
import string
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


@dataclass(slots=True)
class Delivery:
    kind: str  # "event", "itr" (Intent to Receive) or "redelivery"
    body: bytes
    signature: str
    signed_correctly: bool
    status: int | None = None  # HTTP status the receiver answered; None = no answer (timeout, refused)
    error: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookSender:
    def __init__(self, key: str, url: str | None = None, *, timeout: float = 5.0,
                 rng: random.Random | None = None) -> None:
        self.key = key
        self.url = url
        self.timeout = timeout
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._sequence = 0
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self.deliveries: list[Delivery] = []  # every POST made, in order
        self._worker: threading.Thread | None = None

    # --- lifecycle ---
    def start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="xero-sim-webhooks", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=self.timeout + 1)
            self._worker = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted. False on timeout."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    # --- sending ---
    def event(self, *, event_type: str, resource_id: str, resource_url: str, tenant_id: str,
              when: datetime, category: str = "CONTACT") -> None:
        """Queue one event delivery (no-op while no URL is configured)."""
        if not self.url:
            return
        with self._lock:
            self._sequence += 1
            seq = self._sequence
        payload = {
            "events": [{
                "resourceUrl": resource_url, "resourceId": resource_id,
                "eventDateUtc": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
                "eventType": event_type, "eventCategory": category, "tenantId": tenant_id,
                "tenantType": "ORGANISATION",
            }],
            "firstEventSequence": seq, "lastEventSequence": seq, "entropy": self._entropy(),
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._queue.put(Delivery("event", body, sign(body, self.key), True))

    def intent_to_receive(self, probes: int = 4) -> list[tuple[bool, int | None]]:
        """Xero's ITR check, synchronously: `probes` POSTs of an empty event list, some correctly signed and
        some not (at least one of each). Returns (signed_correctly, status answered) per probe."""
        if not self.url:
            raise RuntimeError("no webhook URL configured")
        pattern = [i % 2 == 0 for i in range(max(probes, 2))]
        self._rng.shuffle(pattern)
        results = []
        for good in pattern:
            body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0,
                               "entropy": self._entropy()}, separators=(",", ":")).encode()
            signature = sign(body, self.key) if good else sign(body, self.key + "-wrong")
            delivery = self._post(Delivery("itr", body, signature, good))
            results.append((good, delivery.status))
        return results

    def redeliver(self, times: int = 1, index: int = -1) -> list[int | None]:
        """Send an earlier event delivery again, byte for byte (same sequence numbers, same signature), as
        Xero's at-least-once delivery may. Synchronous; returns the statuses answered."""
        self.wait_idle()
        events = [d for d in self.deliveries if d.kind == "event"]
        if not events:
            raise RuntimeError("nothing delivered yet")
        original = events[index]
        return [self._post(Delivery("redelivery", original.body, original.signature, True)).status
                for _ in range(times)]

    def events_sent(self) -> list[dict[str, Any]]:
        """Every event in every first delivery, in order."""
        return [e for d in list(self.deliveries) if d.kind == "event" for e in d.payload["events"]]

    # --- internals ---
    def _entropy(self) -> str:
        return "".join(self._rng.choice(string.ascii_uppercase) for _ in range(20))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._post(item)
            finally:
                self._queue.task_done()

    def _post(self, delivery: Delivery) -> Delivery:
        request = urllib.request.Request(
            self.url or "", data=delivery.body, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "x-xero-signature": delivery.signature,
                     "User-Agent": "Xero-Webhooks-Simulator"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                delivery.status = resp.status
        except urllib.error.HTTPError as exc:
            delivery.status = exc.code
        except (OSError, ValueError) as exc:
            delivery.error = type(exc).__name__
        with self._lock:
            self.deliveries.append(delivery)
        return delivery
