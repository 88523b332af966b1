"""Loading config/field_rules.yaml. A bad rule raises RuleError naming the system and field, so the worker
refuses to start rather than syncing with a rule nobody meant."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from syncworker.domain.sync import FieldRules, RuleError

RULES_FILE = Path(__file__).resolve().parents[2] / "config" / "field_rules.yaml"


def load_field_rules(path: Path | None = None) -> FieldRules:
    path = path or RULES_FILE
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
