"""KV5xx: serialized Python functions. Until the lambda analyzer lands, every one is denied."""

from __future__ import annotations

from kerasvet.findings import Finding, Location, Rule, RuleId, Severity, join_pointer
from kerasvet.policy.model import LambdaMode, Policy
from kerasvet.tree import Node

__all__ = ["RULES", "check_lambda"]

LAMBDA_DENIED = Rule(
    RuleId("KV500"), "lambda-denied",
    "The config carries serialized Python bytecode (a lambda), which the policy denies.",
    Severity.HIGH,
    "Keras runs this bytecode while loading (CVE-2024-3660, CVE-2025-9905). Rewrite the "
    "Lambda as a registered custom layer, or review it and use a policy that allows it.",
)
KERAS2_FUNCTION_REFERENCE = Rule(
    RuleId("KV501"), "keras2-function-reference",
    "A Keras 2 Lambda names its function by string (`function_type` \"function\" or \"raw\").",
    Severity.HIGH,
    "tf.keras resolves such a name through its object registry and the caller's custom "
    "objects, so the file picks which Python callable runs; rewrite the Lambda as a custom "
    "layer.",
)
KERAS2_MODULE_KEY = Rule(
    RuleId("KV502"), "keras2-module-key",
    "A Keras 2 Lambda carries a `*_module` key naming the module whose globals the function "
    "would see.",
    Severity.MEDIUM,
    "kerasvet ignores this key when resolving names; it is reported because an attacker "
    "chooses it (`\"module\": \"os\"` makes a bare `system` resolve in tf.keras).",
)

RULES: tuple[Rule, ...] = (LAMBDA_DENIED, KERAS2_FUNCTION_REFERENCE, KERAS2_MODULE_KEY)


def _is_shape(value: object) -> bool:
    """A raw output shape: null, or a (nested) list of ints and nulls."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif item is not None and (not isinstance(item, int) or isinstance(item, bool)):
            return False
    return True


def check_lambda(node: Node, policy: Policy) -> tuple[list[Finding], str]:
    """Deny bytecode; for Keras 2 lambdas also judge ``*_type`` and flag ``*_module``."""
    findings: list[Finding] = []
    if node.argument is not None and f"{node.argument}_type" in node.raw:
        key = node.argument
        config = node.raw
        # tf.keras pairs `function` with a plain `module` key, the others with `<key>_module`.
        module_key = "module" if key == "function" else f"{key}_module"
        module = config.get(module_key)
        if module is not None:
            findings.append(Finding.of(
                KERAS2_MODULE_KEY,
                Location(member=node.member,
                         pointer=join_pointer(join_pointer(node.parent or "", "config"),
                                              module_key),
                         layer=node.layer),
                f"`{module_key}` is {module!r}", value=module,
            ))
        kind = config.get(f"{key}_type")
        if kind == "raw":
            if (key == "output_shape" and _is_shape(node.config)) or node.config is None:
                return findings, "lambdas: raw output shape"
            findings.append(Finding.of(KERAS2_FUNCTION_REFERENCE, node.location,
                                       f"`{key}` is a raw value used as a callable",
                                       value=node.config))
            return findings, KERAS2_FUNCTION_REFERENCE.id
        if kind != "lambda":
            findings.append(Finding.of(KERAS2_FUNCTION_REFERENCE, node.location,
                                       f"`{key}_type` is {kind!r}: the callable is looked up "
                                       "by name", value=node.config))
            return findings, KERAS2_FUNCTION_REFERENCE.id
    assert policy.lambdas.mode is LambdaMode.DENY
    findings.append(Finding.of(
        LAMBDA_DENIED, node.location,
        "serialized Python bytecode; the policy's `lambdas.mode` is \"deny\"",
    ))
    return findings, LAMBDA_DENIED.id
