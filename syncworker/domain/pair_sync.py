"""The decisions of a profile sync around the per-field merge (`domain/sync.py`), on plain data.

Which pair needs a merge at all, what one pair's merge plans (`PairPlan`), what its outcome is called, which
bases move where, which open conflicts the sides settled themselves, and what a remote write must carry.
The services (`services/sync_run.py`, `services/pair_merge.py`) read the state and apply these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncworker.domain.profile import ClientProfile
from syncworker.domain.sync import Action, Decision

# The side a base value came from, by the decision that moved it.
BASE_SOURCE = {Action.AGREE: "both", Action.PUSH: "local", Action.PULL: "remote"}
SETTLING = frozenset({Action.AGREE, Action.NOOP, Action.PUSH, Action.PULL})  # a field with no conflict left


def merge_required(*, merged_hash: str | None, remote_hash: str | None, last_pushed_version: int | None,
                   version: int | None) -> bool:
    """A pair is merged again only when something moved since its last merge: the local record's version
    is not the one last pushed, or the remote record's hash is not the one last merged (either unknown
    counts as moved). The one definition of "merge required": the sync's change capture and each pair's
    plan both ask it."""
    return (merged_hash is None or remote_hash is None or last_pushed_version is None
            or last_pushed_version != version or merged_hash != remote_hash)


@dataclass
class PairPlan:
    """What one pair needs, computed from one consistent read."""

    link_id: int
    client_version: int
    local_id: str
    remote_id: str
    name: str
    first: bool
    decisions: list[Decision]
    local_before: dict[str, Any]
    remote_before: dict[str, Any]
    remote_hash: str
    # Its pushes wait for a later run (the day's write allowance is spent, `domain/write_budget.py`): no base
    # moves for them and the pair stays due, so the next run decides them again from the records as they are.
    deferred: bool = False

    def fields(self, action: Action) -> dict[str, Any]:
        if action == Action.PUSH and self.deferred:
            return {}
        return {d.field: d.value for d in self.decisions if d.action == action}

    @property
    def pending_pushes(self) -> list[str]:
        """Fields this pair will push once a run's write allowance has room for it."""
        return sorted(d.field for d in self.decisions if d.action == Action.PUSH) if self.deferred else []

    @property
    def conflicts(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == Action.CONFLICT]

    @property
    def outcome(self) -> str:
        """How the pair is counted: conflicts if any field is, else created (its first merge), updated (a
        field moved either way) or unchanged."""
        if self.conflicts:
            return "conflicts"
        if self.first:
            return "created"
        return "updated" if self.fields(Action.PUSH) or self.fields(Action.PULL) else "unchanged"

    def base_moves(self) -> list[tuple[str, Any, str]]:
        """(field, value, source) for every field both sides hold equal after this merge."""
        return [(d.field, d.value, BASE_SOURCE[d.action]) for d in self.decisions if d.action in BASE_SOURCE
                and not (self.deferred and d.action == Action.PUSH)]

    def settled(self) -> set[str]:
        """Fields with no conflict left: an open conflict on one of them was settled by the sides (or a rule)."""
        return {d.field for d in self.decisions if d.action in SETTLING}


def unknown_fields(remote: ClientProfile) -> frozenset[str]:
    # XPM's paged-list leaves business numbers out (`extra["detailed"] = False`): unknown is not blank.
    return frozenset({"business_number"}) if remote.extra.get("detailed") is False else frozenset()


def local_newer(local_at: datetime | None, remote_at: datetime | None) -> bool | None:
    """Which side changed last (naive times are UTC); None when either time is unknown."""
    if local_at is None or remote_at is None:
        return None
    return _aware(local_at) > _aware(remote_at)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def with_whole_lines(pushes: Mapping[str, Any], remote: Mapping[str, Any], writable: frozenset[str]) -> dict[str, Any]:
    """Address lines 1 and 2 share one element on some systems (XPM): pushing one line sends the other as the
    cached record has it, so the adapter need not read the record first."""
    out = dict(pushes)
    for prefix in ("address", "postal_address"):
        lines = (f"{prefix}.line1", f"{prefix}.line2")
        if (lines[0] in out) != (lines[1] in out) and set(lines) <= writable:
            for line in lines:
                out.setdefault(line, remote.get(line))
    return out
