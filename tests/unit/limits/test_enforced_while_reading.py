"""Caps checked at the stage that pays for them: the deadline at every stage, the value count
before the parse, Keras 2 lambda nodes in the node count, the lambda cap's two spellings."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerasvet.artifact.json_strict import count_values, parse_json_document
from kerasvet.artifact.model import ConfigDocument, ConfigRole
from kerasvet.artifact.read import read_artifact
from kerasvet.audit import audit_artifact
from kerasvet.engine import evaluate
from kerasvet.errors import PolicyError
from kerasvet.limits import Deadline, Limits
from kerasvet.policy import load_policy
from kerasvet.tree import walk_documents

SEQUENTIAL = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "s", "layers": [
                  {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                   "config": {"name": f"d{i}", "units": 2}} for i in range(3)]}}
PASSED = Deadline(seconds=0, expires_at=time.monotonic() - 1)
"""A deadline already behind the real monotonic clock."""


def where(findings: object) -> list[tuple[str, str, str | None]]:
    return [(f.rule.id, f.location.member, f.location.pointer)  # type: ignore[attr-defined]
            for f in findings]  # type: ignore[attr-defined]


def walked_values(value: object) -> int:
    """The tree walk's count: the length of every object and list, summed."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            total += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            total += len(item)
            stack.extend(item)
    return total


_TRICKY = st.text(alphabet='ab"\\[]{},: \n\u00e9', max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | _TRICKY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.sampled_from([None, 1, 2]), st.booleans())
def test_the_pre_parse_count_is_the_walks_count(value: object, indent: int | None,
                                                ascii_only: bool) -> None:
    # Strings full of quotes, backslashes, brackets and commas must not change the count.
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    assert count_values(text.encode()) == walked_values(value)


def test_the_value_cap_refuses_before_anything_is_built() -> None:
    # 300 000 empty objects: refused from the byte count, at the document, not mid-walk.
    text = "[" + ",".join(["{}"] * 300_000) + "]"
    value, found = parse_json_document(text, "config.json", Limits(max_json_values=299_999))
    assert value is None
    assert where(found) == [("KV205", "config.json", "")]
    assert "the document holds 300000 JSON values" in found[0].message
    assert parse_json_document(text, "config.json", Limits(max_json_values=300_000))[1] == ()


def test_keras2_lambda_nodes_count_against_the_node_cap() -> None:
    layer = {"class_name": "Lambda", "config": {
        "name": "l", "function": ["AA==", None, None], "function_type": "lambda",
        "output_shape": None, "output_shape_type": "raw"}}
    value = {"class_name": "Sequential", "keras_version": "2.15.0",
             "config": {"layers": [layer]}}
    documents = (ConfigDocument("config.json", ConfigRole.MODEL, value),)
    # Nodes: the model, the Lambda layer, its function and its output_shape.
    assert walk_documents(documents, Limits(max_nodes=4)).findings == ()
    assert where(walk_documents(documents, Limits(max_nodes=3)).findings) == [
        ("KV205", "config.json", "/config/layers/0/config/output_shape")]


def test_a_passed_deadline_stops_the_reader_at_the_artifact() -> None:
    artifact = read_artifact(json.dumps(SEQUENTIAL).encode(), Limits(), PASSED)
    assert artifact.documents == ()
    assert where(artifact.findings) == [("KV002", "<artifact>", None)]


def test_a_passed_deadline_stops_the_walk_at_the_document() -> None:
    documents = (ConfigDocument("config.json", ConfigRole.MODEL, SEQUENTIAL),)
    tree = walk_documents(documents, Limits(), PASSED)
    assert tree.nodes == ()
    assert where(tree.findings) == [("KV002", "config.json", None)]


class ExpiresAfter:
    """A clock that reads 0 for ``reads`` reads, then 10: a deadline of 5 s passes there."""

    def __init__(self, reads: int) -> None:
        self.left = reads

    def __call__(self) -> float:
        self.left -= 1
        return 0.0 if self.left >= 0 else 10.0


def test_the_engine_stops_between_nodes(default_policy) -> None:  # type: ignore[no-untyped-def]
    documents = (ConfigDocument("config.json", ConfigRole.MODEL, SEQUENTIAL),)
    tree = walk_documents(documents, Limits())
    # One read starts the deadline, one per node judged: nodes 0 and 1 pass, node 2 does not.
    deadline = Deadline.start(5, ExpiresAfter(3))
    evaluation = evaluate(tree, default_policy, deadline)
    assert [d.pointer for d in evaluation.decisions] == ["", "/config/layers/0"]
    assert where(evaluation.findings) == [("KV002", "config.json", "/config/layers/1")]


def test_an_audit_well_inside_its_cap_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "quick.toml"
    path.write_text('name = "quick"\nextends = ["default"]\n\n[limits]\nmax_audit_seconds = 1\n')
    report = audit_artifact(json.dumps(SEQUENTIAL).encode(), load_policy(path))
    assert report.allowed, [(f.rule.id, f.message) for f in report.findings]


def test_the_two_spellings_of_the_lambda_cap_are_one_setting(tmp_path: Path) -> None:
    for name in ("default", "strict"):
        policy = load_policy(name)
        assert policy.limits.max_lambda_code_chars == 65_536, name
        assert policy.lambdas.max_code_chars == 65_536, name
    path = tmp_path / "tight.toml"
    for table in ("[lambdas]\nmax_code_chars = 10\n", "[limits]\nmax_lambda_code_chars = 10\n",
                  "[limits]\nmax_lambda_code_chars = 10\n\n[lambdas]\nmax_code_chars = 10\n"):
        path.write_text(f'name = "tight"\nextends = ["default"]\n\n{table}')
        policy = load_policy(path)
        assert (policy.limits.max_lambda_code_chars, policy.lambdas.max_code_chars) == (10, 10)
    # A child's spelling overrides a parent's other spelling.
    child = tmp_path / "child.toml"
    child.write_text('name = "child"\nextends = ["tight.toml"]\n\n[limits]\n'
                     'max_lambda_code_chars = 99\n')
    policy = load_policy(child)
    assert (policy.limits.max_lambda_code_chars, policy.lambdas.max_code_chars) == (99, 99)
    path.write_text('name = "tight"\nextends = ["default"]\n\n[limits]\n'
                    'max_lambda_code_chars = 20\n\n[lambdas]\nmax_code_chars = 10\n')
    with pytest.raises(PolicyError, match="they are one setting"):
        load_policy(path)
