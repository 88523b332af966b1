"""Xero reads and writes at the minimum the API allows, against the simulator over real sockets: `IDs=` reads
and `POST /Contacts` writes of up to 50 contacts a call, per-contact validation errors mapped back to their
contact, the returned contacts taken as the result (no re-read), and full listings of 1,000 a page."""

from __future__ import annotations

import pytest

from adapters.errors import NotFound
from adapters.xero import DuplicateContactName, XeroContactsClient, XeroValidationError
from simulators.xero import XeroSimulator
from syncworker.domain.profile import Address

pytestmark = pytest.mark.e2e


@pytest.fixture
def big_sim():
    simulator = XeroSimulator(contacts=120, seed=11, port=0).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def big_client(big_sim):
    from adapters.xero_identity.memory_store import InMemoryTokenStore
    from adapters.xero_identity.tokens import TokenManager

    tokens = TokenManager(InMemoryTokenStore(big_sim.token_set()), client_id=big_sim.identity.client_id,
                          client_secret=big_sim.identity.client_secret, identity_url=big_sim.identity_url)
    return XeroContactsClient(tokens, api_url=big_sim.api_url, sleep=big_sim.clock.advance)


def calls(sim, route: str) -> int:
    return int(sim.stats.get(route, 0))


def active_ids(sim, n: int) -> list[str]:
    return [c["ContactID"] for c in sim.store.select(lambda c: c["ContactStatus"] == "ACTIVE")][:n]


@pytest.mark.parametrize(("count", "posts"), [(50, 1), (51, 2)])
def test_writes_go_fifty_contacts_a_call_and_take_the_answer_without_rereading(big_sim, big_client, count, posts):
    ids = active_ids(big_sim, count)
    before = dict(big_sim.stats)
    results = big_client.update_clients({rid: {"email": f"batch.{n}@example.test"} for n, rid in enumerate(ids)})
    assert calls(big_sim, "POST Contacts") - before.get("POST Contacts", 0) == posts
    assert big_sim.stats["api_calls"] - before.get("api_calls", 0) == posts  # no read before or after
    assert [results[rid].email for rid in ids] == [f"batch.{n}@example.test" for n in range(count)]
    assert all(big_sim.store.get(rid)["EmailAddress"] == f"batch.{n}@example.test" for n, rid in enumerate(ids))


@pytest.mark.parametrize(("count", "gets"), [(50, 1), (51, 2)])
def test_reads_by_id_go_fifty_a_call(big_sim, big_client, count, gets):
    ids = [c["ContactID"] for c in big_sim.store.select()][:count]  # archived ones included
    before = calls(big_sim, "GET Contacts")
    assert {p.id for p in big_client.get_clients(ids)} == set(ids)
    assert calls(big_sim, "GET Contacts") - before == gets


def test_a_full_listing_reads_up_to_1000_contacts_a_call(big_sim, big_client):
    items = [p for page in big_client.iter_client_pages() for p in page.items]
    assert len(items) == len(big_sim.store) == 120
    assert calls(big_sim, "GET Contacts") == 1


def test_each_contacts_validation_error_comes_back_to_that_contact_alone(big_sim, big_client):
    good, bad_email, clash, other = active_ids(big_sim, 4)
    taken = big_sim.store.get(other)["Name"]
    before = calls(big_sim, "POST Contacts")
    results = big_client.update_clients({
        good: {"phone": "09 555 0101"},
        bad_email: {"email": "not an address"},
        clash: {"name": taken},
    })
    assert calls(big_sim, "POST Contacts") == before + 1
    assert results[good].phone == "09 555 0101" and big_sim.store.get(good)["Phones"]
    assert isinstance(results[bad_email], XeroValidationError)
    assert "Email address must be valid" in str(results[bad_email])
    assert isinstance(results[clash], DuplicateContactName) and results[clash].name == taken
    assert taken not in str(results[clash])  # names are personal data: never in messages
    # The refused contacts are unchanged in Xero.
    assert big_sim.store.get(bad_email)["EmailAddress"] != "not an address"
    assert big_sim.store.get(clash)["Name"] != taken


def test_partial_address_changes_read_the_current_addresses_in_one_call(big_sim, big_client):
    a, b = active_ids(big_sim, 2)
    for rid in (a, b):
        big_sim.store.edit(rid, Addresses=[{"AddressType": "STREET", "AddressLine1": "1 Old Road", "City": "Nelson",
                                                   "PostalCode": "", "Country": ""}])
    before = dict(big_sim.stats)
    results = big_client.update_clients({a: {"address.postcode": "7010"}, b: {"address.city": "Motueka"}})
    assert calls(big_sim, "GET Contacts") - before.get("GET Contacts", 0) == 1
    assert calls(big_sim, "POST Contacts") - before.get("POST Contacts", 0) == 1
    assert results[a].address == Address(line1="1 Old Road", city="Nelson", postcode="7010")
    assert results[b].address == Address(line1="1 Old Road", city="Motueka")


def test_unknown_contacts_and_unwritable_fields_fail_alone(big_sim, big_client):
    [known] = active_ids(big_sim, 1)
    missing = "00000000-0000-4000-8000-000000000000"
    results = big_client.update_clients({known: {"email": "ok@example.test"}, missing: {"address.city": "X"},
                                         "11111111-0000-4000-8000-000000000000": {"date_of_birth": "2000-01-01"}})
    assert results[known].email == "ok@example.test"
    assert isinstance(results[missing], NotFound)
    assert isinstance(results["11111111-0000-4000-8000-000000000000"], ValueError)
