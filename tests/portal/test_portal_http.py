"""The portal over real HTTP: a `syncworker serve` process sending mail to a real SMTP server on loopback.
The accept page and the login are open; everything else needs the operator token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from syncworker.store.db import Database
from syncworker.store.types import utcnow
from tests.http.conftest import Server, served_db, start_server, stop_server  # noqa: F401 - served_db is a fixture
from tests.portal.conftest import SECRET_KEY, Clock, SmtpServer, make_portal, seed

PASSWORD = "a long enough secret"


@pytest.fixture(scope="module")
def mail_server() -> Iterator[SmtpServer]:
    smtp = SmtpServer()
    smtp.start()
    yield smtp
    smtp.stop()


@pytest.fixture(scope="module")
def server(served_db: Database, mail_server: SmtpServer,  # noqa: F811 - the fixture imported above
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(served_db, tmp_path_factory.mktemp("serve") / "serve.log",
                       SYNCWORKER_SMTP_URL=mail_server.url, SYNCWORKER_PUBLIC_URL="https://portal.example.test",
                       SYNCWORKER_SECRET_KEY=SECRET_KEY)
    yield srv
    stop_server(srv)


@pytest.fixture
def tenant(server: Server) -> str:
    name = f"Practice {uuid.uuid4().hex[:8]}"
    seed(server.db, name)
    return name


def test_invite_accept_once_and_the_manager_sees_it(server: Server, mail_server: SmtpServer, tenant: str) -> None:
    body = {"tenant": tenant, "client": "JR", "persons": ["JR", "CR"], "message": "See you there"}
    assert httpx.post(f"{server.url}/portal/invitations", json=body).status_code == 401  # operator only
    with server.client(**{"X-Operator": "Sam"}) as op:
        answer = op.post("/portal/invitations", json=body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["counts"] == {"billable": 1, "non_billable_clients": 1, "contacts": 0}
    msg = mail_server.inbox.to("cathy@example.test")[-1]
    assert "https://portal.example.test/portal/accept/" in msg.get_body(("plain",)).get_content()
    token = mail_server.inbox.token(msg)

    with httpx.Client(base_url=server.url) as public:  # no operator token: the link works for the invitee
        page = public.get(f"/portal/accept/{token}")
        assert page.status_code == 200 and "Jack Ryan" in page.text and 'name="password2"' in page.text
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        mismatch = public.post(f"/portal/accept/{token}", data={"password": PASSWORD, "password2": "other one!!"})
        assert mismatch.status_code == 422 and "not the same" in mismatch.text
        done = public.post(f"/portal/accept/{token}", data={"password": PASSWORD, "password2": PASSWORD})
        assert done.status_code == 200 and "Jack Ryan" in done.text
        again = public.post(f"/portal/accept/{token}", data={"password": PASSWORD, "password2": PASSWORD})
        assert again.status_code == 410 and "already been used" in again.text
        assert public.get(f"/portal/accept/{token}").status_code == 410
        assert public.get("/portal/accept/" + "x" * 43).status_code == 404
        assert public.get("/portal/users", params={"tenant": tenant}).status_code == 401
        assert public.post("/portal/login", data={"email": "cathy@example.test", "password": PASSWORD}).status_code == 200
        assert public.post("/portal/login", data={"email": "cathy@example.test", "password": "nope"}).status_code == 401

    with server.client() as op:
        users = {u["email"]: u for u in op.get("/portal/users", params={"tenant": tenant}).json()}
        cathy, jack = users["cathy@example.test"], users["jack.ryan@example.test"]
        assert cathy["status"] == "accepted" and cathy["last_login"] is not None
        assert cathy["records"] == [{"client": "JR", "name": "Jack Ryan"}] and cathy["sent"] is not None
        assert jack["status"] == "invited" and jack["records"] == []
        invited = op.get("/portal/users", params={"tenant": tenant, "status": "invited"}).json()
        assert [u["email"] for u in invited] == ["jack.ryan@example.test"]

        resent = op.post(f"/portal/access/{jack['access']}/resend", json={"tenant": tenant})
        assert resent.status_code == 200 and resent.json()["mail"] == "sent"
        revoked = op.post(f"/portal/access/{jack['access']}/revoke", json={"tenant": tenant})
        assert revoked.status_code == 200
        again = op.post(f"/portal/access/{jack['access']}/revoke", json={"tenant": tenant})
        assert again.status_code == 409 and again.headers["x-rule"] == "revoked"
        new_token = mail_server.inbox.token(mail_server.inbox.to("jack.ryan@example.test")[-1])
        gone = httpx.get(f"{server.url}/portal/accept/{new_token}")
        assert gone.status_code == 410 and "withdrawn" in gone.text


def test_an_expired_link_gets_a_clear_page(server: Server, mail_server: SmtpServer, tenant: str) -> None:
    month_ago = Clock(utcnow() - timedelta(days=30, minutes=1))  # issued 30 days ago: expired now
    make_portal(server.db, mail_server.url, month_ago).invite(tenant, "JR")
    token = mail_server.inbox.token(mail_server.inbox.to("jack.ryan@example.test")[-1])
    page = httpx.get(f"{server.url}/portal/accept/{token}")
    assert page.status_code == 410 and "expired" in page.text and "send it again" in page.text
    post = httpx.post(f"{server.url}/portal/accept/{token}", data={"password": PASSWORD, "password2": PASSWORD})
    assert post.status_code == 410


def test_bulk_invitations_over_http_are_for_admins(server: Server, mail_server: SmtpServer, tenant: str) -> None:
    with server.client(**{"X-Operator": "Sam"}) as op:
        refused = op.post("/portal/invitations", json={"tenant": tenant, "without_portal": True})
        assert refused.status_code == 403 and refused.headers["x-rule"] == "no_admins"
        assert op.post("/portal/admins", json={"tenant": tenant, "name": "Sam"}).json() == {"admins": ["Sam"]}
        bulk = op.post("/portal/invitations", json={"tenant": tenant, "without_portal": True})
        assert bulk.status_code == 201
        assert {i["portal"] for i in bulk.json()["invited"]} == {"ACME", "JR"}
        assert op.post("/portal/invitations", json={"tenant": tenant}).status_code == 422
        assert op.post("/portal/invitations", json={"tenant": tenant, "client": "LEE"}).status_code == 422


def test_expired_invitations_are_resent_in_bulk_and_the_upkeep_runs_over_http(
        server: Server, mail_server: SmtpServer, tenant: str) -> None:
    month_ago = Clock(utcnow() - timedelta(days=30, minutes=1))
    make_portal(server.db, mail_server.url, month_ago).invite(tenant, "JR")
    old = mail_server.inbox.token(mail_server.inbox.to("jack.ryan@example.test")[-1])
    assert httpx.post(f"{server.url}/portal/maintenance").status_code == 401  # operator only
    with server.client(**{"X-Operator": "Sam"}) as op:
        upkeep = op.post("/portal/maintenance")
        assert upkeep.status_code == 200 and upkeep.json()["expired"] >= 1  # ours, maybe others' too
        users = op.get("/portal/users", params={"tenant": tenant, "status": "expired"}).json()
        assert [u["email"] for u in users] == ["jack.ryan@example.test"]
        refused = op.post("/portal/invitations/resend-expired", json={"tenant": tenant})
        assert refused.status_code == 403 and refused.headers["x-rule"] == "no_admins"
        op.post("/portal/admins", json={"tenant": tenant, "name": "Sam"})
        resent = op.post("/portal/invitations/resend-expired", json={"tenant": tenant})
        assert resent.status_code == 200, resent.text
        assert [r["email"] for r in resent.json()["resent"]] == ["jack.ryan@example.test"]
        assert [u["status"] for u in op.get("/portal/users", params={"tenant": tenant}).json()] == ["invited"]
    new = mail_server.inbox.token(mail_server.inbox.to("jack.ryan@example.test")[-1])
    assert new != old and httpx.get(f"{server.url}/portal/accept/{new}").status_code == 200
    assert httpx.get(f"{server.url}/portal/accept/{old}").status_code == 410
