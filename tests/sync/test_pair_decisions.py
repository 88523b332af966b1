"""The profile sync's decisions around the per-field merge (domain/pair_sync.py), on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncworker.domain.pair_sync import (
    PairPlan,
    local_newer,
    merge_required,
    unknown_fields,
    with_whole_lines,
)
from syncworker.domain.profile import ClientKind, ClientProfile
from syncworker.domain.sync import Action, Decision

WRITABLE = frozenset({"address.line1", "address.line2", "postal_address.line1"})


def plan(*decisions: Decision, first: bool = False) -> PairPlan:
    return PairPlan(link_id=1, client_version=3, local_id="L1", remote_id="R1", name="Client", first=first,
                    decisions=list(decisions), local_before={}, remote_before={}, remote_hash="h")


def d(field: str, action: Action, value: object = "v") -> Decision:
    return Decision(field=field, action=action, value=value, reason="test")


def test_a_pair_merges_again_only_when_a_side_moved() -> None:
    same = {"merged_hash": "h", "remote_hash": "h", "last_pushed_version": 4, "version": 4}
    assert not merge_required(**same)
    assert merge_required(**{**same, "version": 5})  # edited here
    assert merge_required(**{**same, "remote_hash": "h2"})  # edited there
    assert merge_required(**{**same, "merged_hash": None})  # never merged
    assert merge_required(**{**same, "remote_hash": None})  # not pulled
    assert merge_required(**{**same, "last_pushed_version": None})  # never written (or reset by an operator)


@pytest.mark.parametrize(("decisions", "first", "outcome"), [
    ((d("email", Action.CONFLICT), d("phone", Action.PUSH)), True, "conflicts"),
    ((d("email", Action.AGREE),), True, "created"),
    ((d("email", Action.PULL),), False, "updated"),
    ((d("email", Action.PUSH),), False, "updated"),
    ((d("email", Action.AGREE), d("phone", Action.NOOP)), False, "unchanged"),
])
def test_the_outcome_of_a_pair(decisions: tuple[Decision, ...], first: bool, outcome: str) -> None:
    assert plan(*decisions, first=first).outcome == outcome


def test_bases_move_to_what_both_sides_now_hold_and_remember_its_side() -> None:
    p = plan(d("email", Action.AGREE, "a@x"), d("phone", Action.PUSH, "1"), d("name", Action.PULL, "N"),
             d("website", Action.CONFLICT), d("notes", Action.NOOP))
    assert p.base_moves() == [("email", "a@x", "both"), ("phone", "1", "local"), ("name", "N", "remote")]
    assert p.settled() == {"email", "phone", "name", "notes"}  # an open conflict on these is closed
    assert [c.field for c in p.conflicts] == ["website"]


def test_one_address_line_is_pushed_with_its_partner_as_cached() -> None:
    remote = {"address.line1": "1 High St", "address.line2": "Unit 2", "postal_address.line2": "PO Box 1"}
    assert with_whole_lines({"address.line1": "3 Low St"}, remote, WRITABLE) == {
        "address.line1": "3 Low St", "address.line2": "Unit 2"}
    both = {"address.line1": "a", "address.line2": "b"}
    assert with_whole_lines(both, remote, WRITABLE) == both
    # postal line 2 is not writable: line 1 goes alone
    assert with_whole_lines({"postal_address.line1": "x"}, remote, WRITABLE) == {"postal_address.line1": "x"}


def test_a_summary_record_does_not_know_its_business_number() -> None:
    assert unknown_fields(ClientProfile(id="R1", kind=ClientKind.INDIVIDUAL, name="A", extra={"detailed": False})) == {"business_number"}
    assert unknown_fields(ClientProfile(id="R1", kind=ClientKind.INDIVIDUAL, name="A", extra={"detailed": True})) == frozenset()
    assert unknown_fields(ClientProfile(id="R1", kind=ClientKind.INDIVIDUAL, name="A")) == frozenset()


def test_which_side_changed_last_treats_naive_times_as_utc() -> None:
    t = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
    assert local_newer(t.replace(tzinfo=None) + timedelta(minutes=1), t) is True
    assert local_newer(t, t + timedelta(seconds=1)) is False
    assert local_newer(None, t) is None
