"""A real SMTP server on loopback (aiosmtpd), a clock the tests move, and a small practice: Jack Ryan, his
inactive spouse Cathy, a company with a contact, a company with nobody, and a client without an email."""

from __future__ import annotations

import asyncio
import email
import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from syncworker.config import Settings
from syncworker.services import connections as conn_svc
from syncworker.services.portal import PortalConfig, PortalService
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from syncworker.store.models import Contact
from tests.factories import make_client, make_tenant

TENANT = "Ryan Practice"
START = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)  # any date works: the clock is injected
SECRET_KEY = generate_key()  # the portal keys the emails typed at its login with it
LINK = re.compile(r"https?://\S+/portal/accept/([A-Za-z0-9_-]+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server accepted. `fail_next` answers that many DATA commands with 451 (try later);
    `quit_reply` answers QUIT with something other than 221 after the message was accepted; `sender_reply`
    refuses MAIL FROM (a server that will not take mail from us at all, e.g. a relay not set up yet)."""

    messages: list[EmailMessage] = field(default_factory=list)
    fail_next: int = 0
    refused: int = 0
    reply: str = "451 4.3.0 mailbox busy, try again later"
    delay: float = 0.0  # seconds before answering DATA: a slow server
    quit_reply: str = "221 Bye"
    sender_reply: str | None = None

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802 - aiosmtpd hook
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next:
            self.fail_next -= 1
            self.refused += 1
            return self.reply
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))  # type: ignore[attr-defined, arg-type]
        return "250 OK"

    async def handle_MAIL(self, server: object, session: object, envelope: Any, address: str,  # noqa: N802
                          options: list[str]) -> str:
        if self.sender_reply:
            return self.sender_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_QUIT(self, server: object, session: object, envelope: object) -> str:  # noqa: N802 - aiosmtpd hook
        return self.quit_reply

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def token(self, message: EmailMessage) -> str:
        body = message.get_body(("plain",))
        assert body is not None
        found = LINK.search(body.get_content())
        assert found, "no accept link in the message"
        return found.group(1)


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's chatter is not our output
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class World:
    db: Database
    portal: PortalService
    smtp: SmtpServer
    clock: Clock
    ids: dict[str, int]

    @property
    def inbox(self) -> Inbox:
        return self.smtp.inbox


def seed(db: Database, tenant: str = TENANT) -> dict[str, int]:
    tid = make_tenant(db, tenant)
    ids = {"tenant": tid}
    ids["JR"] = make_client(db, tid, "JR", "Jack Ryan", kind="individual", email="Jack.Ryan@example.test",
                            given_name="Jack", family_name="Ryan")
    ids["CR"] = make_client(db, tid, "CR", "Cathy Ryan", kind="individual", email="cathy@example.test",
                            status="inactive", given_name="Cathy", family_name="Ryan")
    ids["ACME"] = make_client(db, tid, "ACME", "Acme Widgets Pty Ltd", kind="company")
    ids["NOBODY"] = make_client(db, tid, "NOBODY", "Nobody Holdings Pty Ltd", kind="company")
    ids["LEE"] = make_client(db, tid, "LEE", "Lee Chan", kind="individual", given_name="Lee", family_name="Chan")
    with db.session() as s:
        pat = Contact(tenant_id=tid, external_id="PAT", client_id=ids["ACME"], name="Pat Otto",
                      email="pat@acme.test", is_primary=True)
        s.add(pat)
        s.flush()
        ids["PAT"] = pat.id
    ids["spouse"] = conn_svc.add_connection(db, tenant, "JR", "CR", "spouse")["id"]
    return ids


def make_portal(db: Database, url: str, clock: Clock, **config: object) -> PortalService:
    settings = Settings(database_url=db.connect_url, public_url="http://portal.test:8080", smtp_url=url,
                        secret_key=SECRET_KEY)
    return PortalService(db, settings, PortalConfig(**config), clock=clock)  # type: ignore[arg-type]


@pytest.fixture
def world(db: Database, smtp: SmtpServer, clock: Clock) -> World:
    ids = seed(db)
    return World(db, make_portal(db, smtp.url, clock, remind_days_before=3), smtp, clock, ids)
