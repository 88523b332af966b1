"""Failed portal logins lock an email address, and a client address, for a while: the rules on an injected
clock (any date), the rows in the database (SQLite and PostgreSQL: a restart forgets nothing), the audit, and
the operator's `portal lockouts` / `portal unlock`. Over HTTP: tests/portal/test_portal_lockout_http.py."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from syncworker.cli.main import cli
from syncworker.domain.portal import LoginLimits, LoginLocked, PortalRefused
from syncworker.services.portal_logins import account_key, login_key
from syncworker.store.crypto import SecretKeyError, generate_key
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, PortalLoginAttempt
from syncworker.store.types import utcnow
from tests.portal.conftest import SECRET_KEY, TENANT, World, make_portal

PASSWORD = "a long enough secret"
JACK = "jack.ryan@example.test"
NOBODY = "nobody-here@example.test"  # no portal account anywhere
HOME, ELSEWHERE = "198.51.100.7", "203.0.113.9"


def with_account(world: World) -> None:
    world.portal.invite(TENANT, "JR")
    world.portal.accept(world.inbox.token(world.inbox.to(JACK)[-1]), PASSWORD)


def attempt(world: World, email: str, password: str = "wrong password!", address: str | None = HOME) -> str:
    """'ok', 'wrong' or the lockout's message."""
    try:
        world.portal.login(email, password, address)
    except LoginLocked as exc:
        return str(exc)
    except PortalRefused as exc:
        assert exc.code == "login"
        return "wrong"
    return "ok"


def audit_actions(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(e.actor, e.action) for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action.like("%lock%") | AuditEntry.action.like("login%")).order_by(AuditEntry.id))]


def test_five_failures_pause_an_email_from_that_address_for_anyone_with_an_account_or_without(world: World) -> None:
    with_account(world)
    answers = {email: [attempt(world, email) for _ in range(5)] for email in (JACK, NOBODY)}
    paused = "Too many failed attempts to log in. For your security, logging in is paused: try again in 15 minutes."
    assert answers[JACK] == answers[NOBODY] == ["wrong"] * 4 + [paused]  # nothing tells the two apart
    with pytest.raises(LoginLocked) as caught:
        world.portal.login(JACK, PASSWORD, HOME)  # the right password too: it is not even looked at
    assert caught.value.retry_after == 15 * 60
    world.clock.advance(minutes=14)
    assert "try again in 1 minute." in attempt(world, NOBODY)
    assert attempt(world, JACK, PASSWORD, ELSEWHERE) == "ok"  # the lockout was of Jack from HOME only
    world.clock.advance(minutes=1)
    assert attempt(world, JACK, PASSWORD) == "ok"
    # A lockout uses up its failures and a success starts the count again: four more are four, not nine.
    assert [attempt(world, JACK) for _ in range(4)] == ["wrong"] * 4
    assert attempt(world, JACK, PASSWORD) == "ok"
    assert [attempt(world, JACK) for _ in range(4)] == ["wrong"] * 4


def test_failures_count_within_the_window_only(world: World) -> None:
    with_account(world)
    assert [attempt(world, JACK) for _ in range(4)] == ["wrong"] * 4
    world.clock.advance(minutes=15, seconds=1)
    assert [attempt(world, JACK) for _ in range(4)] == ["wrong"] * 4  # the first four have left the window
    assert attempt(world, JACK).startswith("Too many")


def test_a_lockout_survives_a_restart_and_the_limits_come_from_the_settings(world: World) -> None:
    with_account(world)
    strict = make_portal(world.db, world.smtp.url, world.clock, login=LoginLimits(max_failures=2, lockout_minutes=60))
    assert [attempt(World(world.db, strict, world.smtp, world.clock, world.ids), JACK) for _ in range(2)][-1] \
        .endswith("try again in 60 minutes.")
    restarted = make_portal(world.db, world.smtp.url, world.clock)  # another process, nothing in memory
    with pytest.raises(LoginLocked):
        restarted.login(JACK, PASSWORD, HOME)


STRANGERS = [f"192.0.2.{i}" for i in range(1, 60)]


def test_a_stranger_who_knows_a_clients_email_cannot_lock_them_out_where_they_logged_in_before(
        world: World) -> None:
    with_account(world)
    assert attempt(world, JACK, PASSWORD, HOME) == "ok"  # Jack has logged in from home
    # 20 guesses for each email from five addresses, four each: no address reaches its own 5.
    for email in (JACK, NOBODY):
        answers = [attempt(world, email, address=STRANGERS[i // 4]) for i in range(20)]
        assert answers[:19] == ["wrong"] * 19 and answers[19].startswith("Too many")
    assert attempt(world, JACK, PASSWORD, STRANGERS[40]).startswith("Too many")  # a new place: paused
    assert attempt(world, NOBODY, address=HOME).startswith("Too many")  # no account, so no place it is known
    assert attempt(world, JACK, PASSWORD, HOME) == "ok"  # at home Jack still gets in
    assert [attempt(world, JACK, address=HOME) for _ in range(5)][-1].startswith("Too many")  # from home, 5 still
    world.clock.advance(minutes=15)
    assert attempt(world, JACK, PASSWORD, STRANGERS[40]) == "ok"


def test_one_client_address_is_bounded_across_emails_but_not_for_those_who_logged_in_from_it(
        world: World) -> None:
    with_account(world)
    portal = make_portal(world.db, world.smtp.url, world.clock,
                         login=LoginLimits(max_failures=5, max_failures_per_address=6))
    office = World(world.db, portal, world.smtp, world.clock, world.ids)
    assert attempt(office, JACK, PASSWORD, HOME) == "ok"  # Jack works at HOME, an office behind one address
    answers = [attempt(office, f"person{i}@example.test") for i in range(6)]  # one guess each: no email reaches 5
    assert answers[:5] == ["wrong"] * 5 and answers[5].startswith("Too many")
    assert attempt(office, "person9@example.test").startswith("Too many")  # the address is paused for them
    assert attempt(office, JACK, PASSWORD, HOME) == "ok"  # not for Jack, who logged in from it before
    assert attempt(office, "person9@example.test", address=ELSEWHERE) == "wrong"  # nor anywhere else
    assert attempt(office, JACK, PASSWORD, None) == "ok"  # an address unknown is never one that is paused
    assert LoginLimits().max_failures_per_address >= 100  # an office or a mobile network shares an address


@pytest.mark.parametrize(("other", "counted_as"), [
    ("2001:db8:7:8:aaaa:bbbb:cccc:dddd", "2001:db8:7:8::/64"),  # one subscriber's /64 is one client
    ("::ffff:198.51.100.7", "198.51.100.7"),  # IPv4-mapped is the IPv4 address
])
def test_an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_as_itself(world: World, other: str, counted_as: str) -> None:
    first = "2001:db8:7:8::1" if ":" in counted_as else HOME
    with_account(world)
    portal = make_portal(world.db, world.smtp.url, world.clock,
                         login=LoginLimits(max_failures=5, max_failures_per_address=6))
    spray = World(world.db, portal, world.smtp, world.clock, world.ids)
    assert [attempt(spray, JACK, address=first) for _ in range(4)] == ["wrong"] * 4
    assert attempt(spray, JACK, address=other).startswith("Too many")  # the fifth of the same client
    assert [attempt(spray, f"p{i}@example.test", address=other) for i in range(2)][-1].startswith("Too many")
    assert attempt(spray, "p9@example.test", address="2001:db8:7:9::1") == "wrong"  # the next /64 is another
    shown = {(r["kind"], r["address"]) for r in world.portal.lockouts()}
    assert shown == {("email from address", counted_as), ("address", counted_as)}
    world.portal.unlock(address=other, actor="Sam")  # unlocking by any address of the client
    assert ("address", counted_as) not in {(r["kind"], r["address"]) for r in world.portal.lockouts()}
    assert attempt(spray, "p9@example.test", address=first) == "wrong"


def test_typed_emails_are_kept_as_a_keyed_hash_and_no_key_means_no_portal_logins(world: World) -> None:
    with_account(world)
    attempt(world, NOBODY)
    with world.db.session() as s:
        stored = {r.account for r in s.scalars(select(PortalLoginAttempt))}
    key = login_key(SECRET_KEY)
    assert stored == {account_key(NOBODY, key)} and key != base64.urlsafe_b64decode(SECRET_KEY)
    assert hashlib.sha256(NOBODY.encode()).hexdigest() not in stored  # not the unkeyed hash anyone can make
    assert account_key(NOBODY, login_key(generate_key())) not in stored  # another key, another hash
    world.portal.settings = replace(world.portal.settings, secret_key=None)
    with pytest.raises(SecretKeyError, match="syncworker keygen"):
        world.portal.login(JACK, PASSWORD, HOME)
    assert world.portal.lockouts() == []  # the operator's side still answers (nothing can be locked)
    with pytest.raises(PortalRefused, match="SYNCWORKER_SECRET_KEY"):
        world.portal.unlock(email=JACK)


def test_the_invitation_link_is_under_the_same_limits_as_the_login(world: World) -> None:
    with_account(world)
    world.portal.invite(TENANT, "CR", ["JR"])  # Jack, who has a password, invited to Cathy's portal too
    token = world.inbox.token(world.inbox.messages[-1])

    def accept(password: str, address: str | None = HOME) -> str:
        try:
            world.portal.accept(token, password, address)
        except LoginLocked as exc:
            return str(exc)
        except PortalRefused as exc:
            return exc.code
        return "ok"

    assert [accept("not his password") for _ in range(5)] == ["wrong_password"] * 4 + [
        "Too many failed attempts to log in. For your security, logging in is paused: try again in 15 minutes."]
    assert accept(PASSWORD).startswith("Too many")  # the right password is refused while paused
    assert attempt(world, JACK, PASSWORD).startswith("Too many")  # the login and the link count together
    assert [a for _, a in audit_actions(world.db)] == ["login_failed"] * 5 + ["login_locked"]
    world.clock.advance(minutes=15)
    assert [accept("not his password") for _ in range(3)] == ["wrong_password"] * 3
    assert accept(PASSWORD) == "ok"
    with world.db.session() as s:  # accepting cleared Jack's failures from HOME, and only after the check
        assert s.scalar(select(func.count()).select_from(PortalLoginAttempt).where(
            PortalLoginAttempt.kind == "failure")) == 0


def test_logins_failures_and_lockouts_are_audited_without_the_password(world: World) -> None:
    with_account(world)
    assert attempt(world, JACK, PASSWORD) == "ok"
    for _ in range(5):
        attempt(world, JACK, "hunter2 guess")
        attempt(world, NOBODY, "hunter2 guess")
    assert audit_actions(world.db) == [("portal:1", "login")] + [("portal login", "login_failed")] * 5 + [
        ("portal login", "login_locked")]  # the email with no account has no tenant to audit in
    with world.db.session() as s:
        locked = s.scalar(select(AuditEntry).where(AuditEntry.action == "login_locked"))
        assert locked.tenant_id == world.ids["tenant"] and locked.entity == "portal_user"
        assert locked.after == {"client": HOME, "until": world.clock.advance(minutes=15).isoformat(), "lock": "pair"}
        everything = json.dumps([[e.actor, e.entity_id, e.before, e.after] for e in s.scalars(select(AuditEntry))])
        stored = json.dumps([[r.account, r.address] for r in s.scalars(select(PortalLoginAttempt))])
    assert "hunter2" not in everything and PASSWORD not in everything
    assert NOBODY not in stored and JACK not in stored  # hashed, not in the clear
    assert account_key(NOBODY, login_key(SECRET_KEY)) in stored


def test_operators_list_and_end_lockouts_and_the_upkeep_prunes(world: World) -> None:
    with_account(world)
    for _ in range(5):
        attempt(world, JACK, address=HOME)
        attempt(world, NOBODY, address=HOME)
    spray = make_portal(world.db, world.smtp.url, world.clock, login=LoginLimits(max_failures_per_address=3))
    for i in range(3):
        attempt(World(world.db, spray, world.smtp, world.clock, world.ids), f"p{i}@example.test", address=ELSEWHERE)
    shown = {(r["kind"], r["email"], r["address"], r["until"]) for r in world.portal.lockouts()}
    until = (world.clock.now + timedelta(minutes=15)).isoformat()
    assert shown == {("email from address", JACK, HOME, until), ("email from address", None, HOME, until),
                     ("address", None, ELSEWHERE, until)}

    assert world.portal.unlock(email="Jack.Ryan@Example.test", actor="Sam")["cleared"] == 6
    assert attempt(world, JACK, PASSWORD) == "ok"
    world.portal.unlock(address=ELSEWHERE, actor="Sam")
    assert attempt(world, "p9@example.test", address=ELSEWHERE) == "wrong"  # the count starts after the lockout
    assert ("Sam", "login_unlocked") in audit_actions(world.db)
    with world.db.session() as s:
        assert s.scalar(select(AuditEntry.after).where(AuditEntry.action == "address_unlocked")) == {"removed": 1}

    world.clock.advance(minutes=31)  # past the lockout and a window after it
    world.portal.maintain()
    with world.db.session() as s:  # only where Jack logged in from is kept, for known_address_days
        assert [(r.kind, r.address) for r in s.scalars(select(PortalLoginAttempt))] == [("known", HOME)]
    assert world.portal.lockouts() == []
    world.clock.advance(days=90)
    world.portal.maintain()
    with world.db.session() as s:
        assert s.scalar(select(func.count()).select_from(PortalLoginAttempt)) == 0


def test_portal_lockouts_and_unlock_on_the_command_line(world: World) -> None:
    world.clock.now = utcnow()  # the CLI's clock is the real one: the lockout must be in force now
    with_account(world)
    for _ in range(5):
        attempt(world, JACK, address=HOME)

    def run(*args: str) -> Any:
        env = {"SYNCWORKER_DATABASE_URL": world.db.connect_url, "SYNCWORKER_LOG_FORMAT": "text",
               "SYNCWORKER_SECRET_KEY": SECRET_KEY}
        return CliRunner().invoke(cli, ["portal", *args], env=env, catch_exceptions=False)

    listed = run("lockouts", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(r["kind"], r["email"], r["address"]) for r in json.loads(listed.output)] == [
        ("email from address", JACK, HOME)]
    assert JACK in run("lockouts").output
    assert run("unlock").exit_code == 2  # neither an email nor an address
    out = run("unlock", JACK, "--as", "Sam")
    assert out.exit_code == 0 and "logins allowed again" in out.output
    assert attempt(world, JACK, PASSWORD) == "ok"
    assert "nothing to show" in run("lockouts").output
