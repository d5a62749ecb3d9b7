"""The loader's API contract: safe_mode, custom objects, private copies, the resolver's
policy table, the process-wide registry, and the artifacts it refuses to build."""

from __future__ import annotations

import copy
import json
import shutil
import zipfile

import numpy as np
import pytest
from loader_support import (
    BENIGN_FILES,
    EXAMPLES,
    FIXTURES,
    fixed_inputs,
    predict,
    run_python,
)

import kerasvet
from kerasvet import TRUST_EVERYTHING, Policy, PolicyViolation
from kerasvet.loader import (
    CustomObjectNotAllowed,
    UnsafeLoadRefused,
    UnsupportedArtifact,
    load_and_summarize,
)
from kerasvet.loader.imports import allowed_imports

pytestmark = pytest.mark.keras

SEQ_LSTM = FIXTURES / "benign" / "seq_lstm.config.json"


def benign_config() -> dict:
    return json.loads(SEQ_LSTM.read_text())


def lambda_config() -> dict:
    with zipfile.ZipFile(EXAMPLES / "lambda_model.keras") as archive:
        return json.loads(archive.read("config.json"))


def rule_ids(refused: pytest.ExceptionInfo[PolicyViolation]) -> set[str]:
    (artifact,) = refused.value.report.artifacts
    return {f.rule.id for f in artifact.findings if f.denies}


# -- safe_mode and the trust-everything sentinel -------------------------------------------


def test_safe_mode_false_is_refused_without_trust_everything():
    with pytest.raises(UnsafeLoadRefused, match="TRUST_EVERYTHING"):
        kerasvet.deserialize_keras_object(benign_config(), safe_mode=False)
    with pytest.raises(UnsafeLoadRefused):
        kerasvet.deserialize_keras_object(benign_config(), safe_mode=False, policy="default")


def test_trust_everything_is_plain_keras():
    model = kerasvet.deserialize_keras_object(benign_config(), safe_mode=False,
                                              policy=TRUST_EVERYTHING)
    assert model.name == benign_config()["config"]["name"]
    assert kerasvet.load_model(BENIGN_FILES / "seq_lstm.keras", policy=TRUST_EVERYTHING)
    assert repr(TRUST_EVERYTHING) == "kerasvet.TRUST_EVERYTHING"


def test_safe_mode_may_be_a_policy(strict_policy):
    assert kerasvet.deserialize_keras_object(benign_config(), safe_mode=strict_policy)
    with pytest.raises(PolicyViolation) as refused:
        kerasvet.deserialize_keras_object(lambda_config(), safe_mode=strict_policy)
    assert rule_ids(refused) == {"KV500"}
    with pytest.raises(ValueError, match="not both"):
        kerasvet.deserialize_keras_object(benign_config(), safe_mode=strict_policy,
                                          policy="default")


# -- custom objects --------------------------------------------------------------------------


def test_custom_objects_must_be_allowed_by_the_policy():
    import keras

    class NotInPolicy(keras.layers.Layer):
        pass

    with pytest.raises(CustomObjectNotAllowed, match="NotInPolicy"):
        kerasvet.load_model(BENIGN_FILES / "seq_lstm.keras",
                            custom_objects={"LSTM": NotInPolicy})
    with pytest.raises(CustomObjectNotAllowed):
        kerasvet.deserialize_keras_object(benign_config(), custom_objects={"len": len})
    # The very class a policy pair names is allowed, whatever module defines it.
    model = kerasvet.load_model(BENIGN_FILES / "seq_lstm.keras",
                                custom_objects={"Dense": keras.layers.Dense})
    assert model.layers


CUSTOM_LAYER = """\
import keras


class Doubler(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2.0
"""

CUSTOM_POLICY = """\
name = "ours"
extends = ["default"]

[classes]
"kv_custom_layers" = ["Doubler"]
"""


def test_a_policy_allowed_custom_class_is_bound_from_the_policy_table(tmp_path, monkeypatch):
    """Keras 3 cannot resolve an unregistered class outside ``keras.*``; the resolver binds
    the exact pair the policy names and hands it to Keras through the scope."""
    import keras

    (tmp_path / "kv_custom_layers.py").write_text(CUSTOM_LAYER)
    (tmp_path / "ours.toml").write_text(CUSTOM_POLICY)
    monkeypatch.syspath_prepend(str(tmp_path))
    from kv_custom_layers import Doubler

    inputs = keras.Input((3,))
    model = keras.Model(inputs, Doubler(name="doubler")(keras.layers.Dense(2)(inputs)))
    path = tmp_path / "custom.keras"
    model.save(path)

    with pytest.raises(PolicyViolation) as refused:
        kerasvet.load_model(path)  # the default policy does not know the class
    assert "KV300" in rule_ids(refused)

    ours = kerasvet.load_model(path, policy=tmp_path / "ours.toml")
    assert type(ours.get_layer("doubler")) is Doubler
    batch = fixed_inputs(model)
    np.testing.assert_allclose(predict(ours, batch)[0], predict(model, batch)[0], rtol=1e-6)
    # The same class passed as a custom object is allowed under that policy too.
    kerasvet.load_model(path, policy=Policy.load(tmp_path / "ours.toml"),
                        custom_objects={"Doubler": Doubler})


# -- what Keras receives -----------------------------------------------------------------


def test_keras_gets_a_private_copy_and_the_callers_dict_is_unchanged(monkeypatch):
    from keras.src.saving import serialization_lib

    received = []
    real = serialization_lib.deserialize_keras_object

    def spy(config, *args, **kwargs):
        received.append(config)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(serialization_lib, "deserialize_keras_object", spy)
    config = benign_config()
    before = copy.deepcopy(config)
    kerasvet.deserialize_keras_object(config)
    assert config == before
    assert received
    assert received[0] is not config


def test_keras_func_load_is_never_reached(monkeypatch):
    from keras.src.utils import python_utils

    def forbidden(*args, **kwargs):
        raise AssertionError("func_load was called")

    monkeypatch.setattr(python_utils, "func_load", forbidden)
    for path in (EXAMPLES / "lambda_model.keras", FIXTURES / "keras2" / "lambda_double.h5"):
        model = kerasvet.load_model(path)
        (layer,) = [layer for layer in model.layers if type(layer).__name__ == "Lambda"]
        assert layer.function.__code__.co_filename == "<kerasvet-lambda>"


def test_a_process_wide_registration_cannot_replace_a_builtin_class():
    import keras

    class ShadowLSTM(keras.layers.LSTM):
        pass

    legacy = BENIGN_FILES / "seq_lstm.h5"  # legacy configs resolve layers by class name
    registry = keras.saving.get_custom_objects()
    registry["LSTM"] = ShadowLSTM
    try:
        stock = keras.saving.load_model(legacy)
        assert any(type(layer) is ShadowLSTM for layer in stock.layers)  # Keras takes it
        with pytest.raises(PolicyViolation) as refused:
            kerasvet.load_model(legacy)
        assert rule_ids(refused) == {"KV601"}
    finally:
        del registry["LSTM"]
    assert all(type(layer) is not ShadowLSTM for layer in kerasvet.load_model(legacy).layers)


# -- artifacts the loader will not build ---------------------------------------------------


def test_asset_members_are_refused(tmp_path):
    path = tmp_path / "with_assets.keras"
    with zipfile.ZipFile(EXAMPLES / "mlp.keras") as source, \
            zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name))
        target.writestr("assets/vocabulary.txt", "a\nb\n")
    assert kerasvet.audit(path).allowed
    with pytest.raises(PolicyViolation) as refused:
        kerasvet.load_model(path)
    assert rule_ids(refused) == {"KV602"}


def test_folders_and_bare_configs_are_not_load_model_inputs(tmp_path):
    folder = tmp_path / "unzipped"
    folder.mkdir()
    with zipfile.ZipFile(EXAMPLES / "mlp.keras") as archive:
        archive.extractall(folder)
    with pytest.raises(UnsupportedArtifact, match="unzipped"):
        kerasvet.load_model(folder)
    config = tmp_path / "config.json"
    shutil.copy(SEQ_LSTM, config)
    with pytest.raises(UnsupportedArtifact, match="model_from_json"):
        kerasvet.load_model(config)


def test_load_and_summarize_returns_the_summary():
    text = load_and_summarize(EXAMPLES / "mlp.keras")
    assert "Total params" in text
    assert "Dense" in text


# -- imports -------------------------------------------------------------------------------


def test_the_import_set_is_the_policy_plus_measured_data(default_policy):
    allowed = allowed_imports(default_policy)
    assert {"keras", "keras.layers", "keras.ops", "keras.src.applications.convnext",
            "numpy"} <= allowed
    assert not {"os", "subprocess", "builtins", "socket", "pickle"} & allowed


IMPORT_ONLY = """
import json, sys
import kerasvet
loader_on_import = "kerasvet.loader" in sys.modules
sentinel = kerasvet.TRUST_EVERYTHING  # imports the loader, still not Keras
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("keras", "jax", "jaxlib", "tensorflow", "torch"))
print(json.dumps({"loader_on_import": loader_on_import, "heavy": heavy}))
"""


def test_importing_kerasvet_imports_neither_keras_nor_the_loader():
    assert run_python(IMPORT_ONLY) == {"loader_on_import": False, "heavy": []}
