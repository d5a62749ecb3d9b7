"""Why one node got its verdict: every rule the engine considers for it, in the engine's order.

``kerasvet explain --node`` is for a person asking "why was this layer refused, or allowed?";
the one rule that fired does not answer that, the rules that were tried and passed do. The
trace is built from the engine's own checks (``check_class``, ``check_arguments``,
``constraint_violations``, ``analyse_lambda_node``, the policy's deny and allow lookups) and
draws its own conclusion from them; a test walks every node of every fixture and requires
that conclusion to equal ``evaluate``'s decision, so the explanation cannot drift from the
verdict it explains. Pure, like the engine: files (the ``file:line`` of table entries) are
the caller's business, through ``PolicyEntry``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

from kerasvet.artifact.model import ConfigRole
from kerasvet.artifact.rules import INTERNAL_ERROR
from kerasvet.engine.evaluate import KIND_CHECKS
from kerasvet.engine.model import Verdict
from kerasvet.engine.rules import allowlist, arguments, budget, lambdas, references
from kerasvet.findings import Finding, Pointer, join_pointer, render_value
from kerasvet.policy.model import (
    ArgumentConstraint,
    CustomKind,
    CustomObject,
    DenyKind,
    DenyRule,
    LambdaMode,
    Policy,
)
from kerasvet.tree import Node, NodeKind, Tree

__all__ = [
    "NodeTrace",
    "Outcome",
    "PolicyEntry",
    "StepKind",
    "TraceStep",
    "findings_by_node",
    "trace_node",
]


class StepKind(enum.Enum):
    """What a step checked."""

    NAME_GRAMMAR = "name grammar"
    """``class_name``, ``module`` and ``registered_name`` are plain ASCII identifiers."""
    DENY_RULE = "deny rule"
    """A ``[[deny]]`` rule scoped to the node's module."""
    CUSTOM_ENTRY = "custom entry"
    """The ``[[custom]]`` entry for a ``package>Name`` registered name."""
    ALLOW_ENTRY = "allow table entry"
    """An exact pair in ``[classes]`` / ``[functions]`` (or ``names.optimizers``)."""
    REGISTERED_NAME = "registered name"
    """A built-in's ``registered_name`` is absent or its own name."""
    SPECIAL_MARKER = "special marker"
    """A ``__name__`` marker Keras special-cases (tensors, arrays, slices, ...)."""
    ARGUMENT_CONSTRAINT = "argument constraint"
    """One ``[arguments."<target>".<argument>]`` constraint."""
    OBJECT_NAME = "object name grammar"
    """The node's ``name`` and ``config.name`` are single plain path components."""
    REFERENCE = "bare-name reference"
    """A string argument Keras resolves from one of its tables (``activation = "relu"``)."""
    SIZE_LIMITS = "size limits"
    """Integers under size arguments and ``build_config`` within ``max_dimension``."""
    LAMBDA = "lambda analysis"
    """The ``[lambdas]`` section and the static analysis of the bytecode."""
    MODEL = "whole-model check"
    """Graph, shared-object, budget and compile-string findings located at this node."""
    INTERNAL = "internal error"
    """A check crashed; the engine denies (fail closed)."""


class Outcome(enum.Enum):
    """What a step concluded."""

    MATCHED = "matched"
    """An allow or deny entry applies to the node."""
    PASSED = "passed"
    """A check the node meets."""
    BROKEN = "broken"
    """A check the node fails; the step carries the findings."""
    NOT_APPLICABLE = "not applicable"
    """Considered, but it does not concern this node."""


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """A place in the merged policy tables (``classes."keras.layers"`` holding ``Dense``).

    The merged tables keep no provenance, so the caller finds the ``file:line`` by rereading
    the policy files (the engine reads no files).
    """

    section: str
    """``classes``, ``functions``, ``names``, ``limits`` or ``lambdas``."""
    key: str
    """The module, name table or setting inside the section."""
    name: str | None = None
    """The listed item, for tables that list names; ``None`` for a setting."""


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One rule considered for the node."""

    kind: StepKind
    """What was checked."""
    subject: str
    """The rule itself, spelled as in the policy where it has a spelling."""
    outcome: Outcome
    """What the check concluded."""
    why: str
    """One line saying why."""
    source: str | None = None
    """``path:line`` of the rule when the policy object carries it (deny, custom, arguments)."""
    entry: PolicyEntry | None = None
    """The table entry behind the step, for the caller to locate in the policy files."""
    findings: tuple[Finding, ...] = ()
    """The engine's findings this step accounts for."""
    rule: str | None = None
    """The rule, spelled as ``Decision.rule``, this step decides the name stage with (an
    allowed class's later checks can still deny it)."""


@dataclass(frozen=True, slots=True)
class NodeTrace:
    """Every rule considered for one node, then the verdict and the step that settled it."""

    member: str
    """Artifact member holding the node."""
    pointer: Pointer
    """JSON pointer of the node."""
    layer: str | None
    """Enclosing layer name."""
    kind: NodeKind
    """Node kind."""
    module: str | None
    """The node's ``module``."""
    class_name: str
    """The node's ``class_name``."""
    registered_name: str | None
    """The node's ``registered_name``."""
    steps: tuple[TraceStep, ...]
    """In the order the engine considers them; whole-model findings last."""
    verdict: Verdict
    """The node's verdict (whole-model findings deny the artifact, not the node)."""
    rule: str
    """The rule that settled the verdict, spelled as ``Decision.rule``."""
    settled_by: int | None
    """Index in ``steps`` of the settling step (``None`` only if the trace lost track)."""
    lambda_source: str | None = None
    """For a lambda the analyzer could lift: its reconstructed source."""


_LEGACY_OPTIMIZER = "names: optimizers"


def _first_lines(found: Sequence[Finding]) -> str:
    """A step's why when it carries findings: the first message's first line."""
    if not found:
        return ""
    first = found[0].message.split("\n", 1)[0]
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    return f"{found[0].rule.id}: {first}{more}"


# --- name stage: classes and functions -----------------------------------------------------


def _scoped_deny_rules(policy: Policy, module: str | None) -> list[DenyRule]:
    """The deny rules ``Policy.deny_rule_for`` looks at for ``module``, in file order."""
    if module is None:
        scopes = [""]
    else:
        parts = module.split(".")
        scopes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    candidates = [item for scope in scopes for item in policy.deny_by_scope.get(scope, ())]
    return [rule for _, rule in sorted(candidates, key=lambda item: item[0])]


def _deny_subject(rule: DenyRule) -> str:
    scope = (f"module = {rule.module}" if rule.module is not None
             else f"module_prefix = {rule.module_prefix}")
    names = f" names = [{', '.join(sorted(rule.names))}]" if rule.names is not None else ""
    kind = f" kind = {rule.kind.value}" if rule.kind is not DenyKind.ANY else ""
    return f"[[deny]] {scope}{names}{kind}"


def _not_covered(rule: DenyRule, module: str | None, name: str, kind: DenyKind) -> str:
    """Why ``rule.matches`` said no, in words."""
    if rule.kind is not DenyKind.ANY and kind is not rule.kind:
        return f"covers {rule.kind.value}s only"
    if module is not None and not rule.covers_module(module):
        return f"covers module {rule.module} only, not {module}"
    if rule.names is None:
        return "names no object, so it cannot match a node without module"
    return f"does not name {name}"


def _deny_steps(policy: Policy, module: str | None, name: str, kind: DenyKind,
                found: list[Finding], steps: list[TraceStep]) -> bool:
    """One step per deny rule in scope; ``True`` when one matched (it settles, with ``found``)."""
    chosen = policy.deny_rule_for(module, name, kind)
    shown = f"{module}.{name}" if module else name
    scoped = _scoped_deny_rules(policy, module)
    if not scoped:
        where = f"module {module} or a parent" if module else "objects by name"
        steps.append(TraceStep(StepKind.DENY_RULE, f"[[deny]] for {shown}", Outcome.PASSED,
                               f"none of the policy's {len(policy.deny)} deny rules is scoped "
                               f"to {where}"))
    for rule in scoped:
        if rule is chosen:
            advisory = f" [{rule.advisory}]" if rule.advisory else ""
            steps.append(TraceStep(StepKind.DENY_RULE, _deny_subject(rule), Outcome.MATCHED,
                                   f"{shown}: {rule.reason}{advisory}", source=rule.source,
                                   findings=tuple(found), rule=f"deny: {rule.source}"))
            return True
        why = ("matches too, but an earlier rule wins" if rule.matches(module, name, kind)
               else _not_covered(rule, module, name, kind))
        steps.append(TraceStep(StepKind.DENY_RULE, _deny_subject(rule), Outcome.NOT_APPLICABLE,
                               why, source=rule.source))
    return False


def _custom_steps(node: Node, name: str, kind: CustomKind, policy: Policy,
                  found: list[Finding], steps: list[TraceStep]) -> None:
    """The ``[[custom]]`` entry of a ``package>Name`` node, then what it binds."""
    registered = node.registered_name
    assert registered is not None
    subject = f"[[custom]] registered_name = {render_value(registered)}"
    entry = policy.custom_object(registered)
    if entry is None:
        steps.append(TraceStep(StepKind.CUSTOM_ENTRY, subject, Outcome.BROKEN,
                               "the policy has no entry for this registered name; the finding "
                               "carries the entry to add", findings=tuple(found),
                               rule=found[0].rule.id if found else None))
        return
    matched = len(steps)
    steps.append(TraceStep(StepKind.CUSTOM_ENTRY, subject, Outcome.MATCHED,
                           f"entry binds object = {entry.object_path} ({entry.kind.value})",
                           source=entry.source))
    if _entry_deny_steps(entry, kind, policy, found, steps):
        return
    disagree = [f for f in found if f.rule.id == allowlist.REGISTERED_NAME_MISMATCH.id]
    if disagree:
        steps.append(TraceStep(StepKind.REGISTERED_NAME, "node agrees with its [[custom]] entry",
                               Outcome.BROKEN, _first_lines(disagree), source=entry.source,
                               findings=tuple(found), rule=disagree[0].rule.id))
        return
    steps.append(TraceStep(StepKind.REGISTERED_NAME, "node agrees with its [[custom]] entry",
                           Outcome.PASSED, "kind, module and name are the entry's",
                           source=entry.source))
    steps[matched] = replace(
        steps[matched], rule=f"custom: {registered} -> {entry.object_path} ({entry.source})")


def _entry_deny_steps(entry: CustomObject, kind: CustomKind, policy: Policy,
                      found: list[Finding], steps: list[TraceStep]) -> bool:
    """Deny rules covering the object a ``[[custom]]`` entry would import."""
    deny_kind = DenyKind.CLASS if kind is CustomKind.CLASS else DenyKind.FUNCTION
    for name in dict.fromkeys((entry.name, entry.qualname.partition(".")[0])):
        if _deny_steps(policy, entry.module, name, deny_kind, found, steps):
            return True
    return False


def _allowlist_steps(node: Node, policy: Policy, found: list[Finding],
                     steps: list[TraceStep]) -> None:
    """Explain ``check_class`` / ``check_function`` in the order they decide."""
    function = node.kind is NodeKind.FUNCTION
    name = str(node.config) if function else node.class_name
    if not function and node.role is ConfigRole.TRAINING and not found and ">" in name:
        optimizer = node.config.get("name") if isinstance(node.config, dict) else None
        if isinstance(optimizer, str):
            allowed = policy.names.get("optimizers", frozenset())
            key = optimizer if optimizer in allowed else optimizer.lower()
            steps.append(TraceStep(
                StepKind.ALLOW_ENTRY, f"names.optimizers: {render_value(optimizer)}",
                Outcome.MATCHED, f"a tf.keras training_config optimizer "
                f"({render_value(name)}); Keras 3 resolves it by its config name",
                entry=PolicyEntry("names", "optimizers", key),
                rule=f"{_LEGACY_OPTIMIZER} (legacy training_config, resolved by config name)"))
            return
    grammar = [f for f in found if f.rule.id == allowlist.NON_ASCII_IDENTIFIER.id]
    fields_checked = "function name, module, registered_name" if function \
        else "class_name, module, registered_name"
    if grammar:
        steps.append(TraceStep(StepKind.NAME_GRAMMAR, fields_checked, Outcome.BROKEN,
                               _first_lines(grammar), findings=tuple(found),
                               rule=grammar[0].rule.id))
        return
    steps.append(TraceStep(StepKind.NAME_GRAMMAR, fields_checked, Outcome.PASSED,
                           "plain ASCII identifiers"))
    deny_kind = DenyKind.FUNCTION if function else DenyKind.CLASS
    if _deny_steps(policy, node.module, name, deny_kind, found, steps):
        return
    registered = node.registered_name
    if not function and registered and ">" not in registered and registered != name and \
            _deny_steps(policy, node.module, registered, deny_kind, found, steps):
        return
    allows = policy.allows_function if function else policy.allows_class
    if registered and ">" in registered and (
        policy.custom_object(registered) is not None
        or node.module is None or not allows(node.module, name)
    ):
        _custom_steps(node, name, CustomKind.FUNCTION if function else CustomKind.CLASS,
                      policy, found, steps)
        return
    listed = _table_step(node, name, function, policy, found, steps)
    if listed is None:
        return
    accepted = (None, "", name, "function") if function else (None, "", name)
    if registered not in accepted:
        steps.append(TraceStep(StepKind.REGISTERED_NAME, "registered_name of a built-in",
                               Outcome.BROKEN, _first_lines(found), findings=tuple(found),
                               rule=found[0].rule.id if found else None))
        return
    steps.append(TraceStep(StepKind.REGISTERED_NAME, "registered_name of a built-in",
                           Outcome.PASSED, "absent, or the object's own name"))
    section = "functions" if function else "classes"
    steps[listed] = replace(steps[listed], rule=f"{section}: {node.module}.{name}")


def _table_step(node: Node, name: str, function: bool, policy: Policy,
                found: list[Finding], steps: list[TraceStep]) -> int | None:
    """The exact (module, name) pair; the step's index when it allows and the check goes on."""
    section = "functions" if function else "classes"
    module = node.module
    if module is None and not function:
        modules = policy.legacy_class_modules(name)
        if modules:
            steps.append(TraceStep(
                StepKind.ALLOW_ENTRY, f"[classes] {modules[0]}: {name}", Outcome.MATCHED,
                "a legacy node without module, resolved by class name alone; "
                f"allowed in {', '.join(modules)}", entry=PolicyEntry(section, modules[0], name),
                rule=f"classes: {modules[0]}.{name} (by name, legacy config)"))
            return None
        steps.append(TraceStep(StepKind.ALLOW_ENTRY, f"[classes] *: {name}", Outcome.BROKEN,
                               "no allowed class has this name", findings=tuple(found),
                               rule=found[0].rule.id if found else None))
        return None
    if module is not None and (policy.allows_function(module, name) if function
                               else policy.allows_class(module, name)):
        steps.append(TraceStep(StepKind.ALLOW_ENTRY, f"[{section}] {module}: {name}",
                               Outcome.MATCHED, "the exact (module, name) pair is listed",
                               entry=PolicyEntry(section, module, name)))
        return len(steps) - 1
    table = policy.functions if function else policy.classes
    why = ("a function node without module is never allowed" if module is None
           else f"[{section}] lists {len(table[module])} names for {module}, not this one"
           if module in table else f"[{section}] has no entry for module {module}")
    steps.append(TraceStep(StepKind.ALLOW_ENTRY, f"[{section}] {module or '-'}: {name}",
                           Outcome.BROKEN, why, findings=tuple(found),
                           rule=found[0].rule.id if found else None))
    return None


def _special_steps(node: Node, found: list[Finding], steps: list[TraceStep]) -> None:
    if found:
        steps.append(TraceStep(StepKind.SPECIAL_MARKER, node.class_name, Outcome.BROKEN,
                               _first_lines(found), findings=tuple(found), rule=found[0].rule.id))
    else:
        steps.append(TraceStep(StepKind.SPECIAL_MARKER, node.class_name, Outcome.MATCHED,
                               "plain data Keras builds without resolving a name",
                               rule=f"special: {node.class_name}"))


# --- checks of an allowed class --------------------------------------------------------------


def _constraint_text(constraint: ArgumentConstraint) -> str:
    """Every limit the constraint sets (read from its fields, so new keys show up)."""
    parts = []
    for field in fields(constraint):
        if field.name in ("reason", "source"):
            continue
        value = getattr(constraint, field.name)
        if value is None or value == field.default:
            continue
        if isinstance(value, frozenset):
            listed = sorted(value)
            # Long lists (initializer sets) stay readable; `policy show` prints them whole.
            value = "|".join(listed) if len(listed) <= 4 else \
                f"{len(listed)} entries ({'|'.join(listed[:3])}|...)"
        elif isinstance(value, tuple):
            value = list(value)
        parts.append(f"{field.name}={value}")
    return " ".join(parts) or "(no limits)"


class _Pool:
    """Findings of one engine check, handed out to the steps that explain them."""

    def __init__(self, found: Iterable[Finding]) -> None:
        self.left = list(found)

    def take(self, wanted: Iterable[tuple[str, str | None]]) -> tuple[Finding, ...]:
        taken = []
        for rule_id, pointer in wanted:
            for finding in self.left:
                if finding.rule.id == rule_id and finding.location.pointer == pointer:
                    self.left.remove(finding)
                    taken.append(finding)
                    break
        return tuple(taken)


def _argument_steps(node: Node, policy: Policy, found: list[Finding],
                    steps: list[TraceStep]) -> None:
    config = node.config if isinstance(node.config, dict) else {}
    pool = _Pool(found)
    config_pointer = join_pointer(node.pointer, "config")
    tables = arguments.constraints_for(node, policy)
    if not any(table for _, table in tables):
        steps.append(TraceStep(StepKind.ARGUMENT_CONSTRAINT, "[arguments]", Outcome.NOT_APPLICABLE,
                               "the policy constrains no argument of this class"))
    for target, table in tables:
        for argument, constraint in table.items():
            subject = f'arguments."{target}".{argument}: {_constraint_text(constraint)}'
            if argument not in config:
                steps.append(TraceStep(StepKind.ARGUMENT_CONSTRAINT, subject,
                                       Outcome.NOT_APPLICABLE, "the argument is not set",
                                       source=constraint.source))
                continue
            value = config[argument]
            broken = list(arguments.constraint_violations(value, constraint))
            base = join_pointer(config_pointer, argument)
            taken = pool.take((rule.id, base + suffix) for rule, suffix, _, _ in broken)
            if broken:
                why = "; ".join(f"{rule.id}: `{argument}`{suffix} {message}"
                                for rule, suffix, message, _ in broken)
                steps.append(TraceStep(StepKind.ARGUMENT_CONSTRAINT, subject, Outcome.BROKEN,
                                       why, source=constraint.source, findings=taken))
            else:
                steps.append(TraceStep(StepKind.ARGUMENT_CONSTRAINT, subject, Outcome.PASSED,
                                       f"{render_value(value)} meets it", source=constraint.source))
    if pool.left:  # the engine found more than the constraints explain: never hide it
        steps.append(TraceStep(StepKind.ARGUMENT_CONSTRAINT, "[arguments]", Outcome.BROKEN,
                               _first_lines(pool.left), findings=tuple(pool.left)))


def _object_name_step(node: Node, found: list[Finding], steps: list[TraceStep]) -> None:
    subject = "name and config.name are plain path components"
    if found:
        steps.append(TraceStep(StepKind.OBJECT_NAME, subject, Outcome.BROKEN, _first_lines(found),
                               findings=tuple(found)))
    else:
        name = node.raw.get("name", node.config.get("name") if isinstance(node.config, dict)
                            else None)
        steps.append(TraceStep(StepKind.OBJECT_NAME, subject, Outcome.PASSED,
                               f"{render_value(name)}: no `..`, separator or control character"))


def _reference_steps(node: Node, policy: Policy, found: list[Finding],
                     steps: list[TraceStep]) -> None:
    config = node.config if isinstance(node.config, dict) else {}
    pool = _Pool(found)
    config_pointer = join_pointer(node.pointer, "config")
    considered = False
    for argument, value in config.items():
        table = references.table_for_argument(argument)
        if table is None:
            continue
        considered = True
        pointer = join_pointer(config_pointer, argument)
        if type(value) is not str:
            what = f"a nested node, judged on its own at {pointer}" if isinstance(value, dict) \
                else f"not a name: {render_value(value)}"
            steps.append(TraceStep(StepKind.REFERENCE, f"{argument} -> names.{table}",
                                   Outcome.NOT_APPLICABLE, what))
            continue
        taken = pool.take([(references.NAME_NOT_ALLOWED.id, pointer)])
        subject = f"{argument} -> names.{table}: {render_value(value)}"
        if taken:
            steps.append(TraceStep(StepKind.REFERENCE, subject, Outcome.BROKEN,
                                   _first_lines(taken), findings=taken))
        else:
            steps.append(TraceStep(StepKind.REFERENCE, subject, Outcome.MATCHED,
                                   f"names.{table} lists it",
                                   entry=PolicyEntry("names", table, value)))
    if not considered:
        steps.append(TraceStep(StepKind.REFERENCE, "names.*", Outcome.NOT_APPLICABLE,
                               "no argument is a name Keras looks up in its tables"))
    if pool.left:
        steps.append(TraceStep(StepKind.REFERENCE, "names.*", Outcome.BROKEN,
                               _first_lines(pool.left), findings=tuple(pool.left)))


def _size_step(node: Node, policy: Policy, found: list[Finding],
               steps: list[TraceStep]) -> None:
    cap = policy.limits.max_dimension
    config = node.config if isinstance(node.config, dict) else {}
    build = node.raw.get("build_config")
    checked = sorted(config.keys() & budget.SIZE_ARGUMENTS)
    if isinstance(build, Mapping):
        checked += [f"build_config.{key}" for key in build]
    subject = f"limits.max_dimension = {cap}"
    entry = PolicyEntry("limits", "max_dimension")
    if found:
        steps.append(TraceStep(StepKind.SIZE_LIMITS, subject, Outcome.BROKEN, _first_lines(found),
                               entry=entry, findings=tuple(found)))
    elif checked:
        steps.append(TraceStep(StepKind.SIZE_LIMITS, subject, Outcome.PASSED,
                               f"within bounds: {', '.join(checked)}", entry=entry))
    else:
        steps.append(TraceStep(StepKind.SIZE_LIMITS, subject, Outcome.NOT_APPLICABLE,
                               "no size argument and no build_config", entry=entry))


def _allowed_class_steps(node: Node, policy: Policy, steps: list[TraceStep]) -> list[Finding]:
    """The checks ``evaluate`` runs once a class is allowed, in its order."""
    own = arguments.check_arguments(node, policy)
    _argument_steps(node, policy, own, steps)
    names = arguments.check_layer_name(node)
    _object_name_step(node, names, steps)
    refs = references.check_references(node, policy)
    _reference_steps(node, policy, refs, steps)
    sizes = budget.check_dimensions(node, policy)
    _size_step(node, policy, sizes, steps)
    return [*own, *names, *refs, *sizes]


# --- lambdas ---------------------------------------------------------------------------------


def _lambda_steps(node: Node, policy: Policy,
                  steps: list[TraceStep]) -> tuple[list[Finding], str | None]:
    found, _, analysis = lambdas.analyse_lambda_node(node, policy)
    source = analysis.source if analysis is not None else None
    pool = list(found)

    def take(rule_id: str) -> tuple[Finding, ...]:
        taken = tuple(f for f in pool if f.rule.id == rule_id)
        for finding in taken:
            pool.remove(finding)
        return taken

    keras2 = node.argument is not None and f"{node.argument}_type" in node.raw
    if keras2:
        key = node.argument
        module_key = "module" if key == "function" else f"{key}_module"
        module = take(lambdas.KERAS2_MODULE_KEY.id)
        steps.append(TraceStep(
            StepKind.LAMBDA, f"tf.keras `{module_key}` key",
            Outcome.BROKEN if module else Outcome.NOT_APPLICABLE,
            _first_lines(module) + " (informs, does not deny)" if module
            else "absent", findings=module))
        kind = node.raw.get(f"{key}_type")
        reference = take(lambdas.KERAS2_FUNCTION_REFERENCE.id)
        subject = f"tf.keras `{key}_type` = {render_value(kind)}"
        if reference:
            steps.append(TraceStep(StepKind.LAMBDA, subject, Outcome.BROKEN,
                                   _first_lines(reference), findings=reference,
                                   rule=reference[0].rule.id))
            return found, source
        if kind == "raw":
            steps.append(TraceStep(StepKind.LAMBDA, subject, Outcome.MATCHED,
                                   "a raw output shape is data, not code",
                                   rule="lambdas: raw output shape"))
            return found, source
        steps.append(TraceStep(StepKind.LAMBDA, subject, Outcome.PASSED, "serialized bytecode"))
    mode = policy.lambdas.mode
    subject = f"lambdas.mode = {mode.value}"
    entry = PolicyEntry("lambdas", "mode")
    if mode is LambdaMode.DENY:
        denied = take(lambdas.LAMBDA_DENIED.id)
        steps.append(TraceStep(StepKind.LAMBDA, subject, Outcome.MATCHED,
                               "the policy refuses every lambda without reading it",
                               entry=entry, findings=denied,
                               rule=denied[0].rule.id if denied else None))
        return found, source
    steps.append(TraceStep(StepKind.LAMBDA, subject, Outcome.PASSED,
                           "the bytecode is read statically, never run", entry=entry))
    versions = ", ".join(analysis.versions) if analysis is not None else ""
    for finding in list(pool):
        pool.remove(finding)
        note = "" if finding.denies else f" ({finding.severity.label}: informs, does not deny)"
        steps.append(TraceStep(StepKind.LAMBDA, f"{finding.rule.id} {finding.rule.slug}",
                               Outcome.BROKEN, _first_lines([finding]) + note,
                               findings=(finding,),
                               rule=finding.rule.id if finding.denies else None))
    if analysis is not None and analysis.allowed and not any(f.denies for f in found):
        steps.append(TraceStep(
            StepKind.LAMBDA, "lambdas.calls, roots, builtins, attributes", Outcome.MATCHED,
            f"every name, call and attribute is allowed (CPython readings: {versions})",
            entry=PolicyEntry("lambdas", "calls"), rule=f"lambdas: analysed ({versions})"))
    return found, source


# --- the trace -------------------------------------------------------------------------------


def _name_stage(node: Node, policy: Policy,
                steps: list[TraceStep]) -> tuple[list[Finding], str | None]:
    """What ``evaluate`` runs first: the kind's check, explained step by step (and a
    lambda's reconstructed source)."""
    if node.kind is NodeKind.LAMBDA:
        return _lambda_steps(node, policy, steps)
    found, _ = KIND_CHECKS[node.kind](node, policy)
    if node.kind is NodeKind.SPECIAL:
        _special_steps(node, found, steps)
    else:
        _allowlist_steps(node, policy, found, steps)
    return found, None


def _labelled(steps: Sequence[TraceStep]) -> tuple[int | None, str]:
    """The name stage's deciding step: the first that names a rule."""
    for index, step in enumerate(steps):
        if step.rule is not None:
            return index, step.rule
    return None, ""


def _holding(steps: Sequence[TraceStep], finding: Finding) -> int | None:
    return next((i for i, step in enumerate(steps) if finding in step.findings), None)


def trace_node(node: Node, policy: Policy, model_findings: Iterable[Finding] = ()) -> NodeTrace:
    """Every rule considered for ``node`` under ``policy``, and the verdict they lead to.

    ``model_findings`` are the whole-model findings located at this node (see
    ``findings_by_node``); they are listed, and deny the artifact, not the node's decision.
    """
    steps: list[TraceStep] = []
    source = None
    try:
        found, source = _name_stage(node, policy, steps)
        index, rule = _labelled(steps)
        if node.kind is NodeKind.CLASS and not found:
            found = _allowed_class_steps(node, policy, steps)
            if found:  # as `evaluate`: the first finding of the later checks decides
                index, rule = _holding(steps, found[0]), found[0].rule.id
    except Exception as exc:  # fail closed, as `evaluate` does
        failure = Finding.of(INTERNAL_ERROR, node.location,
                             f"checking this node failed ({type(exc).__name__}: {exc})")
        found = [failure]
        steps.append(TraceStep(StepKind.INTERNAL, "engine checks", Outcome.BROKEN,
                               failure.message, findings=(failure,), rule=INTERNAL_ERROR.id))
        index, rule = len(steps) - 1, INTERNAL_ERROR.id
    for finding in model_findings:
        note = " (denies the artifact, not this node's decision)" if finding.denies else ""
        steps.append(TraceStep(StepKind.MODEL, f"{finding.rule.id} {finding.rule.slug}",
                               Outcome.BROKEN, _first_lines([finding]) + note,
                               findings=(finding,)))
    verdict = Verdict.DENY if any(f.denies for f in found) else Verdict.ALLOW
    return NodeTrace(
        member=node.member, pointer=node.pointer, layer=node.layer, kind=node.kind,
        module=node.module, class_name=node.class_name, registered_name=node.registered_name,
        steps=tuple(steps), verdict=verdict, rule=rule, settled_by=index, lambda_source=source,
    )


def findings_by_node(tree: Tree, findings: Iterable[Finding]) -> dict[tuple[str, str],
                                                                     tuple[Finding, ...]]:
    """Whole-model findings keyed by the (member, pointer) of the nearest enclosing node."""
    nodes = {(node.member, node.pointer) for node in tree.nodes}
    located: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        pointer = finding.location.pointer
        member = finding.location.member
        while pointer is not None:
            if (member, pointer) in nodes:
                located.setdefault((member, pointer), []).append(finding)
                break
            pointer = None if pointer == "" else Pointer(pointer[:pointer.rfind("/")])
    return {key: tuple(value) for key, value in located.items()}
