"""The sync's field rules: config/field_rules.yaml, and each tenant's overrides on top of it.

A bad rule raises RuleError naming the system and field, so the worker refuses to start (or the operator's
change is refused) rather than syncing with a rule nobody meant. A tenant's overrides live in
`tenants.settings["field_rules"]` with the file's shape; every change is audited.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from syncworker.config import config_file
from syncworker.domain.profile import SYNCABLE_FIELDS
from syncworker.domain.sync import RULE_KEYS, FieldRules, RuleError
from syncworker.services.systems import SYSTEMS as KNOWN_SYSTEMS
from syncworker.services.tenants import get_tenant
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry

SETTINGS_KEY = "field_rules"


def load_field_rules(path: Path | None = None) -> FieldRules:
    """The rules in `path`, by default field_rules.yaml of the config folder in force (SYNCWORKER_CONFIG_DIR)."""
    path = path or config_file("field_rules.yaml")
    if not path.exists():
        return FieldRules.parse(None)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError(f"field rules: {path.name} is not valid YAML: {exc}") from None
    return FieldRules.parse(raw)


@lru_cache(maxsize=1)
def default_field_rules() -> FieldRules:
    return load_field_rules()


def tenant_field_rules(db: Database, tenant_name: str, base: FieldRules | None = None) -> FieldRules:
    """The rules in effect for one tenant: the file's, then the tenant's overrides."""
    with db.session() as s:
        overrides = (get_tenant(s, tenant_name).settings or {}).get(SETTINGS_KEY)
    return (base or default_field_rules()).with_overrides(overrides, f"tenant {tenant_name!r} field rules")


def show_rules(db: Database, tenant_name: str, system: str | None = None) -> dict[str, Any]:
    """The effective rule of every field per system, with where each differs from the file."""
    rules = tenant_field_rules(db, tenant_name)
    systems = [_system(system)] if system else list(KNOWN_SYSTEMS)
    with db.session() as s:
        overrides = (get_tenant(s, tenant_name).settings or {}).get(SETTINGS_KEY) or {}
    base = default_field_rules().effective(systems)
    effective = rules.effective(systems)
    return {"tenant": tenant_name, "overrides": overrides,
            "rules": [{"system": sys, "field": f, **rule, "overridden": rule != base[sys][f]}
                      for sys, fields in effective.items() for f, rule in fields.items()]}


def set_rule(db: Database, tenant_name: str, *, field: str, system: str | None = None, actor: str = "operator",
             **keys: str | None) -> dict[str, Any]:
    """Override direction, policy and/or first_sync of one field (for one system, or all when `system` is
    None) for one tenant. Validated before anything is stored; audited."""
    given = {k: v for k, v in keys.items() if v is not None}
    if not given:
        raise RuleError(f"give at least one of {', '.join('--' + k.replace('_', '-') for k in RULE_KEYS)}")
    if set(given) - set(RULE_KEYS):
        raise RuleError(f"unknown rule keys {sorted(set(given) - set(RULE_KEYS))}")
    if field not in SYNCABLE_FIELDS:
        raise RuleError(f"{field!r} is not a syncable field (one of {', '.join(SYNCABLE_FIELDS)})")

    def change(doc: dict[str, Any]) -> None:
        level = doc.setdefault("systems", {}).setdefault(_system(system), {}) if system else doc
        level.setdefault("fields", {}).setdefault(field, {}).update(given)

    return _update(db, tenant_name, change, actor, {"set": {"system": system, "field": field, **given}})


def clear_rules(db: Database, tenant_name: str, *, field: str | None = None, system: str | None = None,
                actor: str = "operator") -> dict[str, Any]:
    """Drop a tenant's overrides: of one field (for one system or at the top level), of one system, or all."""
    if field is not None and field not in SYNCABLE_FIELDS:
        raise RuleError(f"{field!r} is not a syncable field (one of {', '.join(SYNCABLE_FIELDS)})")
    if system is not None:
        _system(system)

    def change(doc: dict[str, Any]) -> None:
        if field is None and system is None:
            doc.clear()
            return
        level = (doc.get("systems") or {}).get(_system(system)) if system else doc
        if level is None:
            return
        if field is None:
            doc["systems"].pop(_system(system), None)
        else:
            (level.get("fields") or {}).pop(field, None)

    return _update(db, tenant_name, change, actor, {"clear": {"system": system, "field": field}})


def _update(db: Database, tenant_name: str, change: Any, actor: str, what: dict[str, Any]) -> dict[str, Any]:
    with db.session() as s:
        tenant = get_tenant(s, tenant_name)
        settings = dict(tenant.settings or {})
        before = settings.get(SETTINGS_KEY) or {}
        doc = _copy(before)
        change(doc)
        doc = _prune(doc)
        default_field_rules().with_overrides(doc, f"tenant {tenant_name!r} field rules")  # refuses a bad rule
        if doc:
            settings[SETTINGS_KEY] = doc
        else:
            settings.pop(SETTINGS_KEY, None)
        tenant.settings = settings
        s.add(AuditEntry(tenant_id=tenant.id, actor=actor, origin="operator", target="local", entity="field_rules",
                         entity_id=str(tenant.id), action="update", before={"overrides": before},
                         after={"overrides": doc, **what}))
        return doc


def _system(system: str | None) -> str:
    if system not in KNOWN_SYSTEMS:
        raise RuleError(f"unknown system {system!r} (one of {', '.join(KNOWN_SYSTEMS)})")
    return system


def _copy(doc: Any) -> Any:
    return {k: _copy(v) for k, v in doc.items()} if isinstance(doc, dict) else doc


def _prune(doc: Any) -> Any:
    """Empty levels removed, so 'no overrides' is stored as nothing."""
    if not isinstance(doc, dict):
        return doc
    out = {k: _prune(v) for k, v in doc.items()}
    return {k: v for k, v in out.items() if v not in ({}, None)}
