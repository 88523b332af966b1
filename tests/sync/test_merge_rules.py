"""The pure per-field merge: only the changed side counts, rules settle both-sides changes, cosmetic
differences are not changes, and fields a system cannot write are never pushed."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncworker.domain.sync import (
    Action,
    Direction,
    FieldRule,
    FieldRules,
    Policy,
    RuleError,
    comparable_fields,
    decide,
    normalise,
)
from syncworker.services.field_rules import load_field_rules

BOTH_MANUAL = FieldRule(Direction.BOTH, Policy.MANUAL)


def test_only_the_side_that_changed_counts() -> None:
    assert decide("email", local="new@x.test", remote="old@x.test", base="old@x.test", rule=BOTH_MANUAL).action \
        == Action.PUSH
    d = decide("email", local="old@x.test", remote="new@x.test", base="old@x.test", rule=BOTH_MANUAL)
    assert (d.action, d.value) == (Action.PULL, "new@x.test")
    assert decide("email", local="a@x.test", remote="a@x.test", base="a@x.test", rule=BOTH_MANUAL).action \
        == Action.NOOP


def test_a_cleared_value_is_a_change_too() -> None:
    d = decide("phone", local=None, remote="02 9000 1111", base="02 9000 1111", rule=BOTH_MANUAL)
    assert (d.action, d.value) == (Action.PUSH, None)


def test_echo_of_a_pushed_value_is_not_a_change() -> None:
    # After a push the base is the pushed value; the remote echoes it back, maybe reformatted.
    d = decide("phone", local="02 9000 1111", remote="+61290001111", base="02 9000 1111", rule=BOTH_MANUAL)
    assert d.action == Action.NOOP


@pytest.mark.parametrize(("field", "a", "b"), [
    ("email", "Jo.Smith@Example.TEST ", "jo.smith@example.test"),
    ("phone", "(02) 9000-1111", "+61 2 9000 1111"),
    ("name", "Acme  Pty Ltd", "Acme Pty Ltd "),
    ("website", "https://www.acme.test/", "acme.test"),
    ("address.postcode", "sw1a 1aa", "SW1A1AA"),
    ("given_name", "", None),
])
def test_cosmetic_differences_are_not_changes(field: str, a: str, b: str | None) -> None:
    assert normalise(field, a) == normalise(field, b)
    assert decide(field, local=a, remote=b, base=a, rule=BOTH_MANUAL).action == Action.NOOP


def test_same_change_on_both_sides_only_moves_the_base() -> None:
    d = decide("email", local="new@x.test", remote="NEW@x.test", base="old@x.test", rule=BOTH_MANUAL)
    assert d.action == Action.AGREE


@pytest.mark.parametrize(("policy", "local", "remote", "action", "value"), [
    (Policy.MANUAL, "L", "R", Action.CONFLICT, None),
    (Policy.ALWAYS_LOCAL, "L", "R", Action.PUSH, "L"),
    (Policy.ALWAYS_LOCAL, None, "R", Action.PUSH, None),
    (Policy.ALWAYS_REMOTE, "L", "R", Action.PULL, "R"),
    (Policy.PREFER_LOCAL_UNLESS_BLANK, "L", "R", Action.PUSH, "L"),
    (Policy.PREFER_LOCAL_UNLESS_BLANK, None, "R", Action.PULL, "R"),
    (Policy.PREFER_REMOTE_UNLESS_BLANK, "L", "R", Action.PULL, "R"),
    (Policy.PREFER_REMOTE_UNLESS_BLANK, "L", "", Action.PUSH, "L"),
    (Policy.MOST_RECENT, "L", "R", Action.CONFLICT, None),  # no timestamps: never settled silently
])
def test_both_sides_changed_follows_the_policy(policy: Policy, local: str | None, remote: str, action: Action,
                                               value: str | None) -> None:
    d = decide("name", local=local, remote=remote, base="B", rule=FieldRule(Direction.BOTH, policy))
    assert (d.action, d.value) == (action, value)


def test_most_recent_uses_record_times_when_known() -> None:
    rule = FieldRule(Direction.BOTH, Policy.MOST_RECENT)
    assert decide("name", local="L", remote="R", base="B", rule=rule, local_newer=True).action == Action.PUSH
    assert decide("name", local="L", remote="R", base="B", rule=rule, local_newer=False).action == Action.PULL


def test_first_sync_equal_values_become_the_base_and_differences_follow_the_rule() -> None:
    assert decide("name", local="Acme", remote="Acme", rule=BOTH_MANUAL).action == Action.AGREE
    assert decide("name", local="Acme", remote="Acme Ltd", rule=BOTH_MANUAL).action == Action.CONFLICT
    pref = FieldRule(Direction.BOTH, Policy.PREFER_REMOTE_UNLESS_BLANK)
    assert decide("email", local="a@x.test", remote=None, rule=pref).action == Action.PUSH


def test_directions() -> None:
    none = FieldRule(Direction.NONE, Policy.MANUAL)
    assert decide("tax_number", local="123456782", remote="******782", base=None, rule=none).action == Action.NOOP
    one_way = FieldRule(Direction.LOCAL_TO_REMOTE, Policy.MANUAL)
    # The remote mirrors local: a remote edit is overwritten, never pulled.
    d = decide("email", local="a@x.test", remote="b@x.test", base="a@x.test", rule=one_way)
    assert (d.action, d.value) == (Action.PUSH, "a@x.test")
    mirror = FieldRule(Direction.REMOTE_TO_LOCAL, Policy.MANUAL)
    assert decide("email", local="a@x.test", remote="b@x.test", base="b@x.test", rule=mirror).action == Action.PULL


def test_a_field_the_remote_cannot_write_is_never_pushed() -> None:
    d = decide("mobile", local="0400 000 000", remote=None, base=None, rule=BOTH_MANUAL, remote_writable=False)
    assert d.action == Action.NOOP


def test_project_rules_never_compare_or_write_xpm_tax_number() -> None:
    rules = load_field_rules()
    from adapters.xpm.mapping import WRITABLE_FIELDS as XPM_WRITABLE

    fields = comparable_fields("xpm", rules, XPM_WRITABLE)
    assert "tax_number" not in fields and "status" not in fields
    assert "mobile" not in fields  # XPM cannot store it: always blank there, never a deletion
    assert {"name", "email", "phone", "address.line1"} <= fields
    assert rules.rule("xpm", "email").policy == Policy.PREFER_LOCAL_UNLESS_BLANK
    # Identity: the practice's record wins when the two first meet; later both-side edits go to an operator.
    assert rules.rule("xpm", "name") == FieldRule(Direction.BOTH, Policy.MANUAL, Policy.ALWAYS_LOCAL)
    assert rules.rule("xpm", "email").first_sync == Policy.PREFER_LOCAL_UNLESS_BLANK  # the policy, unless set
    assert rules.rule("xpm", "address.line1").first_sync == Policy.MANUAL


@pytest.mark.parametrize(("text", "named"), [
    ("systems: {xpm: {fields: {email: {direction: sideways}}}}", "systems.xpm.fields.email"),
    ("systems: {xpm: {fields: {email: {policy: loudest}}}}", "systems.xpm.fields.email"),
    ("systems: {xero: {fields: {shoe_size: {direction: both}}}}", "systems.xero.fields.shoe_size"),
    ("defaults: {policy: coin_flip}", "defaults"),
])
def test_a_bad_rule_is_refused_naming_the_field(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "field_rules.yaml"
    path.write_text(text)
    with pytest.raises(RuleError, match=named.replace(".", r"\.")):
        load_field_rules(path)


def test_unlisted_fields_default_to_both_ways_manual() -> None:
    rules = FieldRules.parse({"systems": {"xero": {"fields": {"email": {"policy": "always_local"}}}}})
    assert rules.rule("xero", "name") == FieldRule(Direction.BOTH, Policy.MANUAL)
    assert rules.rule("aps", "email") == FieldRule(Direction.BOTH, Policy.MANUAL)
    assert rules.rule("xero", "email") == FieldRule(Direction.BOTH, Policy.ALWAYS_LOCAL, Policy.ALWAYS_LOCAL)
