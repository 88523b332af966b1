"""Outgoing email: an outbox table and the transports that empty it.

A message is written to `mail_outbox` in the same transaction as what it announces (an invitation), so a
mail server that is down never loses one. `deliver_due` claims a due row (compare-and-swap on its status,
so two workers never both send it), sends it with the Message-ID fixed when it was queued, and marks it sent;
a failure puts it back with a backoff, a refusal of that message for good (5xx) or too many attempts mark it
failed. Trouble with the server itself (down, unreachable, refusing our login or sender) is never final: the
pass stops there and every due message waits as long, untried. Once the server has answered 250 to the
message it counts as sent, whatever QUIT answers after.

At least once, not exactly once: a sender that dies mid-send leaves its claim (`sending`), and once the claim
is stale (`claim_ttl`) the next pass sends the message again, with the same Message-ID. SMTP cannot tell us
whether the dead sender got as far as the server's 250: most often it did not (a conversation takes seconds,
the gap between 250 and our commit milliseconds), and an invitation that never arrives is worse than one
that arrives twice with the same link, which mail programs can recognise by its Message-ID. So the message
goes again, and not blindly: the pass counts it as `interrupted` in its report and logs a warning naming the
message, so the operator knows its recipient may have two copies. A message taken over after `max_attempts`
tries (its sending itself may be what stops the sender) is marked failed instead of being tried again.

Transports: `SYNCWORKER_SMTP_URL` (`smtp://[user:password@]host[:port]`, `smtp+starttls://…`, `smtps://…`);
without it, the embedded default writes each message to a folder as `<id>.eml` (`file:mail` in the per-user data folder).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from syncworker.config import data_dir
from syncworker.store.db import Database
from syncworker.store.models import MailOutbox
from syncworker.store.types import utcnow

log = logging.getLogger(__name__)
DEFAULT_MAIL_DIR = "mail"


class MailError(Exception):
    """A message could not be handed over. `permanent` when retrying cannot help (the server refused this
    message); `server` when the trouble is the server or our account there, not the message (down,
    unreachable, refusing our login or our sender): then no other message can go either, for now."""

    def __init__(self, message: str, *, permanent: bool = False, server: bool = False) -> None:
        super().__init__(message)
        self.permanent, self.server = permanent and not server, server


class MailTransport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass
class SmtpTransport:
    host: str
    port: int
    security: str = "none"  # none, starttls, ssl
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    timeout: float = 15.0

    def send(self, message: EmailMessage) -> None:
        cls = smtplib.SMTP_SSL if self.security == "ssl" else smtplib.SMTP
        smtp: smtplib.SMTP | None = None
        try:
            smtp = cls(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError(f"recipient refused ({', '.join(map(str, codes))})",
                            permanent=all(c >= 500 for c in codes)) from None
        except _SERVER_REFUSALS as exc:
            raise MailError(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", server=True) from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"{type(exc).__name__}: {exc}", server=True) from None
        finally:
            if smtp is not None and smtp.sock is not None:
                _quit_quietly(smtp)


# Refusals of the server or of us (greeting, HELO, login, MAIL FROM), not of one message: retried, never final.
_SERVER_REFUSALS = (smtplib.SMTPConnectError, smtplib.SMTPHeloError, smtplib.SMTPAuthenticationError,
                    smtplib.SMTPSenderRefused)


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    """Say goodbye, or just hang up. Once the server has answered 250 to the message it is delivered: a QUIT
    that fails (an error reply, a dropped connection) must not turn it into a failure that sends it again."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass
class FolderTransport:
    """The embedded default: each message becomes `<folder>/<message id>.eml`. Writing the same message again
    replaces the file, so a retried delivery leaves one copy."""

    folder: Path

    def send(self, message: EmailMessage) -> None:
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(message["Message-ID"]).strip("<>"))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(message))
            os.replace(tmp, self.folder / f"{name}.eml")
        except OSError as exc:  # no room, no right to write: the folder's trouble, not the message's
            raise MailError(f"cannot write to {self.folder}: {exc.strerror or exc}", server=True) from None


def transport_from_url(url: str | None) -> MailTransport:
    """`smtp://`, `smtp+starttls://`, `smtps://` or `file:PATH` (relative to the per-user data folder); None =
    `file:mail` there."""
    if not url:
        return FolderTransport(data_dir() / DEFAULT_MAIL_DIR)
    if url.startswith("file:"):
        path = Path(url[len("file:"):].removeprefix("//"))
        return FolderTransport(path if path.is_absolute() else data_dir() / path)
    parts = urlsplit(url)
    security = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "ssl"}.get(parts.scheme)
    if security is None or not parts.hostname:
        raise ValueError("SYNCWORKER_SMTP_URL must look like smtp://[user:password@]host[:port] (or "
                         "smtp+starttls://, smtps://, file:PATH)")
    port = parts.port or (465 if security == "ssl" else 587 if security == "starttls" else 25)
    return SmtpTransport(parts.hostname, port, security, unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None)


# --- the outbox ---
def enqueue(s: Session, *, tenant_id: int | None, kind: str, recipient: str, subject: str, text_body: str,
            html_body: str | None, sender_domain: str, invitation_id: int | None = None,
            now: datetime | None = None) -> MailOutbox:
    row = MailOutbox(tenant_id=tenant_id, kind=kind, invitation_id=invitation_id, recipient=recipient,
                     subject=subject, text_body=text_body, html_body=html_body, status="pending",
                     message_id=make_msgid(domain=sender_domain), next_attempt_at=now or utcnow(),
                     created_at=now or utcnow())
    s.add(row)
    s.flush()
    return row


def build_message(row: MailOutbox, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, row.recipient, row.subject
    msg["Message-ID"] = row.message_id
    msg["Date"] = format_datetime(row.created_at)
    msg.set_content(row.text_body or "")
    if row.html_body:
        msg.add_alternative(row.html_body, subtype="html")
    return msg


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    interrupted: int = 0  # taken over from a sender that died mid-send: their recipients may get two copies

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed, "interrupted": self.interrupted}


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


AfterSent = Callable[[Session, MailOutbox, datetime], None]


def deliver_due(db: Database, transport: MailTransport, sender: str, *, now: datetime | None = None,
                clock: Callable[[], datetime] | None = None, limit: int = 100, max_attempts: int = 10,
                claim_ttl: timedelta = timedelta(minutes=10), after_sent: AfterSent | None = None) -> DeliveryReport:
    """Send what is due, one row at a time. `after_sent` runs in the transaction that marks a row sent (the
    portal stamps its invitation's `sent_at` there).

    The clock is read for each row (`now` fixes it): a pass through a slow server can outlast `claim_ttl`,
    and a claim stamped with the pass's start would look stale to another sender while this one is still
    sending it, which would then send it too."""
    report = DeliveryReport()
    if clock is None:
        clock = utcnow if now is None else (lambda fixed=now: fixed)
    for _ in range(limit):
        now = clock()
        claimed = _claim(db, now, claim_ttl)
        if claimed is None:
            break
        row_id, attempts, taken_over = claimed
        with db.session() as s:
            row = s.get(MailOutbox, row_id)
            assert row is not None
            message = build_message(row, sender)
        if taken_over and attempts > max_attempts:
            _given_up(db, row_id, attempts, now, report)
            continue
        if taken_over:
            report.interrupted += 1
            log.warning("mail %s (%s) was being sent by a sender that stopped (attempt %s): sending it again; its "
                        "recipient may get it twice", row_id, row.message_id, attempts - 1)
        try:
            transport.send(message)
        except MailError as exc:
            _failed(db, row_id, attempts, now, exc, max_attempts, report)
            if exc.server:  # the rest would meet the same server: they wait as long, without a try each
                report.retrying += _defer_due(db, now, now + backoff(attempts))
                break
            continue
        # Each writing unit of work starts with its write, so on SQLite it waits for the write lock instead of
        # failing to upgrade a read snapshot another sender has moved past.
        with db.session() as s:
            s.execute(update(MailOutbox).where(MailOutbox.id == row_id).values(
                status="sent", sent_at=now, last_error=None, text_body=None, html_body=None))  # the link has left
            if after_sent is not None:
                row = s.get(MailOutbox, row_id)
                assert row is not None
                after_sent(s, row, now)
        report.sent += 1
    return report


def _claim(db: Database, now: datetime, claim_ttl: timedelta) -> tuple[int, int, bool] | None:
    """A due row, now ours (status `sending`), with its attempt count including this one, and whether it was
    taken over from a sender whose claim went stale (the message may have left already)."""
    claimable = or_(_due(now), (MailOutbox.status == "sending") & (MailOutbox.claimed_at < now - claim_ttl))
    with db.session() as s:
        candidates = list(s.execute(select(MailOutbox.id, MailOutbox.status).where(claimable)
                                    .order_by(MailOutbox.next_attempt_at, MailOutbox.id).limit(5)))
    for row_id, seen in candidates:
        with db.session() as s:
            claimed = s.execute(update(MailOutbox).where(MailOutbox.id == row_id, MailOutbox.status == seen, claimable)
                                .values(status="sending", claimed_at=now, attempts=MailOutbox.attempts + 1)).rowcount
            if claimed:
                attempts = int(s.scalar(select(MailOutbox.attempts).where(MailOutbox.id == row_id)) or 0)
                return row_id, attempts, seen == "sending"
    return None


def _due(now: datetime):
    """Rows waiting to be sent whose time has come."""
    return (MailOutbox.status == "pending") & (MailOutbox.next_attempt_at <= now)


def _defer_due(db: Database, now: datetime, until: datetime) -> int:
    with db.session() as s:
        return int(s.execute(update(MailOutbox).where(_due(now)).values(next_attempt_at=until)).rowcount or 0)


def _given_up(db: Database, row_id: int, attempts: int, now: datetime, report: DeliveryReport) -> None:
    """A message taken over once more after `max_attempts` sends that never came back: its sending stops the
    sender itself (a crash, a kill), so no MailError ever counts it. Failed, not sent again every claim_ttl."""
    with db.session() as s:
        s.execute(update(MailOutbox).where(MailOutbox.id == row_id, MailOutbox.status == "sending").values(
            status="failed", next_attempt_at=now,
            last_error=f"interrupted: {attempts - 1} attempts to send it never finished (the sender stopped)"))
    report.failed += 1
    log.warning("mail %s failed for good: %s attempts to send it never finished", row_id, attempts - 1)


def _failed(db: Database, row_id: int, attempts: int, now: datetime, exc: MailError, max_attempts: int,
            report: DeliveryReport) -> None:
    final = exc.permanent or (attempts >= max_attempts and not exc.server)
    with db.session() as s:
        s.execute(update(MailOutbox).where(MailOutbox.id == row_id).values(
            last_error=str(exc)[:500], status="failed" if final else "pending",
            next_attempt_at=now if final else now + backoff(attempts)))
    if final:
        report.failed += 1
        log.warning("mail %s failed for good after %s attempts: %s", row_id, attempts, exc)
    else:
        report.retrying += 1
        log.info("mail %s will be retried (attempt %s): %s", row_id, attempts, exc)
