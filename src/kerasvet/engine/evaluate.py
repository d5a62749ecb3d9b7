"""The policy engine: a pure function from (tree, policy) to decisions.

The one outside input it samples is the clock of the deadline its caller passes: the
deadline is checked before each node, so a slow node (a lambda's analysis) cannot carry the
audit far past ``max_audit_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable

from kerasvet.artifact.rules import INTERNAL_ERROR, timed_out
from kerasvet.engine.model import Decision, Evaluation, Verdict
from kerasvet.engine.rules import allowlist, arguments, budget, graph, lambdas, references
from kerasvet.findings import Finding, Location
from kerasvet.limits import NO_DEADLINE, Deadline, DeadlineExceeded
from kerasvet.policy.model import Policy
from kerasvet.tree import Node, NodeKind, Tree

__all__ = ["evaluate"]

NodeCheck = Callable[[Node, Policy], "tuple[list[Finding], str]"]

KIND_CHECKS: dict[NodeKind, NodeCheck] = {
    NodeKind.CLASS: allowlist.check_class,
    NodeKind.FUNCTION: allowlist.check_function,
    NodeKind.SPECIAL: allowlist.check_special,
    NodeKind.LAMBDA: lambdas.check_lambda,
}
"""The one explicit registry of per-node checks, keyed by node kind."""


_Tables = dict[tuple[str | None, str, str | None], list[tuple[str, arguments.ConstraintTable]]]


def _allowed_class_checks(node: Node, policy: Policy, tables: _Tables) -> list[Finding]:
    """Checks that only make sense once a class is known to be allowed."""
    key = (node.module, node.class_name, node.registered_name)
    own = tables.get(key)
    if own is None:
        own = tables[key] = arguments.constraints_for(node, policy)
    found = arguments.check_arguments(node, policy, own)
    found.extend(arguments.check_layer_name(node))
    found.extend(references.check_references(node, policy))
    found.extend(budget.check_dimensions(node, policy))
    return found


_Verdicts = dict[tuple[object, ...], str]


def _cache_key(node: Node) -> tuple[object, ...] | None:
    """Nodes whose allow/deny verdict depends only on their names share one lookup."""
    if node.kind is NodeKind.CLASS and ">" not in node.class_name:
        return (node.kind, node.module, node.class_name, node.registered_name)
    if node.kind is NodeKind.FUNCTION:
        return (node.kind, node.module, node.config, node.registered_name)
    return None


def _decide(node: Node, policy: Policy, allowed: _Verdicts, tables: _Tables) -> Decision:
    findings: list[Finding]
    analysis = None
    try:
        key = _cache_key(node)
        cached = allowed.get(key) if key is not None else None
        if cached is not None:
            findings, rule = [], cached
        elif node.kind is NodeKind.LAMBDA:
            findings, rule, analysis = lambdas.analyse_lambda_node(node, policy)
        else:
            findings, rule = KIND_CHECKS[node.kind](node, policy)
            if key is not None and not findings:
                allowed[key] = rule
        if node.kind is NodeKind.CLASS and not findings:
            findings = _allowed_class_checks(node, policy, tables)
            if findings:
                rule = findings[0].rule.id
    except Exception as exc:  # fail closed: a crash inside a rule denies the node
        findings = [Finding.of(INTERNAL_ERROR, node.location,
                               f"checking this node failed ({type(exc).__name__}: {exc})")]
        rule = INTERNAL_ERROR.id
    verdict = Verdict.DENY if any(f.denies for f in findings) else Verdict.ALLOW
    return Decision(
        member=node.member, pointer=node.pointer, layer=node.layer, kind=node.kind,
        module=node.module, class_name=node.class_name, verdict=verdict,
        findings=tuple(findings), rule=rule, lambda_analysis=analysis,
        registered_name=node.registered_name,
    )


def _tree_findings(tree: Tree, policy: Policy) -> list[Finding]:
    findings = [
        *graph.check_graph(tree.nodes),
        *graph.check_shared_objects(tree.nodes),
        *budget.check_budget(tree.nodes, policy),
    ]
    for section in tree.compile_sections:
        findings.extend(references.check_compile_strings(
            section.value, section.member, section.pointer, policy))
    return findings


def evaluate(tree: Tree, policy: Policy, deadline: Deadline = NO_DEADLINE) -> Evaluation:
    """Judge every node of ``tree``, then the checks that span several nodes.

    Past ``deadline`` the engine stops: the decisions cover the nodes judged so far and the
    one finding is a KV002 at the first node left unjudged.
    """
    # Per-call memos: name-only verdicts that allowed, and constraint tables per class.
    allowed: _Verdicts = {}
    tables: _Tables = {}
    judged: list[Decision] = []
    try:
        for node in tree.nodes:
            deadline.check(f"judging the node at {node.pointer or '/'} of {node.member}")
            judged.append(_decide(node, policy, allowed, tables))
        deadline.check("running the whole-model checks")
    except DeadlineExceeded as exc:
        rest = tree.nodes[len(judged):] or tree.nodes[:1]
        where = rest[0].location if rest else Location(member="<artifact>")
        return Evaluation(decisions=tuple(judged), findings=(timed_out(exc, where),))
    decisions = tuple(judged)
    try:
        findings = _tree_findings(tree, policy)
    except Exception as exc:  # fail closed: whole-model checks that crash deny
        root = tree.nodes[0].location if tree.nodes else None
        if root is None:
            raise
        findings = [Finding.of(INTERNAL_ERROR, root,
                               f"whole-model checks failed ({type(exc).__name__}: {exc})")]
    return Evaluation(decisions=decisions, findings=tuple(findings))
