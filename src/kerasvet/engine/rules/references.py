"""KV307: bare strings that Keras resolves from its own tables (``activation="relu"``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping

from kerasvet.findings import Finding, Location, Pointer, Rule, RuleId, Severity, join_pointer
from kerasvet.policy.model import Policy
from kerasvet.tree import Node

__all__ = ["RULES", "check_compile_strings", "check_references", "table_for_argument"]

NAME_NOT_ALLOWED = Rule(
    RuleId("KV307"), "name-not-allowed",
    "A string that Keras looks up by name (an activation, initializer, loss, ...) is not "
    "one the policy allows.",
    Severity.HIGH,
    "Use a built-in name, or allow the name in a policy that extends this one.",
)

RULES: tuple[Rule, ...] = (NAME_NOT_ALLOWED,)

_SUFFIX_TABLES = (
    ("_initializer", "initializers"),
    ("_regularizer", "regularizers"),
    ("_constraint", "constraints"),
)
_EXACT_TABLES = {
    "activation": "activations",
    "recurrent_activation": "activations",
    "inner_activation": "activations",
    "embeddings_initializer": "initializers",
    "fn": "metrics",
}
_COMPILE_KEYS = {
    "loss": "losses",
    "metrics": "metrics",
    "weighted_metrics": "metrics",
    "optimizer": "optimizers",
}


@functools.lru_cache(maxsize=4096)
def _reference_keys(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(argument, table) for the reference arguments among a config's keys.

    Memoised on the key tuple: layers of one class share their keys, so a model with
    thousands of layers classifies each key set once. The memo is bounded and holds only
    this pure function's results.
    """
    found = []
    for key in keys:
        table = table_for_argument(key)
        if table is not None:
            found.append((key, table))
    return tuple(found)


def table_for_argument(argument: str) -> str | None:
    """The Keras table a string argument of this name is looked up in, if any."""
    exact = _EXACT_TABLES.get(argument)
    if exact is not None:
        return exact
    for suffix, table in _SUFFIX_TABLES:
        if argument.endswith(suffix):
            return table
    return None


def _finding(member: str, pointer: Pointer, layer: str | None, table: str, text: str) -> Finding:
    return Finding.of(
        NAME_NOT_ALLOWED, Location(member=member, pointer=pointer, layer=layer),
        f"{text!r} is not an allowed name in the policy's `names.{table}` table", value=text,
    )


def check_references(node: Node, policy: Policy) -> list[Finding]:
    """String values of reference arguments must be names the policy lists."""
    config = node.config
    if not isinstance(config, dict):
        return []
    findings = []
    for argument, table in _reference_keys(tuple(config)):
        value = config[argument]
        if type(value) is not str:
            continue
        if value not in policy.names.get(table, frozenset()):
            pointer = join_pointer(join_pointer(node.pointer, "config"), argument)
            findings.append(_finding(node.member, pointer, node.layer, table, value))
    return findings


def _strings(value: object, pointer: str) -> Iterator[tuple[str, str]]:
    """Strings inside nested lists and dict values (nodes are judged on their own)."""
    stack: list[tuple[object, str]] = [(value, pointer)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, list):
            stack.extend((v, f"{where}/{i}") for i, v in enumerate(item))
        elif isinstance(item, dict) and "class_name" not in item:
            stack.extend((v, str(join_pointer(where, k))) for k, v in item.items())


def check_compile_strings(
    compile_config: Mapping[str, object], member: str, pointer: Pointer, policy: Policy
) -> list[Finding]:
    """``loss="mse"``, ``metrics=["mae"]``, ``optimizer="adam"`` in compile/training configs."""
    findings = []
    for key, table in _COMPILE_KEYS.items():
        if key not in compile_config:
            continue
        allowed = policy.names.get(table, frozenset())
        for where, text in _strings(compile_config[key], join_pointer(pointer, key)):
            if text not in allowed:
                findings.append(_finding(member, Pointer(where), None, table, text))
    return findings
