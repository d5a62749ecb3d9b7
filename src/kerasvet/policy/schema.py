"""The JSON Schema (draft 2020-12) of policy files, generated from the loader's own key sets.

Editors and ``kerasvet policy check`` users get completion and early errors from it, but it
must never disagree with the loader: every key set below is the loader's, and a missing
entry here raises ``KeyError`` when the schema is generated, so a new loader key fails the
test that regenerates ``schemas/policy.schema.json`` rather than drifting silently.

The schema is slightly narrower than the loader in one place: ``bandit_severity`` must be
lower case (the loader also accepts ``"LOW"``), since lower case is how policies are written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kerasvet.findings import Severity
from kerasvet.limits import Limits
from kerasvet.policy.load import (
    _CONSTRAINT_KEYS,
    _CUSTOM_KEYS,
    _DENY_KEYS,
    _IDENT,
    _LAMBDA_KEYS,
    _MODULE,
    _NAME,
    _NODE_TARGET,
    _OBJECT,
    _REGISTERED,
    _RULE_ID,
    _TEST_KEYS,
    _TEST_VERDICTS,
    _TOP_KEYS,
)
from kerasvet.policy.model import (
    FORBIDDEN_PATTERNS,
    JSON_TYPES,
    NAME_TABLES,
    REMOVABLE_LAMBDA_KEYS,
    REMOVABLE_SECTIONS,
    CustomKind,
    DenyKind,
    LambdaMode,
)

__all__ = ["SCHEMA_PATH", "policy_schema", "render_policy_schema"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "policy.schema.json"
"""Where the generated schema ships inside the package."""

_Schema = dict[str, Any]


def _pattern(regex: str) -> str:
    """A loader regex (always used with ``fullmatch``) as an anchored JSON Schema pattern."""
    return f"^(?:{regex})$"


def _strings(pattern: str | None = None) -> _Schema:
    items: _Schema = {"type": "string"}
    if pattern is not None:
        items["pattern"] = _pattern(pattern)
    return {"type": "array", "items": items}


def _closed(properties: dict[str, _Schema], keys: frozenset[str] | tuple[str, ...],
            **extra: Any) -> _Schema:
    """An object with exactly the loader's ``keys``; a key without a schema is a KeyError."""
    return {
        "type": "object",
        "properties": {key: properties[key] for key in sorted(keys)},
        "additionalProperties": False,
        **extra,
    }


def _name_map() -> _Schema:
    """``module -> [names]``: module names are open, so they are checked by pattern."""
    return {
        "type": "object",
        "propertyNames": {"pattern": _pattern(_MODULE.pattern)},
        "additionalProperties": _strings(_IDENT.pattern),
    }


def _constraint() -> _Schema:
    return _closed({
        "types": {"type": "array", "items": {"enum": sorted(JSON_TYPES)}},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "max_length": {"type": "integer", "minimum": 0},
        "max_items": {"type": "integer", "minimum": 0},
        "max_depth": {"type": "integer", "minimum": 0},
        "enum": {"type": "array"},
        "forbid": {"type": "array", "items": {"enum": sorted(FORBIDDEN_PATTERNS)}},
        "pattern": {"type": "string", "format": "regex",
                    "description": "every string must match it in full (Python re syntax)"},
        "nodes": _strings(_NODE_TARGET.pattern),
        "reason": {"type": "string"},
    }, _CONSTRAINT_KEYS)


def _remove() -> _Schema:
    """``[remove]``: entries spelled as where they were added."""
    return _closed({
        "classes": _name_map(),
        "functions": _name_map(),
        "names": _closed({table: _strings() for table in NAME_TABLES}, NAME_TABLES),
        "custom": _strings(_REGISTERED.pattern),
        "arguments": {"type": "object", "additionalProperties": _strings()},
        "lambdas": _closed({key: _strings() for key in REMOVABLE_LAMBDA_KEYS},
                           REMOVABLE_LAMBDA_KEYS),
    }, REMOVABLE_SECTIONS)


def _deny() -> _Schema:
    module = {"type": "string", "pattern": _pattern(_MODULE.pattern)}
    return _closed({
        "module": module,
        "module_prefix": module,
        "names": _strings(_IDENT.pattern),
        "kind": {"enum": [k.value for k in DenyKind]},
        "reason": {"type": "string", "pattern": r"\S"},
        "advisory": {"type": "string"},
    }, _DENY_KEYS, required=["reason"],
        oneOf=[{"required": ["module"]}, {"required": ["module_prefix"]}])


def _custom() -> _Schema:
    return _closed({
        "registered_name": {"type": "string", "pattern": _pattern(_REGISTERED.pattern)},
        "object": {"type": "string", "pattern": _pattern(_OBJECT.pattern),
                   "description": "module.Name, or module:Outer.Name for a nested class"},
        "kind": {"enum": [k.value for k in CustomKind]},
    }, _CUSTOM_KEYS, required=["registered_name", "object"])


def _test() -> _Schema:
    return _closed({
        "name": {"type": "string", "pattern": r"\S"},
        "artifact": {"type": "string", "pattern": r"\S",
                     "description": "an artifact path, relative to the policy file"},
        "config": {"type": "object",
                   "description": "an inline Keras config (TOML has no null: use artifact "
                                  "for configs that need one)"},
        "verdict": {"enum": list(_TEST_VERDICTS)},
        "rules": _strings(_RULE_ID.pattern),
    }, _TEST_KEYS, required=["name", "verdict"],
        oneOf=[{"required": ["artifact"]}, {"required": ["config"]}])


def _lambdas() -> _Schema:
    return _closed({
        "mode": {"enum": [m.value for m in LambdaMode]},
        "bandit_severity": {"enum": [s.label for s in Severity]},
        "max_code_chars": {"type": "integer"},
        "roots": {
            "type": "object",
            "propertyNames": {"pattern": _pattern(_IDENT.pattern)},
            "additionalProperties": {"type": "string", "pattern": _pattern(_MODULE.pattern)},
        },
        "calls": _strings(_MODULE.pattern),
        "builtins": _strings(_IDENT.pattern),
        "attributes": _strings(_IDENT.pattern),
    }, _LAMBDA_KEYS)


def policy_schema() -> _Schema:
    """The schema as a JSON-ready dict; every fixed-key object is closed."""
    header: _Schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "kerasvet policy",
        "description": "A kerasvet allowlist policy (TOML). See docs/policy-format.md.",
    }
    return header | _closed({
        "name": {"type": "string", "pattern": _pattern(_NAME.pattern)},
        "description": {"type": "string"},
        "extends": {"type": "array", "items": {"type": "string"}},
        "limits": _closed({name: {"type": "integer", "minimum": 1} for name in Limits.names()},
                          Limits.names()),
        "lambdas": _lambdas(),
        "classes": _name_map(),
        "functions": _name_map(),
        "names": _closed({table: _strings() for table in NAME_TABLES}, NAME_TABLES),
        "deny": {"type": "array", "items": _deny()},
        "custom": {"type": "array", "items": _custom()},
        "tests": {"type": "array", "items": _test()},
        "remove": _remove(),
        "arguments": {
            "type": "object",
            "propertyNames": {
                "pattern": _pattern(rf"\*|{_MODULE.pattern}|{_REGISTERED.pattern}")},
            "additionalProperties": {"type": "object", "additionalProperties": _constraint()},
        },
    }, _TOP_KEYS, required=["name"])


def render_policy_schema() -> str:
    """The schema as the text shipped in ``schemas/policy.schema.json``."""
    return json.dumps(policy_schema(), indent=2) + "\n"


if __name__ == "__main__":  # pragma: no cover - regenerates the shipped file
    SCHEMA_PATH.write_text(render_policy_schema(), encoding="utf-8")
