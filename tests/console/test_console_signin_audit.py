"""Console sign-in and sign-out in the audit log, over real HTTP (uvicorn on loopback), on SQLite and
PostgreSQL: who, from which address, and never the operator token, whatever is typed where."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.http.console import SIGNIN_FAILURES_PER_ADDRESS as LIMIT
from syncworker.http.console import session as sessions
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry
from tests.console.test_console_http import csrf_of
from tests.http.conftest import serving
from tests.http.test_app_inprocess import RecordingExecutor
from tests.portal.conftest import START, Clock

TOKEN = "console-" + uuid.uuid4().hex


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def console(db: Database, clock: Clock) -> Iterator[httpx.Client]:
    app = create_app(ServiceContext(db, Settings(database_url=db.url, operator_token=TOKEN)), RecordingExecutor())
    app.state.clock = clock
    with serving(app) as url, httpx.Client(base_url=url, follow_redirects=False, timeout=10) as client:
        yield client


def sign_in(client: httpx.Client, name: str, token: str, **headers: str) -> httpx.Response:
    form = client.get("/console")
    return client.post("/console/signin", data={"csrf": csrf_of(form.text), "operator": name, "token": token},
                       headers=headers)


def entries(db: Database) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "console_session")
                              .order_by(AuditEntry.id)))


def test_sign_in_failure_sign_in_and_sign_out_are_audited_without_the_token(console: httpx.Client,
                                                                             db: Database) -> None:
    assert sign_in(console, "Mallory", "not-the-token").status_code == 401
    # The fields swapped: refused before any check, and the token never becomes a name in the log.
    swapped = sign_in(console, TOKEN, "Alice Ops")
    assert swapped.status_code == 422 and "first field" in swapped.text
    done = sign_in(console, "Alice Ops", TOKEN, **{"X-Forwarded-For": "198.51.100.7"})  # from a proxy on loopback
    assert done.status_code == 303 and done.headers["location"] == "/console/runs"
    csrf = csrf_of(console.get("/console/runs").text)
    assert console.post("/console/signout", data={"csrf": csrf}).status_code == 303
    assert console.get("/console/runs").status_code == 303  # signed out

    found = [(e.actor, e.action, e.after, e.tenant_id) for e in entries(db)]
    assert found == [
        ("console", "sign_in_failed", {"client": "127.0.0.1", "claimed_name": "Mallory",
                                       "reason": "wrong operator token"}, None),
        ("Alice Ops (console)", "sign_in", {"client": "198.51.100.7"}, None),
        ("Alice Ops (console)", "sign_out", {"client": "127.0.0.1"}, None),
    ]
    with db.session() as s:
        everything = json.dumps([[e.actor, e.entity_id, e.before, e.after] for e in s.scalars(select(AuditEntry))])
    assert TOKEN not in everything and "not-the-token" not in everything


def test_a_refused_sign_out_and_an_expired_form_write_nothing(console: httpx.Client, db: Database) -> None:
    assert console.post("/console/signout", data={"csrf": "x"}).status_code == 401  # no session: nobody to name
    stale = console.post("/console/signin", data={"csrf": "forged", "operator": "Eve", "token": TOKEN})
    assert stale.status_code == 403
    assert sign_in(console, "Alice", TOKEN).status_code == 303
    forged = console.post("/console/signout", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert [(e.actor, e.action) for e in entries(db)] == [("Alice (console)", "sign_in")]
    assert any(c.name == sessions.SESSION_COOKIE for c in console.cookies.jar)  # still signed in


def test_failed_sign_ins_from_one_address_are_limited_and_never_in_an_operators_name(
        console: httpx.Client, db: Database, clock: Clock) -> None:
    office, home = {"X-Forwarded-For": "198.51.100.7"}, {"X-Forwarded-For": "203.0.113.9"}
    codes = [sign_in(console, "Alice Ops", f"guess-{i}", **office).status_code
             for i in range(LIMIT)]
    assert codes == [401] * LIMIT
    paused = sign_in(console, "Alice Ops", TOKEN, **office)  # the address is paused: the token is not looked at
    assert paused.status_code == 429 and int(paused.headers["retry-after"]) == 15 * 60
    assert sign_in(console, "Mallory", "another guess", **office).status_code == 429
    assert len(entries(db)) == LIMIT  # nothing more written while paused
    assert all((e.actor, e.entity_id, e.after["claimed_name"]) == ("console", "198.51.100.7", "Alice Ops")
               for e in entries(db))  # the typed name is never the actor
    assert sign_in(console, "Alice Ops", TOKEN, **home).status_code == 303  # another address is not paused
    console.cookies.clear()
    clock.advance(minutes=15, seconds=1)
    assert sign_in(console, "Alice Ops", "guess again", **office).status_code == 401  # the window has passed
