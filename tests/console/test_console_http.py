"""The console over HTTP, in process (Starlette's TestClient), on SQLite and PostgreSQL: sign-in, the
session cookie, CSRF, each page's actions reaching the same services as the CLI (audited with the
operator's name), bounded queries per page at a practice's scale, and /docs served without a CDN."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from urllib.parse import unquote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.http.console import session as sessions
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, Client, DuplicateCluster, Link, SyncConflict, TenantSystem
from tests.console import seed
from tests.http.test_app_inprocess import RecordingExecutor

TOKEN = "console-" + uuid.uuid4().hex


@pytest.fixture
def app_client(db: Database) -> Iterator[TestClient]:
    app = create_app(ServiceContext(db, Settings(database_url=db.url, operator_token=TOKEN)), RecordingExecutor())
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, name: str = "Alice Ops", token: str = TOKEN) -> str:
    form = client.get("/console")
    assert form.status_code == 200 and 'type="password"' in form.text
    answer = client.post("/console/signin", data={"csrf": csrf_of(form.text), "operator": name, "token": token})
    return answer.headers.get("location", str(answer.status_code))


def page_csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def audit(db: Database, action: str) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_pages_need_a_session_and_actions_need_its_csrf_token(app_client: TestClient, db: Database) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    assert app_client.get("/console/reviews").headers["location"] == "/console"  # no session: sign in
    assert app_client.get("/console/reviews").status_code == 303
    refused = app_client.post(f"/console/reviews/{p.reviews[0]}/approve", data={"tenant": p.tenant, "csrf": "x"})
    assert refused.status_code == 401

    assert sign_in(app_client, token="wrong") == "401"
    assert sign_in(app_client) == "/console/runs"
    cookie = next(c for c in app_client.cookies.jar if c.name == sessions.SESSION_COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/console"

    forged = app_client.post(f"/console/reviews/{p.reviews[0]}/approve", data={"tenant": p.tenant, "csrf": "forged"})
    assert forged.status_code == 403
    with db.session() as s:
        assert s.get(Link, p.reviews[0]).status == "suggested"  # nothing happened

    csrf = page_csrf(app_client, f"/console/reviews?tenant={p.tenant}")
    app_client.post("/console/signout", data={"csrf": csrf})
    assert app_client.get("/console/runs").status_code == 303  # signed out


def test_a_session_cookie_cannot_be_forged_and_dies_with_the_token(app_client: TestClient) -> None:
    good = sessions.seal(TOKEN, sessions.new_session("Alice"))
    assert sessions.unseal(TOKEN, good).operator == "Alice"
    body, sig = good.split(".")
    assert sessions.unseal(TOKEN, body.replace(body[-3:], "AAA") + "." + sig) is None  # tampered
    assert sessions.unseal("rotated-token", good) is None  # the operator token changed: everybody signs in again
    assert sessions.unseal(TOKEN, sessions.seal(TOKEN, sessions.new_session("Alice", now=0))) is None  # expired
    app_client.cookies.set(sessions.SESSION_COOKIE, sessions.seal("another-token", sessions.new_session("Eve")),
                           path="/console")
    assert app_client.get("/console/runs").status_code == 303


def test_review_decisions_merge_and_links_from_the_console_are_audited(app_client: TestClient, db: Database) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    sign_in(app_client, "Alice Ops")
    page = app_client.get(f"/console/reviews?tenant={p.tenant}")
    assert "Bluegum Joinery Pty Ltd" in page.text and "office@bluegum.example" in page.text  # side by side
    csrf = csrf_of(page.text)
    app_client.post(f"/console/reviews/{p.reviews[0]}/approve", data={"tenant": p.tenant, "csrf": csrf})
    app_client.post(f"/console/reviews/{p.reviews[1]}/reject", data={"tenant": p.tenant, "csrf": csrf})
    with db.session() as s:
        assert [s.get(Link, i).status for i in p.reviews] == ["linked", "rejected"]
    assert {e.actor for e in audit(db, "approved")} >= {"Alice Ops (console)"}

    # Connect now: the records cache answers when the system cannot be asked (no connection here)
    found = app_client.get("/console/search", params={"tenant": p.tenant, "system": "xpm", "local_id": "C2",
                                                      "q": "Quokka"})
    assert "Quokka Freight Company" in found.text and "records cache" in found.text
    app_client.post("/console/links/unlink", data={"tenant": p.tenant, "csrf": csrf, "local_id": "C1", "system": "xpm"})
    refused = app_client.post("/console/links", data={"tenant": p.tenant, "csrf": csrf, "local_id": "C1",
                                                       "system": "xpm", "remote_id": "xpm-9"})
    assert "is not connected to xpm" in unquote_plus(refused.headers["location"])  # a link needs the system
    with db.session() as s:  # connected (its grant lapsed): the records cache vouches for the remote id
        s.add(TenantSystem(tenant_id=p.tenant_id, system="xpm", status="reconnect_required"))
    linked = app_client.post("/console/links", data={"tenant": p.tenant, "csrf": csrf, "local_id": "C1",
                                                      "system": "xpm", "remote_id": "xpm-9"})
    assert linked.status_code == 303 and "Connected" in unquote_plus(linked.headers["location"])
    with db.session() as s:
        assert s.scalar(select(Link.remote_id).where(Link.tenant_id == p.tenant_id, Link.status == "linked",
                                                     Link.client_id == s.scalar(select(Client.id).where(
                                                         Client.tenant_id == p.tenant_id, Client.external_id == "C1"))
                                                     )) == "xpm-9"

    duplicates = app_client.get(f"/console/duplicates?tenant={p.tenant}")
    survivor = re.search(r'name="survivor" value="([^"]+)"', duplicates.text).group(1)
    app_client.post(f"/console/duplicates/{p.cluster}", data={"tenant": p.tenant, "csrf": csrf, "action": "merge",
                                                              "survivor": survivor})
    with db.session() as s:
        cluster = s.get(DuplicateCluster, p.cluster)
        assert (cluster.status, cluster.survivor_ref, cluster.resolved_by) == ("merged", survivor, "Alice Ops (console)")


@pytest.mark.parametrize("scope", ["conflict", "client", "field", "all"])
def test_conflicts_are_settled_one_per_client_per_field_or_all(app_client: TestClient, db: Database, scope: str) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    sign_in(app_client, "Bo Ops")
    page = app_client.get(f"/console/conflicts?tenant={p.tenant}")
    assert page.text.count('class="card conflict-client"') == 2  # grouped: one item per client
    with db.session() as s:
        first = s.scalar(select(SyncConflict.id).where(SyncConflict.link_id == p.linked[0]).order_by(SyncConflict.id))
    form = {"tenant": p.tenant, "csrf": csrf_of(page.text), "take": "remote", "scope": scope,
            "conflict_id": str(first), "local_id": "L0", "system": "xpm", "field": "email"}
    answer = app_client.post("/console/conflicts/resolve", data=form)
    expected = {"conflict": 1, "client": 2, "field": 2, "all": 4}[scope]
    assert f"{expected} conflict" in unquote_plus(answer.headers["location"])
    with db.session() as s:
        done = list(s.scalars(select(SyncConflict).where(SyncConflict.tenant_id == p.tenant_id,
                                                         SyncConflict.status == "resolved")))
        assert len(done) == expected and {c.resolved_by for c in done} == {"Bo Ops (console)"}
        if scope == "field":
            assert {c.field for c in done} == {"email"}
            assert {s.get(Client, s.get(Link, c.link_id).client_id).email for c in done} == \
                {"b@wattle.example", "y@banksia.example"}  # the remote value was taken
    assert len([e for e in audit(db, "resolve") if e.tenant_id == p.tenant_id]) == expected
    bulk = [e for e in audit(db, "resolve_bulk") if e.tenant_id == p.tenant_id]
    assert [e.actor for e in bulk] == ([] if scope == "conflict" else ["Bo Ops (console)"])


def test_starting_a_run_queues_it_and_audits_who(app_client: TestClient, db: Database) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    executor = app_client.app.state.executor
    sign_in(app_client, "Cy Ops")
    csrf = page_csrf(app_client, "/console/runs")
    answer = app_client.post("/console/runs", data={"tenant": p.tenant, "csrf": csrf, "kind": "sync",
                                                    "system": "xpm", "dry_run": "on"})
    assert answer.status_code == 303
    assert [(r.kind, r.tenant, r.params) for r in executor.requests] == [("sync", p.tenant, {"system": "xpm",
                                                                                            "dry_run": True})]
    assert [e.actor for e in audit(db, "start sync") if e.tenant_id == p.tenant_id] == ["Cy Ops (console)"]
    bad = app_client.post("/console/runs", data={"tenant": p.tenant, "csrf": csrf, "kind": "drop_tables",
                                                 "system": "xpm"})
    assert "error=" in bad.headers["location"] and len(executor.requests) == 1


def test_every_page_runs_a_bounded_number_of_queries_at_15000_clients(app_client: TestClient, db: Database) -> None:
    p = seed.practice(db, "Big Practice " + uuid.uuid4().hex[:6])
    seed.many_clients(db, p.tenant_id, 15_000)
    sign_in(app_client)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for path in ("runs", "reviews", "duplicates", "conflicts", "clients", "clients/B00042"):
            statements.clear()
            started = time.perf_counter()
            page = app_client.get(f"/console/{path}", params={"tenant": p.tenant, "q": "Bulk Client 0001"}
                                  if path == "clients" else {"tenant": p.tenant})
            took = time.perf_counter() - started
            assert page.status_code == 200, (path, page.text[:300])
            assert len(statements) <= 14, (path, len(statements))  # no query per row
            assert took < 3.0, (path, took)  # the 300 ms target is measured in benchmarks/console_pages.py
        clients = app_client.get("/console/clients", params={"tenant": p.tenant})
        assert "Page 1 of 601" in clients.text  # 15,002 clients, 25 a page
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_docs_work_without_the_internet(app_client: TestClient) -> None:
    docs = app_client.get("/docs")
    assert docs.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets  # nothing from a CDN
    for asset in assets:
        assert app_client.get(asset).status_code == 200, asset
    bundle = app_client.get("/docs/assets/swagger-ui-bundle.js").text
    openapi = app_client.get("/openapi.json").json()["openapi"]
    # FastAPI writes OpenAPI 3.1, which only Swagger UI 5 renders (4 showed "Unable to render this definition");
    # the browser test renders /docs with the internet out of reach
    assert openapi.startswith("3.1") and "oas31" in bundle.lower(), openapi
