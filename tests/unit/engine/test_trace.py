"""engine.trace: the explanation of one node cannot drift from the engine's decision.

Every node of every benign and attack fixture is traced and compared with ``evaluate``:
same verdict, same settling rule, a settling step that holds that rule, and every finding
of the decision accounted for by exactly one step (none invented, none lost).
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from kerasvet.artifact.read import read_artifact
from kerasvet.engine import Verdict, evaluate
from kerasvet.engine.trace import Outcome, StepKind, findings_by_node, trace_node
from kerasvet.policy import load_policy
from kerasvet.tree import walk_documents

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
BENIGN = sorted((FIXTURES / "benign").glob("*.config.json"))
ATTACKS = sorted(p for p in (FIXTURES / "attacks").glob("*.json") if p.name != "MANIFEST.json")
CANARY = Path("/tmp/kerasvet-canary")


def tree_of(path: Path, policy):
    artifact = read_artifact(str(path), policy.limits)
    return walk_documents(artifact.documents, policy.limits)


DEFAULT_TOML = ROOT / "policies" / "default.toml"


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def deny_header(needle: str) -> str:
    """``path:line`` of the ``[[deny]]`` header of the rule whose body holds ``needle``."""
    lines = DEFAULT_TOML.read_text(encoding="utf-8").splitlines()
    body = line_of(DEFAULT_TOML, needle)
    header = max(i for i, line in enumerate(lines[:body], start=1) if line == "[[deny]]")
    return f"{DEFAULT_TOML}:{header}"


@pytest.mark.parametrize("path", BENIGN + ATTACKS, ids=lambda p: p.name)
def test_trace_agrees_with_the_engine_on_every_node(path, default_policy):
    assert not CANARY.exists()
    tree = tree_of(path, default_policy)
    evaluation = evaluate(tree, default_policy)
    for node, decision in zip(tree.nodes, evaluation.decisions, strict=True):
        trace = trace_node(node, default_policy)
        where = f"{path.name}#{node.pointer}"
        assert (trace.verdict, trace.rule) == (decision.verdict, decision.rule), where
        assert trace.settled_by is not None, where
        settling = trace.steps[trace.settled_by]
        if decision.rule.startswith("KV"):
            assert decision.rule in {f.rule.id for f in settling.findings}, where
            assert settling.outcome in (Outcome.BROKEN, Outcome.MATCHED), where
        else:
            assert (settling.rule, settling.outcome) == (decision.rule, Outcome.MATCHED), where
        explained = Counter(f for step in trace.steps for f in step.findings)
        assert explained == Counter(decision.findings), where
        # A step that says "broken" shows the engine's finding for it; none says so idly.
        assert all(s.findings for s in trace.steps if s.outcome is Outcome.BROKEN), where
        if decision.verdict is Verdict.ALLOW:
            assert not [s for s in trace.steps if any(f.denies for f in s.findings)], where
    assert not CANARY.exists()


def test_strict_policy_traces_agree_on_the_lambda_fixtures(strict_policy):
    lambdas = [p for p in ATTACKS if "lambda" in p.name]
    assert lambdas
    for path in lambdas:
        tree = tree_of(path, strict_policy)
        for node, decision in zip(tree.nodes, evaluate(tree, strict_policy).decisions,
                                  strict=True):
            trace = trace_node(node, strict_policy)
            assert (trace.verdict, trace.rule) == (decision.verdict, decision.rule)


def steps_of(trace) -> list[tuple[StepKind, Outcome]]:
    return [(s.kind, s.outcome) for s in trace.steps]


def node_at(tree, pointer: str):
    (node,) = [n for n in tree.nodes if n.pointer == pointer]
    return node


def test_allowed_dense_lists_every_rule_in_engine_order(default_policy):
    tree = tree_of(ROOT / "examples" / "mlp.keras", default_policy)
    trace = trace_node(node_at(tree, "/config/layers/1"), default_policy)
    assert [(s.kind, s.outcome, s.source) for s in trace.steps[:4]] == [
        (StepKind.NAME_GRAMMAR, Outcome.PASSED, None),
        *[(StepKind.DENY_RULE, Outcome.NOT_APPLICABLE, deny_header(f'names = ["{name}"'))
          for name in ("TFSMLayer", "TorchModuleWrapper", "JaxLayer")],
    ]
    allow = trace.steps[trace.settled_by]
    assert (allow.kind, allow.subject, allow.rule) == (
        StepKind.ALLOW_ENTRY, "[classes] keras.layers: Dense", "classes: keras.layers.Dense")
    assert (allow.entry.section, allow.entry.key, allow.entry.name) == (
        "classes", "keras.layers", "Dense")
    name = next(s for s in trace.steps if s.subject.startswith('arguments."*".name'))
    assert (name.outcome, name.why) == (Outcome.PASSED, "'hidden' meets it")
    assert trace.steps[-1].kind is StepKind.SIZE_LIMITS
    assert (trace.verdict, trace.rule) == (Verdict.ALLOW, "classes: keras.layers.Dense")


def test_broken_constraint_settles_after_the_allow_entry(default_policy):
    tree = tree_of(FIXTURES / "attacks" / "cve-2025-12058-vocabulary-path.json", default_policy)
    trace = trace_node(node_at(tree, "/config/layers/1"), default_policy)
    settling = trace.steps[trace.settled_by]
    table = '[arguments."keras.layers.StringLookup".vocabulary]'
    assert (settling.kind, settling.outcome) == (StepKind.ARGUMENT_CONSTRAINT, Outcome.BROKEN)
    assert settling.subject.startswith('arguments."keras.layers.StringLookup".vocabulary:')
    assert settling.source == f"{DEFAULT_TOML}:{line_of(DEFAULT_TOML, table)}"
    assert [(f.rule.id, f.location.pointer) for f in settling.findings] == [
        ("KV403", "/config/layers/1/config/vocabulary")]
    idf = next(s for s in trace.steps if ".idf_weights" in s.subject)
    assert (idf.outcome, idf.why) == (Outcome.NOT_APPLICABLE, "the argument is not set")
    (allow,) = [s for s in trace.steps if s.kind is StepKind.ALLOW_ENTRY]
    assert allow.outcome is Outcome.MATCHED
    assert (trace.verdict, trace.rule) == (Verdict.DENY, "KV403")


CUSTOM = """\
name = "trace-custom"
extends = ["default"]

[[custom]]
registered_name = "evil_pkg>Evil"
object = "{object}"
"""


@pytest.mark.parametrize(
    ("target", "settling", "rule"),
    [
        ("evil_pkg.layers.Evil", (StepKind.CUSTOM_ENTRY, Outcome.MATCHED),
         "custom: evil_pkg>Evil -> evil_pkg.layers.Evil ({source})"),
        ("evil_pkg.layers.Other", (StepKind.REGISTERED_NAME, Outcome.BROKEN), "KV305"),
        ("os.Evil", (StepKind.DENY_RULE, Outcome.MATCHED), "deny: {deny}"),
    ],
    ids=["allowed", "disagrees", "entry-denied"],
)
def test_custom_entries_are_traced(tmp_path, target, settling, rule):
    policy_path = tmp_path / "custom.toml"
    policy_path.write_text(textwrap.dedent(CUSTOM.format(object=target)), encoding="utf-8")
    policy = load_policy(policy_path)
    tree = tree_of(FIXTURES / "attacks" / "custom-object-not-in-policy.json", policy)
    node = node_at(tree, "/config/layers/2")
    trace = trace_node(node, policy)
    (decision,) = [d for d in evaluate(tree, policy).decisions if d.pointer == node.pointer]
    (entry,) = [s for s in trace.steps if s.kind is StepKind.CUSTOM_ENTRY]
    assert (entry.outcome, entry.source) == (Outcome.MATCHED, f"{policy_path}:4")
    found = trace.steps[trace.settled_by]
    assert (found.kind, found.outcome) == settling
    deny = deny_header('module_prefix = "os"')
    assert trace.rule == rule.format(source=f"{policy_path}:4", deny=deny) == decision.rule


def test_missing_custom_entry_is_the_broken_step(default_policy):
    tree = tree_of(FIXTURES / "attacks" / "custom-object-not-in-policy.json", default_policy)
    trace = trace_node(node_at(tree, "/config/layers/2"), default_policy)
    settling = trace.steps[trace.settled_by]
    assert (settling.kind, settling.outcome) == (StepKind.CUSTOM_ENTRY, Outcome.BROKEN)
    assert [(f.rule.id, f.location.pointer) for f in settling.findings] == [
        ("KV300", "/config/layers/2")]
    assert 'registered_name = "evil_pkg>Evil"' in settling.findings[0].message


def test_lambda_trace_carries_the_source_and_the_mode(default_policy, strict_policy):
    tree = tree_of(ROOT / "examples" / "lambda_model.keras", default_policy)
    node = node_at(tree, "/config/layers/1/config/function")
    allowed = trace_node(node, default_policy)
    assert allowed.lambda_source == "lambda x: x * 2"
    assert steps_of(allowed) == [(StepKind.LAMBDA, Outcome.PASSED),
                                 (StepKind.LAMBDA, Outcome.MATCHED)]
    assert allowed.steps[0].subject == "lambdas.mode = analyze"
    denied = trace_node(node, strict_policy)
    assert steps_of(denied) == [(StepKind.LAMBDA, Outcome.MATCHED)]
    assert (denied.verdict, denied.rule) == (Verdict.DENY, "KV500")


def test_whole_model_findings_are_listed_at_their_node(default_policy):
    tree = tree_of(FIXTURES / "attacks" / "functional-graph-dangling.json", default_policy)
    evaluation = evaluate(tree, default_policy)
    located = findings_by_node(tree, evaluation.findings)
    pointer = "/config/layers/2/inbound_nodes/0/args/0"
    assert {key: [f.rule.id for f in found] for key, found in located.items()} == {
        ("<json>", pointer): ["KV209"]}
    node = node_at(tree, pointer)
    trace = trace_node(node, default_policy, located[(node.member, node.pointer)])
    assert [(s.kind, s.outcome) for s in trace.steps][-1] == (StepKind.MODEL, Outcome.BROKEN)
    # A whole-model finding denies the artifact, not the node's own decision.
    assert (trace.verdict, trace.rule) == (Verdict.ALLOW, "special: __keras_tensor__")
