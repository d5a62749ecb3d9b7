"""KV5xx: serialized Python functions: denied outright, or read statically and judged.

The analyzer (``kerasvet.lambdas``) is imported only when a config carries a lambda, so
auditing ordinary models never pays for astroid and bandit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from kerasvet.findings import Finding, Location, Rule, RuleId, Severity, join_pointer
from kerasvet.policy.model import LambdaMode, Policy
from kerasvet.tree import Node

if TYPE_CHECKING:
    from kerasvet.lambdas.model import LambdaAnalysis

__all__ = ["RULES", "analyse_lambda_node", "check_lambda"]

LAMBDA_DENIED = Rule(
    RuleId("KV500"), "lambda-denied",
    "The config carries serialized Python bytecode (a lambda), which the policy denies.",
    Severity.HIGH,
    "Keras runs this bytecode while loading (CVE-2024-3660, CVE-2025-9905). Rewrite the "
    "Lambda as a layer class in your own package and allow its exact (module, class) pair, "
    "or use a policy whose `lambdas.mode` is \"analyze\" (the default policy's).",
)
KERAS2_FUNCTION_REFERENCE = Rule(
    RuleId("KV501"), "keras2-function-reference",
    "A Keras 2 Lambda's `function_type` (or `output_shape_type`, `mask_type`) is not "
    "\"lambda\": the callable is named by string, or a raw value stands in for one.",
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

LAMBDA_UNREADABLE = Rule(
    RuleId("KV503"), "lambda-unreadable",
    "A lambda's bytecode could not be read safely: bad base64, a marshal stream or "
    "instruction sequence that fails the strict checks, or CPython versions that disagree.",
    Severity.HIGH,
    "Keras would hand these bytes to the native unmarshaller; crafted or damaged bytecode "
    "is refused. Rewrite the Lambda as a custom layer or re-save it with a supported CPython.",
)
LAMBDA_CONSTRUCT = Rule(
    RuleId("KV504"), "lambda-construct-not-allowed",
    "A lambda uses a construct outside the small lifted subset (imports, stores, nested "
    "code, comprehensions, generators, f-strings, star-calls, loops, raise/yield).",
    Severity.HIGH,
    "Rewrite the lambda as a plain expression over its arguments, or as a custom layer.",
)
LAMBDA_CALL = Rule(
    RuleId("KV505"), "lambda-call-not-allowed",
    "A lambda uses a name, call or attribute the policy's `[lambdas]` section does not allow.",
    Severity.HIGH,
    "If the call is a harmless tensor operation, add its fully-qualified name to "
    "`lambdas.calls` in a policy that extends this one.",
)
LAMBDA_DATA = Rule(
    RuleId("KV506"), "lambda-data-not-allowed",
    "A lambda's defaults or closure hold something other than plain JSON data, or its "
    "constant arithmetic was left unfolded (the compiler refuses to fold results that "
    "large, so it is built to exhaust memory at load).",
    Severity.HIGH,
    "Defaults and closure values are attacker data; rewrite the lambda without them.",
)
LAMBDA_ALIAS = Rule(
    RuleId("KV507"), "lambda-alias-mismatch",
    "astroid resolves a call in the lambda to a different definition than the allowed one.",
    Severity.HIGH,
    "An allowed name bound to something else is a classic evasion; do not load the model.",
)
LAMBDA_BANDIT = Rule(
    RuleId("KV508"), "lambda-bandit",
    "bandit reports an issue in the lambda's reconstructed source.",
    Severity.HIGH,
    "Findings at or above the policy's `lambdas.bandit_severity` deny; lower ones inform.",
)

RULES: tuple[Rule, ...] = (LAMBDA_DENIED, KERAS2_FUNCTION_REFERENCE, KERAS2_MODULE_KEY,
                           LAMBDA_UNREADABLE, LAMBDA_CONSTRUCT, LAMBDA_CALL, LAMBDA_DATA,
                           LAMBDA_ALIAS, LAMBDA_BANDIT)
_BY_ID = {rule.id: rule for rule in RULES}


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
    """Judge bytecode per the policy; for Keras 2 lambdas also judge ``*_type``/``*_module``."""
    findings, rule, _ = analyse_lambda_node(node, policy)
    return findings, rule


def analyse_lambda_node(
    node: Node, policy: Policy
) -> tuple[list[Finding], str, LambdaAnalysis | None]:
    """The findings, the deciding rule, and the analysis (for the report) of one lambda."""
    findings: list[Finding] = []
    keras2 = node.argument is not None and f"{node.argument}_type" in node.raw
    if keras2:
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
                return findings, "lambdas: raw output shape", None
            findings.append(Finding.of(KERAS2_FUNCTION_REFERENCE, node.location,
                                       f"`{key}` is a raw value used as a callable",
                                       value=node.config))
            return findings, KERAS2_FUNCTION_REFERENCE.id, None
        if kind != "lambda":
            findings.append(Finding.of(KERAS2_FUNCTION_REFERENCE, node.location,
                                       f"`{key}_type` is {kind!r}: the callable is looked up "
                                       "by name", value=node.config))
            return findings, KERAS2_FUNCTION_REFERENCE.id, None
    if policy.lambdas.mode is LambdaMode.DENY:
        findings.append(Finding.of(
            LAMBDA_DENIED, node.location,
            "serialized Python bytecode; the policy's `lambdas.mode` is \"deny\"",
        ))
        return findings, LAMBDA_DENIED.id, None
    from kerasvet.lambdas.analyze import analyze_lambda  # heavy: astroid, bandit
    from kerasvet.lambdas.model import LambdaForm

    if keras2:
        form = LambdaForm.KERAS2_LIST
    elif isinstance(node.config, dict) and "value" in node.config:
        form = LambdaForm.KERAS3_VALUE
    else:
        form = LambdaForm.KERAS3_LAYER
    analysis = analyze_lambda(node.config, form, policy.lambdas)
    source = analysis.source
    for reason in analysis.reasons:
        rule = _BY_ID.get(RuleId(reason.rule), LAMBDA_UNREADABLE)
        finding = Finding.of(rule, node.location, reason.message, value=source)
        if not reason.denies:
            finding = replace(finding, severity=Severity.INFO)
        findings.append(finding)
    if analysis.allowed and not any(f.denies for f in findings):
        return findings, f"lambdas: analysed ({', '.join(analysis.versions)})", analysis
    decided = next((f.rule.id for f in findings if f.denies), LAMBDA_UNREADABLE.id)
    if not any(f.denies for f in findings):
        findings.append(Finding.of(LAMBDA_UNREADABLE, node.location,
                                   "the analyzer refused the lambda without a reason"))
    return findings, decided, analysis
