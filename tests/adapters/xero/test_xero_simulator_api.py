"""The simulator's own HTTP behaviour, checked with plain requests (what an adapter may rely on)."""

from __future__ import annotations

import threading

import pytest
import requests

from adapters.xero.dates import format_if_modified_since
from simulators.xero import Limits, XeroSimulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def http(sim, sim_tokens):
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {sim_tokens.access_token()}",
                            "Xero-Tenant-Id": sim.xero_tenant_id})
    base = f"{sim.api_url}/api.xro/2.0/Contacts"

    def call(method: str, path: str = "", **kw):
        return session.request(method, base + path, timeout=5, **kw)

    return call


def test_without_page_every_active_contact_comes_back_at_once(sim, http):
    active = [c for c in sim.store.select() if c["ContactStatus"] == "ACTIVE"]
    body = http("GET").json()
    assert len(body["Contacts"]) == len(active) and "pagination" not in body
    assert body["Status"] == "OK" and body["DateTimeUTC"].startswith("/Date(")


def test_page_size_is_capped_at_1000_and_pages_are_disjoint(sim, http):
    assert http("GET", params={"page": 1, "pageSize": 5000}).json()["pagination"]["pageSize"] == 1000
    p1 = http("GET", params={"page": 1, "pageSize": 7, "includeArchived": "true"}).json()
    p5 = http("GET", params={"page": 5, "pageSize": 7, "includeArchived": "true"}).json()
    assert p1["pagination"] == {"page": 1, "pageSize": 7, "pageCount": 5, "itemCount": 30}
    assert len(p1["Contacts"]) == 7 and len(p5["Contacts"]) == 2
    names = [c["Name"].casefold() for c in p1["Contacts"]]
    assert names == sorted(names)


def test_if_modified_since_is_inclusive_and_accepts_both_formats(sim, http):
    target = sim.store.select()[3]
    sim.clock.advance(600)  # well inside the access token's 30 minutes
    edited = sim.store.edit(target["ContactID"], LastName="Edited")
    moment = sim.store.updated_at(edited["ContactID"])
    iso = format_if_modified_since(moment)  # truncated to the second: the edit is still inside
    got = http("GET", headers={"If-Modified-Since": iso}, params={"includeArchived": "true"}).json()["Contacts"]
    assert [c["ContactID"] for c in got] == [edited["ContactID"]]
    http_date = moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
    got = http("GET", headers={"If-Modified-Since": http_date}, params={"includeArchived": "true"}).json()
    assert len(got["Contacts"]) == 1


def test_where_ids_and_search_filters(sim, http):
    a, b = sim.store.select()[:2]
    sim.store.edit(a["ContactID"], ContactNumber="SW-1")
    got = http("GET", params={"where": 'ContactNumber=="SW-1"', "includeArchived": "true"}).json()["Contacts"]
    assert [c["ContactID"] for c in got] == [a["ContactID"]]
    got = http("GET", params={"IDs": f"{a['ContactID']},{b['ContactID']}", "includeArchived": "true"}).json()
    assert {c["ContactID"] for c in got["Contacts"]} == {a["ContactID"], b["ContactID"]}
    term = b["Name"].split()[0].lower()
    got = http("GET", params={"searchTerm": term, "includeArchived": "true"}).json()["Contacts"]
    assert b["ContactID"] in {c["ContactID"] for c in got} and all(term in c["Name"].lower() for c in got)
    assert http("GET", params={"where": "Name.StartsWith(1)"}).status_code == 400


def test_summarize_errors_false_returns_200_with_per_element_errors(sim, http):
    taken = next(c for c in sim.store.select() if c["ContactStatus"] == "ACTIVE")["Name"]
    resp = http("PUT", params={"summarizeErrors": "false"},
                json={"Contacts": [{"Name": "Brand New Ltd"}, {"Name": taken}, {"Name": "Bad", "EmailAddress": "x"}]})
    assert resp.status_code == 200
    flags = [c.get("HasValidationErrors") for c in resp.json()["Contacts"]]
    assert flags == [False, True, True]
    assert "unique across all active contacts" in resp.json()["Contacts"][1]["ValidationErrors"][0]["Message"]


def test_phones_and_addresses_merge_by_type_and_empty_string_clears(sim, http):
    cid = sim.store.select()[0]["ContactID"]
    http("POST", f"/{cid}", json={"Contacts": [{"Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "021 1"}]}]})
    http("POST", f"/{cid}", json={"Contacts": [{"Addresses": [{"AddressType": "STREET", "City": ""}]}]})
    stored = sim.store.get(cid)
    phones = {p["PhoneType"]: p for p in stored["Phones"]}
    assert phones["MOBILE"]["PhoneNumber"] == "021 1" and phones["DEFAULT"]["PhoneNumber"]  # default untouched
    street = next(a for a in stored["Addresses"] if a["AddressType"] == "STREET")
    assert "City" not in street and street["AddressLine1"]  # cleared field is omitted, others kept


def test_limit_headers_count_down_and_concurrency_is_capped():
    with XeroSimulator(contacts=2, seed=5, limits=Limits(concurrent=2), slow_delay=0.4) as small:
        from adapters.xero_identity.memory_store import InMemoryTokenStore
        from adapters.xero_identity.tokens import TokenManager

        token = TokenManager(InMemoryTokenStore(small.token_set()), client_id=small.identity.client_id,
                             client_secret=small.identity.client_secret,
                             identity_url=small.identity_url).access_token()
        headers = {"Authorization": f"Bearer {token}", "Xero-Tenant-Id": small.xero_tenant_id}
        url = f"{small.api_url}/api.xro/2.0/Contacts"
        first = requests.get(url, headers=headers, timeout=5)
        second = requests.get(url, headers=headers, timeout=5)
        assert int(first.headers["X-MinLimit-Remaining"]) - int(second.headers["X-MinLimit-Remaining"]) == 1
        assert second.headers["X-DayLimit-Remaining"] == "4998" and "X-AppMinLimit-Remaining" in second.headers

        small.faults.inject("slow", times=2)
        statuses: list[int] = []
        threads = [threading.Thread(target=lambda: statuses.append(
            requests.get(url, headers=headers, timeout=5).status_code)) for _ in range(2)]
        for t in threads:
            t.start()
        while small.limiter.peak_concurrency() < 2 and any(t.is_alive() for t in threads):
            pass
        third = requests.get(url, headers=headers, timeout=5)
        for t in threads:
            t.join()
        assert third.status_code == 429 and third.headers["X-Rate-Limit-Problem"] == "concurrent"
        assert statuses == [200, 200]


def test_unknown_fault_kind_is_refused(sim):
    with pytest.raises(ValueError, match="unknown fault"):
        sim.faults.inject("teapot")


def test_admin_endpoints_steer_a_running_simulator(sim, receiver, http):
    admin = f"{sim.api_url}/_sim"
    info = requests.get(f"{admin}/info", timeout=5).json()
    assert info["xero_tenant_id"] == sim.xero_tenant_id and info["SYNCWORKER_XERO_API_URL"] == sim.api_url
    assert info["SYNCWORKER_XERO_WEBHOOK_KEY"] == sim.webhook_key

    requests.post(f"{admin}/faults", json={"kind": "500"}, timeout=5)
    assert http("GET").status_code == 500 and http("GET").status_code == 200

    cid = sim.store.select()[0]["ContactID"]
    edited = requests.post(f"{admin}/contacts/{cid}", json={"fields": {"EmailAddress": "ops@example.test"},
                                                          "archive": True}, timeout=5).json()
    assert edited["ContactStatus"] == "ARCHIVED" and edited["EmailAddress"] == "ops@example.test"
    assert sim.webhooks.wait_idle(5) and len(receiver.received) == 2

    results = requests.post(f"{admin}/webhooks/intent-to-receive", json={"probes": 2}, timeout=10).json()
    assert sorted(map(tuple, results["results"])) == [(False, 401), (True, 200)]
    assert requests.post(f"{admin}/faults", json={"kind": "nope"}, timeout=5).status_code == 400
    assert requests.get(f"{admin}/stats", timeout=5).json()["faults_fired"] == {"500": 1}
