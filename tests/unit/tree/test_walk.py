"""The iterative walk: every node found with its pointer and layer; caps enforced while walking."""

from __future__ import annotations

import json

import pytest

from kerasvet.artifact.json_strict import parse_json_document
from kerasvet.artifact.model import ConfigDocument, ConfigRole
from kerasvet.limits import Limits
from kerasvet.tree import Grammar, NodeKind, walk_documents

FUNCTIONAL = {
    "module": "keras.src.models.functional", "class_name": "Functional",
    "registered_name": "Functional",
    "config": {
        "name": "m",
        "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
             "name": "x", "config": {"name": "x", "batch_shape": [None, 4]},
             "inbound_nodes": []},
            {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
             "name": "d/1", "config": {
                 "name": "d/1", "units": 2,
                 "kernel_initializer": {"module": "keras.initializers",
                                        "class_name": "GlorotUniform", "config": {},
                                        "registered_name": None}},
             "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                 "shape": [None, 4], "dtype": "float32", "keras_history": ["x", 0, 0]}}],
                 "kwargs": {}}]},
        ],
        "input_layers": ["x", 0, 0],
        "output_layers": ["d/1", 0, 0],
    },
    "compile_config": {"loss": "mse", "optimizer": {"module": "keras.optimizers",
                                                    "class_name": "Adam", "config": {},
                                                    "registered_name": None}},
}


def doc(value, role=ConfigRole.MODEL, member="config.json"):
    return (ConfigDocument(member=member, role=role, value=value),)


def test_finds_every_node_with_pointer_layer_and_argument():
    tree = walk_documents(doc(FUNCTIONAL), Limits())
    seen = [(n.pointer, n.class_name, n.layer, n.argument) for n in tree.nodes]
    assert seen == [
        ("", "Functional", "m", None),
        ("/config/layers/0", "InputLayer", "x", "layers"),
        ("/config/layers/1", "Dense", "d/1", "layers"),
        ("/config/layers/1/config/kernel_initializer", "GlorotUniform", "d/1",
         "kernel_initializer"),
        ("/config/layers/1/inbound_nodes/0/args/0", "__keras_tensor__", "d/1", "args"),
        ("/compile_config/optimizer", "Adam", "m", "optimizer"),
    ]
    assert tree.findings == ()
    assert [s.pointer for s in tree.compile_sections] == ["/compile_config"]
    kinds = {n.class_name: n.kind for n in tree.nodes}
    assert kinds["__keras_tensor__"] is NodeKind.SPECIAL
    assert kinds["Dense"] is NodeKind.CLASS


def test_pointer_tokens_are_escaped():
    value = {"class_name": "Sequential", "config": {"a/b": {"c~d": {"class_name": "X",
                                                                    "config": {}}}}}
    tree = walk_documents(doc(value), Limits())
    assert tree.nodes[1].pointer == "/config/a~1b/c~0d"


def test_grammar_follows_module_key_and_keras2_lambdas():
    value = {"class_name": "Sequential", "keras_version": "2.15.0", "config": {"layers": [
        {"class_name": "Lambda", "config": {"name": "l", "function": ["AA==", None, None],
                                            "function_type": "lambda", "module": "__main__",
                                            "output_shape": None, "output_shape_type": "raw"}},
    ]}}
    tree = walk_documents(doc(value), Limits())
    lambdas = [n for n in tree.nodes if n.kind is NodeKind.LAMBDA]
    assert [(n.pointer, n.argument) for n in lambdas] == [
        ("/config/layers/0/config/function", "function"),
        ("/config/layers/0/config/output_shape", "output_shape"),
    ]
    assert all(n.grammar is Grammar.KERAS2 for n in tree.nodes)


def test_depth_cap_is_enforced_by_the_walk():
    value = {"class_name": "Sequential", "config": {"layers": [[[[[[1]]]]]]}}
    tree = walk_documents(doc(value), Limits(max_json_depth=5))
    assert [(f.rule.id, f.location.pointer) for f in tree.findings] == [
        ("KV204", "/config/layers/0/0/0")
    ]
    assert walk_documents(doc(value), Limits(max_json_depth=8)).findings == ()


def test_value_and_node_caps():
    many = {"class_name": "Sequential", "config": {"v": list(range(50))}}
    assert [f.rule.id for f in walk_documents(doc(many), Limits(max_json_values=40)).findings] \
        == ["KV205"]
    assert walk_documents(doc(many), Limits(max_json_values=60)).findings == ()
    nodes = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {}} for _ in range(5)]}}
    assert [f.rule.id for f in walk_documents(doc(nodes), Limits(max_nodes=5)).findings] \
        == ["KV205"]
    assert walk_documents(doc(nodes), Limits(max_nodes=6)).findings == ()


def test_string_and_number_caps_are_enforced_by_the_parser():
    text = json.dumps({"class_name": "Sequential", "config": {"name": "x" * 101}})
    _, found = parse_json_document(text, "c", Limits(max_string_length=100))
    assert [(f.rule.id, f.location.pointer) for f in found] == [("KV205", "/config/name")]
    assert parse_json_document(text, "c", Limits(max_string_length=101))[1] == ()
    digits = '{"class_name": "X", "config": {"seed": 12345}}'
    assert [f.rule.id for f in parse_json_document(digits, "c", Limits(max_int_digits=4))[1]] \
        == ["KV203"]
    assert parse_json_document(digits, "c", Limits(max_int_digits=5))[1] == ()
    assert parse_json_document('{"a": -12345}', "c", Limits(max_int_digits=5))[1] == ()


def test_duplicate_keys_are_found_even_with_colons_in_strings():
    text = '{"a": "x:y", "b": {"c": 1, "c": 2}}'
    assert [f.rule.id for f in parse_json_document(text, "c", Limits())[1]] == ["KV201"]
    value, found = parse_json_document('{"a": "x:y", "b": {"c": 1}}', "c", Limits())
    assert found == ()
    assert value == {"a": "x:y", "b": {"c": 1}}
    spaced = '{"a" : 1, "a"\n:\t2}'
    assert [f.rule.id for f in parse_json_document(spaced, "c", Limits())[1]] == ["KV201"]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ([1, 2], "KV207"),
        ("text", "KV207"),
        ({"config": {}}, "KV207"),
        ({"class_name": 3, "config": {}}, "KV206"),
        ({"class_name": "Dense", "module": ["keras"], "config": {}}, "KV206"),
        ({"class_name": "Dense", "registered_name": 5, "config": {}}, "KV206"),
        ({"class_name": "Dense", "config": [1]}, "KV206"),
        ({"class_name": "function", "config": {"name": "relu"}}, "KV206"),
    ],
)
def test_schema_and_root_problems(value, rule):
    tree = walk_documents(doc(value), Limits())
    assert [f.rule.id for f in tree.findings] == [rule]


def test_training_config_root_need_not_be_a_node():
    training = {"loss": "mse", "optimizer_config": {"class_name": "Adam", "config": {}}}
    tree = walk_documents(doc(training, ConfigRole.TRAINING, "training_config"), Limits())
    assert tree.findings == ()
    assert [n.pointer for n in tree.nodes] == ["/optimizer_config"]
    assert [s.member for s in tree.compile_sections] == ["training_config"]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (b'{"a": 1, "a": 2}', "KV201"),
        (b'{"a": NaN}', "KV202"),
        (b'{"a": -Infinity}', "KV202"),
        (b'{"a": ' + b"1" * 5000 + b"}", "KV203"),
        (b'{"a": 1e999}', "KV203"),
        (b"[" * 100_000 + b"]" * 100_000, "KV204"),
        (b'{"a": 1', "KV200"),
        (b'\xff{"a": 1}', "KV200"),
    ],
)
def test_strict_json_refusals(text, rule):
    value, findings = parse_json_document(text, "config.json", Limits())
    assert value is None
    assert [f.rule.id for f in findings] == [rule]


def test_strict_json_size_cap():
    text = json.dumps({"class_name": "X", "config": {"pad": "y" * 100}}).encode()
    assert parse_json_document(text, "c", Limits(max_config_bytes=len(text)))[1] == ()
    _, findings = parse_json_document(text, "c", Limits(max_config_bytes=len(text) - 1))
    assert [f.rule.id for f in findings] == ["KV101"]
