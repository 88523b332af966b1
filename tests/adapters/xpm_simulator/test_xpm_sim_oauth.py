"""Xero Identity as simulated: auth code, refresh rotation with grace, revocation, expiry, connections."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulators.xpm import XpmSimulator

pytestmark = pytest.mark.e2e

REDIRECT = "http://127.0.0.1:9/callback"


def test_authorize_redirects_with_code_and_state_and_the_code_works_once(sim: XpmSimulator, xpm) -> None:
    resp = requests.get(f"{sim.identity_url}/identity/connect/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "code", "client_id": sim.client_id, "redirect_uri": REDIRECT,
        "scope": "openid offline_access practicemanager", "state": "s-42",
    })
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/callback"
    q = parse_qs(location.query)
    assert q["state"] == ["s-42"]

    first = xpm.token(grant_type="authorization_code", code=q["code"][0], redirect_uri=REDIRECT)
    assert first.status_code == 200
    body = first.json()
    assert body["expires_in"] == 1800 and body["token_type"] == "Bearer" and body["refresh_token"]
    assert "offline_access" in body["scope"].split()
    again = xpm.token(grant_type="authorization_code", code=q["code"][0], redirect_uri=REDIRECT)
    assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})


def test_auth_code_expires_after_five_minutes_and_needs_the_same_redirect(sim: XpmSimulator, xpm) -> None:
    code = sim.authorize_code(REDIRECT, "x")
    wrong = xpm.token(grant_type="authorization_code", code=code, redirect_uri="http://127.0.0.1:9/other")
    assert wrong.status_code == 400
    late = sim.authorize_code(REDIRECT, "y")
    sim.clock.advance(301)
    assert xpm.token(grant_type="authorization_code", code=late, redirect_uri=REDIRECT).json() == {"error": "invalid_grant"}


def test_wrong_client_secret_is_invalid_client(sim: XpmSimulator) -> None:
    resp = requests.post(f"{sim.identity_url}/connect/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": sim.issue_refresh_token(),
        "client_id": sim.client_id, "client_secret": "nope",
    })
    assert (resp.status_code, resp.json()) == (400, {"error": "invalid_client"})


def test_refresh_rotates_and_the_new_token_chain_continues(sim: XpmSimulator, xpm) -> None:
    r0 = sim.issue_refresh_token()
    t1 = xpm.refresh(r0)
    assert t1["refresh_token"] != r0
    t2 = xpm.refresh(t1["refresh_token"])
    assert t2["refresh_token"] not in (r0, t1["refresh_token"])
    assert xpm.call("GET", "client.api/list", modifiedsince="2030-01-01T00:00:00").status_code == 200


def test_grace_retry_returns_the_same_successor_until_it_is_used(sim: XpmSimulator, xpm) -> None:
    r0 = sim.issue_refresh_token()
    first = xpm.refresh(r0)
    sim.clock.advance(29 * 60)
    retry = xpm.refresh(r0)  # the first response "was lost"
    assert retry["refresh_token"] == first["refresh_token"]
    assert retry["access_token"] != first["access_token"]
    xpm.refresh(first["refresh_token"])  # the chain moves on: the old token is now dead
    assert xpm.token(grant_type="refresh_token", refresh_token=r0).json() == {"error": "invalid_grant"}


def test_grace_ends_after_thirty_minutes(sim: XpmSimulator, xpm) -> None:
    r0 = sim.issue_refresh_token()
    successor = xpm.refresh(r0)["refresh_token"]
    sim.clock.advance(30 * 60 + 1)
    assert xpm.token(grant_type="refresh_token", refresh_token=r0).status_code == 400
    assert xpm.refresh(successor)["refresh_token"]  # the successor itself is fine


def test_unused_refresh_token_expires_after_60_days(sim: XpmSimulator, xpm) -> None:
    r0 = sim.issue_refresh_token()
    sim.clock.advance(59 * 86400)
    r1 = xpm.refresh(r0)["refresh_token"]
    sim.clock.advance(60 * 86400 + 1)
    assert xpm.token(grant_type="refresh_token", refresh_token=r1).json() == {"error": "invalid_grant"}


def test_access_token_expires_after_30_minutes(sim: XpmSimulator, xpm) -> None:
    assert xpm.call("GET", "clientgroup.api/list").status_code == 200
    sim.clock.advance(1801)
    resp = xpm.call("GET", "clientgroup.api/list")
    assert resp.status_code == 401
    assert "TokenExpired" in resp.json()["Detail"]


def test_revocation_kills_refresh_and_api_access(sim: XpmSimulator, xpm) -> None:
    r0 = sim.issue_refresh_token()
    grant = xpm.refresh(r0)
    xpm.access_token = grant["access_token"]
    resp = requests.post(f"{sim.identity_url}/connect/revocation", data={"token": grant["refresh_token"]},
                         auth=(sim.client_id, sim.client_secret), timeout=5)
    assert resp.status_code == 200
    assert xpm.token(grant_type="refresh_token", refresh_token=grant["refresh_token"]).json() == {"error": "invalid_grant"}
    assert xpm.call("GET", "clientgroup.api/list").status_code == 401


def test_requests_without_token_or_with_wrong_tenant_are_refused(sim: XpmSimulator, xpm) -> None:
    url = sim.base_url + "client.api/list"
    assert requests.get(url, headers={"Xero-Tenant-Id": sim.xero_tenant_id}, timeout=5).status_code == 401
    assert requests.get(url, headers=xpm.headers(token="forged.token.value"), timeout=5).status_code == 401
    no_tenant = requests.get(url, headers={"Authorization": f"Bearer {xpm.access_token}"}, timeout=5)
    assert no_tenant.status_code == 403
    other = requests.get(url, headers=xpm.headers(tenant="00000000-0000-4000-8000-000000000000"), timeout=5)
    assert other.status_code == 403


def test_connections_list_the_practice_and_an_organisation(sim: XpmSimulator, xpm) -> None:
    resp = requests.get(f"{sim.api_url}/connections", headers={"Authorization": f"Bearer {xpm.access_token}"}, timeout=5)
    assert resp.status_code == 200
    by_type = {c["tenantType"]: c for c in resp.json()}
    assert by_type["PRACTICEMANAGER"]["tenantId"] == sim.xero_tenant_id
    assert "ORGANISATION" in by_type
    assert set(by_type["PRACTICEMANAGER"]) >= {"id", "authEventId", "tenantId", "tenantType", "tenantName", "createdDateUtc", "updatedDateUtc"}
    assert requests.get(f"{sim.api_url}/connections", timeout=5).status_code == 401


def test_deleting_the_connection_removes_tenant_access(sim: XpmSimulator, xpm) -> None:
    auth = {"Authorization": f"Bearer {xpm.access_token}"}
    conns = requests.get(f"{sim.api_url}/connections", headers=auth, timeout=5).json()
    pm = next(c for c in conns if c["tenantType"] == "PRACTICEMANAGER")
    assert requests.delete(f"{sim.api_url}/connections/{pm['id']}", headers=auth, timeout=5).status_code == 204
    assert xpm.call("GET", "client.api/list").status_code == 403


def test_scopes_decide_what_a_token_may_do(sim: XpmSimulator, xpm) -> None:
    read_only = xpm.refresh(sim.issue_refresh_token(["offline_access", "practicemanager.client.read"]))["access_token"]
    accounting = xpm.refresh(sim.issue_refresh_token(["offline_access", "accounting.contacts"]))["access_token"]
    url = sim.base_url + "clientgroup.api/list"
    assert requests.get(url, headers=xpm.headers(token=read_only), timeout=5).status_code == 200
    write = requests.post(sim.base_url + "client.api/add", data=b"<Client><Name>X</Name></Client>",
                          headers=xpm.headers(token=read_only), timeout=5)
    assert write.status_code == 401 and "insufficient_scope" in write.headers["WWW-Authenticate"]
    assert requests.get(url, headers=xpm.headers(token=accounting), timeout=5).status_code == 401


def test_without_grace_a_second_refresh_of_the_same_token_loses(xpm) -> None:
    # refresh_grace=0 is the strict server a single-flight refresh test wants: any reuse is invalid_grant.
    with XpmSimulator(clients=3, seed=1, refresh_grace=0) as strict:
        raw = type(xpm)(strict)
        r0 = strict.issue_refresh_token()
        raw.refresh(r0)
        strict.clock.advance(1)
        assert raw.token(grant_type="refresh_token", refresh_token=r0).json() == {"error": "invalid_grant"}
