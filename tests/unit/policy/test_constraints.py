"""The argument constraint language: regex allow patterns, item and nesting limits, nested
node constraints, and the initializer constraints the default policy ships with."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kerasvet.audit import audit_artifact
from kerasvet.policy import load_policy

BENIGN = Path(__file__).resolve().parents[2] / "fixtures" / "benign"


def load_benign(name: str) -> dict[str, Any]:
    return json.loads((BENIGN / f"{name}.config.json").read_text())  # type: ignore[no-any-return]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "constrained.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def denying(report: Any) -> set[tuple[str, str]]:
    return {(f.rule.id, f.location.pointer) for f in report.findings if f.denies}


def layer(class_name: str, **config: object) -> dict[str, object]:
    return {"module": "keras.layers", "class_name": class_name, "registered_name": None,
            "config": {"name": "x", **config}}


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = write(tmp_path_factory.mktemp("policy"), """\
        name = "constrained"
        extends = ["default"]

        [arguments."keras.layers.StringLookup".vocabulary]
        types = ["list"]
        pattern = "[a-z]{1,12}"
        max_items = 3

        [arguments."keras.layers.Dense".kernel_regularizer]
        nodes = ["keras.regularizers.L2"]

        [arguments."keras.layers.Reshape".target_shape]
        max_depth = 1
        """)
    return load_policy(path)


def test_pattern_is_an_allow_pattern_for_every_string(policy: Any) -> None:
    ok = layer("StringLookup", vocabulary=["cat", "dog"])
    assert denying(audit_artifact(ok, policy)) == set()
    bad = layer("StringLookup", vocabulary=["cat", "Dog!"])
    report = audit_artifact(bad, policy)
    assert denying(report) == {("KV401", "/config/vocabulary/1")}
    (finding,) = [f for f in report.findings if f.denies]
    assert "'Dog!' does not match the pattern '[a-z]{1,12}'" in finding.message
    assert "constrained.toml:4]" in finding.message


def test_a_string_where_a_list_is_required_is_refused(policy: Any) -> None:
    # "list, not string": a string vocabulary is a path Keras would read (CVE-2025-12058).
    report = audit_artifact(layer("StringLookup", vocabulary="vocab"), policy)
    assert denying(report) == {("KV400", "/config/vocabulary")}


def test_max_items_counts_list_items(policy: Any) -> None:
    assert denying(audit_artifact(layer("StringLookup", vocabulary=["a", "b", "c"]),
                                  policy)) == set()
    report = audit_artifact(layer("StringLookup", vocabulary=["a", "b", "c", "d"]), policy)
    assert denying(report) == {("KV402", "/config/vocabulary")}
    assert "has 4 items, over max_items 3" in report.findings[0].message


def test_max_depth_limits_nesting(policy: Any) -> None:
    assert denying(audit_artifact(layer("Reshape", target_shape=[2, 2]), policy)) == set()
    report = audit_artifact(layer("Reshape", target_shape=[[2], 2]), policy)
    assert denying(report) == {("KV402", "/config/target_shape")}


def test_nodes_limit_which_object_an_argument_may_hold(policy: Any) -> None:
    l2 = {"module": "keras.regularizers", "class_name": "L2", "registered_name": None,
          "config": {"l2": 0.01}}
    l1 = {"module": "keras.regularizers", "class_name": "L1", "registered_name": None,
          "config": {"l1": 0.01}}
    assert denying(audit_artifact(layer("Dense", units=2, kernel_regularizer=l2),
                                  policy)) == set()
    report = audit_artifact(layer("Dense", units=2, kernel_regularizer=l1), policy)
    # L1 is an allowed class, only not in this argument.
    assert denying(report) == {("KV407", "/config/kernel_regularizer")}
    assert "holds keras.regularizers.L1, which is not one of ['keras.regularizers.L2']" in \
        report.findings[0].message
    # Bare names are not nodes: `nodes` leaves them to the name tables.
    assert denying(audit_artifact(layer("Dense", units=2, kernel_regularizer="l2"),
                                  policy)) == set()


def test_default_initializer_arguments_hold_only_initializers(default_policy: Any) -> None:
    dense_as_initializer = {"module": "keras.layers", "class_name": "Dense",
                            "registered_name": None, "config": {"units": 1}}
    report = audit_artifact(layer("Dense", units=2, kernel_initializer=dense_as_initializer),
                            default_policy)
    assert denying(report) == {("KV407", "/config/kernel_initializer")}
    # A legacy node without a module matches by class name (tf.keras .h5 files).
    legacy = {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert denying(audit_artifact(layer("Dense", units=2, kernel_initializer=legacy),
                                  default_policy)) == set()


def test_real_keras_configs_meet_the_initializer_constraints(default_policy: Any) -> None:
    config = load_benign("resnet50")
    assert denying(audit_artifact(config, default_policy)) == set()
    # The same model with one initializer swapped for a loss is refused at that pointer.
    swapped = copy.deepcopy(config)
    layers = swapped["config"]["layers"]
    index = next(i for i, item in enumerate(layers) if "kernel_initializer" in item["config"])
    layers[index]["config"]["kernel_initializer"] = {
        "module": "keras.losses", "class_name": "MeanSquaredError", "registered_name": None,
        "config": {"name": "mse"}}
    pointer = f"/config/layers/{index}/config/kernel_initializer"
    assert denying(audit_artifact(swapped, default_policy)) == {("KV407", pointer)}
