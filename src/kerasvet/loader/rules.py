"""KV6xx: refusals raised by the resolver and the runtime guard, after the static audit passed.

These findings are appended to the audit's report when the loader stops a load that the
static checks allowed, so a ``PolicyViolation`` always carries a report that says why.
"""

from __future__ import annotations

from kerasvet.findings import Rule, RuleId, Severity

__all__ = [
    "ASSETS_NOT_LOADED",
    "GUARD_REFUSED",
    "LAMBDA_NOT_REBUILT",
    "REGISTRY_SHADOWS_NAME",
    "RULES",
    "UNRESOLVABLE",
]

GUARD_REFUSED = Rule(
    RuleId("KV600"), "runtime-guard-refused",
    "While the model was being built, the runtime guard refused an operation: an import "
    "outside the policy's import set, exec or compile of code other than a verified lambda, "
    "a subprocess, a socket, any file open other than the import system's, or another "
    "process-state change (ctypes, pickle, file-system and environment edits, ...).",
    Severity.CRITICAL,
    "Do not load the model. The static audit allowed every node, so either the policy "
    "allows something harmful (review the policy) or this is a kerasvet bypass: report it "
    "privately (SECURITY.md). If the refused import is a benign lazy import of a newer "
    "Keras or JAX, regenerate the measured import set from a checkout "
    "(`python -m kerasvet.loader.measure --write`).",
)
REGISTRY_SHADOWS_NAME = Rule(
    RuleId("KV601"), "registry-shadows-name",
    "A process-wide Keras custom-object registration (`get_custom_objects()`, "
    "`register_keras_serializable`) uses a name that appears as a string in the config, so "
    "Keras could build the registered object instead of the one the policy allowed.",
    Severity.HIGH,
    "Keras consults its global registry before its own tables. Remove or rename the "
    "registration in your process (it is not part of the file), then load again.",
)
ASSETS_NOT_LOADED = Rule(
    RuleId("KV602"), "assets-not-loaded",
    "The artifact carries asset files (`assets/...`), which the safe loader does not extract "
    "to disk.",
    Severity.HIGH,
    "Keras would extract the whole archive to a temporary folder and let layers read from "
    "it. Save vocabularies in the layer config instead of as assets (pass the vocabulary as "
    "a list), or load the model with Keras yourself if you trust it.",
)
LAMBDA_NOT_REBUILT = Rule(
    RuleId("KV603"), "lambda-not-rebuilt",
    "An allowed lambda could not be rebuilt from its verified AST (a policy root module "
    "cannot be imported, or the lambda sits where the loader cannot substitute it).",
    Severity.HIGH,
    "The loader never falls back to Keras' own `func_load`. Install the module the lambda's "
    "root names, or rewrite the lambda as a layer class allowed by the policy.",
)
UNRESOLVABLE = Rule(
    RuleId("KV604"), "policy-object-unresolvable",
    "A node the policy allows names an object that the policy's module does not define, or "
    "whose module cannot be imported.",
    Severity.HIGH,
    "The resolver binds non-Keras classes and functions only from the policy's table; check "
    "the module and name in the policy and that the package is installed.",
)

RULES: tuple[Rule, ...] = (
    GUARD_REFUSED, REGISTRY_SHADOWS_NAME, ASSETS_NOT_LOADED, LAMBDA_NOT_REBUILT, UNRESOLVABLE,
)
"""Every rule the loader emits, collected into ``kerasvet.catalogue``."""
