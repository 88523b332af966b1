"""XeroContactsClient against the Xero simulator over real sockets (identity, limits, faults, webhooks)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from adapters.errors import DailyLimitReached, MalformedResponse, TransientError
from adapters.xero import DuplicateContactName, RetryPolicy, XeroContactsClient, with_link_key
from simulators.xero import Limits, XeroSimulator, sign
from syncworker.domain.profile import Address, ClientKind, ClientProfile, ClientStatus

pytestmark = pytest.mark.e2e


def all_items(pages):
    return [p for page in pages for p in page.items]


def test_full_pull_pages_through_every_contact_archived_included(sim, sim_client):
    pages = list(sim_client.iter_client_pages())
    items = all_items(pages)
    assert len(items) == len({p.id for p in items}) == 30 == len(sim.store)
    assert any(p.status is ClientStatus.ARCHIVED for p in items)
    assert any(p.kind is ClientKind.INDIVIDUAL for p in items) and any(p.kind is ClientKind.COMPANY for p in items)
    # each next page restarts at the last second seen (one contact overlaps); the pagination block
    # spares a final empty page
    assert sim.stats["GET Contacts"] == 4


def test_incremental_pull_returns_only_what_changed_since(sim, sim_client):
    before = list(sim.store.select())
    sim.clock.advance(3600)
    since = sim.clock.now()
    sim.clock.advance(5)
    edited = sim.store.edit(before[0]["ContactID"], EmailAddress="changed@example.test")
    archived = sim.store.archive(before[1]["ContactID"])
    created = sim_client.create_client(ClientProfile(id="l1", kind=ClientKind.COMPANY, name="Fresh Start Ltd"))

    changed = all_items(sim_client.iter_client_pages(modified_since=since))
    assert {p.id for p in changed} == {edited["ContactID"], archived["ContactID"], created.id}
    by_id = {p.id: p for p in changed}
    assert by_id[archived["ContactID"]].status is ClientStatus.ARCHIVED
    assert by_id[edited["ContactID"]].email == "changed@example.test"
    assert all(p.modified_at is not None and p.modified_at >= since for p in changed)


def test_resumed_pull_continues_where_the_checkpoint_says(sim_client):
    first = next(sim_client.iter_client_pages())
    rest = all_items(sim_client.iter_client_pages(resume_from=first.checkpoint))
    assert {p.id for p in first.items} | {p.id for p in rest} == {p.id for p in all_items(
        sim_client.iter_client_pages())}
    assert len({p.id for p in first.items} & {p.id for p in rest}) <= 1  # only the boundary second repeats


def test_contacts_edited_or_created_mid_pull_are_not_skipped(sim, sim_client):
    """With offset paging, editing contacts already read moves them to the end and shifts every later
    contact back: page 2 would skip five of them. The time-based cursor reaches every contact."""
    pages = sim_client.iter_client_pages()
    first = next(pages)
    for profile in first.items[:5]:
        sim.store.edit(profile.id, EmailAddress=f"moved-{profile.id[:4]}@example.test")
    sim.store.add("Created Midway Ltd")
    seen = {p.id for p in first.items} | {p.id for page in pages for p in page.items}
    assert seen == {c["ContactID"] for c in sim.store.select()}


def test_create_update_archive_round_trip_with_link_key(sim, sim_client):
    profile = with_link_key(ClientProfile(
        id="local-7", kind=ClientKind.INDIVIDUAL, name="Nova Quill", given_name="Nova", family_name="Quill",
        email="nova@example.test", mobile="021 555 0100", address=Address(line1="1 Test Lane", city="Nelson")),
        "SW-local-7")
    created = sim_client.create_client(profile)
    assert created.kind is ClientKind.INDIVIDUAL and created.extra["kind_inferred"]
    assert (created.email, created.mobile, created.address.city) == ("nova@example.test", "021 555 0100", "Nelson")

    found = sim_client.get_by_link_key("SW-local-7")
    assert found is not None and found.id == created.id

    updated = sim_client.update_client(created.id, {"email": None, "address.postcode": "7010", "phone": "03 555 1"})
    assert updated.email is None and updated.phone == "03 555 1"
    assert updated.address == Address(line1="1 Test Lane", city="Nelson", postcode="7010")
    assert updated.modified_at >= created.modified_at

    sim_client.archive_client(created.id)
    stored = sim_client.get_client(created.id)
    assert stored is not None and stored.status is ClientStatus.ARCHIVED
    assert sim.store.get(created.id)["ContactStatus"] == "ARCHIVED"
    assert sim_client.get_client("00000000-0000-4000-8000-000000000000") is None


def test_set_link_key_on_an_existing_contact(sim, sim_client):
    target = sim.store.select()[5]
    sim_client.set_link_key(target["ContactID"], "SW-99")
    assert sim.store.get("SW-99")["ContactID"] == target["ContactID"]  # Xero: GET by ContactNumber works too


def test_duplicate_active_name_is_rejected_but_an_archived_name_is_free(sim, sim_client):
    active = next(c for c in sim.store.select() if c["ContactStatus"] == "ACTIVE")
    with pytest.raises(DuplicateContactName, match="already"):
        sim_client.create_client(ClientProfile(id="x", kind=ClientKind.COMPANY, name=active["Name"].upper()))
    assert len(sim.store) == 30

    sim.store.archive(active["ContactID"])
    reused = sim_client.create_client(ClientProfile(id="x", kind=ClientKind.COMPANY, name=active["Name"]))
    assert reused.id != active["ContactID"]


def test_rename_onto_another_active_name_is_rejected(sim, sim_client):
    a, b = [c for c in sim.store.select() if c["ContactStatus"] == "ACTIVE"][:2]
    with pytest.raises(DuplicateContactName):
        sim_client.update_client(a["ContactID"], {"name": b["Name"]})
    assert sim.store.get(a["ContactID"])["Name"] == a["Name"]


def test_create_whose_response_is_lost_is_retried_without_a_second_contact(sim, sim_client, receiver):
    # The first PUT is stored, then the connection is reset; the adapter retries with the same
    # Idempotency-Key and Xero answers with the contact it already created.
    sim.faults.inject("lost_response", path_contains="/Contacts")
    created = sim_client.create_client(ClientProfile(id="l", kind=ClientKind.COMPANY, name="Once Only Ltd"))
    assert len(sim.store) == 31 and sim.store.by_name("Once Only Ltd")["ContactID"] == created.id
    assert sim_client.call_stats()["retries"] == 1
    assert sim.webhooks.wait_idle(5) and len(receiver.received) == 1  # one write, one CREATE event


def test_same_idempotency_key_replays_the_first_answer(sim, sim_client):
    headers = {"Authorization": f"Bearer {sim_client.tokens.access_token()}",
               "Xero-Tenant-Id": sim.xero_tenant_id, "Idempotency-Key": "k1"}
    url = f"{sim.api_url}/api.xro/2.0/Contacts"
    first = requests.put(url, json={"Contacts": [{"Name": "Keyed Ltd"}]}, headers=headers, timeout=5)
    second = requests.put(url, json={"Contacts": [{"Name": "Keyed Ltd"}]}, headers=headers, timeout=5)
    assert first.status_code == second.status_code == 200
    assert first.json()["Contacts"][0]["ContactID"] == second.json()["Contacts"][0]["ContactID"]
    assert len(sim.store) == 31


# --- limits and faults ----------------------------------------------------------------------------------

def test_minute_limit_is_waited_out_on_retry_after():
    with XeroSimulator(contacts=3, seed=1, limits=Limits(per_minute=4)) as small:
        from adapters.xero_identity.memory_store import InMemoryTokenStore
        from adapters.xero_identity.tokens import TokenManager

        tokens = TokenManager(InMemoryTokenStore(small.token_set()), client_id=small.identity.client_id,
                              client_secret=small.identity.client_secret, identity_url=small.identity_url)
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            small.clock.advance(seconds)

        client = XeroContactsClient(tokens, api_url=small.api_url, sleep=sleep,
                                    retry=RetryPolicy(rate_limit_attempts=3, jitter=0.1))
        ids = [c["ContactID"] for c in small.store.select()]
        for _ in range(3):
            for cid in ids:
                assert client.get_client(cid) is not None
        assert small.stats["rate_limited"] >= 1 and waits and all(w >= 1 for w in waits)
        assert client.rate_limit_remaining["X-DayLimit-Remaining"] == 5000 - 9


def test_injected_faults_map_to_adapter_errors(sim, sim_client):
    cid = sim.store.select()[0]["ContactID"]
    sim.faults.inject("minute_429", times=2, retry_after=3)
    assert sim_client.get_client(cid) is not None
    sim.faults.inject("500", times=2)
    assert sim_client.get_client(cid) is not None
    sim.faults.inject("reset", times=1)
    assert sim_client.get_client(cid) is not None
    sim.faults.inject("500", times=3)
    with pytest.raises(TransientError):
        sim_client.get_client(cid)
    sim.faults.inject("malformed_json")  # a body cut short is read again, like a 5xx
    assert sim_client.get_client(cid) is not None
    assert sim_client.call_stats()["malformed"] == 1
    sim.faults.inject("malformed_json", times=3)
    with pytest.raises(MalformedResponse):
        sim_client.get_client(cid)
    sim.faults.inject("day_429")
    with pytest.raises(DailyLimitReached) as info:
        sim_client.get_client(cid)
    assert info.value.resume_at > sim.clock.now() - timedelta(seconds=5)
    assert sim.stats["faults_fired"] == {"minute_429": 2, "500": 5, "reset": 1, "malformed_json": 4, "day_429": 1}


def test_slow_response_hits_the_read_timeout(sim, sim_tokens):
    client = XeroContactsClient(sim_tokens, api_url=sim.api_url, timeout=(1.0, 0.3),
                                retry=RetryPolicy(attempts=2, backoff_initial=0.01, jitter=0), sleep=lambda s: None)
    sim.faults.inject("slow", times=2, delay=0.6)
    with pytest.raises(TransientError, match="read timeout"):
        client.get_client(sim.store.select()[0]["ContactID"])


def test_expired_access_token_is_refreshed_after_a_401(sim, sim_client, sim_tokens):
    cid = sim.store.select()[0]["ContactID"]
    assert sim_client.get_client(cid) is not None
    sim.clock.advance(31 * 60)  # the simulator's access token has expired; the manager's clock disagrees
    assert sim_client.get_client(cid) is not None
    assert sim_client.call_stats()["token_refreshes"] == 1


def test_calls_without_a_valid_token_or_tenant_are_refused(sim):
    url = f"{sim.api_url}/api.xro/2.0/Contacts"
    assert requests.get(url, headers={"Xero-Tenant-Id": sim.xero_tenant_id}, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401


# --- webhooks ---------------------------------------------------------------------------------------------

def test_contact_changes_send_signed_thin_events(sim, sim_client, receiver):
    created = sim_client.create_client(ClientProfile(id="l", kind=ClientKind.COMPANY, name="Hook Test Ltd"))
    sim_client.archive_client(created.id)
    sim.store.edit(created.id, EmailAddress="ui@example.test")
    assert sim.webhooks.wait_idle(5)

    assert len(receiver.received) == 3 and all(valid for _, _, valid in receiver.received)
    payloads = [json.loads(body) for body, _, _ in receiver.received]
    events = [p["events"][0] for p in payloads]
    assert [e["eventType"] for e in events] == ["CREATE", "UPDATE", "UPDATE"]  # archive arrives as UPDATE
    for e in events:
        assert e["resourceId"] == created.id and e["eventCategory"] == "CONTACT"
        assert e["tenantId"] == sim.xero_tenant_id and e["tenantType"] == "ORGANISATION"
        assert e["resourceUrl"] == f"{sim.api_url}/api.xro/2.0/Contacts/{created.id}"
    sequences = [(p["firstEventSequence"], p["lastEventSequence"]) for p in payloads]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    assert all(p["entropy"] for p in payloads)
    # the signature is over the raw bytes: re-serialising the parsed JSON would not match in general
    body, signature, _ = receiver.received[0]
    assert signature == sign(body, sim.webhook_key)
    assert sim.stats["webhooks_sent"] == 3 and sim.stats["webhooks_failed"] == 0


def test_event_resource_url_fetches_the_contact(sim, sim_client, receiver):
    sim.store.edit(sim.store.select()[0]["ContactID"], Name="Renamed By Hand Ltd")
    assert sim.webhooks.wait_idle(5)
    event = json.loads(receiver.received[0][0])["events"][0]
    fetched = sim_client.get_client(event["resourceId"])
    assert fetched is not None and fetched.name == "Renamed By Hand Ltd"


def test_a_webhook_batch_is_fetched_in_one_call(sim, sim_client, receiver):
    targets = [c["ContactID"] for c in sim.store.select()[:4]]
    for cid in targets:
        sim.store.edit(cid, LastName="Batch")
    sim.store.archive(targets[0])
    assert sim.webhooks.wait_idle(5)
    ids = [e["resourceId"] for e in sim.webhooks.events_sent()]
    before = sim.stats.get("GET Contacts", 0)
    fetched = sim_client.get_clients(ids)
    assert {p.id for p in fetched} == set(targets) and sim.stats["GET Contacts"] == before + 1
    assert next(p for p in fetched if p.id == targets[0]).status is ClientStatus.ARCHIVED


def test_intent_to_receive_mixes_good_and_bad_signatures(sim, receiver):
    results = sim.send_intent_to_receive(probes=6)
    assert {good for good, _ in results} == {True, False}
    assert all(status == (200 if good else 401) for good, status in results)
    for body, _, _ in receiver.received:
        assert json.loads(body) | {"entropy": ""} == {"events": [], "firstEventSequence": 0,
                                                     "lastEventSequence": 0, "entropy": ""}


def test_redelivery_repeats_the_exact_same_payload(sim, receiver):
    sim.store.edit(sim.store.select()[0]["ContactID"], EmailAddress="again@example.test")
    statuses = sim.webhooks.redeliver(times=3)
    assert statuses == [200, 200, 200]
    bodies = {body for body, _, _ in receiver.received}
    signatures = {sig for _, sig, _ in receiver.received}
    assert len(receiver.received) == 4 and len(bodies) == 1 and len(signatures) == 1


def test_no_webhook_url_means_no_deliveries(sim, sim_client):
    sim_client.create_client(ClientProfile(id="l", kind=ClientKind.COMPANY, name="Quiet Ltd"))
    assert sim.webhooks.wait_idle(2) and sim.webhooks.deliveries == []


def test_shared_rate_limiter_keeps_the_adapter_under_the_minute_limit():
    from adapters.ratelimit import Limits as ClientLimits
    from adapters.ratelimit import RateLimiter
    from adapters.xero_identity.memory_store import InMemoryTokenStore
    from adapters.xero_identity.tokens import TokenManager

    with XeroSimulator(contacts=2, seed=2, limits=Limits(per_minute=5)) as small:
        tokens = TokenManager(InMemoryTokenStore(small.token_set()), client_id=small.identity.client_id,
                              client_secret=small.identity.client_secret, identity_url=small.identity_url)
        limiter = RateLimiter(ClientLimits(per_minute=5), clock=small.clock.elapsed, now=small.clock.now,
                              sleep=small.clock.advance)
        client = XeroContactsClient(tokens, api_url=small.api_url, limiter=limiter, sleep=small.clock.advance)
        cid = small.store.select()[0]["ContactID"]
        for _ in range(12):
            assert client.get_client(cid) is not None
        assert small.stats.get("rate_limited", 0) == 0  # paced before sending, never refused
        assert limiter.waited_seconds >= 60
