"""The login limits over real HTTP: a `syncworker serve` process (SQLite and PostgreSQL), its clock the real
one, the limits of the bundled portal.yaml (5 failures per email from one address, 20 per email, 100 per client
address, in 15 minutes). Each
test comes from client addresses of its own (X-Forwarded-For, believed from loopback), so the tests sharing
the module's server do not count each other's failures."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from starlette.requests import Request

from syncworker.http.auth import client_address
from syncworker.services.portal import PortalConfig
from syncworker.store.models import AuditEntry
from tests.http.conftest import Server, served_db, start_server, stop_server  # noqa: F401 - served_db is a fixture
from tests.portal.conftest import SECRET_KEY, SmtpServer
from tests.portal.test_portal_http import mail_server, server, tenant  # noqa: F401 - fixtures

PASSWORD = "a long enough secret"
JACK = "jack.ryan@example.test"
WRONG = "Wrong email address or password."
PAUSED = "Too many failed attempts to log in. For your security, logging in is paused: try again in 15 minutes."


# One client for the module's hundreds of requests: httpx.post builds a client per call, whose TLS context alone
# costs ~35 ms of CPU (more than half of what the server spends on the attempt, scrypt included), and reusing
# the connection spares a TCP handshake and uvicorn's per-connection setup. Which client address an attempt
# counts against comes from its X-Forwarded-For, never from the connection, so sharing it changes no answer.
_http = httpx.Client(timeout=30)


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    _http.close()


def an_address() -> str:
    return f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"


def log_in(server: Server, email: str, password: str, address: str) -> httpx.Response:  # noqa: F811
    return _http.post(f"{server.url}/portal/login", data={"email": email, "password": password},
                      headers={"X-Forwarded-For": address})


def test_five_failures_pause_the_email_there_a_restart_keeps_it_and_an_operator_ends_it(
        server: Server, mail_server: SmtpServer, tenant: str, tmp_path: Path) -> None:  # noqa: F811
    with server.client(**{"X-Operator": "Sam"}) as op:
        assert op.post("/portal/invitations", json={"tenant": tenant, "client": "JR"}).status_code == 201
    token = mail_server.inbox.token(mail_server.inbox.to(JACK)[-1])
    assert httpx.post(f"{server.url}/portal/accept/{token}",
                      data={"password": PASSWORD, "password2": PASSWORD}).status_code == 200
    home, nobody = an_address(), f"nobody-{random.randint(0, 10**9)}@example.test"

    answers = {email: [log_in(server, email, "not it at all", home) for _ in range(5)] for email in (JACK, nobody)}
    for email, found in answers.items():
        assert [a.status_code for a in found] == [401] * 4 + [429], email
        assert all(WRONG in a.text for a in found[:4]) and PAUSED in found[4].text
        assert found[4].headers["retry-after"] == "900" and found[4].headers["cache-control"] == "no-store"
    assert answers[JACK][4].text == answers[nobody][4].text  # the page does not tell which email has an account
    refused = log_in(server, JACK, PASSWORD, home)  # the right password, from there
    assert refused.status_code == 429 and "Logged in" not in refused.text
    v6 = f"2001:db8:{random.randint(0, 65535):x}:1::"  # an IPv6 client counts by its /64
    assert [log_in(server, nobody, "not it at all", f"{v6}{i + 1:x}").status_code for i in range(5)] == [401] * 4 + [429]

    # A second process (with the same key): the lockout is in the database.
    again = start_server(server.db, tmp_path / "again.log", SYNCWORKER_SECRET_KEY=SECRET_KEY)
    try:
        assert log_in(again, JACK, PASSWORD, home).status_code == 429
    finally:
        stop_server(again)

    assert httpx.get(f"{server.url}/portal/lockouts").status_code == 401  # operator only
    with server.client(**{"X-Operator": "Sam"}) as op:
        shown = [(r["kind"], r["email"], r["address"]) for r in op.get("/portal/lockouts").json()]
        assert ("email from address", JACK, home) in shown and ("email from address", None, home) in shown
        assert ("email from address", None, f"{v6}/64") in shown
        assert op.post("/portal/lockouts/clear", json={}).status_code == 422
        assert op.post("/portal/lockouts/clear", json={"email": JACK}).status_code == 200
    done = log_in(server, JACK, PASSWORD, home)
    assert done.status_code == 200 and "Logged in as jack.ryan@example.test" in done.text

    with server.db.session() as s:
        entries = [(e.actor, e.action, e.after) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.entity == "portal_user", AuditEntry.action.like("login%"))
            .order_by(AuditEntry.id))]
    assert [a for _, a, _ in entries] == ["login_failed"] * 5 + ["login_locked", "login_unlocked", "login"]
    assert entries[0][2] == {"client": home, "failures": 1} and entries[-1][2] == {"client": home}
    assert entries[-2][0] == "Sam"


def test_one_client_address_is_paused_after_a_hundred_failures_on_any_emails(server: Server) -> None:  # noqa: F811
    spraying, bystander = an_address(), an_address()
    codes = [log_in(server, f"guess{i}-{random.randint(0, 10**9)}@example.test", "password1234", spraying).status_code
             for i in range(100)]
    assert codes == [401] * 99 + [429]
    assert log_in(server, "someone-else@example.test", "password1234", spraying).status_code == 429
    assert log_in(server, "someone-else@example.test", "password1234", bystander).status_code == 401
    with server.client() as op:
        assert ("address", spraying) in {(r["kind"], r["address"]) for r in op.get("/portal/lockouts").json()}
        assert op.post("/portal/lockouts/clear", json={"address": spraying}).status_code == 200
    assert log_in(server, "someone-else@example.test", "password1234", spraying).status_code == 401


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("127.0.0.1", "203.0.113.5", "203.0.113.5"),  # our proxy on loopback names the client
    ("127.0.0.1", "10.9.9.9, 203.0.113.5", "203.0.113.5"),  # what the client wrote at the left is not believed
    ("198.51.100.1", "203.0.113.5", "198.51.100.1"),  # not a proxy of ours: its header is not believed
    ("127.0.0.1", "::1, 203.0.113.5", "203.0.113.5"),
    ("127.0.0.1", "not-an-ip", "127.0.0.1"),
    ("127.0.0.1", None, "127.0.0.1"),
])
def test_the_client_address_believes_only_our_own_proxies(peer: str, forwarded: str | None, expected: str) -> None:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    request = Request({"type": "http", "client": (peer, 5000), "headers": headers})
    assert client_address(request, PortalConfig().proxy_networks) == expected


def test_a_returning_users_invitation_link_is_limited_like_the_login(
        server: Server, mail_server: SmtpServer, tenant: str) -> None:  # noqa: F811
    with server.client(**{"X-Operator": "Sam"}) as op:
        assert op.post("/portal/invitations", json={"tenant": tenant, "client": "JR"}).status_code == 201
        first = mail_server.inbox.token(mail_server.inbox.to(JACK)[-1])
        assert httpx.post(f"{server.url}/portal/accept/{first}",
                          data={"password": PASSWORD, "password2": PASSWORD}).status_code == 200
        assert op.post("/portal/invitations", json={"tenant": tenant, "client": "CR",
                                                    "persons": ["JR"]}).status_code == 201
    token = mail_server.inbox.token(mail_server.inbox.to(JACK)[-1])
    there = an_address()

    def accept(password: str) -> httpx.Response:
        return _http.post(f"{server.url}/portal/accept/{token}", data={"password": password},
                          headers={"X-Forwarded-For": there})

    assert [accept("not his password").status_code for _ in range(5)] == [422] * 4 + [429]
    paused = accept(PASSWORD)
    assert paused.status_code == 429 and 890 <= int(paused.headers["retry-after"]) <= 900  # the real clock
    assert "Welcome" not in paused.text
    assert log_in(server, JACK, PASSWORD, there).status_code == 429  # the login from there is paused too
    assert log_in(server, JACK, PASSWORD, an_address()).status_code == 200  # from elsewhere it is not
