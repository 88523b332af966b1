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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from syncworker.domain import equivalence
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
    """`policy` settles a field both sides changed since the last sync; `first_sync` settles a field whose
    two sides hold different non-blank values when the pair has no base yet (its first sync after
    linking). A blank side is always filled from the other at first sync, whatever the policy."""

    direction: Direction = Direction.BOTH
    policy: Policy = Policy.MANUAL
    first_sync: Policy = Policy.MANUAL


RULE_KEYS = ("direction", "policy", "first_sync")
_LAYER_KEYS = ("defaults", "fields", "systems")


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
    """Layers of rule documents (config/field_rules.yaml, then a tenant's overrides), each shaped

        defaults: RULE                  fields: {FIELD: RULE}
        systems: {SYSTEM: {defaults: RULE, fields: {FIELD: RULE}}}

    where RULE sets any of direction, policy, first_sync. A field's effective rule is built key by key,
    layer after layer, from the least to the most specific entry: defaults, fields.F, systems.S.defaults,
    systems.S.fields.F; a later layer overrides an earlier one. Keys nobody sets: direction both, policy
    manual, first_sync the field's policy."""

    layers: tuple[Mapping[str, Any], ...] = ()
    # Effective rules already worked out, by (system, field): a sync asks for every field of every pair.
    _rules: dict[tuple[str, str], FieldRule] = dataclass_field(default_factory=dict, init=False, repr=False,
                                                               compare=False, hash=False)

    def rule(self, system: str, field: str) -> FieldRule:
        known = self._rules.get((system, field))
        if known is None:
            known = self._rules[(system, field)] = self._work_out(system, field)
        return known

    def _work_out(self, system: str, field: str) -> FieldRule:
        spec: dict[str, Any] = {}
        for layer in self.layers:
            sys_spec = (layer.get("systems") or {}).get(system) or {}
            for part in (layer.get("defaults"), (layer.get("fields") or {}).get(field), sys_spec.get("defaults"),
                         (sys_spec.get("fields") or {}).get(field)):
                spec.update(part or {})
        policy = spec.get("policy", Policy.MANUAL)
        return FieldRule(Direction(spec.get("direction", Direction.BOTH)), Policy(policy),
                         Policy(spec.get("first_sync", policy)))

    @property
    def systems(self) -> list[str]:
        return sorted({str(s) for layer in self.layers for s in (layer.get("systems") or {})})

    def effective(self, systems: list[str] | None = None) -> dict[str, dict[str, dict[str, str]]]:
        """{system: {field: {direction, policy, first_sync}}} for printing (`syncworker rules show`)."""
        return {system: {f: {k: getattr(self.rule(system, f), k).value for k in RULE_KEYS} for f in SYNCABLE_FIELDS}
                for system in (systems or self.systems)}

    def with_overrides(self, raw: Mapping[str, Any] | None, where: str = "tenant overrides") -> FieldRules:
        return FieldRules((*self.layers, _validate(raw, where))) if raw else self

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> FieldRules:
        """Validate the field_rules.yaml structure; any mistake raises RuleError naming where it is."""
        return cls((_validate(raw, "field rules"),))


def _validate(raw: Any, where: str) -> dict[str, Any]:
    """A rule document checked and copied with plain string values (so it can be stored as JSON)."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: the file must hold a mapping")
    unknown = set(raw) - set(_LAYER_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown top-level keys {sorted(unknown)}")
    out = _section(raw, where, "")
    systems: dict[str, Any] = {}
    for system, spec in (raw.get("systems") or {}).items():
        spec = spec or {}
        if not isinstance(spec, Mapping) or set(spec) - {"defaults", "fields"}:
            raise RuleError(f"{where}: systems.{system} takes only 'defaults' and 'fields'")
        systems[str(system)] = _section(spec, where, f"systems.{system}.")
    if systems:
        out["systems"] = systems
    return out


def _section(spec: Mapping[str, Any], where: str, path: str) -> dict[str, Any]:
    """The `defaults` and `fields` of one level (the document, or one system)."""
    out: dict[str, Any] = {}
    if spec.get("defaults") is not None:
        out["defaults"] = _rule(spec["defaults"], f"{where}: {path}defaults")
    if spec.get("fields"):
        out["fields"] = _fields(spec["fields"], f"{where}: {path}fields")
    return out


def _fields(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise RuleError(f"{where} must map field names to rules")
    out = {}
    for name, fspec in spec.items():
        if name not in SYNCABLE_FIELDS:
            raise RuleError(f"{where}.{name}: not a syncable field (one of {', '.join(SYNCABLE_FIELDS)})")
        out[str(name)] = _rule(fspec, f"{where}.{name}")
    return out


def _rule(spec: Any, where: str) -> dict[str, str]:
    if spec is None:
        return {}
    if not isinstance(spec, Mapping) or set(spec) - set(RULE_KEYS):
        raise RuleError(f"{where} takes only {', '.join(RULE_KEYS)}")
    out = {}
    for key, enum in (("direction", Direction), ("policy", Policy), ("first_sync", Policy)):
        if key in spec:
            try:
                out[key] = enum(spec[key]).value
            except ValueError:
                raise RuleError(f"{where}: {key} {spec[key]!r} is not one of "
                                f"{', '.join(v.value for v in enum)}") from None
    return out


# --- normalisation ---------------------------------------------------------------------------------------

def normalise(field: str, value: Any, *, country: str = "AU") -> str | None:
    """The comparable form of a value: blank is None; values equal in meaning have equal forms
    (`syncworker.domain.equivalence`). `country` is the default region for national phone numbers."""
    return equivalence.canonical(field, value, default_region=country)


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
    keys: tuple[str | None, str | None, str | None] | None = None,
) -> Decision:
    """What to do with one field. `base` left out = no base yet (first sync of the pair). `local_newer` is
    True/False when both records' modification times are known (for `most_recent`), else None. `keys`
    gives the comparable forms of (local, remote, base) when they depend on other fields (address lines)."""
    if rule.direction == Direction.NONE:
        return Decision(field, Action.NOOP, reason="not synced")
    if keys is None:
        nl, nr = normalise(field, local, country=country), normalise(field, remote, country=country)
        nb = normalise(field, base, country=country) if base is not _MISSING else None
    else:
        nl, nr, nb = keys
    first = base is _MISSING
    if nl == nr:
        if not first and nb == nl:
            return Decision(field, Action.NOOP, local, "in step")
        return Decision(field, Action.AGREE, local, "both sides hold this value" if first or nb is None
                        else "both sides changed it the same way")
    can_push = remote_writable and rule.direction in (Direction.BOTH, Direction.LOCAL_TO_REMOTE)
    can_pull = rule.direction in (Direction.BOTH, Direction.REMOTE_TO_LOCAL)
    if first and (nl is None or nr is None):  # first sync: a blank side is filled, never a blanking
        if nl is None:
            return Decision(field, Action.PULL, remote, "blank locally: filled from remote") if can_pull else \
                Decision(field, Action.NOOP, reason="blank locally; remote values do not flow here")
        return _push(field, local, can_push, "blank remotely: filled from local")
    if rule.direction == Direction.LOCAL_TO_REMOTE:  # the remote mirrors local
        return _push(field, local, can_push)
    if rule.direction == Direction.REMOTE_TO_LOCAL:  # local mirrors the remote
        return Decision(field, Action.PULL, remote, "remote is the source")
    if not first:
        local_changed, remote_changed = nl != nb, nr != nb
        if local_changed and not remote_changed:
            return _push(field, local, can_push)
        if remote_changed and not local_changed:
            return Decision(field, Action.PULL, remote, "changed remotely") if can_pull else \
                Decision(field, Action.NOOP, reason="remote change not synced")
        reason, policy = "changed on both sides", rule.policy
    else:
        reason, policy = "differs at first sync", rule.first_sync
    winner = _winner(policy, nl, nr, local_newer)
    if winner == "local":
        return _push(field, local, can_push, f"{reason}: {policy.value} keeps local")
    if winner == "remote":
        return Decision(field, Action.PULL, remote, f"{reason}: {policy.value} keeps remote")
    if policy == Policy.MOST_RECENT:
        return Decision(field, Action.CONFLICT, None, f"{reason}: most_recent, but a modification time is unknown")
    return Decision(field, Action.CONFLICT, None, f"{reason}: {policy.value}")


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


ADDRESSES = ("address", "postal_address")


def merge_record(
    system: str, rules: FieldRules, *, local: Mapping[str, Any], remote: Mapping[str, Any],
    bases: Mapping[str, Any], remote_writable: frozenset[str], comparable: frozenset[str],
    local_newer: bool | None = None, country: str = "AU",
) -> list[Decision]:
    """Decisions for every comparable field of one pair. `bases` holds only the fields that have a base.

    Two things need more than one field: a street is compared as a whole (its two lines, less a line
    that repeats the suburb: XPM keeps one free-text Address), and a remote phone that is the local
    mobile is the same number (XPM has one Phone field for clients, no Mobile), not a value to fill or fight
    over; it is recorded as the base of the local phone, so a local phone edit is still pushed."""
    keys = _street_keys(local, remote, bases, country) | _country_keys(local, remote, bases, country)
    out = []
    for field in SYNCABLE_FIELDS:
        if field not in comparable:
            continue
        kwargs: dict[str, Any] = {"base": bases[field]} if field in bases else {}
        if field in keys:
            kwargs["keys"] = keys[field]
        if field == "phone" and _phone_is_local_mobile(local, remote, country):
            if not _changed_since_base(field, local, bases, country):
                # In step, and recorded so (once): the base is the local phone, so a later local edit is one.
                out.append(Decision(field, Action.NOOP if field in bases else Action.AGREE, local.get(field),
                                    reason="the remote phone is the local mobile"))
                continue
            kwargs["base"] = remote.get(field)  # the phone slot held the mobile: only the local phone moved
        out.append(decide(field, local=local.get(field), remote=remote.get(field), rule=rules.rule(system, field),
                          remote_writable=field in remote_writable, local_newer=local_newer, country=country,
                          **kwargs))
    return out


def _street_keys(local: Mapping[str, Any], remote: Mapping[str, Any], bases: Mapping[str, Any],
                 country: str) -> dict[str, tuple[str | None, str | None, str | None]]:
    """Comparable (local, remote, base) forms of the address lines. When the streets mean the same, both
    lines carry the whole street's key (so neither is written); when they differ, each line carries its
    own key, with a line that only repeats the suburb counted as blank."""
    out: dict[str, tuple[str | None, str | None, str | None]] = {}
    for prefix in ADDRESSES:
        lines = (f"{prefix}.line1", f"{prefix}.line2")
        has_base = any(f in bases for f in lines)
        base_whole = _street(bases, prefix) if has_base else None
        if _street(local, prefix) == _street(remote, prefix):
            for f in lines:
                out[f] = (_street(local, prefix), _street(remote, prefix), base_whole)
        else:
            for f in lines:
                out[f] = (_line(local, prefix, f), _line(remote, prefix, f),
                          _line(bases, prefix, f) if f in bases else None)
    return out


_ADDRESS_PARTS = ("line1", "line2", "city", "region", "postcode")


def _country_keys(local: Mapping[str, Any], remote: Mapping[str, Any], bases: Mapping[str, Any],
                  country: str) -> dict[str, tuple[str | None, str | None, str | None]]:
    """Comparable (local, remote, base) forms of the address countries: a blank country on an address that
    is there, against the tenant's own country, means that country (XPM leaves Country blank on domestic
    addresses), so `AU` against a blank is no fill and no write, then or later. Against another country a
    blank is filled."""
    out: dict[str, tuple[str | None, str | None, str | None]] = {}
    home = normalise("address.country", country, country=country)
    for prefix in ADDRESSES:
        f = f"{prefix}.country"
        sides = [normalise(f, side.get(f), country=country) if side is not bases or f in bases else None
                 for side in (local, remote, bases)]
        if home in sides:
            sides = [home if v is None and _has_address(side, prefix) else v
                     for v, side in zip(sides, (local, remote, bases), strict=True)]
        out[f] = (sides[0], sides[1], sides[2] if f in bases else None)
    return out


def _has_address(side: Mapping[str, Any], prefix: str) -> bool:
    return any(side.get(f"{prefix}.{part}") for part in _ADDRESS_PARTS)


def _street(side: Mapping[str, Any], prefix: str) -> str | None:
    return equivalence.street_key(side.get(f"{prefix}.line1"), side.get(f"{prefix}.line2"),
                                  city=side.get(f"{prefix}.city"))


def _line(side: Mapping[str, Any], prefix: str, field: str) -> str | None:
    value = side.get(field)
    if field.endswith(".line2") and \
            equivalence.person_name(value) == equivalence.person_name(side.get(f"{prefix}.city")):
        return None
    return equivalence.street_key(value)


def _changed_since_base(field: str, local: Mapping[str, Any], bases: Mapping[str, Any], country: str) -> bool:
    return field in bases and normalise(field, local.get(field), country=country) != \
        normalise(field, bases[field], country=country)


def _phone_is_local_mobile(local: Mapping[str, Any], remote: Mapping[str, Any], country: str) -> bool:
    nr = normalise("phone", remote.get("phone"), country=country)
    return nr is not None and nr != normalise("phone", local.get("phone"), country=country) \
        and nr == normalise("mobile", local.get("mobile"), country=country)


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


def would_do(decisions: list[Decision], local: Mapping[str, Any], remote: Mapping[str, Any],
             shown: Callable[[str, Any], Any] = lambda _field, value: value) -> dict[str, Any]:
    """A pair's decisions as a dry run reports them: each write with the value it replaces, and each
    conflict it would open with both sides and the reason. Values go through `shown(field, value)` (the
    caller masks private identifiers there)."""
    def plain(field: str, value: Any) -> Any:
        return shown(field, encode_plain(value))

    writes = [{"field": d.field, "to": "remote" if d.action == Action.PUSH else "local",
               "from": plain(d.field, (remote if d.action == Action.PUSH else local).get(d.field)),
               "value": plain(d.field, d.value), "reason": d.reason}
              for d in decisions if d.action in (Action.PUSH, Action.PULL)]
    conflicts = [{"field": d.field, "local": plain(d.field, local.get(d.field)),
                  "remote": plain(d.field, remote.get(d.field)), "reason": d.reason}
                 for d in decisions if d.action == Action.CONFLICT]
    return {"would_write": writes, "would_open": conflicts}


def encode_plain(value: Any) -> Any:
    """A value as JSON holds it (dates as ISO text, enums as their value)."""
    return decode(encode(value))
