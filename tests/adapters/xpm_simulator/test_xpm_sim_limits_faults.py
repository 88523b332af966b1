"""Xero's limits and headers, each injectable fault, and the admin endpoints of a running simulator."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from xpm_sim_raw import RawXpm

from simulators.xpm import XpmSimulator

pytestmark = pytest.mark.e2e

LIMIT_HEADERS = ("X-DayLimit-Remaining", "X-MinLimit-Remaining", "X-AppMinLimit-Remaining")


@pytest.fixture
def tight() -> XpmSimulator:
    with XpmSimulator(clients=10, seed=3, concurrent_limit=2, minute_limit=4, day_limit=6, slow_delay=0.4) as s:
        yield s


def test_limit_headers_on_every_response_and_counting_down(sim: XpmSimulator, xpm: RawXpm) -> None:
    a = xpm.call("GET", "clientgroup.api/list")
    b = xpm.call("GET", "client.api/get/00000000-0000-4000-8000-000000000000")  # a 404 carries them too
    for resp in (a, b):
        assert all(h in resp.headers for h in LIMIT_HEADERS)
    assert int(b.headers["X-MinLimit-Remaining"]) == int(a.headers["X-MinLimit-Remaining"]) - 1
    assert int(b.headers["X-DayLimit-Remaining"]) == int(a.headers["X-DayLimit-Remaining"]) - 1


def test_minute_limit_gives_429_with_retry_after_until_the_window_moves(tight: XpmSimulator) -> None:
    xpm = RawXpm(tight)
    statuses = [xpm.call("GET", "clientgroup.api/list").status_code for _ in range(4)]
    assert statuses == [200] * 4
    over = xpm.call("GET", "clientgroup.api/list")
    assert over.status_code == 429
    assert over.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.headers["X-MinLimit-Remaining"] == "0"
    tight.clock.advance(61)
    assert xpm.call("GET", "clientgroup.api/list").status_code == 200
    assert tight.stats.sent_429["minute"] == 1


def test_day_limit_gives_429_day_with_the_time_to_the_reset(tight: XpmSimulator) -> None:
    xpm = RawXpm(tight)
    for _ in range(6):
        assert xpm.call("GET", "clientgroup.api/list").status_code == 200
        tight.clock.advance(61)  # stay clear of the minute limit
    over = xpm.call("GET", "clientgroup.api/list")
    assert (over.status_code, over.headers["X-Rate-Limit-Problem"]) == (429, "day")
    assert int(over.headers["Retry-After"]) > 3600
    assert over.headers["X-DayLimit-Remaining"] == "0"
    tight.clock.advance(int(over.headers["Retry-After"]))
    xpm.access_token = xpm.refresh(tight.issue_refresh_token())["access_token"]  # the old one expired meanwhile
    assert xpm.call("GET", "clientgroup.api/list").status_code == 200


def test_concurrent_limit_refuses_the_extra_call_and_records_the_peak(tight: XpmSimulator) -> None:
    xpm = RawXpm(tight)
    tight.faults.inject("slow", times=2, delay=0.5)

    def one(_: int) -> requests.Response:
        return requests.get(tight.base_url + "clientgroup.api/list", headers=xpm.headers(), timeout=5)

    with ThreadPoolExecutor(3) as pool:
        slow = [pool.submit(one, i) for i in range(2)]
        time.sleep(0.2)
        extra = one(2)
        results = [f.result() for f in slow]
    assert [r.status_code for r in results] == [200, 200]
    assert (extra.status_code, extra.headers["X-Rate-Limit-Problem"]) == (429, "concurrent")
    assert tight.stats.peak_concurrency == 2
    assert tight.stats.sent_429["concurrent"] == 1


@pytest.mark.parametrize("kind,problem", [("minute_429", "minute"), ("day_429", "day")])
def test_injected_429s(sim: XpmSimulator, xpm: RawXpm, kind: str, problem: str) -> None:
    sim.faults.inject(kind)
    resp = xpm.call("GET", "client.api/list")
    assert resp.status_code == 429 and resp.headers["X-Rate-Limit-Problem"] == problem
    assert int(resp.headers["Retry-After"]) >= 1
    assert xpm.call("GET", "client.api/list").status_code == 200  # times=1


def test_injected_500_then_recovers(sim: XpmSimulator, xpm: RawXpm) -> None:
    sim.faults.inject("500", times=2)
    assert [xpm.call("GET", "clientgroup.api/list").status_code for _ in range(3)] == [500, 500, 200]
    assert sim.stats.snapshot()["faults_fired"]["500"] == 2


def test_injected_reset_closes_the_connection_without_a_response(sim: XpmSimulator, xpm: RawXpm) -> None:
    sim.faults.inject("reset")
    with pytest.raises(requests.ConnectionError):
        requests.get(sim.base_url + "clientgroup.api/list", headers=xpm.headers(), timeout=5)
    assert requests.get(sim.base_url + "clientgroup.api/list", headers=xpm.headers(), timeout=5).status_code == 200


def test_injected_slow_response_can_trip_a_client_timeout(sim: XpmSimulator, xpm: RawXpm) -> None:
    sim.faults.inject("slow", delay=0.6)
    with pytest.raises(requests.Timeout):
        requests.get(sim.base_url + "clientgroup.api/list", headers=xpm.headers(), timeout=0.2)
    sim.faults.inject("slow", delay=0.3)
    started = time.monotonic()
    assert xpm.call("GET", "clientgroup.api/list").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_injected_malformed_xml_is_unparseable(sim: XpmSimulator, xpm: RawXpm) -> None:
    sim.faults.inject("malformed_xml")
    resp = xpm.call("GET", "client.api/paged-list")
    assert resp.status_code == 200
    with pytest.raises(ET.ParseError):
        ET.fromstring(resp.content)


def test_injected_status_error_on_http_200(sim: XpmSimulator, xpm: RawXpm) -> None:
    sim.faults.inject("status_error", path_contains="paged-list")
    assert xpm.ok("GET", "clientgroup.api/list") is not None  # other paths untouched
    root = xpm.xml("GET", "client.api/paged-list")
    assert root.findtext("Status") == "ERROR" and root.findtext("ErrorDescription")


def test_injected_revocation(sim: XpmSimulator, xpm: RawXpm) -> None:
    refresh = sim.issue_refresh_token()
    sim.faults.inject("revoked")
    assert xpm.call("GET", "clientgroup.api/list").status_code == 401
    assert xpm.token(grant_type="refresh_token", refresh_token=refresh).json() == {"error": "invalid_grant"}


def test_lost_token_response_rotates_server_side_and_grace_recovers_it(sim: XpmSimulator, xpm: RawXpm) -> None:
    r0 = sim.issue_refresh_token()
    sim.faults.inject("reset", path_contains="/connect/token")
    with pytest.raises(requests.ConnectionError):
        xpm.token(grant_type="refresh_token", refresh_token=r0)
    assert sim.stats.snapshot()["token_calls"]["refresh_token"] >= 2  # fixture's own refresh + the lost one
    recovered = xpm.refresh(r0)  # within the grace period
    assert xpm.refresh(recovered["refresh_token"])["refresh_token"]


def test_unscoped_faults_never_hit_the_token_endpoint(sim: XpmSimulator, xpm: RawXpm) -> None:
    sim.faults.inject("500")
    assert xpm.token(grant_type="refresh_token", refresh_token=sim.issue_refresh_token()).status_code == 200
    assert xpm.call("GET", "clientgroup.api/list").status_code == 500


def test_random_faults_fire_at_the_configured_rate(sim: XpmSimulator, xpm: RawXpm) -> None:
    sim.faults.random(0.5, ("500",))
    codes = [xpm.call("GET", "clientgroup.api/list").status_code for _ in range(40)]
    assert 8 <= codes.count(500) <= 32
    sim.faults.clear()
    assert xpm.call("GET", "clientgroup.api/list").status_code == 200


def test_faults_given_to_the_constructor_apply_from_the_first_call() -> None:
    with XpmSimulator(clients=5, seed=1, faults=["500:2", ("status_error", 1)]) as s:
        xpm = RawXpm(s)
        codes = [xpm.call("GET", "clientgroup.api/list") for _ in range(4)]
        assert [c.status_code for c in codes] == [500, 500, 200, 200]
        assert "<Status>ERROR</Status>" in codes[2].text and "<Status>OK</Status>" in codes[3].text


def test_unknown_fault_kind_is_rejected(sim: XpmSimulator) -> None:
    with pytest.raises(ValueError):
        sim.faults.inject("gremlins")


def test_admin_endpoints_steer_a_running_simulator(sim: XpmSimulator, xpm: RawXpm) -> None:
    admin = sim.root_url + "/_sim"
    info = requests.get(f"{admin}/info", timeout=5).json()
    assert info["xero_tenant_id"] == sim.xero_tenant_id and info["SYNCWORKER_XPM_URL"] == sim.base_url
    assert requests.post(f"{admin}/faults", json={"kind": "500", "times": 1}, timeout=5).status_code == 200
    assert xpm.call("GET", "clientgroup.api/list").status_code == 500
    assert requests.post(f"{admin}/faults", json={"kind": "nope"}, timeout=5).status_code == 400
    refresh = requests.post(f"{admin}/refresh-token", timeout=5).json()["refresh_token"]
    assert xpm.refresh(refresh)["access_token"]
    before = sim.clock.now()
    requests.post(f"{admin}/clock", json={"advance": 3600}, timeout=5)
    assert (sim.clock.now() - before).total_seconds() >= 3600
    target = next(iter(sim.store.clients))
    requests.post(f"{admin}/clients/{target}", json={"fields": {"Email": "admin@example.com"}, "archive": True}, timeout=5)
    assert sim.store.clients[target].fields["Email"] == "admin@example.com" and sim.store.clients[target].is_archived
    stats = requests.get(f"{admin}/stats", timeout=5).json()
    assert stats["calls"]["GET clientgroup.api/list"] == 1 and stats["statuses"]["500"] == 1
