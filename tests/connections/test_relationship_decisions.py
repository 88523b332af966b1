"""The relationship and group sync's decisions (domain/relationship_sync.py), on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncworker.domain.profile import ClientGroup
from syncworker.domain.relationship_sync import (
    Action,
    Rename,
    cached_relationships,
    changed_since_base,
    group_list_stale,
    group_rename,
    groups_from_records,
    key_of,
    member_changes,
    membership_moved,
    plan_owner_reads,
    reconcile_action,
    relationships_digest,
    settled_base,
)

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
REL = {"id": "r1", "client_id": "A", "related_client_id": "B", "type": "director"}


@pytest.mark.parametrize(("local", "remote", "based", "action"), [
    (True, True, True, Action.AGREE),
    (True, True, False, Action.AGREE),
    (True, False, True, Action.DELETE_LOCAL),
    (True, False, False, Action.PUSH),
    (False, True, True, Action.DELETE_REMOTE),
    (False, True, False, Action.PULL),
    (False, False, True, Action.FORGET),
])
def test_the_three_way_comparison_says_which_side_changed(local: bool, remote: bool, based: bool,
                                                          action: Action) -> None:
    assert reconcile_action(local=local, remote=remote, based=based) is action


def test_a_remote_copy_counts_as_changed_only_against_a_recorded_hash() -> None:
    assert changed_since_base({"hash": "old"}, "new")
    assert not changed_since_base({"hash": "same"}, "same")
    assert not changed_since_base({"connection_id": 1}, "new")  # no hash agreed: nothing to compare
    assert not changed_since_base(None, "new")


def test_key_of_reads_the_agreed_fact_as_ints_and_a_type() -> None:
    assert key_of({"key": ["3", 7, "spouse"]}) == (3, 7, "spouse")
    assert key_of({"key": []}) is None
    assert key_of(None) is None


def test_settling_a_conflict_locally_agrees_to_the_remote_copy_so_it_is_deleted_there() -> None:
    base = {"connection_id": 4, "key": [1, 2, "director"], "hash": "old"}
    assert settled_base("local", base, "new") == {**base, "hash": "new"}
    assert settled_base("remote", base, "new") is None  # pulled again as new


def test_only_detailed_records_carry_relationships() -> None:
    assert cached_relationships({"detailed": True, "relationships": [REL]}) == [REL]
    assert cached_relationships({"detailed": False, "relationships": [REL]}) is None
    assert cached_relationships({"detailed": True}) is None
    assert cached_relationships(None) is None


def test_owner_reads_take_changed_detailed_records_and_budget_the_summaries() -> None:
    rels = [REL]
    digest = relationships_digest(rels)
    owners = ["A", "B", "C", "D", "E"]
    link_ids = {o: i for i, o in enumerate(owners, 1)}
    markers = {"A": {"link_id": 1, "source": digest}, "B": {"link_id": 2, "source": "stale"},
               "D": {"link_id": 4}}
    snapshots = {"A": {"detailed": True, "relationships": rels}, "B": {"detailed": True, "relationships": rels},
                 "C": {"detailed": False}, "D": {"detailed": False}, "E": {}}
    plan = plan_owner_reads(owners, link_ids, markers, snapshots, full=False, max_fetches=1)
    assert plan.from_cache == [("B", rels, digest)]  # A is unchanged since it was read
    assert plan.fetch == ["C"] and plan.deferred == 1  # D was read under its link; E waits for the budget

    everything = plan_owner_reads(owners, link_ids, markers, snapshots, full=True, max_fetches=1)
    assert [o for o, _, _ in everything.from_cache] == ["A", "B"]
    assert everything.fetch == ["C", "D", "E"] and everything.deferred == 0


def test_a_new_link_reads_the_owner_again() -> None:
    plan = plan_owner_reads(["A"], {"A": 9}, {"A": {"link_id": 1}}, {"A": {}}, full=False, max_fetches=10)
    assert plan.fetch == ["A"]


def test_member_changes_go_to_the_side_that_lacks_them() -> None:
    linked = {1, 2, 3, 4, 5}
    change = member_changes(mine={1, 2, 4}, theirs={1, 3, 5}, base_members=[1, 2, 3], linked=linked)
    assert change.push_add == [4]  # added here
    assert change.push_remove == [3]  # removed here since the base
    assert change.pull_add == [5]  # added there
    assert change.pull_remove == [2]  # removed there since the base


def test_a_member_removed_on_both_sides_is_written_to_neither() -> None:
    change = member_changes(mine={1}, theirs={1}, base_members=[1, 2], linked={1, 2})
    assert change == member_changes(mine={1}, theirs={1}, base_members=[1], linked={1, 2})
    assert not (change.push_add or change.push_remove or change.pull_add or change.pull_remove)


def test_an_unlinked_former_member_is_unknown_not_removed() -> None:
    change = member_changes(mine={1}, theirs={1}, base_members=[1, 9], linked={1})
    assert change == member_changes(mine={1}, theirs={1}, base_members=[1], linked={1})
    assert not (change.push_add or change.push_remove or change.pull_add or change.pull_remove)


def test_a_rename_is_pulled_and_a_local_one_reported() -> None:
    assert group_rename(remote="New", local="Old", base="Old") is Rename.PULL
    assert group_rename(remote="Old", local="New", base="Old") is Rename.PUSH
    assert group_rename(remote="X", local="Y", base="Old") is Rename.NONE  # both renamed: leave it
    assert group_rename(remote="Old", local="Old", base="Old") is Rename.NONE


def test_groups_and_members_come_from_the_detailed_records() -> None:
    records = [("B", {"groups": [{"id": "g1", "name": "Smith family"}]}),
               ("A", {"groups": [{"id": "g1", "name": "Smith family"}, {"id": "g2"}]}), ("C", {})]
    derived = groups_from_records(records)
    assert derived == {"g1": ClientGroup(id="g1", name="Smith family", member_ids=("A", "B")),
                       "g2": ClientGroup(id="g2", name="", member_ids=("A",))}


def test_the_group_list_is_read_when_the_records_show_a_move() -> None:
    derived = {"g1": ClientGroup(id="g1", name="G", member_ids=("B", "A"))}
    assert not membership_moved(derived, {"g1": ("A", "B")})
    assert membership_moved(derived, {"g1": ("A",)})
    assert membership_moved(derived, {"g1": ("A", "B"), "g2": ("C",)})  # g2 lost its members
    assert not membership_moved(derived, {"g1": ("A", "B"), "g2": ()})  # an empty group shows nowhere


def test_the_group_list_goes_stale_after_a_day() -> None:
    assert group_list_stale(None, NOW, full=False)
    assert not group_list_stale(NOW - timedelta(hours=23), NOW, full=False)
    assert group_list_stale(NOW - timedelta(hours=25), NOW, full=False)
    assert group_list_stale(NOW, NOW, full=True)
