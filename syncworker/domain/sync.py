"""Two-way sync decisions, per field, as pure functions (no I/O).

For one linked pair and one field we know the local value, the remote value and, unless this is the first
sync of the pair, the base: the last value both sides agreed on. A three-way merge against the base says
which side changed; only a changed side counts. The field rule says which directions may flow and how a
both-sides change (or a first-sync difference) is settled.

Values are compared after normalisation (whitespace, e-mail case, phone formatting, website scheme…), so
a cosmetic difference is never a change. Echo suppression falls out of the base: after a push the base is
the pushed value, so when the same value comes back from the remote it equals the base and local, and
nothing happens.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import phonenumbers

from syncworker.domain.profile import SYNCABLE_FIELDS


class Direction(StrEnum):
    BOTH = "both"
    LOCAL_TO_REMOTE = "local_to_remote"
    REMOTE_TO_LOCAL = "remote_to_local"
    NONE = "none"


class Policy(StrEnum):
    PREFER_LOCAL_UNLESS_BLANK = "prefer_local_unless_blank"
    PREFER_REMOTE_UNLESS_BLANK = "prefer_remote_unless_blank"
    ALWAYS_LOCAL = "always_local"
    ALWAYS_REMOTE = "always_remote"
    MOST_RECENT = "most_recent"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class FieldRule:
    direction: Direction = Direction.BOTH
    policy: Policy = Policy.MANUAL


class Action(StrEnum):
    NOOP = "noop"  # nothing to do (equal, or not synced)
    AGREE = "agree"  # both sides hold the same value; only the base moves
    PUSH = "push"  # write the local value to the remote
    PULL = "pull"  # write the remote value locally
    CONFLICT = "conflict"  # queue for an operator


@dataclass(frozen=True, slots=True)
class Decision:
    field: str
    action: Action
    value: Any = None  # the value to write (PUSH/PULL) or the agreed value (AGREE)
    reason: str = ""


class RuleError(ValueError):
    """A field rule that cannot be used; the message names the system and field."""


@dataclass(frozen=True)
class FieldRules:
    """Rules per system and field: system field rule → system default → global default (both, manual)."""

    default: FieldRule
    systems: Mapping[str, tuple[FieldRule, Mapping[str, FieldRule]]]

    def rule(self, system: str, field: str) -> FieldRule:
        entry = self.systems.get(system)
        if entry is None:
            return self.default
        system_default, fields = entry
        return fields.get(field, system_default)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> FieldRules:
        """Validate the field_rules.yaml structure; any mistake raises RuleError naming where it is."""
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise RuleError("field rules: the file must hold a mapping")
        unknown = set(raw) - {"defaults", "systems"}
        if unknown:
            raise RuleError(f"field rules: unknown top-level keys {sorted(unknown)}")
        default = _rule(raw.get("defaults"), FieldRule(), "defaults")
        systems: dict[str, tuple[FieldRule, dict[str, FieldRule]]] = {}
        for system, spec in (raw.get("systems") or {}).items():
            spec = spec or {}
            if not isinstance(spec, Mapping) or set(spec) - {"defaults", "fields"}:
                raise RuleError(f"field rules: systems.{system} takes only 'defaults' and 'fields'")
            sys_default = _rule(spec.get("defaults"), default, f"systems.{system}.defaults")
            fields: dict[str, FieldRule] = {}
            for name, fspec in (spec.get("fields") or {}).items():
                if name not in SYNCABLE_FIELDS:
                    raise RuleError(f"field rules: systems.{system}.fields.{name}: not a syncable field "
                                    f"(one of {', '.join(SYNCABLE_FIELDS)})")
                fields[name] = _rule(fspec, sys_default, f"systems.{system}.fields.{name}")
            systems[str(system)] = (sys_default, fields)
        return cls(default, systems)


def _rule(spec: Any, base: FieldRule, where: str) -> FieldRule:
    if spec is None:
        return base
    if not isinstance(spec, Mapping) or set(spec) - {"direction", "policy"}:
        raise RuleError(f"field rules: {where} takes only 'direction' and 'policy'")
    try:
        direction = Direction(spec.get("direction", base.direction))
    except ValueError:
        raise RuleError(f"field rules: {where}: direction {spec.get('direction')!r} is not one of "
                        f"{', '.join(d.value for d in Direction)}") from None
    try:
        policy = Policy(spec.get("policy", base.policy))
    except ValueError:
        raise RuleError(f"field rules: {where}: policy {spec.get('policy')!r} is not one of "
                        f"{', '.join(p.value for p in Policy)}") from None
    return FieldRule(direction, policy)


# --- normalisation --------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def normalise(field: str, value: Any, *, country: str = "AU") -> str | None:
    """The comparable form of a value: blank is None; cosmetic differences vanish."""
    if value is None:
        return None
    if isinstance(value, StrEnum):
        value = value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = _SPACES.sub(" ", str(value)).strip()
    if not text:
        return None
    if field == "email":
        return text.casefold()
    if field in ("phone", "mobile"):
        return _phone(text, country)
    if field == "website":
        return re.sub(r"^https?://(www\.)?|/+$", "", text.casefold())
    if field.endswith(".postcode") or field in ("tax_number", "business_number", "company_number"):
        return re.sub(r"[\s\-]", "", text).upper()
    if field.endswith(".country") or field.endswith(".region"):
        return text.casefold()
    return text


def _phone(text: str, country: str) -> str:
    try:
        parsed = phonenumbers.parse(text, country)
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return re.sub(r"[^\d+]", "", text) or text


def value_hash(field: str, value: Any, *, country: str = "AU") -> str:
    return hashlib.sha256(json.dumps([field, normalise(field, value, country=country)]).encode()).hexdigest()


def encode(value: Any) -> str | None:
    """A field value as stored in FieldSyncState/SyncConflict (JSON)."""
    if value is None:
        return None
    if isinstance(value, StrEnum):
        value = value.value
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return json.dumps(value)


def decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# --- the merge ------------------------------------------------------------------------------------------

_MISSING = object()


def decide(
    field: str, *, local: Any, remote: Any, rule: FieldRule, base: Any = _MISSING,
    remote_writable: bool = True, local_newer: bool | None = None, country: str = "AU",
) -> Decision:
    """What to do with one field. `base` left out = no base yet (first sync of the pair). `local_newer` is
    True/False when both records' modification times are known (for `most_recent`), else None."""
    nl, nr = normalise(field, local, country=country), normalise(field, remote, country=country)
    if rule.direction == Direction.NONE:
        return Decision(field, Action.NOOP, reason="not synced")
    if nl == nr:
        if base is not _MISSING and normalise(field, base, country=country) == nl:
            return Decision(field, Action.NOOP, local, "in step")
        return Decision(field, Action.AGREE, local, "both sides hold this value")
    can_push = remote_writable and rule.direction in (Direction.BOTH, Direction.LOCAL_TO_REMOTE)
    can_pull = rule.direction in (Direction.BOTH, Direction.REMOTE_TO_LOCAL)
    if rule.direction == Direction.LOCAL_TO_REMOTE:  # the remote mirrors local
        return _push(field, local, can_push)
    if rule.direction == Direction.REMOTE_TO_LOCAL:  # local mirrors the remote
        return Decision(field, Action.PULL, remote, "remote is the source")
    if base is not _MISSING:
        nb = normalise(field, base, country=country)
        local_changed, remote_changed = nl != nb, nr != nb
        if local_changed and not remote_changed:
            return _push(field, local, can_push)
        if remote_changed and not local_changed:
            return Decision(field, Action.PULL, remote, "changed remotely") if can_pull else \
                Decision(field, Action.NOOP, reason="remote change not synced")
        reason = "changed on both sides"
    else:
        reason = "differs at first sync"
    winner = _winner(rule.policy, nl, nr, local_newer)
    if winner == "local":
        return _push(field, local, can_push, f"{reason}: {rule.policy.value} keeps local")
    if winner == "remote":
        return Decision(field, Action.PULL, remote, f"{reason}: {rule.policy.value} keeps remote")
    return Decision(field, Action.CONFLICT, None, f"{reason}: {rule.policy.value}")


def _push(field: str, local: Any, can_push: bool, reason: str = "changed locally") -> Decision:
    if not can_push:
        return Decision(field, Action.NOOP, reason="the remote system cannot write this field")
    return Decision(field, Action.PUSH, local, reason)


def _winner(policy: Policy, nl: str | None, nr: str | None, local_newer: bool | None) -> str | None:
    if policy == Policy.PREFER_LOCAL_UNLESS_BLANK:
        return "local" if nl is not None else "remote"
    if policy == Policy.PREFER_REMOTE_UNLESS_BLANK:
        return "remote" if nr is not None else "local"
    if policy == Policy.ALWAYS_LOCAL:
        return "local"
    if policy == Policy.ALWAYS_REMOTE:
        return "remote"
    if policy == Policy.MOST_RECENT and local_newer is not None:
        return "local" if local_newer else "remote"
    # Manual, or most-recent without both timestamps: never settle it silently.
    return None


def merge_record(
    system: str, rules: FieldRules, *, local: Mapping[str, Any], remote: Mapping[str, Any],
    bases: Mapping[str, Any], remote_writable: frozenset[str], comparable: frozenset[str],
    local_newer: bool | None = None, country: str = "AU",
) -> list[Decision]:
    """Decisions for every comparable field of one pair. `bases` holds only the fields that have a base."""
    out = []
    for field in SYNCABLE_FIELDS:
        if field not in comparable:
            continue
        kwargs: dict[str, Any] = {"base": bases[field]} if field in bases else {}
        out.append(decide(field, local=local.get(field), remote=remote.get(field), rule=rules.rule(system, field),
                          remote_writable=field in remote_writable, local_newer=local_newer, country=country,
                          **kwargs))
    return out


def comparable_fields(system: str, rules: FieldRules, remote_writable: frozenset[str],
                      unknown_remote: frozenset[str] = frozenset()) -> frozenset[str]:
    """Fields worth comparing for a system: those it can write, plus those configured to flow from it, minus
    the ones it does not hold (a field a system cannot store always reads blank there, which must not
    look like a deletion) and those it left out of this read."""
    out = set()
    for field in SYNCABLE_FIELDS:
        rule = rules.rule(system, field)
        if rule.direction == Direction.NONE or field in unknown_remote:
            continue
        if field in remote_writable or rule.direction == Direction.REMOTE_TO_LOCAL:
            out.add(field)
    return frozenset(out)
