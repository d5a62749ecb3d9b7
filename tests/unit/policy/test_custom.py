"""`[[custom]]`: policy entries for an application's own registered classes and functions."""

from __future__ import annotations

import copy
import json
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from kerasvet.audit import audit_artifact
from kerasvet.errors import PolicyError
from kerasvet.policy import load_policy
from kerasvet.policy.model import CustomKind, CustomObject
from kerasvet.policy.show import render_policy

# The "done when": ten lines that extend the default and add one registered layer.
USER_POLICY = """\
# Our service: the default policy plus our own layer, with a size limit.
name = "my-service"
extends = ["default"]
[[custom]]
registered_name = "my_package>MyLayer"
object = "{module}.MyLayer"
[arguments."my_package>MyLayer".units]
types = ["int"]
max = 64
reason = "larger layers exhaust memory at build time"
"""


def write(tmp_path: Path, text: str, name: str = "my-service.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


# --- Keras-written artifacts ------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A functional model using a registered custom layer, saved by Keras; and the module
    Keras wrote for the layer."""
    keras = pytest.importorskip("keras")

    @keras.saving.register_keras_serializable(package="my_package")
    class MyLayer(keras.layers.Layer):  # type: ignore[misc]
        def __init__(self, units: int = 8, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape: Any) -> None:
            self.w = self.add_weight(shape=(input_shape[-1], self.units))

        def call(self, x: Any) -> Any:
            return keras.ops.matmul(x, self.w)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    inputs = keras.Input((3,), name="x")
    outputs = MyLayer(16, name="mine")(inputs)
    path = tmp_path_factory.mktemp("custom") / "model.keras"
    keras.Model(inputs, outputs).save(path)
    return path, MyLayer.__module__


def layer_node(config: dict[str, Any]) -> dict[str, Any]:
    (node,) = [n for n in config["config"]["layers"] if n["class_name"] == "MyLayer"]
    return node


def edited(source: Path, target: Path, change: Any) -> Path:
    """A copy of a .keras zip whose config.json was changed by ``change(config)``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                change(config)
                data = json.dumps(config).encode()
            new.writestr(item, data)
    return target


def node_config(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return layer_node(json.loads(archive.read("config.json")))


@pytest.mark.keras
def test_keras_writes_the_registered_name_and_module(saved):
    path, module = saved
    node = node_config(path)
    assert node["registered_name"] == "my_package>MyLayer"
    assert node["module"] == module
    assert node["config"]["units"] == 16


@pytest.mark.keras
def test_ten_line_user_policy_lets_the_artifact_pass(saved, tmp_path):
    path, module = saved
    policy_path = write(tmp_path, USER_POLICY.format(module=module))
    assert len(policy_path.read_text().splitlines()) == 10
    report = audit_artifact(path, load_policy(policy_path))
    assert report.allowed, [f.message for f in report.findings]
    (decision,) = [d for d in report.decisions if d.class_name == "MyLayer"]
    assert decision.rule.startswith(f"custom: my_package>MyLayer -> {module}.MyLayer")


@pytest.mark.keras
def test_out_of_range_argument_names_the_limit_file_and_line(saved, tmp_path):
    path, module = saved
    policy_path = write(tmp_path, USER_POLICY.format(module=module))
    big = edited(path, tmp_path / "big.keras",
                 lambda c: layer_node(c)["config"].update(units=1024))
    report = audit_artifact(big, load_policy(policy_path))
    assert not report.allowed
    (finding,) = report.findings
    assert finding.rule.id == "KV401"
    line = line_of(policy_path, 'units]')
    assert 'arguments."my_package>MyLayer".units' in finding.message
    assert "1024 is outside [None, 64]" in finding.message
    assert "larger layers exhaust memory" in finding.message
    assert f"{policy_path}:{line}" in finding.message


@pytest.mark.keras
def test_without_an_entry_the_finding_prints_the_snippet(saved):
    path, module = saved
    report = audit_artifact(path, load_policy("default"))
    (finding,) = report.findings
    assert finding.rule.id == "KV300"
    snippet = ('[[custom]]\nregistered_name = "my_package>MyLayer"\n'
               f'object = "{module}.MyLayer"')
    assert snippet in finding.message
    # The snippet is valid policy text that, pasted under `extends`, allows the layer.
    assert finding.message.endswith(snippet)


@pytest.mark.keras
def test_pasting_the_snippet_allows_the_layer(saved, tmp_path):
    path, _ = saved
    (finding,) = audit_artifact(path, load_policy("default")).findings
    snippet = finding.message[finding.message.index("[[custom]]"):]
    policy_path = write(tmp_path, f'name = "pasted"\nextends = ["default"]\n{snippet}\n')
    assert audit_artifact(path, load_policy(policy_path)).allowed


@pytest.mark.keras
def test_without_a_module_the_snippet_says_your_module(saved, tmp_path):
    path, _ = saved
    main = edited(path, tmp_path / "main.keras", lambda c: layer_node(c).update(module=None))
    (finding,) = audit_artifact(main, load_policy("default")).findings
    assert finding.rule.id == "KV300"
    assert finding.message.endswith(
        '[[custom]]\nregistered_name = "my_package>MyLayer"\nobject = "<your_module>.MyLayer"')


@pytest.mark.keras
def test_module_null_is_allowed_by_the_entry(saved, tmp_path):
    # Keras writes `module: null` for a class defined in __main__.
    path, module = saved
    main = edited(path, tmp_path / "main.keras", lambda c: layer_node(c).update(module=None))
    policy_path = write(tmp_path, USER_POLICY.format(module=module))
    assert audit_artifact(main, load_policy(policy_path)).allowed


@pytest.mark.keras
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda n: n.update(module="evil.layers"), "module 'evil.layers' is not the entry's"),
        (lambda n: n.update(class_name="Other"), "class_name 'Other' is not the entry's 'MyLayer'"),
    ],
    ids=["module", "class_name"],
)
def test_a_node_disagreeing_with_its_entry_is_kv305(saved, tmp_path, change, expected):
    path, module = saved
    policy_path = write(tmp_path, USER_POLICY.format(module=module))
    bad = edited(path, tmp_path / "bad.keras", lambda c: change(layer_node(c)))
    report = audit_artifact(bad, load_policy(policy_path))
    (finding,) = report.findings
    assert finding.rule.id == "KV305"
    assert expected in finding.message
    assert f"{policy_path}:4" in finding.message  # the [[custom]] header


@pytest.mark.keras
@pytest.mark.parametrize("module_null", [False, True])
def test_a_deny_rule_on_the_module_still_wins(saved, tmp_path, module_null):
    path, module = saved
    text = USER_POLICY.format(module=module) + textwrap.dedent(f"""\
        [[deny]]
        module_prefix = "{module.split('.')[0]}"
        reason = "this package is being withdrawn"
        """)
    policy_path = write(tmp_path, text)
    if module_null:
        path = edited(path, tmp_path / "main.keras", lambda c: layer_node(c).update(module=None))
    report = audit_artifact(path, load_policy(policy_path))
    (finding,) = report.findings
    assert finding.rule.id == "KV302"
    assert "this package is being withdrawn" in finding.message


# --- Function entries, on inline configs --------------------------------------------------


def dense_with_activation(activation: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": "keras.layers", "class_name": "Dense", "registered_name": None,
        "config": {"name": "d", "units": 2, "activation": activation},
    }


FUNCTION_NODE = {"module": "my_package.ops", "class_name": "function",
                 "config": "my_act", "registered_name": "my_package>my_act"}


def test_function_without_entry_prints_a_function_snippet():
    report = audit_artifact(dense_with_activation(copy.deepcopy(FUNCTION_NODE)),
                            load_policy("default"))
    (finding,) = report.findings
    assert finding.rule.id == "KV301"
    assert finding.message.endswith(
        '[[custom]]\nregistered_name = "my_package>my_act"\n'
        'object = "my_package.ops.my_act"\nkind = "function"')


def test_function_entry_allows_the_function(tmp_path):
    policy_path = write(tmp_path, """\
        name = "fn"
        extends = ["default"]
        [[custom]]
        registered_name = "my_package>my_act"
        object = "my_package.ops.my_act"
        kind = "function"
        """)
    policy = load_policy(policy_path)
    assert audit_artifact(dense_with_activation(copy.deepcopy(FUNCTION_NODE)), policy).allowed
    wrong = {**FUNCTION_NODE, "config": "other"}
    (finding,) = audit_artifact(dense_with_activation(wrong), policy).findings
    assert finding.rule.id == "KV305"
    assert "function name 'other'" in finding.message


def test_a_class_entry_does_not_allow_a_function_node(tmp_path):
    policy_path = write(tmp_path, """\
        name = "cls"
        extends = ["default"]
        [[custom]]
        registered_name = "my_package>my_act"
        object = "my_package.ops.my_act"
        """)
    report = audit_artifact(dense_with_activation(copy.deepcopy(FUNCTION_NODE)),
                            load_policy(policy_path))
    (finding,) = report.findings
    assert finding.rule.id == "KV305"
    assert "the entry is a class, the node a function" in finding.message


# --- Loading -------------------------------------------------------------------------------


def test_entry_is_loaded_with_its_source(tmp_path):
    path = write(tmp_path, USER_POLICY.format(module="my_package.layers"))
    policy = load_policy(path)
    assert policy.custom == {
        "my_package>MyLayer": CustomObject(
            registered_name="my_package>MyLayer", module="my_package.layers",
            qualname="MyLayer", kind=CustomKind.CLASS, source=f"{path}:4"),
    }
    assert policy.arguments["my_package>MyLayer"]["units"].source == f"{path}:7"


def test_nested_qualname_uses_a_colon(tmp_path):
    path = write(tmp_path, """\
        name = "nested"
        [[custom]]
        registered_name = "pkg>Inner"
        object = "pkg.mod:Outer.Inner"
        """)
    entry = load_policy(path).custom["pkg>Inner"]
    assert (entry.module, entry.qualname, entry.name) == ("pkg.mod", "Outer.Inner", "Inner")


def test_entries_merge_across_extends_and_a_child_may_redefine(tmp_path):
    write(tmp_path, """\
        name = "base"
        [[custom]]
        registered_name = "a>A"
        object = "pkg.A"
        [[custom]]
        registered_name = "b>B"
        object = "pkg.B"
        """, "base.toml")
    child = write(tmp_path, """\
        name = "child"
        extends = ["base.toml"]
        [[custom]]
        registered_name = "b>B"
        object = "other.B"
        [[custom]]
        registered_name = "c>C"
        object = "pkg.C"
        """, "child.toml")
    policy = load_policy(child)
    assert sorted(policy.custom) == ["a>A", "b>B", "c>C"]
    assert policy.custom["a>A"].source == f"{tmp_path / 'base.toml'}:2"
    assert policy.custom["b>B"].module == "other"
    assert policy.custom["b>B"].source == f"{child}:3"
    shown = render_policy(policy)
    assert f'registered_name = "b>B" object = "other.B" kind=class  # {child}:3' in shown
    assert "[[custom]]  3 registered objects" in shown


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[custom]]\nobject = "pkg.A"\n', "custom[0]: `registered_name` is required"),
        ('[[custom]]\nregistered_name = "a>A"\n', "custom[0]: `object` is required"),
        ('[[custom]]\nregistered_name = "A"\nobject = "pkg.A"\n', "is not `package>Name`"),
        ('[[custom]]\nregistered_name = "a>A"\nobject = "A"\n', "names no module"),
        ('[[custom]]\nregistered_name = "a>A"\nobject = "pkg..A"\n', "not a Python object path"),
        ('[[custom]]\nregistered_name = "a>A"\nobject = "pkg.A"\nkind = "any"\n',
         "is not class or function"),
        ('[[custom]]\nregistered_name = "a>A"\nobject = "pkg.A"\nwhy = 1\n',
         "unknown key(s) 'why'"),
        ('[[custom]]\nregistered_name = "a>A"\nobject = "pkg.A"\n'
         '[[custom]]\nregistered_name = "a>A"\nobject = "pkg.B"\n', "two [[custom]] entries"),
        ('[arguments."a>A".units]\nmax = 1\n', "has no [[custom]] entry"),
        ('custom = {registered_name = "a>A"}\n', "custom: expected list"),
    ],
)
def test_malformed_entries_are_rejected(tmp_path, body, message):
    path = write(tmp_path, f'name = "bad"\n{body}')
    with pytest.raises(PolicyError, match=None) as raised:
        load_policy(path)
    assert message in str(raised.value)


# --- Constraint tables: a custom node and a same-named node never share them --------------


def sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "s", "layers": list(layers)}}


def my_layer(registered: str | None, name: str, units: int) -> dict[str, Any]:
    return {"module": "pkg", "class_name": "MyLayer", "registered_name": registered,
            "config": {"name": name, "units": units}}


SHARED = """\
name = "shared"
extends = ["default"]
[classes]
"pkg" = ["MyLayer"]
[arguments."pkg.MyLayer".units]
max = 1
[[custom]]
registered_name = "a>MyLayer"
object = "pkg.MyLayer"
[[custom]]
registered_name = "b>MyLayer"
object = "pkg.MyLayer"
[arguments."b>MyLayer".units]
max = 2
"""


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        # b's limit applies even after a node of a, with the same module and class_name.
        ([("a>MyLayer", 5), ("b>MyLayer", 5)], ['arguments."b>MyLayer".units']),
        # ... and the module-keyed limit to a built-in-style node after a custom one.
        ([("a>MyLayer", 5), (None, 5)], ['arguments."pkg.MyLayer".units']),
        ([(None, 5), ("b>MyLayer", 5)],
         ['arguments."pkg.MyLayer".units', 'arguments."b>MyLayer".units']),
        ([("a>MyLayer", 5), ("a>MyLayer", 7)], []),
    ],
)
def test_constraint_tables_follow_the_registered_name(tmp_path, layers, expected):
    policy = load_policy(write(tmp_path, SHARED))
    config = sequential(*(my_layer(r, f"l{i}", u) for i, (r, u) in enumerate(layers)))
    report = audit_artifact(config, policy)
    found = [f.message for f in report.findings]
    assert len(found) == len(expected), found
    for message, target in zip(found, expected):
        assert target in message


def test_a_builtin_with_a_foreign_registered_name_stays_kv305():
    dense = {"module": "keras.layers", "class_name": "Dense",
             "registered_name": "evil_pkg>Dense", "config": {"name": "d", "units": 2}}
    (finding,) = audit_artifact(sequential(dense), load_policy("default")).findings
    assert finding.rule.id == "KV305"


def test_the_shipped_schema_covers_custom_entries():
    import sys

    import jsonschema

    from kerasvet.policy.schema import SCHEMA_PATH

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    good = tomllib.loads(USER_POLICY.format(module="my_package.layers")
                         + '[[custom]]\nregistered_name = "p>f"\nobject = "a.b:C.f"\n'
                           'kind = "function"\n')
    assert list(validator.iter_errors(good)) == []
    for bad in ('[[custom]]\nobject = "a.B"\n',
                '[[custom]]\nregistered_name = "B"\nobject = "a.B"\n',
                '[[custom]]\nregistered_name = "a>B"\nobject = "a..B"\n',
                '[[custom]]\nregistered_name = "a>B"\nobject = "a.B"\nkind = "any"\n',
                '[[custom]]\nregistered_name = "a>B"\nobject = "a.B"\nwhy = 1\n'):
        assert list(validator.iter_errors(tomllib.loads(f'name = "x"\n{bad}'))) != [], bad
