"""config/relationships.yaml against XPM's list and the XPM adapter's own mapping, and the pure rules."""

from __future__ import annotations

import pytest

from simulators.xpm.store import RELATIONSHIP_TYPES
from syncworker.config import load_yaml_config
from syncworker.domain.connections import (
    ConnectionRefused,
    Party,
    RelationshipType,
    RelationshipTypes,
    fact_key,
    plan_connection,
)
from syncworker.services.connections import relationship_types

TYPES = relationship_types()


def test_every_xpm_type_is_configured_with_the_adapters_canonical_key() -> None:
    adapter_map = load_yaml_config("xpm.yaml")["relationship_types"]
    for xpm_name in RELATIONSHIP_TYPES:  # XPM's documented list (xpm_aps_xero.md §1.6)
        t = TYPES.by_xpm_name(xpm_name)
        assert t is not None, f"XPM type {xpm_name} is not in config/relationships.yaml"
        assert adapter_map[xpm_name] == t.key, f"{xpm_name}: the adapter reads {adapter_map[xpm_name]}, we {t.key}"


def test_personal_types_of_the_seed_documents_are_configured() -> None:
    assert {"spouse", "relative", "dependant", "friend", "employee", "other"} <= set(TYPES.keys("personal"))
    assert TYPES.business_default_type == "employee"


def test_the_same_fact_has_the_same_key_from_either_side() -> None:
    spouse, parent, child, director = (TYPES.get(k) for k in ("spouse", "parent_of", "child_of", "director"))
    assert fact_key(1, 2, spouse) == fact_key(2, 1, spouse)
    assert fact_key(1, 2, parent) == fact_key(2, 1, child)
    assert fact_key(1, 2, director) != fact_key(2, 1, director)


def test_config_errors_are_caught_at_load() -> None:
    with pytest.raises(ValueError, match="does not point back"):
        RelationshipTypes([RelationshipType("a", "personal", "A", "A", inverse="b"),
                           RelationshipType("b", "personal", "B", "B", inverse="c"),
                           RelationshipType("c", "personal", "C", "C", inverse="b"),
                           RelationshipType("employee", "personal", "E", "E")])
    with pytest.raises(ValueError, match="people must be"):
        RelationshipTypes([RelationshipType("employee", "personal", "E", "E", people="everyone")])


def test_plan_names_each_rule() -> None:
    acme, jo = Party(1, "Acme", "company"), Party(2, "Jo", "individual")
    sole = Party(3, "Sam's Plumbing", "sole_trader")  # a sole trader is a person
    assert plan_connection(acme, sole, None, TYPES, []).type == "employee"
    merged = Party(4, "Old Jo", "individual", merged_into="JO")
    with pytest.raises(ConnectionRefused, match="merged into client JO") as exc:
        plan_connection(acme, merged, "director", TYPES, [])
    assert exc.value.rule == "merged"
    plan = plan_connection(jo, acme, None, TYPES, [], business_ids_with_primary=[1])
    assert plan.turned_around and (plan.client_id, plan.related_client_id) == (1, 2) and not plan.is_primary_contact
