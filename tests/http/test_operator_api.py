"""The operator API through a real `syncworker serve` process: auth, malformed input, runs, reviews,
duplicates, links, health, metrics and the OpenAPI schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from syncworker.services.locks import TenantLock
from syncworker.store.models import AuditEntry, JobRun, Link, RemoteRecord, TenantSystem
from tests.factories import make_client, make_tenant
from tests.http import seed
from tests.http.conftest import OPERATOR_TOKEN, Server


def wait_for_run(api: httpx.Client, run_id: int, timeout: float = 120) -> dict[str, Any]:  # a hang only
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if run["status"] != "running":
            return run  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still running after {timeout}s")


# --- open endpoints ---

def test_health_reports_database_and_schema(server: Server) -> None:
    r = httpx.get(f"{server.url}/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "reachable", "schema": "current", "secret_key": "ok"}


def test_openapi_schema_lists_the_endpoints_and_bearer_auth(server: Server) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    for path in ("/runs", "/runs/{run_id}", "/reviews", "/reviews/{review_id}/approve", "/duplicates",
                 "/duplicates/{cluster_id}/resolve", "/links", "/webhooks/xero", "/health", "/metrics"):
        assert path in schema["paths"], path
    assert any(s.get("scheme") == "bearer" for s in schema["components"]["securitySchemes"].values())
    assert httpx.get(f"{server.url}/docs").status_code == 200


# --- authentication ---

@pytest.mark.parametrize("authorization", [
    None,
    "Bearer wrong-token",
    f"Bearer {OPERATOR_TOKEN}x",  # a longer token with the right prefix
    f"Bearer {OPERATOR_TOKEN[:-1]}",  # the right token, one character short
    f"Basic {OPERATOR_TOKEN}",  # the right secret under another scheme
    f"Bearer {OPERATOR_TOKEN.upper()}",
], ids=["none", "wrong", "longer", "shorter", "other-scheme", "upper-case"])  # stable: xdist workers must agree
def test_operator_endpoints_refuse_missing_or_wrong_tokens(server: Server, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in (("GET", "/runs"), ("POST", "/runs"), ("GET", "/reviews?tenant=x"), ("GET", "/metrics"),
                         ("POST", "/reviews/1/approve"), ("DELETE", "/links?tenant=x&local_id=1&system=xpm")):
        r = httpx.request(method, f"{server.url}{path}", headers=headers, json={})
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert OPERATOR_TOKEN not in r.text


def test_strangers_are_refused_before_their_body_is_read(server: Server) -> None:
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    for body in (b"{not json", big):
        r = httpx.post(f"{server.url}/runs", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 401, r.text
    # Routes nobody listed as open are closed too, so a new route is protected by default.
    assert httpx.get(f"{server.url}/no-such-route").status_code == 401


def test_oversized_operator_requests_are_413(server: Server) -> None:
    big = b'{"tenant": "' + b"x" * (1024 * 1024) + b'", "kind": "sync"}'

    def chunks() -> Iterator[bytes]:
        yield big[:600_000]
        yield big[600_000:]

    with server.client() as api:
        declared = api.post("/runs", content=big, headers={"Content-Type": "application/json"})
        streamed = api.post("/runs", content=chunks(), headers={"Content-Type": "application/json"})
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert "larger than" in streamed.json()["detail"]


def test_a_non_ascii_token_is_refused_not_crashed(server: Server) -> None:
    # hmac.compare_digest raises on non-ASCII str; the comparison must be on bytes.
    r = httpx.get(f"{server.url}/runs", headers={"Authorization": "Bearer t\u00f6ken".encode("latin-1")})
    assert r.status_code == 401


def test_the_right_token_is_accepted_and_answers_are_not_cached(server: Server) -> None:
    with server.client() as api:
        r = api.get("/runs")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"


# --- malformed input ---

@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"{not json", 400, "not valid JSON"),
    (b'{"tenant": "x", "kind": "link_run", "dry_run": "yes"}', 422, "dry_run"),
    (b'{"tenant": "x", "kind": "reindex"}', 422, "kind"),
    (b'{"tenant": 7, "kind": "link_run"}', 422, "tenant"),
    (b'{"kind": "link_run"}', 422, "tenant"),
    (b'{"tenant": "x", "kind": "link_run", "sytem": "xpm"}', 422, "sytem"),
    (b'{"tenant": "x", "kind": "link_run", "system": "myob"}', 422, "system"),
    (b"[]", 422, "body"),
])
def test_malformed_run_requests_get_4xx_with_a_reason(server: Server, body: bytes, status: int, reason: str) -> None:
    with server.client() as api:
        r = api.post("/runs", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]


def test_validation_errors_do_not_echo_what_was_sent(server: Server) -> None:
    secretish = "TFN 123 456 782"
    with server.client() as api:
        r = api.post("/runs", json={"tenant": "x", "kind": "link_run", "dry_run": secretish})
    assert r.status_code == 422
    assert secretish not in r.text


def test_unknown_things_are_404_with_the_name(server: Server, tenant_name: str) -> None:
    with server.client() as api:
        r = api.post("/runs", json={"tenant": tenant_name, "kind": "link_run"})
        assert r.status_code == 404 and tenant_name in r.json()["detail"]
        r = api.get("/runs/987654")
        assert r.status_code == 404 and "987654" in r.json()["detail"]
        assert api.get("/runs/abc").status_code == 422
        assert api.get("/runs/0").status_code == 422
        assert api.get("/reviews", params={"tenant": tenant_name}).status_code == 404
        assert api.get("/runs", params={"tenant": tenant_name}).status_code == 404
        assert api.get("/runs", params={"limit": 0}).status_code == 422


# --- runs ---

def test_a_run_is_accepted_then_followed_to_its_end(server: Server, tenant_name: str) -> None:
    make_tenant(server.db, tenant_name)
    with server.client() as api:
        r = api.post("/runs", json={"tenant": tenant_name, "kind": "link_run", "system": "xpm"})
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["status_url"] == f"/runs/{accepted['run_id']}"
        assert r.headers["location"] == accepted["status_url"]
        run = wait_for_run(api, accepted["run_id"])
        listed = api.get("/runs", params={"tenant": tenant_name, "limit": 5}).json()
    # No connection to XPM: the run ends failed, saying what to do.
    assert run["status"] == "failed"
    assert "not connected to xpm" in run["message"]
    assert (run["kind"], run["tenant"], run["trigger"]) == ("link_run", tenant_name, "operator")
    assert [x["id"] for x in listed] == [accepted["run_id"]]


def test_a_busy_tenant_gets_409_naming_the_run_in_progress(server: Server, tenant_name: str) -> None:
    tenant_id = make_tenant(server.db, tenant_name)
    holder_id = seed.running_run(server.db, tenant_id)
    with TenantLock(server.db, tenant_id, run_id=holder_id), server.client() as api:
        r = api.post("/runs", json={"tenant": tenant_name, "kind": "sync", "system": "xpm"})
    assert r.status_code == 409, r.text
    assert r.json()["busy_run_id"] == holder_id
    assert "already has a run in progress" in r.json()["detail"]
    with server.db.session() as s:  # nothing was queued
        assert s.scalars(select(JobRun.id).where(JobRun.tenant_id == tenant_id)).all() == [holder_id]


# --- reviews ---

def test_reviews_approve_and_reject_round_trip(server: Server, tenant_name: str) -> None:
    tenant_id, (low, high) = seed.practice_with_reviews(server.db, tenant_name)
    with server.client(**{"X-Operator": "Dana Reviewer"}) as api:
        listed = api.get("/reviews", params={"tenant": tenant_name}).json()
        assert [r["id"] for r in listed] == [high, low]  # best score first
        assert listed[0]["reasons"] == ["name similar"]

        r = api.post(f"/reviews/{high}/approve", params={"tenant": tenant_name})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["decided_by"]) == ("linked", "Dana Reviewer")
        r = api.post(f"/reviews/{low}/reject", json={"tenant": tenant_name})
        assert r.status_code == 200 and r.json()["status"] == "rejected"

        assert api.get("/reviews", params={"tenant": tenant_name}).json() == []
        again = api.post(f"/reviews/{high}/approve", params={"tenant": tenant_name})
        assert again.status_code == 409 and "not a suggestion" in again.json()["detail"]
        assert api.post("/reviews/999999/reject", params={"tenant": tenant_name}).status_code == 404
        no_tenant = api.post(f"/reviews/{low}/reject")
        assert no_tenant.status_code == 422 and "tenant" in no_tenant.json()["detail"]
    with server.db.session() as s:
        statuses = dict(s.execute(select(Link.id, Link.status).where(Link.tenant_id == tenant_id)).all())
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.tenant_id == tenant_id)))
    assert statuses == {high: "linked", low: "rejected"}
    assert actors == {"Dana Reviewer"}


def test_a_bad_operator_name_is_refused(server: Server, tenant_name: str) -> None:
    _, (review, _) = seed.practice_with_reviews(server.db, tenant_name)
    with server.client(**{"X-Operator": "x" * 101}) as api:
        r = api.post(f"/reviews/{review}/approve", params={"tenant": tenant_name})
    assert r.status_code == 422 and "X-Operator" in r.json()["detail"]


# --- duplicates ---

def test_duplicates_list_and_resolve(server: Server, tenant_name: str) -> None:
    tenant_id = make_tenant(server.db, tenant_name)
    cluster = seed.duplicate_pair(server.db, tenant_id)
    with server.client() as api:
        listed = api.get("/duplicates", params={"tenant": tenant_name}).json()
        assert [c["id"] for c in listed] == [cluster]
        assert {m["ref"] for m in listed[0]["members"]} == {"client:P1", "client:P2"}

        r = api.post(f"/duplicates/{cluster}/resolve", json={"tenant": tenant_name, "action": "merged"})
        assert r.status_code == 422 and "survivor" in r.json()["detail"]
        r = api.post(f"/duplicates/{cluster}/resolve",
                     json={"tenant": tenant_name, "action": "merged", "survivor": "NOPE"})
        assert r.status_code == 409 and "not a member" in r.json()["detail"]
        r = api.post(f"/duplicates/{cluster}/resolve",
                     json={"tenant": tenant_name, "action": "merged", "survivor": "P1"})
        assert r.status_code == 200, r.text
        assert r.json() == {"id": cluster, "status": "merged", "survivor": "client:P1"}

        assert api.get("/duplicates", params={"tenant": tenant_name}).json() == []
        merged = api.get("/duplicates", params={"tenant": tenant_name, "status": "merged"}).json()
        assert [c["id"] for c in merged] == [cluster]
        r = api.post(f"/duplicates/{cluster}/resolve", json={"tenant": tenant_name, "action": "not_duplicates"})
        assert r.status_code == 409 and "already resolved" in r.json()["detail"]
        r = api.post("/duplicates/999999/resolve", json={"tenant": tenant_name, "action": "not_duplicates"})
        assert r.status_code == 404
        assert api.get("/duplicates", params={"tenant": tenant_name, "status": "bogus"}).status_code == 422


# --- links ---

def test_manual_link_list_and_unlink(server: Server, tenant_name: str) -> None:
    tenant_id = make_tenant(server.db, tenant_name)
    make_client(server.db, tenant_id, "L1", "Wattle Bakery Pty Ltd")
    make_client(server.db, tenant_id, "L2", "Kestrel Plumbing")
    with server.client(**{"X-Operator": "ops"}) as api:
        unconnected = api.post("/links", json={"tenant": tenant_name, "local_id": "L1", "system": "xpm",
                                               "remote_id": "r-9"})
        assert unconnected.status_code == 409 and "not connected to xpm" in unconnected.json()["detail"]
        with server.db.session() as s:  # connected, with the remote records in the cache
            s.add(TenantSystem(tenant_id=tenant_id, system="xpm", status="connected"))
            for rid, status in (("r-9", "active"), ("r-1", "active"), ("r-gone", "deleted")):
                s.add(RemoteRecord(tenant_id=tenant_id, system="xpm", remote_id=rid, payload={}, payload_hash="h",
                                   remote_status=status))
        gone = api.post("/links", json={"tenant": tenant_name, "local_id": "L1", "system": "xpm",
                                        "remote_id": "r-gone"})
        assert gone.status_code == 404 and "deleted" in gone.json()["detail"]
        r = api.post("/links", json={"tenant": tenant_name, "local_id": "L1", "system": "xpm", "remote_id": "r-9"})
        assert r.status_code == 201, r.text
        assert (r.json()["status"], r.json()["method"], r.json()["decided_by"]) == ("linked", "manual", "ops")

        taken = api.post("/links", json={"tenant": tenant_name, "local_id": "L2", "system": "xpm", "remote_id": "r-9"})
        assert taken.status_code == 409 and "already linked to client L1" in taken.json()["detail"]
        missing = api.post("/links", json={"tenant": tenant_name, "local_id": "NOPE", "system": "xpm",
                                           "remote_id": "r-1"})
        assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]

        linked = api.get("/links", params={"tenant": tenant_name, "status": "linked"}).json()
        assert [(x["local_id"], x["remote_id"]) for x in linked] == [("L1", "r-9")]
        assert api.get("/links", params={"tenant": tenant_name, "system": "myob"}).status_code == 422

        r = api.delete("/links", params={"tenant": tenant_name, "local_id": "L1", "system": "xpm"})
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        again = api.delete("/links", params={"tenant": tenant_name, "local_id": "L1", "system": "xpm"})
        assert again.status_code == 409 and "not linked" in again.json()["detail"]
        assert api.delete("/links", params={"tenant": tenant_name, "local_id": "L1"}).status_code == 422
        assert api.get("/links", params={"tenant": tenant_name, "status": "linked"}).json() == []


# --- metrics ---

def test_metrics_need_the_token_and_report_the_queues(server: Server, tenant_name: str) -> None:
    tenant_id, _ = seed.practice_with_reviews(server.db, tenant_name)
    seed.duplicate_pair(server.db, tenant_id)
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    with server.client() as api:
        accepted = api.post("/runs", json={"tenant": tenant_name, "kind": "link_run"}).json()
        wait_for_run(api, accepted["run_id"])
        r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = r.text.splitlines()
    assert f'syncworker_open_reviews{{tenant="{tenant_name}"}} 2' in lines
    assert f'syncworker_unresolved_duplicate_clusters{{tenant="{tenant_name}"}} 1' in lines
    assert any(line.startswith(f'syncworker_last_run_finished_timestamp_seconds{{tenant="{tenant_name}",'
                               'kind="link_run"}') for line in lines)
    assert any(line.startswith('syncworker_runs{kind="link_run",status="failed"}') for line in lines)
    assert "# TYPE syncworker_webhook_events_total counter" in lines
