"""Request shaping, parsing and error handling of XeroContactsClient, against `responses`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from responses import matchers

from adapters.errors import (
    DailyLimitReached,
    MalformedResponse,
    NotFound,
    ReconnectRequired,
    RemoteRejected,
    TransientError,
)
from adapters.xero import DuplicateContactName, RetryPolicy, XeroContactsClient
from syncworker.domain.profile import ClientKind, ClientProfile, ClientStatus

API = "https://xero.test"
CONTACTS = f"{API}/api.xro/2.0/Contacts"
FAST = RetryPolicy(attempts=3, backoff_initial=0.1, backoff_max=0.4, rate_limit_attempts=3, jitter=0.0)


def contact(n: int, **over) -> dict:
    return {"ContactID": f"00000000-0000-0000-0000-{n:012d}", "Name": f"Company {n} Ltd",
            "ContactStatus": "ACTIVE", "UpdatedDateUTC": "/Date(1767225600000+0000)/", **over}


def envelope(*contacts: dict) -> dict:
    return {"Id": "x", "Status": "OK", "ProviderName": "syncworker", "DateTimeUTC": "/Date(1767225600000)/",
            "Contacts": list(contacts)}


@pytest.fixture
def client(tokens, sleeps):
    return XeroContactsClient(tokens, api_url=API, page_size=2, retry=FAST, sleep=sleeps, timeout=(1.5, 7.0))


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlparse(call.request.url).query)


def at(seconds: int) -> str:
    """An UpdatedDateUTC `seconds` after 2026-01-01T00:00:00Z, with milliseconds as Xero sends them."""
    return f"/Date({1767225600000 + seconds * 1000 + 250}+0000)/"


@responses.activate
def test_incremental_pull_shapes_headers_and_moves_the_window_to_the_newest_second_seen(client, tokens):
    responses.get(CONTACTS, json=envelope(contact(1, UpdatedDateUTC=at(10)), contact(2, UpdatedDateUTC=at(20))))
    responses.get(CONTACTS, json=envelope(contact(2, UpdatedDateUTC=at(20)), contact(3, UpdatedDateUTC=at(30))))
    responses.get(CONTACTS, json=envelope(contact(3, UpdatedDateUTC=at(30))))
    pages = list(client.iter_client_pages(modified_since=datetime(2026, 1, 1, 0, 0, 5, 678, tzinfo=UTC)))

    # contact 2 and 3 are sent twice (boundary second); each is yielded once
    assert [[p.id[-1] for p in page.items] for page in pages] == [["1", "2"], ["3"], []]
    assert all(p.incremental for p in pages) and pages[-1].checkpoint is None
    first, second, third = responses.calls
    assert first.request.headers["If-Modified-Since"] == "2026-01-01T00:00:05Z"
    assert second.request.headers["If-Modified-Since"] == "2026-01-01T00:00:20Z"
    assert third.request.headers["If-Modified-Since"] == "2026-01-01T00:00:30Z"
    assert [query(c)["page"] for c in responses.calls] == [["1"]] * 3
    assert query(first)["order"] == ["UpdatedDateUTC ASC"]
    assert query(first)["pageSize"] == ["2"] and query(first)["includeArchived"] == ["true"]
    assert first.request.headers["Xero-Tenant-Id"] == tokens.remote_tenant_id
    assert first.request.headers["Authorization"] == "Bearer tok-1"
    assert first.request.req_kwargs["timeout"] == (1.5, 7.0)


@responses.activate
def test_a_full_page_inside_one_second_steps_with_page_numbers(client):
    responses.get(CONTACTS, json=envelope(contact(1, UpdatedDateUTC=at(7)), contact(2, UpdatedDateUTC=at(7))))
    responses.get(CONTACTS, json=envelope(contact(3, UpdatedDateUTC=at(7)), contact(4, UpdatedDateUTC=at(7))))
    responses.get(CONTACTS, json=envelope(contact(5, UpdatedDateUTC=at(9))))
    items = [p.id[-1] for page in client.iter_client_pages() for p in page.items]
    assert items == ["1", "2", "3", "4", "5"]
    headers = [c.request.headers.get("If-Modified-Since") for c in responses.calls]
    assert headers == [None, "2026-01-01T00:00:07Z", "2026-01-01T00:00:07Z"]
    assert [query(c)["page"] for c in responses.calls] == [["1"], ["1"], ["2"]]


@responses.activate
def test_full_listing_sends_no_if_modified_since(client):
    responses.get(CONTACTS, json=envelope(contact(1)))
    pages = list(client.iter_client_pages())
    assert "If-Modified-Since" not in responses.calls[0].request.headers
    assert not pages[0].incremental


@responses.activate
def test_pagination_block_wins_over_page_length(client):
    # a full last page: the pagination block says there is nothing after it, so no extra empty call
    responses.get(CONTACTS, json={**envelope(contact(1), contact(2)),
                                  "pagination": {"page": 1, "pageSize": 2, "pageCount": 1, "itemCount": 2}})
    pages = list(client.iter_client_pages())
    assert len(responses.calls) == 1 and pages[0].checkpoint is None


@responses.activate
def test_resume_from_checkpoint_continues_with_the_saved_cursor(client):
    responses.get(CONTACTS, json=envelope(contact(1, UpdatedDateUTC=at(10)), contact(2, UpdatedDateUTC=at(20))))
    first = next(client.iter_client_pages(modified_since=datetime(2026, 1, 1, tzinfo=UTC)))
    responses.get(CONTACTS, json=envelope(contact(3, UpdatedDateUTC=at(30))))
    # the caller passes a different modified_since on resume: the checkpoint wins
    resumed = list(client.iter_client_pages(modified_since=datetime(2030, 1, 1, tzinfo=UTC),
                                            resume_from=first.checkpoint))
    assert [p.items[0].name for p in resumed] == ["Company 3 Ltd"] and resumed[0].incremental
    assert responses.calls[1].request.headers["If-Modified-Since"] == "2026-01-01T00:00:20Z"


@responses.activate
def test_archived_contacts_in_a_pull_are_reported_archived(client):
    responses.get(CONTACTS, json=envelope(contact(1, ContactStatus="ARCHIVED")))
    (page,) = list(client.iter_client_pages(modified_since=datetime(2026, 1, 1, tzinfo=UTC)))
    assert page.items[0].status is ClientStatus.ARCHIVED


@responses.activate
def test_an_unparseable_contact_is_skipped_and_counted(client):
    responses.get(CONTACTS, json=envelope(contact(1), {"Name": "no id"}))
    responses.get(CONTACTS, json=envelope())
    items = [p for page in client.iter_client_pages() for p in page.items]
    assert [p.name for p in items] == ["Company 1 Ltd"]
    assert client.counts["unparseable_contacts"] == 1


@responses.activate
def test_get_by_link_key_filters_on_contact_number(client):
    responses.get(CONTACTS, json=envelope(contact(7, ContactNumber="SW-7")))
    found = client.get_by_link_key("SW-7")
    assert found is not None and client.link_key_of(found) == "SW-7"
    assert query(responses.calls[0])["where"] == ['ContactNumber=="SW-7"']


@responses.activate
def test_get_clients_batches_ids_into_few_calls(client):
    import adapters.xero.client as client_module

    ids = [contact(n)["ContactID"] for n in range(client_module.IDS_PER_CALL + 3)]
    responses.get(CONTACTS, json=envelope(contact(1)))
    responses.get(CONTACTS, json=envelope(contact(2)))
    found = client.get_clients(ids + ids[:2])  # repeats are asked once
    assert [p.id for p in found] == [contact(1)["ContactID"], contact(2)["ContactID"]]
    sent = [query(c)["IDs"][0].split(",") for c in responses.calls]
    assert [len(s) for s in sent] == [client_module.IDS_PER_CALL, 3] and sum(sent, []) == ids
    assert query(responses.calls[0])["includeArchived"] == ["true"]


@responses.activate
def test_get_missing_contact_is_none(client):
    responses.get(f"{CONTACTS}/nope", status=404, body="The resource you're looking for cannot be found")
    assert client.get_client("nope") is None


@responses.activate
def test_create_puts_contact_with_link_key_and_idempotency_key(client):
    responses.put(CONTACTS, json=envelope(contact(9, Name="New Co Ltd", ContactNumber="SW-9")),
                  match=[matchers.query_param_matcher({"summarizeErrors": "true"})])
    created = client.create_client(ClientProfile(id="local-9", kind=ClientKind.COMPANY, name="New Co Ltd",
                                                 extra={"contact_number": "SW-9"}))
    sent = json.loads(responses.calls[0].request.body)
    assert sent["Contacts"][0]["Name"] == "New Co Ltd" and sent["Contacts"][0]["ContactNumber"] == "SW-9"
    assert responses.calls[0].request.headers["Idempotency-Key"]
    assert created.id == contact(9)["ContactID"]


@responses.activate
def test_idempotency_key_is_reused_across_retries(client):
    responses.put(CONTACTS, status=503)
    responses.put(CONTACTS, json=envelope(contact(9)))
    client.create_client(ClientProfile(id="l", kind=ClientKind.COMPANY, name="Company 9 Ltd"))
    keys = {c.request.headers["Idempotency-Key"] for c in responses.calls}
    assert len(responses.calls) == 2 and len(keys) == 1


DUPLICATE = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
             "Elements": [{"Name": "Acme Ltd", "ValidationErrors": [{"Message": (
                 "The contact name Acme Ltd is already assigned to another contact. The contact name must be "
                 "unique across all active contacts.")}]}]}


@responses.activate
def test_duplicate_name_on_create_is_a_clear_rejection(client):
    responses.put(CONTACTS, status=400, json=DUPLICATE)
    with pytest.raises(DuplicateContactName, match="already has an active contact with this name") as info:
        client.create_client(ClientProfile(id="l", kind=ClientKind.COMPANY, name="Acme Ltd"))
    assert isinstance(info.value, RemoteRejected) and info.value.name == "Acme Ltd"
    assert "Acme" not in str(info.value)  # names are personal data and messages reach logs
    assert len(responses.calls) == 1  # a rejection is not retried


@responses.activate
def test_other_validation_errors_keep_xeros_messages(client):
    responses.post(f"{CONTACTS}/abc", status=400, json={"Type": "ValidationException", "Elements": [
        {"ValidationErrors": [{"Message": "Email address must be valid."}]}]})
    with pytest.raises(RemoteRejected, match="Email address must be valid"):
        client.update_client("abc", {"email": "nope"})


@responses.activate
def test_update_posts_only_changed_fields_and_returns_stored_record(client):
    responses.post(f"{CONTACTS}/abc", json=envelope(contact(1, EmailAddress="new@example.test")))
    stored = client.update_client("abc", {"email": "new@example.test"})
    sent = json.loads(responses.calls[0].request.body)["Contacts"][0]
    assert sent["EmailAddress"] == "new@example.test" and "Name" not in sent
    assert stored.email == "new@example.test"


@responses.activate
def test_partial_address_update_reads_current_address_first(client):
    responses.get(f"{CONTACTS}/abc", json=envelope(contact(1, Addresses=[
        {"AddressType": "STREET", "AddressLine1": "1 Main", "City": "Old"}])))
    responses.post(f"{CONTACTS}/abc", json=envelope(contact(1)))
    client.update_client("abc", {"address.city": "New"})
    sent = json.loads(responses.calls[1].request.body)["Contacts"][0]["Addresses"][0]
    assert (sent["AddressLine1"], sent["City"]) == ("1 Main", "New")


@responses.activate
def test_update_with_no_changes_reads_instead_of_writing(client):
    responses.get(f"{CONTACTS}/abc", json=envelope(contact(1)))
    assert client.update_client("abc", {}).id == contact(1)["ContactID"]
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_archive_is_an_update_of_contact_status(client):
    responses.post(f"{CONTACTS}/abc", json=envelope(contact(1, ContactStatus="ARCHIVED")))
    client.archive_client("abc")
    assert json.loads(responses.calls[0].request.body)["Contacts"][0]["ContactStatus"] == "ARCHIVED"


@responses.activate
def test_set_link_key_writes_contact_number(client):
    responses.post(f"{CONTACTS}/abc", json=envelope(contact(1, ContactNumber="SW-1")))
    assert client.link_key_of(client.set_link_key("abc", "SW-1")) == "SW-1"
    assert json.loads(responses.calls[0].request.body)["Contacts"][0]["ContactNumber"] == "SW-1"
    with pytest.raises(ValueError):
        client.set_link_key("abc", "k" * 51)


# --- faults -------------------------------------------------------------------------------------------------

@responses.activate
def test_minute_limit_waits_retry_after_then_succeeds(client, sleeps):
    responses.get(f"{CONTACTS}/a", status=429, headers={"Retry-After": "7", "X-Rate-Limit-Problem": "minute"})
    responses.get(f"{CONTACTS}/a", json=envelope(contact(1)), headers={"X-MinLimit-Remaining": "59",
                                                                        "X-DayLimit-Remaining": "4990"})
    assert client.get_client("a") is not None
    assert sleeps.waits == [7.0]
    assert client.rate_limit_remaining == {"X-MinLimit-Remaining": 59, "X-DayLimit-Remaining": 4990}


@responses.activate
def test_minute_limit_that_persists_becomes_transient(client, sleeps):
    responses.get(f"{CONTACTS}/a", status=429, headers={"Retry-After": "1", "X-Rate-Limit-Problem": "Minute limit"})
    with pytest.raises(TransientError):
        client.get_client("a")
    assert len(responses.calls) == FAST.rate_limit_attempts


@responses.activate
def test_day_limit_raises_with_resume_time_and_no_retry(client, sleeps):
    responses.get(f"{CONTACTS}/a", status=429, headers={"Retry-After": "66975", "X-Rate-Limit-Problem": "DayLimit"})
    before = datetime.now(UTC)
    with pytest.raises(DailyLimitReached) as info:
        client.get_client("a")
    assert len(responses.calls) == 1 and sleeps.waits == []
    assert info.value.resume_at - before >= timedelta(seconds=66975)
    assert not info.value.retriable


@responses.activate
def test_unlabelled_429_with_a_day_sized_retry_after_is_the_day_limit(client, sleeps):
    responses.get(f"{CONTACTS}/a", status=429, headers={"Retry-After": "40000"})
    with pytest.raises(DailyLimitReached):
        client.get_client("a")
    assert sleeps.waits == []


@responses.activate
def test_server_errors_back_off_exponentially_then_raise_transient(client, sleeps):
    responses.get(f"{CONTACTS}/a", status=500)
    with pytest.raises(TransientError, match="500"):
        client.get_client("a")
    assert len(responses.calls) == FAST.attempts
    assert sleeps.waits == [0.1, 0.2]


@pytest.mark.parametrize("exc", [requests.ConnectionError("reset by peer"), requests.ReadTimeout("slow")])
@responses.activate
def test_resets_and_timeouts_are_retried_then_transient(client, exc):
    responses.get(f"{CONTACTS}/a", body=exc)
    with pytest.raises(TransientError):
        client.get_client("a")
    assert len(responses.calls) == FAST.attempts


@responses.activate
def test_one_transient_failure_is_absorbed(client):
    responses.get(f"{CONTACTS}/a", body=requests.ConnectionError("reset"))
    responses.get(f"{CONTACTS}/a", json=envelope(contact(1)))
    assert client.get_client("a") is not None


@responses.activate
def test_malformed_json_is_reported_as_such(client):
    responses.get(f"{CONTACTS}/a", body='{"Contacts": [{"ContactID": ', content_type="application/json")
    with pytest.raises(MalformedResponse):
        client.get_client("a")
    responses.get(CONTACTS, json={"Status": "OK"})  # envelope without Contacts
    with pytest.raises(MalformedResponse):
        list(client.iter_client_pages())


@responses.activate
def test_401_forces_one_refresh_and_retries_with_the_new_token(client, tokens):
    responses.get(f"{CONTACTS}/a", status=401, json={"Title": "Unauthorized", "Detail": "TokenExpired"})
    responses.get(f"{CONTACTS}/a", json=envelope(contact(1)))
    assert client.get_client("a") is not None
    assert tokens.refreshes == 1
    assert responses.calls[1].request.headers["Authorization"] == "Bearer tok-2"


@responses.activate
def test_401_after_refresh_needs_reconnect(client, tokens):
    responses.get(f"{CONTACTS}/a", status=401)
    with pytest.raises(ReconnectRequired):
        client.get_client("a")
    assert tokens.refreshes == 1 and len(responses.calls) == 2


@responses.activate
def test_404_on_update_is_not_found(client):
    responses.post(f"{CONTACTS}/gone", status=404)
    with pytest.raises(NotFound):
        client.update_client("gone", {"name": "x"})


class FeedbackLimiter:
    """The shape of adapters.ratelimit.RateLimiter, recording what the adapter tells it."""

    def __init__(self) -> None:
        self.entered = 0
        self.observed: list = []
        self.paused: list[float] = []
        self.parked: list[datetime] = []

    def slot(self):
        import contextlib

        self.entered += 1
        return contextlib.nullcontext()

    def observe(self, headers):
        self.observed.append(headers)

    def pause(self, seconds):
        self.paused.append(seconds)

    def park_until_day_reset(self, resume_at):
        self.parked.append(resume_at)


@responses.activate
def test_limiter_slot_wraps_every_http_call_and_hears_about_limits(tokens, sleeps):
    limiter = FeedbackLimiter()
    client = XeroContactsClient(tokens, api_url=API, limiter=limiter, retry=FAST, sleep=sleeps)
    responses.get(f"{CONTACTS}/a", status=500)
    responses.get(f"{CONTACTS}/a", status=429, headers={"Retry-After": "3", "X-Rate-Limit-Problem": "minute"})
    responses.get(f"{CONTACTS}/a", json=envelope(contact(1)), headers={"X-AppMinLimit-Remaining": "9999"})
    client.get_client("a")
    assert limiter.entered == 3 and limiter.observed[-1]["X-AppMinLimit-Remaining"] == "9999"
    assert limiter.paused == [3.0]
    responses.get(f"{CONTACTS}/b", status=429, headers={"Retry-After": "100", "X-Rate-Limit-Problem": "day"})
    with pytest.raises(DailyLimitReached) as info:
        client.get_client("b")
    assert limiter.parked == [info.value.resume_at]


@responses.activate
def test_concurrency_429_without_retry_after_waits_briefly(client, sleeps):
    responses.get(f"{CONTACTS}/a", status=429, headers={"X-Rate-Limit-Problem": "concurrent"})
    responses.get(f"{CONTACTS}/a", json=envelope(contact(1)))
    client.get_client("a")
    assert sleeps.waits == [1.0]


def test_api_url_comes_from_environment_when_not_given(tokens, monkeypatch):
    monkeypatch.setenv("SYNCWORKER_XERO_API_URL", "http://127.0.0.1:9/")
    assert XeroContactsClient(tokens).api_url == "http://127.0.0.1:9"
    monkeypatch.delenv("SYNCWORKER_XERO_API_URL")
    assert XeroContactsClient(tokens).api_url == "https://api.xero.com"
    with pytest.raises(ValueError):
        XeroContactsClient(tokens, page_size=1001)
