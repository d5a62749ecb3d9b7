"""KV4xx: limits on the arguments a node passes to its class (every config key is one)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from kerasvet.findings import Finding, Location, Pointer, Rule, RuleId, Severity, join_pointer
from kerasvet.policy.model import ArgumentConstraint, Policy
from kerasvet.tree import Node

__all__ = ["RULES", "check_arguments", "check_layer_name", "constraint_violations", "json_type"]

ARGUMENT_TYPE = Rule(
    RuleId("KV400"), "argument-type",
    "An argument has a type the policy does not allow for it.",
    Severity.HIGH,
    "Keras writes these arguments with the allowed types; a different type usually "
    "smuggles a path, a callable or a nested object. Do not load the model.",
)
ARGUMENT_RANGE = Rule(
    RuleId("KV401"), "argument-value",
    "An argument is outside the range or set of values the policy allows.",
    Severity.HIGH,
    "If the value is genuine, widen the constraint in a policy that extends this one.",
)
ARGUMENT_LENGTH = Rule(
    RuleId("KV402"), "argument-too-long",
    "A string or list argument is longer than the policy allows.",
    Severity.HIGH,
    "If the value is genuine, raise `max_length` in a policy that extends this one.",
)
ARGUMENT_PATH = Rule(
    RuleId("KV403"), "argument-path-or-url",
    "An argument holds a file path or URL where the policy forbids one.",
    Severity.CRITICAL,
    "Keras would read (or fetch) that location while loading. Do not load the model; "
    "ship vocabularies and tables inside the config as lists.",
)
LAYER_NAME = Rule(
    RuleId("KV404"), "object-name-grammar",
    "An object name contains `..`, a path separator or a control character, is blank, or "
    "(a layer's own `name` key) is longer than 256 characters.",
    Severity.HIGH,
    "Names become path components when Keras saves assets (CVE-2026-12479); "
    "re-save the model with plain names.",
)

ARGUMENT_NODE = Rule(
    RuleId("KV407"), "argument-node-not-allowed",
    "An argument holds a config node (an initializer, a regularizer, a layer, ...) that the "
    "policy does not allow in that argument.",
    Severity.HIGH,
    "The class is allowed elsewhere, but not here: if the object is genuine in this "
    "argument, add it to the constraint's `nodes` in a policy that extends this one.",
)

RULES: tuple[Rule, ...] = (ARGUMENT_TYPE, ARGUMENT_RANGE, ARGUMENT_LENGTH, ARGUMENT_PATH,
                           LAYER_NAME, ARGUMENT_NODE)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(//|\\\\)")
_PATH = re.compile(r"[/\\]|^~|^[A-Za-z]:|\.\.|^\.")
_MAX_NAME = 256
_BAD_NAME = re.compile(r"\.\.|[/\\]|[\x00-\x1f\x7f]")


def json_type(value: object) -> str:
    """The JSON type name a policy uses for ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _leaves(value: object) -> Iterator[tuple[str, object]]:
    """Scalars inside nested lists with their relative pointer (iterative; the tree walk
    has already capped the document's size, so no second cap that could stop early)."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        suffix, item = stack.pop()
        if isinstance(item, list):
            stack.extend((f"{suffix}/{i}", v) for i, v in reversed(list(enumerate(item))))
        else:
            yield suffix, item


def _depth(value: object) -> int:
    """Nesting depth of lists and objects (a scalar is 0, ``[1]`` is 1), iteratively."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def _node_target(node: Mapping[str, object], allowed: frozenset[str]) -> tuple[str, bool]:
    """How a node in an argument is named, and whether the constraint's ``nodes`` allow it.

    A registered ``package>Name`` is matched as written; a node with a module as
    ``module.Class``; a legacy node without a module by its class name alone.
    """
    class_name = str(node.get("class_name"))
    registered, module = node.get("registered_name"), node.get("module")
    if isinstance(registered, str) and ">" in registered:
        return registered, registered in allowed
    if isinstance(module, str):
        shown = f"{module}.{class_name}"
        return shown, shown in allowed
    return class_name, any(t.rpartition(".")[2] == class_name for t in allowed if ">" not in t)


def constraint_violations(
    value: object, constraint: ArgumentConstraint
) -> Iterator[tuple[Rule, str, str, object]]:
    """(rule, pointer suffix, message, offending value) for each limit ``value`` breaks
    (public so ``explain`` can show each constraint's outcome with the engine's own check)."""
    kind = json_type(value)
    types = constraint.types
    if isinstance(value, str) and constraint.forbid:
        if "url" in constraint.forbid and _URL.search(value):
            yield ARGUMENT_PATH, "", "is a URL", value
            return
        if "path" in constraint.forbid and _PATH.search(value):
            yield ARGUMENT_PATH, "", "looks like a file path", value
            return
    if types is not None and kind not in types and not (kind == "int" and "float" in types):
        allowed = ", ".join(sorted(types))
        yield ARGUMENT_TYPE, "", f"is a {kind}; allowed: {allowed}", value
        return
    if constraint.enum is not None and value is not None and value not in constraint.enum:
        yield ARGUMENT_RANGE, "", f"is not one of {list(constraint.enum)}", value
    length = constraint.max_length
    if length is not None and isinstance(value, (str, list)) and len(value) > length:
        yield ARGUMENT_LENGTH, "", f"has length {len(value)}, over {length}", value
    items = constraint.max_items
    if items is not None and isinstance(value, (list, dict)) and len(value) > items:
        what = "items" if isinstance(value, list) else "keys"
        yield ARGUMENT_LENGTH, "", f"has {len(value)} {what}, over max_items {items}", value
    if constraint.max_depth is not None and isinstance(value, (list, dict)):
        depth = _depth(value)
        if depth > constraint.max_depth:
            yield (ARGUMENT_LENGTH, "", f"is nested {depth} deep, over max_depth "
                   f"{constraint.max_depth}", value)
    if constraint.nodes is not None:
        candidates = [("", value)] if isinstance(value, dict) else (
            [(f"/{i}", v) for i, v in enumerate(value)] if isinstance(value, list) else [])
        for suffix, item in candidates:
            if isinstance(item, dict) and "class_name" in item:
                shown, ok = _node_target(item, constraint.nodes)
                if not ok:
                    yield (ARGUMENT_NODE, suffix, f"holds {shown}, which is not one of "
                           f"{sorted(constraint.nodes)}", shown)
    low, high = constraint.minimum, constraint.maximum
    check_numbers = low is not None or high is not None
    if not check_numbers and constraint.pattern is None:
        return
    for suffix, leaf in _leaves(value):
        is_number = isinstance(leaf, (int, float)) and not isinstance(leaf, bool)
        if check_numbers and is_number and (
            (low is not None and leaf < low) or (high is not None and leaf > high)  # type: ignore[operator]
        ):
            yield ARGUMENT_RANGE, suffix, f"{leaf} is outside [{low}, {high}]", leaf
        if constraint.pattern is not None and isinstance(leaf, str) \
                and re.fullmatch(constraint.pattern, leaf) is None:
            yield (ARGUMENT_RANGE, suffix,
                   f"{leaf!r} does not match the pattern {constraint.pattern!r}", leaf)


ConstraintTable = Mapping[str, ArgumentConstraint]


def constraints_for(node: Node, policy: Policy) -> list[tuple[str, ConstraintTable]]:
    """Constraint tables that apply to a class node: ``"*"`` first, then its own.

    A node allowed by a ``[[custom]]`` entry is constrained by the table keyed by its
    registered name (``"my_package>MyLayer"``); any other node by ``"<module>.<Class>"``.
    """
    tables = []
    everywhere = policy.arguments.get("*")
    if everywhere:
        tables.append(("*", everywhere))
    registered = node.registered_name
    if _custom_node(node, policy):
        assert registered is not None
        # Always listed, even when empty: `check_arguments` recognises a list built for a
        # custom node by this entry (see there).
        tables.append((registered, policy.arguments.get(registered, {})))
        return tables
    modules = (node.module,) if node.module else policy.legacy_class_modules(node.class_name)
    for module in modules:
        key = f"{module}.{node.class_name}"
        own = policy.arguments.get(key)
        if own:
            tables.append((key, own))
    return tables


def _custom_node(node: Node, policy: Policy) -> bool:
    """Whether the node was allowed by a ``[[custom]]`` entry (so its registered name keys
    its constraints)."""
    registered = node.registered_name
    return bool(registered) and ">" in str(registered) \
        and policy.custom_object(registered) is not None


def _obviously_fine(value: object, constraint: ArgumentConstraint) -> bool:
    """The common case in one step: a type/length-only constraint that the value meets."""
    if constraint.enum is not None or constraint.forbid or constraint.minimum is not None \
            or constraint.maximum is not None or constraint.pattern is not None \
            or constraint.max_items is not None or constraint.max_depth is not None \
            or constraint.nodes is not None:
        return False
    if constraint.types is not None and json_type(value) not in constraint.types:
        return False
    length = constraint.max_length
    return length is None or not isinstance(value, (str, list)) or len(value) <= length


def check_arguments(
    node: Node, policy: Policy,
    tables: list[tuple[str, ConstraintTable]] | None = None,
) -> list[Finding]:
    """Apply every constraint the policy has for this class to its config.

    ``tables`` may be passed in by a caller that already looked them up for this class.
    """
    config = node.config
    if not isinstance(config, dict):
        return []
    if tables is not None and (_custom_node(node, policy)
                               or any(">" in target for target, _ in tables)):
        # A caller's memo keyed by (module, class_name) alone cannot tell a custom node
        # from a built-in or legacy node of the same names, nor two registered names bound
        # to the same class; their tables differ, so look them up again (a dict read).
        tables = None
    findings = []
    for target, table in constraints_for(node, policy) if tables is None else tables:
        for argument in [a for a in table if a in config]:  # table order: deterministic
            constraint = table[argument]
            value = config[argument]
            if _obviously_fine(value, constraint):
                continue
            for rule, suffix, message, offending in constraint_violations(value, constraint):
                config_pointer = join_pointer(node.pointer, "config")
                why = f" ({constraint.reason})" if constraint.reason else ""
                findings.append(Finding.of(
                    rule,
                    Location(member=node.member,
                             pointer=Pointer(join_pointer(config_pointer, argument) + suffix),
                             layer=node.layer),
                    f"argument `{argument}` of {node.class_name} {message}{why} "
                    f"[constraint arguments.\"{target}\".{argument} in {constraint.source}]",
                    value=offending,
                ))
    return findings


def check_layer_name(node: Node) -> list[Finding]:
    """Names of saveable objects must be usable as a single, plain path component."""
    findings = []
    places: list[tuple[tuple[str, ...], object]] = [(("name",), node.raw.get("name"))]
    if type(node.config) is dict:
        places.append((("config", "name"), node.config.get("name")))
    for tokens, name in places:
        # `config.name` is a constructor argument, so its length is the policy's to limit
        # (`arguments."*".name`); the node's own `name` key is checked here.
        too_long = tokens == ("name",) and isinstance(name, str) and len(name) > _MAX_NAME
        if type(name) is not str or (name.strip() and not _BAD_NAME.search(name)
                                     and not too_long):
            continue
        pointer = node.pointer
        for token in tokens:
            pointer = join_pointer(pointer, token)
        findings.append(Finding.of(
            LAYER_NAME, Location(member=node.member, pointer=pointer, layer=node.layer),
            f"name {name!r} is not a plain path component", value=name,
        ))
    return findings
