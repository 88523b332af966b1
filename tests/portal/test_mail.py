"""The outbox and its transports: a real SMTP server on loopback, and the folder the embedded default uses."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from syncworker.config import ConfigError
from syncworker.services import mail
from syncworker.services import portal as portal_svc
from syncworker.services.portal import PortalConfig
from syncworker.store.db import Database
from syncworker.store.models import MailOutbox
from tests.factories import make_tenant
from tests.portal.conftest import START, TENANT, SmtpServer, World

JACK = "jack.ryan@example.test"

SENDER = "Practice <portal@practice.test>"


def queue(db: Database, n: int, tenant_id: int | None = None) -> list[int]:
    with db.session() as s:
        rows = [mail.enqueue(s, tenant_id=tenant_id, kind="test", recipient=f"person{i}@example.test",
                             subject=f"message {i}", text_body=f"hello {i}", html_body=f"<p>hello {i}</p>",
                             sender_domain="practice.test", now=START) for i in range(n)]
        return [r.id for r in rows]


def statuses(db: Database) -> list[str]:
    with db.session() as s:
        return [r.status for r in s.query(MailOutbox).order_by(MailOutbox.id)]


def test_two_senders_at_once_send_each_message_exactly_once(db: Database, smtp: SmtpServer) -> None:
    queue(db, 6, make_tenant(db))
    smtp.inbox.delay = 0.05  # slow enough that both senders are busy at the same time
    transport = mail.transport_from_url(smtp.url)
    reports: list[mail.DeliveryReport] = []

    def sender() -> None:
        reports.append(mail.deliver_due(db, transport, SENDER, now=START))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(r.sent for r in reports) == 6
    assert sorted(m["To"] for m in smtp.inbox.messages) == sorted(f"person{i}@example.test" for i in range(6))
    assert statuses(db) == ["sent"] * 6


def test_a_refusal_for_good_fails_at_once_and_transient_ones_stop_after_max_attempts(
        db: Database, smtp: SmtpServer) -> None:
    queue(db, 1)
    smtp.inbox.fail_next, smtp.inbox.reply = 1, "550 5.1.1 no such mailbox"
    report = mail.deliver_due(db, mail.transport_from_url(smtp.url), SENDER, now=START)
    assert report.as_dict() == {"sent": 0, "retrying": 0, "failed": 1, "interrupted": 0}
    queue(db, 1)
    smtp.inbox.fail_next, smtp.inbox.reply = 10, "451 4.3.0 later"
    now = START
    for _ in range(3):
        now += timedelta(hours=2)
        mail.deliver_due(db, mail.transport_from_url(smtp.url), SENDER, now=now, max_attempts=3)
    assert statuses(db) == ["failed", "failed"] and smtp.inbox.messages == []
    with db.session() as s:
        assert "550" in s.query(MailOutbox).order_by(MailOutbox.id).first().last_error


def test_a_sender_that_died_mid_send_is_taken_over_after_the_claim_expires(sqlite_db: Database, tmp_path: Path) -> None:
    queue(sqlite_db, 1)
    with sqlite_db.session() as s:  # claimed by a process that then crashed
        s.query(MailOutbox).update({MailOutbox.status: "sending", MailOutbox.claimed_at: START, MailOutbox.attempts: 1})
    folder = mail.FolderTransport(tmp_path / "mail")
    assert mail.deliver_due(sqlite_db, folder, SENDER, now=START + timedelta(minutes=5)).sent == 0
    assert mail.deliver_due(sqlite_db, folder, SENDER, now=START + timedelta(minutes=11)).sent == 1
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1 and b"hello 0" in files[0].read_bytes()
    with sqlite_db.session() as s:
        row = s.query(MailOutbox).one()
        assert (row.status, row.attempts, row.text_body) == ("sent", 2, None)


def test_mail_urls() -> None:
    smtp = mail.transport_from_url("smtp://user:p%40ss@mail.example.test:2525")
    assert isinstance(smtp, mail.SmtpTransport)
    assert (smtp.host, smtp.port, smtp.security, smtp.username, smtp.password) == (
        "mail.example.test", 2525, "none", "user", "p@ss")
    assert "p@ss" not in repr(smtp)
    assert mail.transport_from_url("smtps://mail.example.test").port == 465  # type: ignore[attr-defined]
    assert mail.transport_from_url("smtp+starttls://mail.example.test").security == "starttls"  # type: ignore[attr-defined]
    default, relative = mail.transport_from_url(None), mail.transport_from_url("file:out")
    assert isinstance(default, mail.FolderTransport) and default.folder.as_posix().endswith(mail.DEFAULT_MAIL_DIR)
    assert isinstance(relative, mail.FolderTransport) and relative.folder.is_absolute()
    assert mail.transport_from_url("file:/tmp/out") == mail.FolderTransport(Path("/tmp/out"))
    with pytest.raises(ValueError, match="SYNCWORKER_SMTP_URL"):
        mail.transport_from_url("http://mail.example.test")


def test_portal_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PortalConfig.load().invitation_days == 30
    monkeypatch.setattr(portal_svc, "load_yaml_config", lambda name: {"invitation_days": 0})
    with pytest.raises(ConfigError, match="invitation_days"):
        PortalConfig.load()
    monkeypatch.setattr(portal_svc, "load_yaml_config", lambda name: {"mail": {"from": "nobody"}})
    with pytest.raises(ConfigError, match="mail.from"):
        PortalConfig.load()
    monkeypatch.setattr(portal_svc, "load_yaml_config", lambda name: {"trusted_proxies": ["10.0.0.0/8", "proxy"]})
    with pytest.raises(ConfigError, match="trusted_proxies"):
        PortalConfig.load()


def test_a_long_pass_stamps_each_claim_when_it_is_taken(db: Database, smtp: SmtpServer) -> None:
    # A slow server: each message takes the pass four more minutes. Had the last claims been stamped with the
    # pass's start, they would look stale (claim_ttl 10 min) to another sender while still being sent here.
    ids = queue(db, 4, make_tenant(db))
    ticks = iter(START + timedelta(minutes=4 * i) for i in range(100))
    report = mail.deliver_due(db, mail.transport_from_url(smtp.url), SENDER, clock=lambda: next(ticks))
    assert report.sent == 4 and len(smtp.inbox.messages) == 4
    with db.session() as s:
        rows = {r.id: r for r in s.query(MailOutbox)}
        assert [rows[i].claimed_at for i in ids] == [START + timedelta(minutes=4 * i) for i in range(4)]
        assert [rows[i].sent_at for i in ids] == [rows[i].claimed_at for i in ids]


def test_a_server_down_or_refusing_us_costs_one_try_a_pass_and_loses_nothing(db: Database, smtp: SmtpServer) -> None:
    ids = queue(db, 5, make_tenant(db))
    transport = mail.transport_from_url(smtp.url)
    smtp.inbox.sender_reply = "550 5.7.1 relaying denied"  # about the server and us, not about any one message
    report = mail.deliver_due(db, transport, SENDER, now=START)
    assert report.as_dict() == {"sent": 0, "retrying": 5, "failed": 0, "interrupted": 0}
    smtp.stop()  # then down altogether
    assert mail.deliver_due(db, transport, SENDER, now=START + timedelta(seconds=31)).as_dict() == {
        "sent": 0, "retrying": 5, "failed": 0, "interrupted": 0}
    with db.session() as s:  # one connection a pass, not one per message; every message waits, none failed
        rows = {r.id: r for r in s.query(MailOutbox)}
        assert [rows[i].attempts for i in ids] == [2, 0, 0, 0, 0]
        assert {rows[i].status for i in ids} == {"pending"}
    smtp.inbox.sender_reply = None
    smtp.start()
    assert mail.deliver_due(db, transport, SENDER, now=START + timedelta(minutes=2)).sent == 5
    assert sorted(m["To"] for m in smtp.inbox.messages) == sorted(f"person{i}@example.test" for i in range(5))


def test_a_mail_folder_that_cannot_be_written_keeps_the_messages_waiting(sqlite_db: Database, tmp_path: Path) -> None:
    queue(sqlite_db, 2)
    (tmp_path / "blocked").write_text("a file where the folder should be", encoding="utf-8")
    report = mail.deliver_due(sqlite_db, mail.FolderTransport(tmp_path / "blocked" / "mail"), SENDER, now=START)
    assert report.as_dict() == {"sent": 0, "retrying": 2, "failed": 0, "interrupted": 0} and statuses(sqlite_db) == ["pending"] * 2
    with sqlite_db.session() as s:
        assert "cannot write to" in s.query(MailOutbox).order_by(MailOutbox.id).first().last_error
    later = START + timedelta(minutes=1)
    assert mail.deliver_due(sqlite_db, mail.FolderTransport(tmp_path / "mail"), SENDER, now=later).sent == 2
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 2


class DiesAfterTheServerAccepts:
    """The worker is killed right after the SMTP server answered 250, before `sent` is committed."""

    def __init__(self, transport: mail.MailTransport) -> None:
        self.transport = transport

    def send(self, message: EmailMessage) -> None:
        self.transport.send(message)
        raise KeyboardInterrupt("killed")


def test_an_invitation_whose_sender_died_after_250_goes_again_reported_with_the_same_message_id(
        world: World) -> None:
    smtp_transport = world.portal.transport
    world.portal.transport = DiesAfterTheServerAccepts(smtp_transport)
    with pytest.raises(KeyboardInterrupt):
        world.portal.invite(TENANT, "JR")
    assert len(world.inbox.to(JACK)) == 1 and statuses(world.db) == ["sending"]
    assert world.portal.list(TENANT)[0]["sent"] is None  # we do not know that it left

    world.portal.transport = smtp_transport  # the next process
    world.clock.advance(minutes=5)
    assert world.portal.maintain()["sent"] == 0  # the claim is not stale yet: its sender may be alive
    world.clock.advance(minutes=6)
    report = world.portal.maintain()
    assert (report["sent"], report["interrupted"]) == (1, 1)  # sent again, and said so
    first, second = world.inbox.to(JACK)
    assert first["Message-ID"] == second["Message-ID"]  # a mail program can tell the copy
    assert world.inbox.token(first) == world.inbox.token(second)  # one link, either copy works
    assert world.portal.list(TENANT)[0]["sent"] is not None
    assert world.portal.accept(world.inbox.token(second), "a long enough secret")["email"] == JACK
    assert world.portal.maintain()["interrupted"] == 0  # reported once, not on every pass


def test_the_mail_line_says_when_a_message_may_have_gone_twice() -> None:
    from syncworker.cli.portal_cmds import _mail_line

    line = _mail_line({"sent": 1, "retrying": 0, "failed": 0, "interrupted": 1})
    assert line.startswith("mail: 1 sent, 1 sent again after a sender stopped mid-send")


class Killed(BaseException):
    """The worker dies while sending (a crash, the OOM killer): not a MailError, nothing is written."""


def test_a_message_whose_sending_keeps_killing_the_sender_fails_after_max_attempts(db: Database) -> None:
    queue(db, 1)
    tries: list[str] = []

    class Deadly:
        def send(self, message: EmailMessage) -> None:
            tries.append(str(message["Message-ID"]))
            raise Killed

    now = START
    for _ in range(3):
        with pytest.raises(Killed):
            mail.deliver_due(db, Deadly(), SENDER, now=now, max_attempts=3)
        now += timedelta(minutes=11)  # past claim_ttl: the claim is stale
    report = mail.deliver_due(db, Deadly(), SENDER, now=now, max_attempts=3)
    assert len(tries) == 3 and report.as_dict() == {"sent": 0, "retrying": 0, "failed": 1, "interrupted": 0}
    with db.session() as s:
        row = s.query(MailOutbox).one()
        assert (row.status, row.attempts) == ("failed", 4) and "interrupted" in (row.last_error or "")
    assert mail.deliver_due(db, Deadly(), SENDER, now=now + timedelta(hours=1)).as_dict()["failed"] == 0
    assert len(tries) == 3  # never sent again
