"""Invitations end to end through a real SMTP server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from syncworker.config import Settings
from syncworker.domain.portal import PortalRefused
from syncworker.services import connections as conn_svc
from syncworker.services.portal import PortalService
from syncworker.store.models import AuditEntry, MailOutbox, PortalInvitation
from tests.portal.conftest import TENANT, World, seed

PASSWORD = "correct horse battery"


def refused(code: str, fn, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(PortalRefused) as info:
        fn(*args)
    assert info.value.code == code, str(info.value)
    return str(info.value)


def row(world: World, email: str, portal: str = "JR") -> dict:  # type: ignore[type-arg]
    rows = [r for r in world.portal.list(TENANT) if r["email"] == email and r["portal"] == portal]
    assert len(rows) == 1, rows
    return rows[0]


def test_an_invitation_carries_the_practice_message_and_its_link_works_once(world: World) -> None:
    out = world.portal.invite(TENANT, "JR", message="Welcome aboard: files & <signatures> here.", actor="sam")
    assert [i["email"] for i in out["invited"]] == ["jack.ryan@example.test"]
    assert out["invited"][0]["mail"] == "sent" and out["mail"]["sent"] == 1
    [msg] = world.inbox.to("jack.ryan@example.test")
    assert "Ryan Practice" in msg["Subject"]
    text, page = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    assert "Welcome aboard: files & <signatures> here." in text
    assert "files &amp; &lt;signatures&gt; here." in page and "<signatures>" not in page
    token = world.inbox.token(msg)
    with world.db.session() as s:  # only a hash of the token is kept, and the sent body is gone
        inv = s.scalar(select(PortalInvitation))
        assert inv.token_hash != token and token not in inv.token_hash
        assert s.scalar(select(MailOutbox.text_body)) is None
        assert inv.sent_at == world.clock.now
    listed = row(world, "jack.ryan@example.test")
    assert (listed["status"], listed["last_login"], listed["records"]) == ("invited", None, [])

    assert world.portal.inspect_token(token)["new_user"] is True
    refused("weak_password", world.portal.accept, token, "short")
    world.clock.advance(hours=2)
    accepted = world.portal.accept(token, PASSWORD)
    assert accepted["records"] == [{"client": "JR", "name": "Jack Ryan"}]
    assert "already been used" in refused("used", world.portal.accept, token, PASSWORD)
    listed = row(world, "jack.ryan@example.test")
    assert listed["status"] == "accepted" and listed["last_login"] == world.clock.now.isoformat()

    world.clock.advance(days=3)
    assert world.portal.login("JACK.RYAN@example.test", PASSWORD)["records"][0]["client"] == "JR"
    assert row(world, "jack.ryan@example.test")["last_login"] == world.clock.now.isoformat()
    refused("login", world.portal.login, "jack.ryan@example.test", "wrong password!")
    assert "already accepted" in refused("already_invited", world.portal.invite, TENANT, "JR")


def test_an_inactive_spouse_is_invited_to_the_primary_clients_portal(world: World) -> None:
    out = world.portal.invite(TENANT, "JR", ["JR", "CR"], actor="sam")
    assert out["counts"] == {"billable": 1, "non_billable_clients": 1, "contacts": 0}
    cathy = next(i for i in out["invited"] if i["person"] == "client:CR")
    assert (cathy["billable"], cathy["relation"]) == (False, "Spouse")
    [msg] = world.inbox.to("cathy@example.test")
    assert "Jack Ryan" in msg.get_body(("plain",)).get_content()  # the portal is Jack's
    assert world.portal.accept(world.inbox.token(msg), PASSWORD)["records"] == [{"client": "JR", "name": "Jack Ryan"}]
    assert row(world, "cathy@example.test")["records"] == [{"client": "JR", "name": "Jack Ryan"}]

    # Removing the connection ends the access it gave: Cathy no longer sees Jack's records.
    conn_svc.remove_connection(world.db, TENANT, world.ids["spouse"], actor="sam")
    listed = row(world, "cathy@example.test")
    assert (listed["status"], listed["records"], listed["ended_reason"]) == ("revoked", [], "connection removed")
    assert world.portal.login("cathy@example.test", PASSWORD)["records"] == []
    assert row(world, "jack.ryan@example.test")["status"] == "invited"  # Jack's own access is untouched


def test_people_outside_the_portal_or_without_email_are_refused_and_nothing_is_written(world: World) -> None:
    refused("not_related", world.portal.invite, TENANT, "JR", ["ACME"])
    refused("no_email", world.portal.invite, TENANT, "LEE")
    refused("nobody", world.portal.invite, TENANT, "NOBODY")
    with pytest.raises(LookupError):
        world.portal.invite(TENANT, "NOPE")
    assert world.portal.list(TENANT) == [] and world.inbox.messages == []
    out = world.portal.invite(TENANT, "ACME")  # a business: its primary contact
    assert [i["person"] for i in out["invited"]] == ["contact:PAT"]


def test_an_invitation_expires_after_thirty_days_and_a_resend_starts_again(world: World) -> None:
    world.portal.invite(TENANT, "JR", message="Hello from us")
    first = world.inbox.token(world.inbox.messages[0])
    world.clock.advance(days=30, seconds=-1)
    world.portal.inspect_token(first)  # still valid one second before
    world.clock.advance(seconds=1)
    assert "expired" in refused("expired", world.portal.accept, first, PASSWORD)
    assert row(world, "jack.ryan@example.test")["status"] == "expired"  # before the job has run
    assert world.portal.maintain()["expired"] == 1
    assert [r["email"] for r in world.portal.list(TENANT, "expired")] == ["jack.ryan@example.test"]

    access = row(world, "jack.ryan@example.test")["access"]
    out = world.portal.resend(TENANT, access, actor="sam")
    assert out["mail"] == "sent" and out["replaces"] != out["invitation"]
    assert row(world, "jack.ryan@example.test")["expires"] == (world.clock.now + timedelta(days=30)).isoformat()
    second_msg = world.inbox.messages[-1]
    assert "Hello from us" in second_msg.get_body(("plain",)).get_content()  # the practice's message is kept
    second = world.inbox.token(second_msg)
    assert second != first
    refused("superseded", world.portal.accept, first, PASSWORD)
    world.clock.advance(days=29)
    assert world.portal.accept(second, PASSWORD)["records"][0]["client"] == "JR"


def test_a_resend_ends_the_old_link_at_once(world: World) -> None:
    world.portal.invite(TENANT, "JR")
    old = world.inbox.token(world.inbox.messages[0])
    access = row(world, "jack.ryan@example.test")["access"]
    world.portal.resend(TENANT, access)
    new = world.inbox.token(world.inbox.messages[1])
    assert "newer invitation" in refused("superseded", world.portal.accept, old, PASSWORD)
    world.portal.accept(new, PASSWORD)
    refused("accepted", world.portal.resend, TENANT, access)
    refused("used", world.portal.accept, new, PASSWORD)


def test_one_reminder_with_a_fresh_link_shortly_before_expiry(world: World) -> None:
    world.portal.invite(TENANT, "JR")
    original = world.inbox.token(world.inbox.messages[0])
    expires = row(world, "jack.ryan@example.test")["expires"]
    world.clock.advance(days=26)
    assert world.portal.maintain()["reminded"] == 0
    world.clock.advance(days=1)
    assert world.portal.maintain()["reminded"] == 1
    world.clock.advance(hours=1)
    assert world.portal.maintain()["reminded"] == 0  # once only
    reminder = world.inbox.messages[-1]
    assert len(world.inbox.messages) == 2 and str(reminder["Subject"]).strip().startswith("Reminder")
    assert row(world, "jack.ryan@example.test")["expires"] == expires  # a reminder does not extend
    refused("superseded", world.portal.accept, original, PASSWORD)
    world.portal.accept(world.inbox.token(reminder), PASSWORD)


def test_bulk_invite_is_for_admins_and_reaches_clients_without_a_portal(world: World) -> None:
    world.portal.invite(TENANT, "JR")
    with pytest.raises(PortalRefused) as info:
        world.portal.invite_without_portal(TENANT, actor="sam")
    assert info.value.code == "no_admins"
    world.portal.set_admin(TENANT, "Alex")
    with pytest.raises(PortalRefused) as info:
        world.portal.invite_without_portal(TENANT, actor="sam")
    assert info.value.code == "not_admin"

    out = world.portal.invite_without_portal(TENANT, actor="alex", message="Our new portal")
    assert [(i["portal"], i["email"]) for i in out["invited"]] == [("ACME", "pat@acme.test")]
    assert {s["client"] for s in out["skipped"]} == {"LEE", "NOBODY"}  # no email; nobody to invite
    # JR already has a portal; CR is inactive (not a billable client with a portal of its own)
    assert [m["To"] for m in world.inbox.messages] == ["jack.ryan@example.test", "pat@acme.test"]
    assert world.portal.invite_without_portal(TENANT, actor="alex")["invited"] == []


def test_a_failing_mail_server_loses_nothing_and_sends_each_invitation_once(world: World) -> None:
    world.smtp.inbox.fail_next = 10**6  # every delivery is refused with 451 for now
    world.portal.set_admin(TENANT, "alex")
    first = world.portal.invite(TENANT, "JR", ["JR", "CR"])
    assert first["mail"] == {"sent": 0, "retrying": 2, "failed": 0, "interrupted": 0}
    assert [i["mail"] for i in first["invited"]] == ["pending", "pending"]
    world.portal.invite_without_portal(TENANT, actor="alex")
    assert world.inbox.messages == [] and world.inbox.refused == 3
    assert row(world, "jack.ryan@example.test")["sent"] is None

    world.smtp.stop()  # now it is down altogether: connections are refused
    world.clock.advance(minutes=5)
    assert world.portal.maintain()["retrying"] == 3
    world.smtp.inbox.fail_next = 0
    world.smtp.start()
    world.clock.advance(seconds=30)  # not yet due: the backoff has grown
    assert world.portal.maintain()["sent"] == 0
    world.clock.advance(minutes=5)
    assert world.portal.maintain()["sent"] == 3
    recovered = world.clock.now
    world.clock.advance(hours=2)
    assert world.portal.maintain() == {"expired": 0, "reminded": 0, "sent": 0, "retrying": 0, "failed": 0, "interrupted": 0}
    assert sorted(m["To"] for m in world.inbox.messages) == ["cathy@example.test", "jack.ryan@example.test",
                                                               "pat@acme.test"]
    assert len({m["Message-ID"] for m in world.inbox.messages}) == 3
    assert row(world, "jack.ryan@example.test")["sent"] == recovered.isoformat()


def test_a_revoked_invitation_is_never_sent_and_its_link_is_refused(world: World) -> None:
    world.smtp.inbox.fail_next = 1
    world.portal.invite(TENANT, "JR")
    access = row(world, "jack.ryan@example.test")["access"]
    world.portal.revoke(TENANT, access, actor="sam")
    world.clock.advance(hours=1)
    assert world.portal.maintain()["sent"] == 0 and world.inbox.messages == []
    assert row(world, "jack.ryan@example.test")["status"] == "revoked"
    refused("revoked", world.portal.revoke, TENANT, access)
    refused("revoked", world.portal.resend, TENANT, access)
    world.portal.invite(TENANT, "JR")  # invited again: a new access and a new link
    world.portal.accept(world.inbox.token(world.inbox.messages[-1]), PASSWORD)


def test_nobody_joins_without_an_invitation(world: World) -> None:
    assert "invitation only" in refused("unknown", world.portal.accept, "made-up-token", PASSWORD)
    refused("login", world.portal.login, "jack.ryan@example.test", PASSWORD)
    assert world.portal.list(TENANT) == []


def test_merging_duplicates_moves_portal_access_to_the_survivor(world: World) -> None:
    from syncworker.services.duplicates import resolve
    from syncworker.store.models import DuplicateCluster, DuplicateMember
    from tests.factories import make_client

    dup = make_client(world.db, world.ids["tenant"], "JR2", "Jack Ryan", kind="individual",
                      email="jack.r@example.test")
    world.portal.invite(TENANT, "JR2")  # invited to the duplicate's portal, as the duplicate
    world.portal.accept(world.inbox.token(world.inbox.messages[-1]), PASSWORD)
    with world.db.session() as s:
        cluster = DuplicateCluster(tenant_id=world.ids["tenant"], scope="local", fingerprint="f" * 64,
                                   record_type="person", cluster_type="duplicate")
        cluster.members = [DuplicateMember(member_ref=f"client:{world.ids['JR']}", client_id=world.ids["JR"]),
                           DuplicateMember(member_ref=f"client:{dup}", client_id=dup)]
        s.add(cluster)
        s.flush()
        cluster_id = cluster.id
    resolve(world.db, TENANT, cluster_id, "merged", "sam", survivor="JR")
    listed = row(world, "jack.r@example.test")
    assert (listed["person"], listed["status"]) == ("client:JR", "accepted")
    assert listed["records"] == [{"client": "JR", "name": "Jack Ryan"}]


def merge(world: World, survivor: str, absorbed_id: int) -> None:
    from syncworker.services.duplicates import resolve
    from syncworker.store.models import DuplicateCluster, DuplicateMember

    with world.db.session() as s:
        cluster = DuplicateCluster(tenant_id=world.ids["tenant"], scope="local", fingerprint="e" * 64,
                                   record_type="person", cluster_type="duplicate")
        cluster.members = [DuplicateMember(member_ref=f"client:{world.ids[survivor]}", client_id=world.ids[survivor]),
                           DuplicateMember(member_ref=f"client:{absorbed_id}", client_id=absorbed_id)]
        s.add(cluster)
        s.flush()
        cluster_id = cluster.id
    resolve(world.db, TENANT, cluster_id, "merged", "sam", survivor=survivor)


def test_a_spouse_keeps_the_merged_portal_through_the_connection_that_survives(world: World) -> None:
    from tests.factories import make_client

    # Jack was entered twice; Cathy is connected to both records and was invited to the duplicate's portal.
    dup = make_client(world.db, world.ids["tenant"], "JR2", "Jack Ryan", kind="individual", email="jack.r@example.test")
    conn_svc.add_connection(world.db, TENANT, "JR2", "CR", "spouse")
    world.portal.invite(TENANT, "JR2", ["CR"])
    world.portal.accept(world.inbox.token(world.inbox.to("cathy@example.test")[-1]), PASSWORD)
    merge(world, "JR", dup)  # the duplicate's spouse connection goes: JR already states the same fact
    listed = row(world, "cathy@example.test")
    assert (listed["status"], listed["records"]) == ("accepted", [{"client": "JR", "name": "Jack Ryan"}])
    assert world.portal.login("cathy@example.test", PASSWORD)["records"] == [{"client": "JR", "name": "Jack Ryan"}]
    # her access now rests on the connection that stayed: removing that one ends it
    conn_svc.remove_connection(world.db, TENANT, world.ids["spouse"], actor="sam")
    assert row(world, "cathy@example.test")["records"] == []


def test_the_scheduler_runs_the_portal_upkeep(world: World) -> None:
    from syncworker.jobs.scheduler import JobScheduler
    from syncworker.services.context import ServiceContext
    from syncworker.services.portal import upkeep
    from syncworker.store.types import utcnow

    ctx = ServiceContext(world.db, world.portal.settings)
    scheduler = JobScheduler(ctx, executor=None, schedules={}).build()  # type: ignore[arg-type]
    job = scheduler.get_job("portal_upkeep")
    assert job is not None and job.trigger.interval.total_seconds() == 5 * 60
    world.smtp.inbox.fail_next = 1
    world.portal.invite(TENANT, "JR")  # refused once by the server: waits in the outbox
    with world.db.session() as s:  # upkeep runs on the real clock: make the retry due by that clock
        s.query(MailOutbox).update({MailOutbox.next_attempt_at: utcnow() - timedelta(seconds=1)})
    assert upkeep(ctx) == {"expired": 0, "reminded": 0, "sent": 1, "retrying": 0, "failed": 0, "interrupted": 0}
    assert len(world.inbox.to("jack.ryan@example.test")) == 1


def test_admins_resend_every_expired_invitation_in_bulk(world: World) -> None:
    world.portal.invite(TENANT, "JR", ["JR", "CR"])
    world.clock.advance(days=10)
    world.portal.invite(TENANT, "ACME")  # younger: not expired when the others are
    world.clock.advance(days=21)
    with pytest.raises(PortalRefused) as info:
        world.portal.resend_expired(TENANT, actor="sam")
    assert info.value.code == "no_admins"
    world.portal.set_admin(TENANT, "sam")
    out = world.portal.resend_expired(TENANT, actor="sam")
    assert sorted(r["email"] for r in out["resent"]) == ["cathy@example.test", "jack.ryan@example.test"]
    assert out["mail"]["sent"] == 2 and len(world.inbox.messages) == 5
    assert {r["status"] for r in world.portal.list(TENANT)} == {"invited"}
    assert world.portal.resend_expired(TENANT, actor="sam")["resent"] == []


def test_a_user_of_one_portal_joins_another_with_the_same_password(world: World) -> None:
    world.portal.invite(TENANT, "JR")
    world.portal.accept(world.inbox.token(world.inbox.messages[-1]), PASSWORD)
    world.portal.invite(TENANT, "CR", ["JR"])  # Jack, connected to Cathy, invited to her portal too
    token = world.inbox.token(world.inbox.messages[-1])
    assert world.portal.inspect_token(token)["new_user"] is False
    refused("wrong_password", world.portal.accept, token, "not his password")
    assert world.portal.login("jack.ryan@example.test", PASSWORD)["records"] == [{"client": "JR", "name": "Jack Ryan"}]
    assert [r["client"] for r in world.portal.accept(token, PASSWORD)["records"]] == ["CR", "JR"]


def test_a_server_that_accepts_the_message_and_then_falters_gets_it_once(world: World) -> None:
    # The server takes the invitation (250 to DATA) and then answers QUIT with an error: the message has left,
    # so it is sent, not retried (a retry would give Jack a second email with the same link).
    world.smtp.inbox.quit_reply = "421 4.3.0 shutting down"
    out = world.portal.invite(TENANT, "JR")
    assert out["mail"] == {"sent": 1, "retrying": 0, "failed": 0, "interrupted": 0} and out["invited"][0]["mail"] == "sent"
    world.smtp.inbox.quit_reply = "221 Bye"
    world.clock.advance(hours=2)
    assert world.portal.maintain()["sent"] == 0
    assert len(world.inbox.to("jack.ryan@example.test")) == 1


def test_an_invitation_whose_mail_never_left_expires_and_is_not_sent_afterwards(world: World) -> None:
    world.smtp.stop()  # down from the start: the invitation waits in the outbox
    assert world.portal.invite(TENANT, "JR")["mail"]["retrying"] == 1
    world.clock.advance(days=30)
    assert world.portal.maintain()["expired"] == 1
    with world.db.session() as s:  # the job wrote it down: the invitation ended, its email was dropped
        assert s.scalar(select(PortalInvitation.status)) == "expired"
        assert s.scalar(select(MailOutbox.status)) == "cancelled"
    world.smtp.start()
    world.clock.advance(hours=2)
    assert world.portal.maintain()["sent"] == 0 and world.inbox.messages == []  # no dead link in anyone's inbox
    listed = row(world, "jack.ryan@example.test")
    assert (listed["status"], listed["sent"]) == ("expired", None)


def test_a_link_clicked_several_times_at_once_is_accepted_once(world: World) -> None:
    world.portal.invite(TENANT, "JR")
    token = world.inbox.token(world.inbox.messages[0])
    passwords = [f"{PASSWORD} {i}" for i in range(4)]
    start = threading.Barrier(len(passwords))
    won: list[str] = []
    lost: list[str] = []

    def click(password: str) -> None:
        start.wait()
        try:
            world.portal.accept(token, password)
            won.append(password)
        except PortalRefused as exc:
            lost.append(exc.code)

    threads = [threading.Thread(target=click, args=(p,)) for p in passwords]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1 and lost == ["used"] * (len(passwords) - 1)
    with world.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "accept")) == 1
    # the password is the winner's: the others' were rolled back with their refusal
    assert world.portal.login("jack.ryan@example.test", won[0])["records"][0]["client"] == "JR"
    for other in set(passwords) - set(won):
        refused("login", world.portal.login, "jack.ryan@example.test", other)


def test_how_long_an_invitation_lasts_comes_from_the_settings(db, smtp, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "portal.yaml").write_text("invitation_days: 14\nremind_days_before: 0\n", encoding="utf-8")
    settings = Settings.load(env={"SYNCWORKER_DATABASE_URL": db.connect_url, "SYNCWORKER_SMTP_URL": smtp.url},
                             config_dir=tmp_path)
    portal = PortalService(db, settings, clock=clock)
    seed(db)
    out = portal.invite(TENANT, "JR")
    assert out["invited"][0]["expires"] == (clock.now + timedelta(days=14)).isoformat()
    token = smtp.inbox.token(smtp.inbox.messages[0])
    clock.advance(days=14, seconds=-1)
    portal.inspect_token(token)
    clock.advance(seconds=1)
    refused("expired", portal.accept, token, PASSWORD)
    assert portal.maintain() == {"expired": 1, "reminded": 0, "sent": 0, "retrying": 0, "failed": 0, "interrupted": 0}
