"""The loader binds `[[custom]]` entries: an application's own registered class or function is
built from the entry's object path, never from whatever a registry holds under its name."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from loader_support import fixed_inputs, predict

import kerasvet
from kerasvet import PolicyViolation

pytestmark = pytest.mark.keras

MODULE = "kv_registered_layers"

LAYERS = '''\
import keras


@keras.saving.register_keras_serializable(package="kv_pkg")
def halve(x):
    return x * 0.5


@keras.saving.register_keras_serializable(package="kv_pkg")
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
'''

POLICY = f"""\
name = "kv-app"
extends = ["default"]

[[custom]]
registered_name = "kv_pkg>Scale"
object = "{MODULE}.Scale"

[[custom]]
registered_name = "kv_pkg>halve"
object = "{MODULE}.halve"
kind = "function"

[arguments."kv_pkg>Scale".factor]
types = ["float"]
min = 0.0
max = 10.0
"""


def findings(refused: pytest.ExceptionInfo[PolicyViolation]) -> list:
    (artifact,) = refused.value.report.artifacts
    return list(artifact.findings)


def rule_ids(refused: pytest.ExceptionInfo[PolicyViolation]) -> set[str]:
    return {f.rule.id for f in findings(refused) if f.denies}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory):
    """A model with a registered custom layer and a registered activation, saved by Keras;
    the module is importable for the rest of this file's tests."""
    import keras

    folder = tmp_path_factory.mktemp("registered")
    (folder / f"{MODULE}.py").write_text(LAYERS)
    (folder / "kv-app.toml").write_text(POLICY)
    sys.path.insert(0, str(folder))
    try:
        layers = __import__(MODULE)
        inputs = keras.Input((3,))
        hidden = keras.layers.Dense(4, activation=layers.halve, name="dense")(inputs)
        model = keras.Model(inputs, layers.Scale(3.0, name="scale")(hidden))
        path = folder / "registered.keras"
        model.save(path)
        yield path, folder / "kv-app.toml", model, layers
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(MODULE, None)


def test_a_registered_layer_and_function_load_through_their_entries(saved) -> None:
    path, policy, model, layers = saved
    with pytest.raises(PolicyViolation) as refused:
        kerasvet.load_model(path)  # the default policy has no entries for them
    assert rule_ids(refused) == {"KV300", "KV301"}
    loaded = kerasvet.load_model(path, policy=policy)
    assert type(loaded.get_layer("scale")) is layers.Scale
    assert loaded.get_layer("dense").activation is layers.halve
    batch = fixed_inputs(model)
    np.testing.assert_allclose(predict(loaded, batch)[0], predict(model, batch)[0], rtol=1e-6)


def test_the_entry_object_wins_over_a_registry_substitute(saved, tmp_path: Path) -> None:
    """Re-registering the name after saving would make stock Keras build the substitute;
    the loader binds the entry's object path instead, and the substitute never runs."""
    import keras

    path, policy, _, layers = saved
    canary = tmp_path / "canary"
    registry = keras.saving.get_custom_objects()

    class Substitute(keras.layers.Layer):
        def __init__(self, **kwargs):
            canary.write_text("substitute built")
            super().__init__(**kwargs)

    original = registry["kv_pkg>Scale"]
    registry["kv_pkg>Scale"] = Substitute
    try:
        loaded = kerasvet.load_model(path, policy=policy)
    finally:
        registry["kv_pkg>Scale"] = original
    assert type(loaded.get_layer("scale")) is layers.Scale
    assert not canary.exists()


def test_the_caller_may_pass_the_entry_objects(saved) -> None:
    path, policy, _, layers = saved
    loaded = kerasvet.load_model(path, policy=policy, custom_objects={
        "kv_pkg>Scale": layers.Scale, "kv_pkg>halve": layers.halve})
    assert type(loaded.get_layer("scale")) is layers.Scale


def test_an_entry_whose_object_cannot_be_bound_refuses_the_load(saved, tmp_path: Path) -> None:
    path, _, _, _ = saved
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(POLICY.replace(f'object = "{MODULE}.Scale"', f'object = "{MODULE}.Scal"')
                     .replace('[[custom]]\nregistered_name = "kv_pkg>Scale"',
                              '[[custom]]\nregistered_name = "kv_pkg>Scale"'))
    # The audit checks the node's class name against the entry's last part (KV305)...
    report = kerasvet.audit(path, policy=wrong)
    assert {f.rule.id for f in report.artifacts[0].findings if f.denies} == {"KV305"}
    # ... and an entry whose module cannot be imported where the model is loaded is
    # refused when the loader binds it, naming the entry's file:line.
    folder = str(policy_folder(saved))
    sys.path.remove(folder)
    module = sys.modules.pop(MODULE)
    try:
        with pytest.raises(PolicyViolation) as refused:
            kerasvet.load_model(path, policy=saved[1])
    finally:
        sys.path.insert(0, folder)
        sys.modules[MODULE] = module
    # (The unbound node still carries the registered name, which the process registry
    # holds, so KV601 is reported beside it.)
    assert rule_ids(refused) == {"KV601", "KV604"}
    messages = [f.message for f in findings(refused) if f.rule.id == "KV604"]
    assert any(f"{MODULE}.Scale" in m and "kv-app.toml:4" in m and "ModuleNotFoundError" in m
               for m in messages), messages


def policy_folder(saved) -> Path:
    return Path(saved[1]).parent


def test_an_entry_of_the_wrong_kind_refuses_the_load(saved, tmp_path: Path) -> None:
    path, _, _, _ = saved
    swapped = tmp_path / "swapped.toml"
    swapped.write_text(textwrap.dedent(f"""\
        name = "swapped"
        extends = ["default"]

        [[custom]]
        registered_name = "kv_pkg>Scale"
        object = "{MODULE}:Scale.call"

        [[custom]]
        registered_name = "kv_pkg>halve"
        object = "{MODULE}.halve"
        kind = "function"
        """))
    with pytest.raises(PolicyViolation) as refused:
        kerasvet.load_model(path, policy=swapped)
    # `Scale.call` is a function, not the class the entry claims (and not the node's name).
    assert rule_ids(refused) & {"KV305", "KV604"}
