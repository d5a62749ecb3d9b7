"""``kerasvet policy show``: the effective policy after ``extends``, with provenance.

Users compose policies from several files and need to trust that the result says what they
think it says, so every printed rule carries the ``file:line`` it came from. Deny rules,
argument constraints and custom objects carry their source from the loader; for the merged
tables (limits, lambdas, classes, functions, names) the already-validated files are reread and
searched, which costs one parse per file and keeps provenance out of the hot ``Policy``
object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields

from kerasvet.limits import Limits
from kerasvet.policy.lines import BUILT_IN, PolicyFile
from kerasvet.policy.model import ArgumentConstraint, CustomObject, DenyRule, Policy, PolicyTest

__all__ = ["render_policy"]


def _value(value: object) -> str:
    """A TOML-like spelling, so printed values can be pasted back into a policy."""
    if isinstance(value, frozenset):
        value = sorted(value)
    return json.dumps(getattr(value, "value", value), default=str)


def _last(files: tuple[PolicyFile, ...], section: str, key: str) -> str:
    """The source of an overridden setting: the last file that sets it."""
    for file in reversed(files):
        if file.has(section, key):
            return file.at(f"{section}.{key}")
    return BUILT_IN


def _every(files: tuple[PolicyFile, ...], section: str, key: str) -> str:
    """The sources of a merged (union) setting: every file that adds to it."""
    found = [file.at(f"{section}.{key}") for file in files if file.has(section, key)]
    return ", ".join(found) or BUILT_IN


def _constraint(constraint: ArgumentConstraint) -> str:
    parts = []
    if constraint.types is not None:
        parts.append(f"types={'|'.join(sorted(constraint.types))}")
    for label, number in (("min", constraint.minimum), ("max", constraint.maximum),
                          ("max_length", constraint.max_length),
                          ("max_items", constraint.max_items),
                          ("max_depth", constraint.max_depth)):
        if number is not None:
            parts.append(f"{label}={number}")
    if constraint.enum is not None:
        parts.append(f"enum={_value(list(constraint.enum))}")
    if constraint.forbid:
        parts.append(f"forbid={','.join(sorted(constraint.forbid))}")
    if constraint.pattern is not None:
        parts.append(f"pattern={_value(constraint.pattern)}")
    if constraint.nodes is not None:
        parts.append(f"nodes={_value(constraint.nodes)}")
    return " ".join(parts) or "(no limits)"


def _deny(rule: DenyRule) -> str:
    scope = (f"module = {rule.module}" if rule.module is not None
             else f"module_prefix = {rule.module_prefix}")
    names = ", ".join(sorted(rule.names)) if rule.names is not None else "*"
    advisory = f" advisory={rule.advisory}" if rule.advisory else ""
    return f"{scope} names=[{names}] kind={rule.kind.value}{advisory}"


def _custom(entry: CustomObject) -> str:
    return (f"registered_name = {_value(entry.registered_name)} "
            f"object = {_value(entry.object_path)} kind={entry.kind.value}")


def _test(test: PolicyTest) -> str:
    target = (f"artifact = {_value(str(test.artifact))}" if test.artifact is not None
              else "config = (inline)")
    rules = f" rules={_value(sorted(test.rules))}" if test.rules is not None else ""
    return f"{_value(test.name)}: {target} verdict={test.verdict}{rules}"


def _table(out: list[str], files: tuple[PolicyFile, ...], section: str,
           table: Mapping[str, frozenset[str]], noun: str, full: bool) -> None:
    out.append(f"[{section}]  {sum(len(v) for v in table.values())} {noun} "
               f"in {len(table)} modules")
    for key, values in table.items():
        out.append(f"  {key}: {len(values)}  # {_every(files, section, key)}")
        if full:
            out.extend(f"    {value}" for value in sorted(values))


def render_policy(policy: Policy, full: bool = False) -> str:
    """The flattened ``policy`` as text, each rule followed by ``# file:line``."""
    files = tuple(PolicyFile.read(source) for source in policy.sources)
    out = [f"policy {policy.name}  sha256={policy.sha256}"]
    if policy.description:
        out.append(f"  {policy.description}")
    out.append("files (merged in this order):")
    out.extend(f"  {source}" for source in policy.sources)
    out.append("[limits]")
    for field in fields(Limits):
        out.append(f"  {field.name} = {getattr(policy.limits, field.name)}  "
                   f"# {_last(files, 'limits', field.name)}")
    lambdas = policy.lambdas
    out.append("[lambdas]")
    for key in ("mode", "bandit_severity", "max_code_chars"):
        value = getattr(lambdas, key)
        shown = value.label if key == "bandit_severity" else _value(value)
        out.append(f"  {key} = {shown}  # {_last(files, 'lambdas', key)}")
    for key in ("calls", "builtins", "attributes"):
        values = getattr(lambdas, key)
        out.append(f"  {key}: {len(values)}  # {_every(files, 'lambdas', key)}")
        if full:
            out.extend(f"    {value}" for value in sorted(values))
    for name, module in lambdas.roots.items():
        where = next((f.at(f"lambdas.roots.{name}") for f in reversed(files)
                      if isinstance(f.table.get("lambdas"), Mapping)
                      and name in f.table["lambdas"].get("roots", {})), BUILT_IN)
        out.append(f"  roots.{name} = {_value(module)}  # {where}")
    out.append(f"[[deny]]  {len(policy.deny)} rules, first match wins")
    for rule in policy.deny:
        out.append(f"  {_deny(rule)}  # {rule.source}")
        out.append(f"    reason: {rule.reason}")
    if policy.deny_exceptions:
        out.append(f"  exceptions: {len(policy.deny_exceptions)} exact allows written after a "
                   f"broad rule win over it")
        for (position, kind, module, name), source in policy.deny_exceptions.items():
            rule = policy.deny[position]
            out.append(f"    {kind} {module}.{name} allowed over {_deny(rule)} "
                       f"({rule.source})  # {source}")
    out.append(f"[[custom]]  {len(policy.custom)} registered objects")
    for entry in policy.custom.values():
        out.append(f"  {_custom(entry)}  # {entry.source}")
    out.append("[arguments]")
    for target, per_arg in policy.arguments.items():
        for argument, constraint in per_arg.items():
            out.append(f"  {target}.{argument}: {_constraint(constraint)}  # {constraint.source}")
            if constraint.reason:
                out.append(f"    reason: {constraint.reason}")
    out.append(f"[remove]  {len(policy.removed)} inherited entries removed")
    for removal in policy.removed:
        out.append(f"  {removal.shown}  # {removal.source}")
    out.append(f"[[tests]]  {len(policy.tests)} tests of the top file (not inherited)")
    for test in policy.tests:
        out.append(f"  {_test(test)}  # {test.source}")
    _table(out, files, "classes", policy.classes, "classes", full)
    _table(out, files, "functions", policy.functions, "functions", full)
    _table(out, files, "names", policy.names, "names", full)
    return "\n".join(out) + "\n"
