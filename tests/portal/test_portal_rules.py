"""The portal's rules on plain data: no database, no mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncworker.domain.portal import (
    Access,
    BulkCandidate,
    Person,
    PortalRefused,
    Primary,
    check_admin,
    check_invitee,
    check_password,
    check_primary,
    check_token,
    choose_invitees,
    count_invitees,
    default_invitees,
    due_for_reminder,
    expires_at,
    manager_status,
    may_see,
    normalise_email,
    plan_bulk,
    plan_resend,
    visible_client_ids,
)

NOW = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)
JACK = Primary(1, "Jack Ryan", "individual")
JACK_SELF = Person("client:JR", "Jack Ryan", "Jack@Example.test ", "self")
CATHY = Person("client:CR", "Cathy Ryan", "cathy@example.test", "connection", active=False, connection_id=7)
SALLY = Person("contact:SR", "Sally Ryan", None, "contact")


def refused(code: str, fn, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(PortalRefused) as info:
        fn(*args, **kwargs)
    assert info.value.code == code
    return str(info.value)


def test_an_invitee_needs_an_email_address_and_it_is_normalised() -> None:
    assert check_invitee(JACK_SELF) == "jack@example.test"
    assert "Sally Ryan" in refused("no_email", check_invitee, SALLY)
    assert "not valid" in refused("bad_email", check_invitee, Person("contact:X", "X", "x at y", "contact"))
    assert normalise_email("a@b") is None


def test_an_inactive_spouse_can_be_invited_and_is_counted_apart_from_billable_clients() -> None:
    people = [JACK_SELF, CATHY, SALLY]
    chosen = choose_invitees(JACK, people, ["JR", "CR"])
    assert [p.ref for p in chosen] == ["client:JR", "client:CR"]
    assert check_invitee(CATHY) == "cathy@example.test"  # inactive does not matter
    counts = count_invitees(chosen + [SALLY])
    assert (counts.billable, counts.non_billable_clients, counts.contacts) == (1, 1, 1)


def test_only_the_client_its_contacts_and_connected_clients_belong_to_its_portal() -> None:
    assert "cannot be invited" in refused("not_related", choose_invitees, JACK, [JACK_SELF], ["STRANGER"])
    both = [Person("client:X1", "A", "a@x.test", "connection"), Person("contact:X1", "B", "b@x.test", "contact")]
    refused("ambiguous", choose_invitees, JACK, both, ["X1"])
    assert choose_invitees(JACK, both, ["contact:X1"])[0].name == "B"


def test_default_invitee_is_the_person_or_a_business_primary_contact() -> None:
    assert default_invitees(JACK, [CATHY, JACK_SELF]) == [JACK_SELF]
    acme = Primary(2, "Acme Pty Ltd", "company")
    assert default_invitees(acme, [SALLY]) == [SALLY]
    refused("nobody", default_invitees, acme, [])


def test_merged_and_archived_clients_have_no_portal() -> None:
    refused("merged", check_primary, Primary(3, "Old", "individual", merged_into="NEW"))
    refused("archived", check_primary, Primary(3, "Old", "individual", status="archived"))
    check_primary(Primary(3, "Dormant", "individual", status="inactive"))


def test_an_invitation_lasts_thirty_days_then_shows_expired() -> None:
    expiry = expires_at(NOW)
    assert expiry == NOW + timedelta(days=30)
    assert manager_status("pending", expiry, NOW + timedelta(days=29, hours=23)) == "invited"
    assert manager_status("pending", expiry, expiry) == "expired"
    assert manager_status("accepted", expiry, expiry + timedelta(days=400)) == "accepted"
    assert manager_status("revoked", expiry, NOW) == "revoked"
    with pytest.raises(ValueError):
        expires_at(NOW, 0)


def test_tokens_are_single_use_and_refused_once_expired_replaced_or_withdrawn() -> None:
    expiry = expires_at(NOW)
    check_token("pending", expiry, NOW)
    assert "invitation only" in refused("unknown", check_token, None, None, NOW)
    assert "already been used" in refused("used", check_token, "accepted", expiry, NOW)
    assert "expired" in refused("expired", check_token, "pending", expiry, expiry + timedelta(seconds=1))
    refused("superseded", check_token, "superseded", expiry, NOW)
    refused("revoked", check_token, "revoked", expiry, NOW)


def test_a_resend_ends_the_old_invitation_and_starts_thirty_new_days() -> None:
    later = NOW + timedelta(days=31)
    plan = plan_resend("expired", later)
    assert plan.old_status == "superseded" and plan.new_expires_at == later + timedelta(days=30)
    assert plan_resend("pending", NOW, days=7).new_expires_at == NOW + timedelta(days=7)
    refused("accepted", plan_resend, "accepted", NOW)
    refused("revoked", plan_resend, "revoked", NOW)


def test_one_reminder_inside_the_window_before_expiry() -> None:
    expiry = expires_at(NOW)
    assert not due_for_reminder("pending", expiry, None, expiry - timedelta(days=4), 3)
    assert due_for_reminder("pending", expiry, None, expiry - timedelta(days=3), 3)
    assert not due_for_reminder("pending", expiry, expiry - timedelta(days=2), expiry - timedelta(days=1), 3)
    assert not due_for_reminder("pending", expiry, None, expiry, 3)  # expired: no reminder
    assert not due_for_reminder("accepted", expiry, None, expiry - timedelta(days=1), 3)
    assert not due_for_reminder("pending", expiry, None, expiry - timedelta(days=1), 0)  # switched off


def test_a_user_sees_the_records_of_open_portals_once_accepted() -> None:
    accesses = [Access(5), Access(1), Access(9, ended=True), Access(5), Access(3, accepted=False)]
    assert visible_client_ids(accesses) == [1, 5]
    assert may_see(accesses, 1) and not may_see(accesses, 3) and not may_see(accesses, 9)


def test_bulk_invitation_is_for_admins_and_goes_to_clients_without_portal_access() -> None:
    refused("no_admins", check_admin, "sam", [])
    refused("not_admin", check_admin, "sam", ["Alex"])
    check_admin("alex", [" Alex "])
    acme = Primary(2, "Acme Pty Ltd", "company")
    plan = plan_bulk([
        BulkCandidate(JACK, has_portal=True, invitee=JACK_SELF),
        BulkCandidate(Primary(4, "Kim", "individual"), has_portal=False, invitee=Person("client:K", "Kim", "k@x.test", "self")),
        BulkCandidate(acme, has_portal=False, invitee=None),
        BulkCandidate(Primary(6, "Lee", "individual"), has_portal=False, invitee=Person("client:L", "Lee", "", "self")),
    ])
    assert [c.primary.name for c in plan.invite] == ["Kim"]
    assert sorted(c.primary.name for c, _ in plan.skipped) == ["Acme Pty Ltd", "Lee"]


def test_passwords_have_a_minimum_length() -> None:
    refused("weak_password", check_password, "short")
    check_password("long enough pw")


def test_an_invitation_token_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # A token like "-b3x..." reads as an option to `syncworker portal accept TOKEN` (CI failed on one).
    import secrets

    from syncworker.services import portal

    drawn = iter(["-b3xdash", "-another", "Plain_token-with-dash"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    assert portal.new_token() == "Plain_token-with-dash"
    monkeypatch.undo()
    assert not any(portal.new_token().startswith("-") for _ in range(2000))
