"""The console over HTTP, in process (Starlette's TestClient), on SQLite and PostgreSQL: sign-in, the
session cookie, CSRF, each page's actions reaching the same services as the CLI (audited with the
operator's name), bounded queries per page at a practice's scale, and /docs served without a CDN."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.domain.profile import ClientKind, ClientProfile
from syncworker.http.app import create_app
from syncworker.http.console import session as sessions
from syncworker.sample import generate_practice
from syncworker.services.context import ServiceContext
from syncworker.services.link_run import run_link_run
from syncworker.store.db import Database
from syncworker.store.models import (
    AuditEntry,
    Client,
    DuplicateCluster,
    JobRun,
    Link,
    SyncConflict,
    TenantSystem,
)
from tests.console import seed
from tests.http.test_app_inprocess import RecordingExecutor
from tests.simulated import clocked_context, connect_practice

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


# Every action the console takes: (path, form). Each must refuse a request with no session (401) and one
# whose CSRF token is not the session's (403), and leave the database as it was.
ACTIONS = [("/console/runs", {"kind": "sync", "system": "xpm"}),
           ("/console/reviews/{review}/approve", {}), ("/console/reviews/{review}/reject", {}),
           ("/console/links", {"local_id": "C1", "system": "xpm", "remote_id": "xpm-9"}),
           ("/console/links/unlink", {"local_id": "L0", "system": "xpm"}),
           ("/console/duplicates/{cluster}", {"action": "not_duplicates"}),
           ("/console/conflicts/resolve", {"scope": "all", "take": "local"}),
           ("/console/signout", {})]


def test_every_form_carries_the_csrf_token_and_every_action_refuses_without_it(app_client: TestClient,
                                                                              db: Database) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    with db.session() as s:
        run = JobRun(tenant_id=p.tenant_id, kind="sync", system="xpm", status="succeeded")
        s.add(run)
        s.flush()
        run_id = run.id
    for path, form in ACTIONS:  # no session at all
        answer = app_client.post(path.format(review=p.reviews[0], cluster=p.cluster), data={"tenant": p.tenant, **form})
        assert answer.status_code == 401, path
    sign_in(app_client)
    token = next(c.value for c in app_client.cookies.jar if c.name == sessions.SESSION_COOKIE)
    csrf = sessions.unseal(TOKEN, token).csrf
    forms = 0
    for page in ("runs", f"runs/{run_id}", "reviews", "duplicates", "conflicts", "clients", "clients/L0",
                 "search?local_id=C1&system=xpm&q=Bluegum"):
        html = app_client.get(f"/console/{page}", params={"tenant": p.tenant}).text
        for found in re.finditer(r"<form\b[^>]*>.*?</form>", html, re.S):
            if 'method="post"' in found.group(0).split(">", 1)[0]:
                forms += 1
                assert f'name="csrf" value="{csrf}"' in found.group(0), (page, found.group(0)[:200])
    assert forms >= 15  # sign-out on every page, approve/reject, merge, conflicts, unlink, Connect now, start
    for bad in (None, "", "not-the-token", csrf[:-1]):
        for path, form in ACTIONS:
            data = {"tenant": p.tenant, **form} | ({} if bad is None else {"csrf": bad})
            answer = app_client.post(path.format(review=p.reviews[0], cluster=p.cluster), data=data)
            assert answer.status_code == 403, (path, bad)
    with db.session() as s:  # nothing happened
        assert [s.get(Link, i).status for i in p.reviews] == ["suggested", "suggested"]
        assert s.get(DuplicateCluster, p.cluster).status == "unresolved"
        assert s.scalar(select(func.count()).select_from(SyncConflict).where(
            SyncConflict.tenant_id == p.tenant_id, SyncConflict.status == "open")) == 4
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.actor.like("% (console)"), AuditEntry.tenant_id == p.tenant_id)) == 0
    assert app_client.get("/console/runs").status_code == 200  # still signed in: a forged sign-out did nothing
    stale = app_client.post("/console/signin", data={"csrf": "forged", "operator": "Eve", "token": TOKEN})
    assert stale.status_code == 403
    assert not [h for h in stale.headers.get_list("set-cookie") if h.startswith(sessions.SESSION_COOKIE + "=")]


def test_the_session_cookie_is_httponly_samesite_and_secure_behind_tls(app_client: TestClient) -> None:
    def session_cookie(client: TestClient) -> str:
        form = client.get("/console")
        answer = client.post("/console/signin", data={"csrf": csrf_of(form.text), "operator": "Alice", "token": TOKEN})
        assert answer.status_code == 303
        return next(h for h in answer.headers.get_list("set-cookie")
                    if h.startswith(sessions.SESSION_COOKIE + "=")).lower()

    plain = session_cookie(app_client)
    assert "httponly" in plain and "samesite=strict" in plain and "path=/console" in plain
    assert "secure" not in plain  # plain HTTP (a practice's LAN): a Secure cookie would never come back
    with TestClient(app_client.app, base_url="https://testserver", follow_redirects=False) as tls:
        behind_tls = session_cookie(tls)
    assert "httponly" in behind_tls and "samesite=strict" in behind_tls and "; secure" in behind_tls
    app_client.cookies.clear()
    proxied = app_client.get("/console", headers={"X-Forwarded-Proto": "https"})  # TLS ends at the proxy
    assert "; secure" in proxied.headers["set-cookie"].lower()


def test_each_console_action_is_audited_with_who_did_it(app_client: TestClient, db: Database) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    with db.session() as s:
        s.add(TenantSystem(tenant_id=p.tenant_id, system="xpm", status="reconnect_required"))
    sign_in(app_client, "Dee Ops")
    csrf = page_csrf(app_client, "/console/runs")
    for path, form in [(f"/console/reviews/{p.reviews[0]}/approve", {}),
                       (f"/console/reviews/{p.reviews[1]}/reject", {}),
                       ("/console/links/unlink", {"local_id": "C1", "system": "xpm"}),
                       ("/console/links", {"local_id": "C1", "system": "xpm", "remote_id": "xpm-9"}),
                       (f"/console/duplicates/{p.cluster}", {"action": "not_duplicates"}),
                       ("/console/conflicts/resolve", {"scope": "all", "take": "local"})]:
        answer = app_client.post(path, data={"tenant": p.tenant, "csrf": csrf, **form})
        assert answer.status_code == 303 and "error=" not in answer.headers["location"], (path, answer.headers)
    with db.session() as s:
        done = {(e.entity, e.action) for e in s.scalars(select(AuditEntry).where(
            AuditEntry.tenant_id == p.tenant_id, AuditEntry.actor == "Dee Ops (console)"))}
    assert done >= {("link", "approved"), ("link", "rejected"), ("link", "linked"), ("link", "unlinked"),
                    ("duplicates", "not_duplicates"), ("conflict", "resolve"), ("conflict", "resolve_bulk")}, done


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


def test_the_runs_page_shows_progress_errors_api_calls_and_the_budget_left(app_client: TestClient,
                                                                          db: Database) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    with db.session() as s:
        live = JobRun(tenant_id=p.tenant_id, kind="sync", system="xpm", status="running",
                      progress={"phase": "merge", "done": 200, "total": 1500})
        starting = JobRun(tenant_id=p.tenant_id, kind="link_run", system="xero", status="running",
                          progress={"phase": "queued"})  # off the queue, before its first step reports
        done = JobRun(tenant_id=p.tenant_id, kind="link_run", system="xpm", status="partial",
                      counts={"pages": 3, "linked_new": 97, "to_review": 4, "broken": 0, "api_calls": 37, "api_retries": 2,
                              "api_rate_limited_minute": 1, "api_rate_limited_day": 0, "api_day_remaining": 4963},
                      errors=[{"remote_id": "xpm-7", "error": "XpmError: 404 Not Found"}],
                      message="1 relationship could not be read")
        s.add_all([live, done, starting])
        s.flush()
        live_id, done_id, starting_id = live.id, done.id, starting.id
    sign_in(app_client)
    runs = app_client.get("/console/runs", params={"tenant": p.tenant}).text
    row = runs[runs.index(f"#{done_id}<"):]
    row = row[:row.index("</tr>")]
    assert "linked new 97, to review 4, pages 3<" in row and "broken" not in row  # what it did, zeros left out
    assert re.search(r">37 <small>\(2 retried\)</small> <small class=\"warn\">1 × 429", row)  # API calls
    assert "4,963 today" in row  # the day budget the system reported left
    assert f'href="/console/runs/{done_id}#errors">1<' in row and "1 relationship could not be read" in row
    live_row = runs[runs.index(f"#{live_id}<"):]
    assert "merge 200 of 1,500" in live_row[:live_row.index("</tr>")]  # progress while running
    assert '<meta http-equiv="refresh"' in runs  # and the page refreshes itself while a run is live

    page = app_client.get(f"/console/runs/{done_id}").text
    assert re.search(r'id="budget-left">4,963<', page)
    assert "remote id xpm-7: XpmError: 404 Not Found" in page and 'http-equiv="refresh"' not in page
    assert "merge 200 of 1,500" in app_client.get(f"/console/runs/{live_id}").text
    assert "every 2 seconds · starting<" in app_client.get(f"/console/runs/{starting_id}").text


def review_card(page: str, review: int) -> str:
    """The review page's card of one suggested pair."""
    card = page[page.index(f'id="review-{review}"'):]
    return card[:card.index("</article>")]


def test_a_review_shows_the_competing_record_that_held_it_back(app_client: TestClient, db: Database) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    with db.session() as s:  # C1 ~ xpm-1 was held back: xpm-9 was nearly as good a match for C1
        s.get(Link, p.reviews[0]).reasons = [
            "name=0.91", "held_back_by=competing:xpm-9 (score 0.690, 3.1 of 6 bits ahead)"]
        s.get(Link, p.reviews[1]).reasons = ["name=0.95", "held_back_by=competing:C1 (score 0.800, 2.0 of 6 bits ahead)"]
    sign_in(app_client)
    page = app_client.get("/console/reviews", params={"tenant": p.tenant}).text

    card = review_card(page, p.reviews[0])
    assert '<th class="rival">Competing XPM <code>xpm-9</code></th>' in card  # a third column, field by field
    assert '<td class="rival">Bluegum Joinery &amp; Sons Pty Ltd</td>' in card
    assert "Held back by a competing record in XPM:</strong> Bluegum Joinery &amp; Sons Pty Ltd (xpm-9)" in card
    assert "score 0.690, 3.1 of 6 bits ahead" in card  # and the reason, as the matcher gave it
    other = review_card(page, p.reviews[1])
    assert '<th class="rival">Competing practice client <code>C1</code></th>' in other  # the rival may be a local client
    assert '<td class="rival">Bluegum Joinery Pty Ltd</td>' in other


def test_a_link_run_names_a_competing_practice_client_as_the_console_finds_it(
        app_client: TestClient, db: Database, tmp_path: Path) -> None:
    """Two practice clients compete for one XPM record: the real link run holds the weaker back, its reason
    names the other by the external id the operator knows (not the profiles' `client:<pk>`), and the review
    page shows that client as the rival."""
    company = ClientKind.COMPANY
    practice = generate_practice(40, seed=5)
    practice = replace(practice, local=[*practice.local,  # fake firms
                                        ClientProfile(id="IRON-A", kind=company, name="Ironbark Surveying Pty Ltd"),
                                        ClientProfile(id="IRON-B", kind=company, name="Ironbark Surveyors Pty Ltd",
                                                      phone="02 9555 0101")],
                       remote=[*practice.remote, ClientProfile(id="0e6a1d2c-5b7f-4c1e-9a3d-7f2b8c4d9e01", kind=company,
                                                               name="Ironbark Surveying Pty Ltd", phone="02 9555 0101")])
    with XpmSimulator(practice=practice, seed=5) as sim:
        ctx = clocked_context(db, sim)
        connect_practice(ctx, sim, "Ironbark Practice", practice, tmp_path)
        report = run_link_run(ctx, "Ironbark Practice", "xpm")
    assert report.status == "succeeded", report.message
    with db.session() as s:
        review, reasons = s.execute(select(Link.id, Link.reasons).join(Client, Client.id == Link.client_id).where(
            Client.external_id == "IRON-B", Link.status == "suggested")).one()
    held = [r for r in reasons if r.startswith("held_back_by=")]
    assert len(held) == 1 and held[0].startswith("held_back_by=competing:IRON-A ("), reasons  # was client:<pk>

    sign_in(app_client)
    page = app_client.get("/console/reviews", params={"tenant": "Ironbark Practice"}).text
    card = review_card(page, review)
    assert '<th class="rival">Competing practice client <code>IRON-A</code></th>' in card
    assert '<td class="rival">Ironbark Surveying Pty Ltd</td>' in card  # the rival's name, field by field
    assert "Held back by a competing practice client:</strong> Ironbark Surveying Pty Ltd (IRON-A)" in card


def test_a_review_still_shows_a_rival_a_link_run_named_by_its_primary_key(
        app_client: TestClient, db: Database) -> None:
    """Reasons stored by link runs that named a competing client `client:<pk>` resolve to that client, shown by its
    external id; a bare number is an external id only (it could be another client's primary key)."""
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    with db.session() as s:
        c1 = s.scalar(select(Client.id).where(Client.tenant_id == p.tenant_id, Client.external_id == "C1"))
        s.get(Link, p.reviews[1]).reasons = [f"held_back_by=competing:client:{c1} (score 0.800, 2.0 of 6 bits ahead)"]
        s.get(Link, p.reviews[0]).reasons = [f"held_back_by=competing:{c1} (score 0.800, 2.0 of 6 bits ahead)"]
    sign_in(app_client)
    page = app_client.get("/console/reviews", params={"tenant": p.tenant}).text

    old = review_card(page, p.reviews[1])
    assert '<th class="rival">Competing practice client <code>C1</code></th>' in old
    assert '<td class="rival">Bluegum Joinery Pty Ltd</td>' in old
    assert 'class="rival"' not in review_card(page, p.reviews[0])  # no client has that external id: no rival column


def test_the_review_duplicate_conflict_and_client_lists_are_searchable(app_client: TestClient, db: Database) -> None:
    p = seed.practice(db, "Harbour " + uuid.uuid4().hex[:6])
    sign_in(app_client)

    def listed(path: str, q: str, marker: str) -> int:
        page = app_client.get(f"/console/{path}", params={"tenant": p.tenant, "q": q})
        assert page.status_code == 200 and f'name="q" value="{q}"' in page.text
        return page.text.count(marker)

    reviews, clusters, conflicts = 'class="card review"', 'class="card cluster"', 'class="card conflict-client"'
    assert (listed("reviews", "", reviews), listed("reviews", "quokka", reviews), listed("reviews", "xpm-1", reviews),
            listed("reviews", "nobody", reviews)) == (2, 1, 1, 0)
    assert (listed("duplicates", "", clusters), listed("duplicates", "test-person", clusters),
            listed("duplicates", "Bluegum", clusters)) == (1, 1, 0)
    assert (listed("conflicts", "", conflicts), listed("conflicts", "banksia", conflicts),
            listed("conflicts", "xpm-l0", conflicts), listed("conflicts", "x@banksia", conflicts)) == (2, 1, 1, 1)
    rows = '<tr><td><a href="/console/clients/'
    assert (listed("clients", "wattle", rows), listed("clients", "%", rows), listed("clients", "_", rows)) == (1, 0, 0)
    found = app_client.get("/console/conflicts", params={"tenant": p.tenant, "q": "nobody"}).text
    assert "Nothing matches “nobody”." in found


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
            # CPU seconds of this process (the app and SQLite run in it), not wall time: a page that
            # works through every client shows up here whatever else the machine runs (a wall-clock
            # bound failed at load 14 on 2 cores with nothing wrong).
            started = time.process_time()
            page = app_client.get(f"/console/{path}", params={"tenant": p.tenant, "q": "Bulk Client 0001"}
                                  if path in ("clients", "reviews", "duplicates", "conflicts") else {"tenant": p.tenant})
            took = time.process_time() - started
            assert page.status_code == 200, (path, page.text[:300])
            assert len(statements) <= 14, (path, len(statements))  # no query per row
            assert took < 3.0, (path, took)  # the 300 ms target is measured in benchmarks/console_pages.py
        clients = app_client.get("/console/clients", params={"tenant": p.tenant})
        assert "Page 1 of 601" in clients.text  # 15,002 clients, 25 a page
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_pages_read_without_taking_the_sqlite_write_lock(app_client: TestClient, db: Database) -> None:
    """A page only reads. In a unit of work that may write (`Database.session()`) SQLite begins with BEGIN
    IMMEDIATE: the page waited for any writer ahead of it (a link run's batch, a pull's page; a running run's
    page reloads every 2 seconds) and held every writer off while its queries ran. `Database.read()` is a
    deferred snapshot that does neither."""
    p = seed.practice(db, "Read Practice")
    with db.session() as s:
        run = JobRun(tenant_id=p.tenant_id, kind="link_run", system="xpm", status="running")
        s.add(run)
        s.flush()
        run_id = run.id
    sign_in(app_client)
    begins: list[str] = []

    def count(*args: object) -> None:
        if str(args[2]).upper().startswith("BEGIN IMMEDIATE"):
            begins.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for path in ("runs", f"runs/{run_id}", "reviews", "duplicates", "conflicts", "clients", "clients/L0"):
            begins.clear()
            page = app_client.get(f"/console/{path}", params={"tenant": p.tenant})
            assert page.status_code == 200, (path, page.text[:300])
            assert begins == [], path  # was 2 a page (the practice picker's read, the page's), 3 for conflicts
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_a_page_without_a_practice_named_lists_the_practices_once(app_client: TestClient, db: Database) -> None:
    """A page picks the first practice when none is named, and its frame lists them all for the picker:
    one read serves both."""
    seed.practice(db, "Only Practice")
    sign_in(app_client)
    lists: list[str] = []

    def count(*args: object) -> None:
        if re.search(r"ORDER BY tenants\.name", str(args[2])):
            lists.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for path in ("runs", "reviews", "duplicates", "conflicts", "clients", "clients/L0"):
            lists.clear()
            page = app_client.get(f"/console/{path}")
            assert page.status_code == 200 and "Only Practice" in page.text, (path, page.text[:300])
            assert len(lists) == 1, (path, lists)  # was 2 on every page but the runs page
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
