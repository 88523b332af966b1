"""`POST /webhooks/xero` through a real `syncworker serve` process, driven partly by the Xero simulator's
own webhook sender (signing, Intent to Receive, byte-for-byte redelivery)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from simulators.xero.webhooks import WebhookSender
from syncworker.services.locks import TenantLock
from syncworker.store.models import JobRun, WebhookEvent
from tests.factories import make_tenant
from tests.http import seed
from tests.http.conftest import WEBHOOK_KEY, Server, sign

PATH = "/webhooks/xero"


def event(xero_tenant: str, resource_id: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    resource_id = resource_id or str(uuid.uuid4())
    when = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{resource_id}", "resourceId": resource_id,
            "eventDateUtc": when, "eventType": "UPDATE", "eventCategory": "CONTACT", "tenantId": xero_tenant,
            "tenantType": "ORGANISATION"}


def payload(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events), "firstEventSequence": 1, "lastEventSequence": len(events),
                       "entropy": "QWERTYUIOPASDFGHJKLZ"}, separators=(",", ":")).encode()


def post(server: Server, body: bytes, signature: str | None = "sign", content_type: str = "application/json",
         **headers: str) -> httpx.Response:
    if signature == "sign":
        signature = sign(body)
    if signature is not None:
        headers["x-xero-signature"] = signature
    headers["Content-Type"] = content_type
    return httpx.post(f"{server.url}{PATH}", content=body, headers=headers, timeout=10)


@pytest.fixture
def xero_tenant(server: Server, tenant_name: str) -> tuple[int, str]:
    """A tenant connected to a Xero organisation; returns (our tenant id, Xero's tenantId)."""
    tenant_id = make_tenant(server.db, tenant_name)
    remote = str(uuid.uuid4())
    seed.xero_connection(server.db, tenant_id, remote)
    return tenant_id, remote


def stored(server: Server, tenant_id: int) -> list[WebhookEvent]:
    with server.db.session() as s:
        return list(s.scalars(select(WebhookEvent).where(WebhookEvent.tenant_id == tenant_id)
                              .order_by(WebhookEvent.id)))


def pulls(server: Server, tenant_id: int) -> list[JobRun]:
    with server.db.session() as s:
        return list(s.scalars(select(JobRun).where(JobRun.tenant_id == tenant_id, JobRun.kind == "webhook_pull")
                              .order_by(JobRun.id)))


def test_a_bad_signature_is_401_with_an_empty_body_and_records_nothing(server: Server, xero_tenant: tuple[int, str]
                                                                       ) -> None:
    tenant_id, remote = xero_tenant
    body = payload(event(remote))
    for signature in (sign(body, WEBHOOK_KEY + "x"), sign(body + b" "), "not-base64!", None, ""):
        r = post(server, body, signature)
        assert (r.status_code, r.content) == (401, b""), signature
    assert stored(server, tenant_id) == [] and pulls(server, tenant_id) == []


def test_intent_to_receive_answers_200_to_good_and_401_to_bad_signatures(server: Server) -> None:
    sender = WebhookSender(WEBHOOK_KEY, f"{server.url}{PATH}")
    results = sender.intent_to_receive(probes=6)
    assert results and all(status == (200 if good else 401) for good, status in results), results
    assert all(not d.error for d in sender.deliveries)
    r = post(server, payload())
    assert (r.status_code, r.content, r.headers.get("set-cookie")) == (200, b"", None)


def test_a_delivery_repeated_three_times_records_one_event_and_queues_one_pull(
        server: Server, xero_tenant: tuple[int, str], tenant_name: str) -> None:
    tenant_id, remote = xero_tenant
    sender = WebhookSender(WEBHOOK_KEY, f"{server.url}{PATH}")
    sender.start()
    try:
        sender.event(event_type="UPDATE", resource_id=str(uuid.uuid4()), resource_url="https://x/Contacts/1",
                     tenant_id=remote, when=datetime.now(UTC))
        assert sender.wait_idle()
        statuses = [sender.deliveries[0].status, *sender.redeliver(times=2)]
    finally:
        sender.stop()
    assert statuses == [200, 200, 200]
    events = stored(server, tenant_id)
    assert len(events) == 1 and events[0].category == "CONTACT" and events[0].system == "xero"
    [run] = pulls(server, tenant_id)
    assert (run.trigger, run.system, run.params) == ("webhook", "xero",
                                                     {"system": "xero", "event_ids": [events[0].id]})
    assert events[0].run_id == run.id


def test_concurrent_copies_of_a_delivery_store_the_event_once(server: Server, xero_tenant: tuple[int, str]) -> None:
    tenant_id, remote = xero_tenant
    body = payload(event(remote), event(remote))
    with ThreadPoolExecutor(5) as pool:
        statuses = [r.status_code for r in pool.map(lambda _: post(server, body), range(5))]
    assert statuses == [200] * 5
    assert len(stored(server, tenant_id)) == 2
    [run] = pulls(server, tenant_id)
    assert sorted(run.params["event_ids"]) == [e.id for e in stored(server, tenant_id)]


def test_one_pull_per_tenant_with_its_own_events(server: Server, tenant_name: str) -> None:
    tenants = []
    for n in range(2):
        tid = make_tenant(server.db, f"{tenant_name} {n}")
        remote = str(uuid.uuid4())
        seed.xero_connection(server.db, tid, remote)
        tenants.append((tid, remote))
    (a, ra), (b, rb) = tenants
    r = post(server, payload(event(ra), event(rb), event(ra)))
    assert r.status_code == 200, r.text
    for tid, n in ((a, 2), (b, 1)):
        [run] = pulls(server, tid)
        assert sorted(run.params["event_ids"]) == [e.id for e in stored(server, tid)]
        assert len(run.params["event_ids"]) == n


def test_a_busy_tenant_keeps_its_events_for_the_next_pull(server: Server, xero_tenant: tuple[int, str]) -> None:
    tenant_id, remote = xero_tenant
    with TenantLock(server.db, tenant_id, run_id=seed.running_run(server.db, tenant_id)):
        r = post(server, payload(event(remote)))
    assert (r.status_code, r.content) == (200, b"")
    [kept] = stored(server, tenant_id)
    assert kept.processed_at is None and kept.run_id is None
    assert pulls(server, tenant_id) == []
    # Once the tenant is free, the next delivery queues a pull for its new event.
    assert post(server, payload(event(remote))).status_code == 200
    [run] = pulls(server, tenant_id)
    assert run.params["event_ids"] == [stored(server, tenant_id)[1].id]


def test_unknown_xero_tenants_are_answered_200_and_counted_as_ignored(server: Server,
                                                                       xero_tenant: tuple[int, str]) -> None:
    # Xero retries anything but 200 for 24 h and then disables the app's webhook for every tenant.
    tenant_id, remote = xero_tenant
    stranger = str(uuid.uuid4())
    lost = event(stranger)
    before = events_counter(server, "ignored_unknown_tenant")
    r = post(server, payload(lost))
    assert (r.status_code, r.content) == (200, b"")
    with server.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.resource_id == lost["resourceId"])) == 0
    # In a mixed delivery the known tenant's events are stored and pulled as usual.
    r = post(server, payload(event(remote), event(stranger)))
    assert (r.status_code, r.content) == (200, b"")
    assert len(stored(server, tenant_id)) == 1 and len(pulls(server, tenant_id)) == 1
    assert events_counter(server, "ignored_unknown_tenant") - before == 2
    assert stranger not in server.log_text()  # counted, not logged one id at a time


def test_non_contact_events_are_recorded_processed_and_never_pulled(server: Server,
                                                                    xero_tenant: tuple[int, str]) -> None:
    tenant_id, remote = xero_tenant
    invoice = event(remote) | {"eventCategory": "INVOICE"}
    r = post(server, payload(invoice))
    assert r.status_code == 200
    [kept] = stored(server, tenant_id)
    assert (kept.category, kept.resource_id) == ("INVOICE", invoice["resourceId"])
    assert kept.processed_at is not None and kept.run_id is None
    assert pulls(server, tenant_id) == []
    contact = event(remote)
    assert post(server, payload(contact, event(remote) | {"eventCategory": "CREDITNOTE"})).status_code == 200
    [run] = pulls(server, tenant_id)
    assert run.params["event_ids"] == [e.id for e in stored(server, tenant_id) if e.resource_id == contact["resourceId"]]


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b'{"entropy": "x"}', "'events' list"),
    (b'{"events": {}}', "'events' list"),
    (b'{"events": ["x"]}', "object"),
    (b'{"events": [{"tenantId": "t"}]}', "eventCategory"),
])
def test_malformed_payloads_are_400_with_a_reason(server: Server, body: bytes, reason: str) -> None:
    r = post(server, body)
    assert r.status_code == 400 and reason in r.json()["detail"], r.text


def test_a_bad_event_date_is_400(server: Server, xero_tenant: tuple[int, str]) -> None:
    bad = event(xero_tenant[1]) | {"eventDateUtc": "yesterday"}
    r = post(server, payload(bad))
    assert r.status_code == 400 and "eventDateUtc" in r.json()["detail"]
    assert stored(server, xero_tenant[0]) == []


def test_wrong_content_type_is_415_once_the_signature_is_good(server: Server, xero_tenant: tuple[int, str]) -> None:
    body = payload(event(xero_tenant[1]))
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        assert post(server, body, content_type=content_type).status_code == 415
        # A bad signature is 401 (empty) whatever the Content-Type: Xero's Intent to Receive checks exactly that.
        r = post(server, body, sign(body, "wrong"), content_type=content_type)
        assert (r.status_code, r.content) == (401, b""), content_type
    assert post(server, body, content_type="application/json; charset=utf-8").status_code == 200


def test_oversized_bodies_are_413_declared_or_not(server: Server, xero_tenant: tuple[int, str]) -> None:
    big = b'{"events": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    r = post(server, big)
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for i in range(0, len(big), 64 * 1024):
            yield big[i:i + 64 * 1024]

    r = httpx.post(f"{server.url}{PATH}", content=chunks(), timeout=10,
                   headers={"Content-Type": "application/json", "x-xero-signature": sign(big)})
    assert r.status_code == 413
    assert "content-length" not in r.request.headers


def test_a_large_delivery_is_answered_well_within_five_seconds(server: Server, xero_tenant: tuple[int, str]) -> None:
    tenant_id, remote = xero_tenant
    start = datetime.now(UTC)
    body = payload(*(event(remote, at=start + timedelta(seconds=i)) for i in range(200)))
    began = time.monotonic()
    r = post(server, body)
    elapsed = time.monotonic() - began
    assert r.status_code == 200
    assert elapsed < 5, elapsed  # Xero's limit
    assert len(stored(server, tenant_id)) == 200


def events_counter(server: Server, result: str) -> float:
    with server.client() as api:
        text = api.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith(f'syncworker_webhook_events_total{{result="{result}"}}'))
    return float(line.rsplit(" ", 1)[1])


def test_webhook_counters_show_recorded_and_deduplicated_events(server: Server, xero_tenant: tuple[int, str]) -> None:
    before = events_counter(server, "recorded"), events_counter(server, "duplicate")
    body = payload(event(xero_tenant[1]))
    for _ in range(3):
        assert post(server, body).status_code == 200
    assert (events_counter(server, "recorded") - before[0], events_counter(server, "duplicate") - before[1]) == (1, 2)


def test_refusals_are_logged_without_the_body(server: Server, xero_tenant: tuple[int, str]) -> None:
    marker = f"needle-{uuid.uuid4().hex}"
    body = payload(event(xero_tenant[1], resource_id=marker))
    post(server, body, sign(body, "wrong"))
    post(server, b'{"events": [{"resourceId": "' + marker.encode() + b'"}', "sign")
    post(server, body, content_type="text/plain")
    time.sleep(0.2)
    log = server.log_text()
    assert "bad signature" in log and "not valid JSON" in log
    assert marker not in log
