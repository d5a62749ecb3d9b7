"""KV3xx: which classes and functions a node may name, compared exactly, never by prefix."""

from __future__ import annotations

import re
from collections.abc import Iterator

from kerasvet.artifact.model import ConfigRole
from kerasvet.findings import Finding, Rule, RuleId, Severity
from kerasvet.policy.model import CustomKind, CustomObject, DenyKind, Policy
from kerasvet.tree import Node, NodeKind

__all__ = ["RULES", "check_class", "check_function", "check_special", "custom_snippet"]

CLASS_NOT_ALLOWED = Rule(
    RuleId("KV300"), "class-not-allowed",
    "A node names a class the policy does not allow.",
    Severity.HIGH,
    "If the class is a trusted part of Keras or of your code, allow its exact "
    "(module, class) pair in a policy that extends this one (docs/policy-format.md); "
    "otherwise do not load the model. A registered custom object (`package>Name`) is "
    "allowed by a `[[custom]]` entry; the finding prints the one to add.",
)
FUNCTION_NOT_ALLOWED = Rule(
    RuleId("KV301"), "function-not-allowed",
    "A function node names a function the policy does not allow.",
    Severity.HIGH,
    "Function nodes are called by Keras with arguments the file supplies; allow only "
    "functions you have reviewed, in a policy that extends this one.",
)
DENIED_CLASS = Rule(
    RuleId("KV302"), "denied-class",
    "A node names a class the policy explicitly denies, usually because of an advisory.",
    Severity.CRITICAL,
    "Do not load the model. The message names the advisory and what the class would do.",
)
DENIED_FUNCTION = Rule(
    RuleId("KV303"), "denied-function",
    "A node names a function the policy explicitly denies (I/O, global state, loaders).",
    Severity.CRITICAL,
    "Do not load the model. The message names the advisory and what the function would do.",
)
NON_ASCII_IDENTIFIER = Rule(
    RuleId("KV304"), "identifier-not-plain",
    "A class, module or registered name is not a plain ASCII identifier.",
    Severity.CRITICAL,
    "Keras never writes such names; they are built to confuse name comparisons.",
)
REGISTERED_NAME_MISMATCH = Rule(
    RuleId("KV305"), "registered-name-mismatch",
    "A node's registered_name disagrees with its module and class_name, or with the "
    "policy's `[[custom]]` entry for that name.",
    Severity.HIGH,
    "A built-in class has no registered name (or its own class name); a different one "
    "would make Keras look the object up in a process-wide registry instead. A custom "
    "object's module (when given) and class name must be those of its `[[custom]]` entry.",
)
SPECIAL_NOT_ALLOWED = Rule(
    RuleId("KV306"), "special-node-not-allowed",
    "A special node (type spec, tensor or array of a non-numeric dtype, unknown marker) "
    "is not allowed.",
    Severity.HIGH,
    "Re-save the model with Keras 3; type specs are TensorFlow-only and object arrays run code.",
)

RULES: tuple[Rule, ...] = (
    CLASS_NOT_ALLOWED, FUNCTION_NOT_ALLOWED, DENIED_CLASS, DENIED_FUNCTION,
    NON_ASCII_IDENTIFIER, REGISTERED_NAME_MISMATCH, SPECIAL_NOT_ALLOWED,
)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_REGISTERED = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.\-]*>)?[A-Za-z_][A-Za-z0-9_]*")
_PACKAGED = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*>[A-Za-z_][A-Za-z0-9_]*")
"""``package>name``: how Keras writes a registered function in a function node's config."""

NUMERIC_DTYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
     "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
     "float8_e4m3fn", "float8_e5m2", "int4", "uint4"}
)
"""Dtypes a tensor or array node may carry; ``object`` and strings would run code or hide data."""

_PLAIN_SPECIALS = frozenset({"__keras_tensor__", "__bytes__", "__ellipsis__", "__slice__",
                             "__tuple__"})
_ARRAY_SPECIALS = frozenset({"__tensor__", "__numpy__"})


def _plain(text: str, pattern: re.Pattern[str]) -> bool:
    return text.isascii() and pattern.fullmatch(text) is not None


def _identifier_findings(node: Node) -> Iterator[Finding]:
    checks = [("class_name", node.class_name, _IDENT if node.kind is NodeKind.CLASS else None)]
    if node.module is not None:
        checks.append(("module", node.module, _MODULE))
    if node.registered_name not in (None, ""):
        assert node.registered_name is not None
        checks.append(("registered_name", node.registered_name, _REGISTERED))
    for field_name, text, pattern in checks:
        if pattern is not None and not _plain(text, pattern):
            yield Finding.of(
                NON_ASCII_IDENTIFIER, node.location,
                f"{field_name} {text!r} is not a plain ASCII identifier", value=text,
            )


def _legacy_training_optimizer(node: Node, policy: Policy) -> bool:
    """tf.keras 2.11+ writes ``training_config.optimizer_config`` as ``"Custom>Adam"``.

    Keras 3 fails to resolve that class name and falls back to
    ``optimizers.get(config["name"])``, a lookup in its own optimizer table; so the node is
    as safe as that name, which must be one the policy lists.
    """
    if node.role is not ConfigRole.TRAINING or node.pointer != "/optimizer_config":
        return False
    if node.module is not None or not isinstance(node.config, dict):
        return False
    name = node.config.get("name")
    allowed = policy.names.get("optimizers", frozenset())
    return isinstance(name, str) and (name in allowed or name.lower() in allowed)


def check_class(node: Node, policy: Policy) -> tuple[list[Finding], str]:
    """Judge a class node: identifiers, explicit denials, then exact allow pairs."""
    if ">" in node.class_name and _legacy_training_optimizer(node, policy):
        return [], "names: optimizers (legacy training_config, resolved by config name)"
    findings = list(_identifier_findings(node))
    if findings:
        return findings, NON_ASCII_IDENTIFIER.id
    name = node.class_name
    denied = _denial(node, name, DenyKind.CLASS, policy)
    if denied is None and node.registered_name and ">" not in node.registered_name:
        denied = _denial(node, node.registered_name, DenyKind.CLASS, policy)
    if denied is not None:
        return denied
    registered = node.registered_name
    if registered and ">" in registered and (
        policy.custom_object(registered) is not None
        or node.module is None or not policy.allows_class(node.module, name)
    ):
        # A built-in pair with a foreign registered name falls through to KV305 below.
        return _custom(node, registered, name, CustomKind.CLASS, policy)
    if node.module is None:
        modules = policy.legacy_class_modules(name)
        if not modules:
            return [Finding.of(
                CLASS_NOT_ALLOWED, node.location,
                f"class {name!r} (no module given) is not an allowed class name",
                value=name,
            )], CLASS_NOT_ALLOWED.id
        return [], f"classes: {modules[0]}.{name} (by name, legacy config)"
    if not policy.allows_class(node.module, name):
        return [Finding.of(
            CLASS_NOT_ALLOWED, node.location,
            f"class {node.module}.{name} is not in the policy's allowed classes",
            value=f"{node.module}.{name}",
        )], CLASS_NOT_ALLOWED.id
    return _registered_name(node, name, "class") or (
        [], _allowed_by("classes", node.module, name, DenyKind.CLASS, policy))


def check_function(node: Node, policy: Policy) -> tuple[list[Finding], str]:
    """Judge a function node: the name lives in ``config``, the module in ``module``.

    Keras writes a registered function as ``{"module": "builtins", "config": "pkg>name",
    "registered_name": "function"}`` and resolves that config string through its registries,
    so such a node is judged against ``[[custom]]`` by the config string.
    """
    findings = list(_identifier_findings(node))
    name = node.config
    assert isinstance(name, str)  # the tree's schema check guarantees it
    packaged = _plain(name, _PACKAGED) and node.registered_name in (None, "", "function")
    if not packaged and not _plain(name, _IDENT):
        findings.append(Finding.of(NON_ASCII_IDENTIFIER, node.location,
                                   f"function name {name!r} is not a plain ASCII identifier",
                                   value=name))
    if findings:
        return findings, NON_ASCII_IDENTIFIER.id
    if packaged:
        return _custom(node, name, name.rpartition(">")[2], CustomKind.FUNCTION, policy,
                       module=None)
    denied = _denial(node, name, DenyKind.FUNCTION, policy)
    if denied is not None:
        return denied
    registered = node.registered_name
    if registered and ">" in registered and (
        policy.custom_object(registered) is not None
        or node.module is None or not policy.allows_function(node.module, name)
    ):
        return _custom(node, registered, name, CustomKind.FUNCTION, policy)
    if node.module is None or not policy.allows_function(node.module, name):
        shown = f"{node.module}.{name}" if node.module else name
        return [Finding.of(FUNCTION_NOT_ALLOWED, node.location,
                           f"function {shown} is not in the policy's allowed functions",
                           value=shown)], FUNCTION_NOT_ALLOWED.id
    return _registered_name(node, name, "function") or (
        [], _allowed_by("functions", node.module, name, DenyKind.FUNCTION, policy))


def _allowed_by(table: str, module: str, name: str, kind: DenyKind, policy: Policy) -> str:
    """The decision's rule for an allowed pair, naming the exception when the pair is
    allowed over a broad deny rule (so the decision log shows the override)."""
    exception = policy.deny_exception(module, name, kind) if policy.deny_exceptions else None
    suffix = f" (exact allow at {exception}, over a broad deny rule)" if exception else ""
    return f"{table}: {module}.{name}{suffix}"


def custom_snippet(registered_name: str, module: str | None, name: str,
                   kind: CustomKind = CustomKind.CLASS) -> str:
    """The ``[[custom]]`` entry that would allow a registered object, as TOML to paste."""
    target = f"{module or '<your_module>'}.{name}"
    lines = ["[[custom]]", f'registered_name = "{registered_name}"', f'object = "{target}"']
    if kind is CustomKind.FUNCTION:
        lines.append('kind = "function"')
    return "\n".join(lines)


def _custom(node: Node, registered: str, name: str, kind: CustomKind, policy: Policy,
            module: str | bool | None = True) -> tuple[list[Finding], str]:
    """Judge a node carrying a ``package>Name`` registered name against ``[[custom]]``.

    ``module`` is the module to compare with the entry's: the node's own (``True``), or
    ``None`` where Keras writes no defining module (``builtins`` for registered functions).
    """
    node_module = node.module if module is True else module
    assert node_module is None or isinstance(node_module, str)
    not_allowed = CLASS_NOT_ALLOWED if kind is CustomKind.CLASS else FUNCTION_NOT_ALLOWED
    entry = policy.custom_object(registered)
    if entry is None:
        what = "class" if kind is CustomKind.CLASS else "function"
        where = f" from module {node_module}" if node_module else ""
        snippet = custom_snippet(registered, node_module, name, kind)
        return [Finding.of(
            not_allowed, node.location,
            f"custom object {registered!r} ({what} {name}{where}) is not in the policy; "
            f"if you trust it, add to a policy that extends this one:\n{snippet}",
            value=registered,
        )], not_allowed.id
    # The loader would import the entry's object, so a denial of that path wins too.
    denied = _entry_denial(node, entry, kind, policy)
    if denied is not None:
        return denied
    disagreements = []
    if entry.kind is not kind:
        disagreements.append(f"the entry is a {entry.kind.value}, the node a {kind.value}")
    if node_module is not None and node_module != entry.module:
        disagreements.append(f"module {node_module!r} is not the entry's {entry.module!r}")
    if name != entry.name:
        label = "class_name" if kind is CustomKind.CLASS else "function name"
        disagreements.append(f"{label} {name!r} is not the entry's {entry.name!r}")
    if disagreements:
        return [Finding.of(
            REGISTERED_NAME_MISMATCH, node.location,
            f"custom object {registered!r} disagrees with its [[custom]] entry "
            f"(object = {entry.object_path!r}, {entry.source}): " + "; ".join(disagreements),
            value=registered,
        )], REGISTERED_NAME_MISMATCH.id
    return [], f"custom: {registered} -> {entry.object_path} ({entry.source})"


def _entry_denial(node: Node, entry: CustomObject, kind: CustomKind,
                  policy: Policy) -> tuple[list[Finding], str] | None:
    """A deny rule covering the object a ``[[custom]]`` entry would bind."""
    deny_kind = DenyKind.CLASS if kind is CustomKind.CLASS else DenyKind.FUNCTION
    for name in dict.fromkeys((entry.name, entry.qualname.partition(".")[0])):
        rule = policy.deny_rule_for(entry.module, name, deny_kind)
        if rule is not None:
            emitted = DENIED_CLASS if kind is CustomKind.CLASS else DENIED_FUNCTION
            shown = f"{entry.module}.{name}"
            return [Finding.of(emitted, node.location, f"{shown}: {rule.reason}", value=shown,
                               reference=rule.advisory)], f"deny: {rule.source}"
    return None


def _denial(
    node: Node, name: str, kind: DenyKind, policy: Policy
) -> tuple[list[Finding], str] | None:
    """The finding of the explicit deny rule that covers ``name``, if one does."""
    rule = policy.deny_rule_for(node.module, name, kind)
    if rule is None:
        return None
    shown = f"{node.module}.{name}" if node.module else name
    emitted = DENIED_CLASS if kind is DenyKind.CLASS else DENIED_FUNCTION
    return [Finding.of(emitted, node.location, f"{shown}: {rule.reason}", value=shown,
                       reference=rule.advisory)], f"deny: {rule.source}"


def _registered_name(node: Node, name: str, what: str) -> tuple[list[Finding], str] | None:
    """A built-in's registered_name must be absent or its own name.

    Keras writes ``"function"`` for built-in functions, which it looks up by the config
    string; any other value would send the lookup to a process-wide registry instead.
    """
    accepted = (None, "", name, "function") if what == "function" else (None, "", name)
    registered = node.registered_name
    if registered in accepted:
        return None
    return [Finding.of(
        REGISTERED_NAME_MISMATCH, node.location,
        f"registered_name {registered!r} does not match {what} {node.module}.{name}",
        value=registered,
    )], REGISTERED_NAME_MISMATCH.id


def check_special(node: Node, policy: Policy) -> tuple[list[Finding], str]:
    """Markers Keras special-cases: plain data is fine, type specs and odd dtypes are not."""
    name = node.class_name
    if name in _PLAIN_SPECIALS:
        if name == "__keras_tensor__" and isinstance(node.config, dict):
            dtype = node.config.get("dtype")
            if dtype is not None and (not isinstance(dtype, str) or (
                dtype not in NUMERIC_DTYPES and dtype != "string"
            )):
                return [Finding.of(SPECIAL_NOT_ALLOWED, node.location,
                                   f"a symbolic tensor of dtype {dtype!r}", value=dtype)], \
                    SPECIAL_NOT_ALLOWED.id
        return [], f"special: {name}"
    if name in _ARRAY_SPECIALS:
        dtype = node.config.get("dtype") if isinstance(node.config, dict) else None
        if not isinstance(dtype, str) or dtype not in NUMERIC_DTYPES:
            return [Finding.of(SPECIAL_NOT_ALLOWED, node.location,
                               f"{name} with dtype {dtype!r}; only numeric dtypes are allowed",
                               value=dtype)], SPECIAL_NOT_ALLOWED.id
        return [], f"special: {name}"
    reason = ("type specs resolve TensorFlow classes by name and are not needed by Keras 3 "
              "models" if name == "__typespec__" else "kerasvet does not know this marker")
    return [Finding.of(SPECIAL_NOT_ALLOWED, node.location, f"{name}: {reason}", value=name)], \
        SPECIAL_NOT_ALLOWED.id
