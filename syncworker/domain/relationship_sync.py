"""The decisions of the relationship and group sync, on plain data (no session, no adapter).

The sync (`services/relationship_sync.py`) compares three states of a set: what we hold locally, what the
system holds (its cached copy) and the base both last agreed on. These functions say what that comparison
means; the services read the states, write the outcome and call the system.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from syncworker.domain.profile import ClientGroup
from syncworker.domain.serialize import content_hash

Key = tuple[int, int, str]  # a connection fact: (client id, related client id, type), see `fact_key`
GROUP_REFRESH = timedelta(hours=24)  # re-read the group list at least this often (empty groups, Taxable)


class Action(Enum):
    """What to do with one connection fact after the three-way comparison."""

    AGREE = "agree"  # on both sides: (re)record the base
    DELETE_LOCAL = "delete_local"  # local, gone from the system since the base: delete it here
    PUSH = "push"  # local only, never agreed: create it in the system
    DELETE_REMOTE = "delete_remote"  # in the system, gone here since the base: delete it there
    PULL = "pull"  # in the system only, never agreed: create it here
    FORGET = "forget"  # gone from both sides: drop the base


def reconcile_action(*, local: bool, remote: bool, based: bool) -> Action:
    """Who changed what, from which sides hold the fact now and whether both once agreed on it (the base)."""
    if local and remote:
        return Action.AGREE
    if local:
        return Action.DELETE_LOCAL if based else Action.PUSH
    if remote:
        return Action.DELETE_REMOTE if based else Action.PULL
    return Action.FORGET


def changed_since_base(base: Mapping[str, Any] | None, payload_hash: str) -> bool:
    """The system's copy differs from the one agreed on (a base without a hash: nothing to compare)."""
    return (base or {}).get("hash") not in (None, payload_hash)


def key_of(base: Mapping[str, Any] | None) -> Key | None:
    """The connection fact a base was agreed on, if any."""
    if not base or not base.get("key"):
        return None
    a, b, t = base["key"]
    return int(a), int(b), str(t)


def settled_base(take: str, base: Mapping[str, Any] | None, payload_hash: str) -> dict[str, Any] | None:
    """The base after an operator settled "deleted here, changed there": "local" (the deletion wins) agrees
    to the system's current copy, so the next comparison deletes it there; "remote" forgets the base, so the
    system's copy is pulled as new."""
    if take == "local":
        return {**(base or {}), "hash": payload_hash}
    return None


def cached_relationships(extra: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The relationships a detailed record carries; None when the record is a summary (not read yet)."""
    if not extra or not extra.get("detailed") or not isinstance(extra.get("relationships"), list):
        return None
    return list(extra["relationships"])


def relationships_digest(relationships: Iterable[Mapping[str, Any]]) -> str:
    return content_hash({"relationships": list(relationships)})


@dataclass(frozen=True)
class OwnerRead:
    """How one linked client's relationships reach the cache this run."""

    from_cache: list[tuple[str, list[dict[str, Any]], str]]  # (owner, relationships, digest): no call
    fetch: list[str]  # owners to read one call each, this run
    deferred: int  # owners known only as summaries left for later runs (the budget)


def plan_owner_reads(owners: Iterable[str], link_ids: Mapping[str, int], markers: Mapping[str, Mapping[str, Any]],
                     snapshots: Mapping[str, Mapping[str, Any]], *, full: bool, max_fetches: int) -> OwnerRead:
    """Whose relationships to (re)store: a detailed record in the cache is taken when it changed since it
    was last read, or the link is new; a summary costs one call, read when the link is new (or `full`), at
    most `max_fetches` a run (all when `full`) so a large practice spreads them over runs and days."""
    from_cache, pending = [], []
    for owner in sorted(owners):
        marker = markers.get(owner) or {}
        same_link = marker.get("link_id") == link_ids[owner]
        rels = cached_relationships(snapshots.get(owner))
        if rels is not None:
            digest = relationships_digest(rels)
            if full or not same_link or marker.get("source") != digest:
                from_cache.append((owner, rels, digest))
        elif full or not same_link:
            pending.append(owner)
    budget = len(pending) if full else max_fetches
    return OwnerRead(from_cache, pending[:budget], max(0, len(pending) - budget))


@dataclass(frozen=True)
class MemberChanges:
    push_add: list[int]
    push_remove: list[int]
    pull_add: list[int]
    pull_remove: list[int]


def member_changes(mine: set[int], theirs: set[int], base_members: Iterable[int], linked: set[int]) -> MemberChanges:
    """The three-way comparison of a group's members (local client ids): `mine` here, `theirs` in the system
    (linked ones), the base agreed last. Only linked clients count: an unlinked former member is unknown,
    not removed. A member added on one side is added on the other, one removed since the base is removed."""
    was = set(base_members) & linked
    return MemberChanges(
        push_add=sorted(((mine & linked) - was) - theirs),
        push_remove=sorted((was - mine) & theirs),
        pull_add=sorted((theirs - was) - mine),
        pull_remove=sorted((was - theirs) & mine),
    )


class Rename(Enum):
    NONE = "none"
    PULL = "pull"  # renamed in the system: rename here
    PUSH = "push"  # renamed here: the system has no API for it, so the operator is told


def group_rename(*, remote: str, local: str, base: str) -> Rename:
    if remote != base and local == base:
        return Rename.PULL
    if local != base and remote == base:
        return Rename.PUSH
    return Rename.NONE


def groups_from_records(records: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, ClientGroup]:
    """The groups and members that detailed client records show (`extra["groups"]`), by group id."""
    derived: dict[str, ClientGroup] = {}
    for remote_id, extra in sorted(records, key=lambda r: r[0]):
        for g in extra.get("groups") or []:
            known = derived.setdefault(g["id"], ClientGroup(id=g["id"], name=g.get("name") or ""))
            known.member_ids = (*known.member_ids, remote_id)
    return derived


def membership_moved(derived: Mapping[str, ClientGroup], stored: Mapping[str, tuple[str, ...]]) -> bool:
    """The records show members other than the cached groups have: a group may have been created or
    deleted, so the group list is worth its call. A stored group nobody shows any more moved only if it
    had members."""
    return any(tuple(sorted(g.member_ids)) != stored.get(gid) for gid, g in derived.items()) or any(
        members and gid not in derived for gid, members in stored.items())


def group_list_stale(read_at: datetime | None, now: datetime, *, full: bool) -> bool:
    return full or read_at is None or now - read_at > GROUP_REFRESH


def group_to_dict(g: ClientGroup) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "member_ids": sorted(g.member_ids), "taxable": g.taxable}
