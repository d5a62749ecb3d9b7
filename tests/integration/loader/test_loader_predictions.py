"""kerasvet.load_model builds the same model as Keras: same weights, same predictions.

Models without lambdas are compared with ``keras.saving.load_model`` in this process. Lambda
models are compared with stock Keras loading them with ``safe_mode=False`` in a child
process (never here): kerasvet rebuilds the lambdas from their verified AST instead.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from loader_support import (
    BENIGN_FILES,
    EXAMPLES,
    KERAS2,
    fixed_inputs,
    predict,
    run_python,
    weights_of,
)

import kerasvet

pytestmark = pytest.mark.keras

# Keras 3 itself cannot build these here: StringLookup needs TensorFlow, and tf.keras 2's
# LSTM config carries `time_major`, which Keras 3 rejects. kerasvet must fail the same way.
KERAS_CANNOT = {"preprocessing.keras", "lstm.h5"}

BENIGN = sorted(
    [*BENIGN_FILES.glob("*.keras"), *BENIGN_FILES.glob("*.h5"),
     KERAS2 / "seq_mlp.h5", KERAS2 / "functional_cnn.h5", KERAS2 / "compiled_mlp.h5",
     KERAS2 / "lstm.h5", EXAMPLES / "mlp.keras", EXAMPLES / "cnn_functional.keras",
     EXAMPLES / "legacy_mlp.h5"],
    key=lambda p: (p.parent.name, p.name),
)


def assert_same_model(ours, theirs) -> None:
    assert type(ours) is type(theirs)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    for mine, reference in zip(weights_of(ours), weights_of(theirs), strict=True):
        np.testing.assert_array_equal(mine, reference)
    inputs = fixed_inputs(theirs)
    for mine, reference in zip(predict(ours, inputs), predict(theirs, inputs), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("path", BENIGN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_benign_file_loads_like_keras(path):
    import keras

    if path.name in KERAS_CANNOT:
        with pytest.raises((TypeError, ValueError)):
            keras.saving.load_model(path)
        with pytest.raises(kerasvet.loader.LoadFailed):
            kerasvet.load_model(path)
        return
    assert_same_model(kerasvet.load_model(path), keras.saving.load_model(path))


def test_compile_false_leaves_the_model_uncompiled():
    path = BENIGN_FILES / "compiled_sgd_huber.keras"
    assert kerasvet.load_model(path).compiled
    assert not kerasvet.load_model(path, compile=False).compiled


def test_application_model_loads_like_keras(tmp_path):
    import keras

    model = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)
    path = tmp_path / "mobilenet_v2.keras"
    model.save(path)
    assert_same_model(kerasvet.load_model(path), keras.saving.load_model(path))


def test_bare_configs_build_like_keras():
    import keras

    text = (EXAMPLES / "small_mobilenet.json").read_text()
    ours = kerasvet.model_from_json(text)
    theirs = keras.models.model_from_json(text)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    config = json.loads((EXAMPLES.parent / "tests/fixtures/benign/transformer_block.config.json")
                        .read_text())
    built = kerasvet.deserialize_keras_object(config)
    assert built.count_params() == keras.saving.deserialize_keras_object(config).count_params()


def test_keras2_model_json_fails_as_in_keras():
    """tf.keras 2.15's to_json() output (module keys on layers, none at the root) goes
    through Keras 3's legacy builder, which cannot build its BatchNormalization either."""
    import keras

    text = (KERAS2 / "model.json").read_text()
    with pytest.raises(TypeError):
        keras.models.model_from_json(text)
    with pytest.raises(kerasvet.loader.LoadFailed):
        kerasvet.model_from_json(text)


# -- lambda models: the reference is stock Keras with safe_mode=False, in a child process --

REFERENCE = """
import json
import numpy as np
import keras
jobs = {jobs!r}
for path, inputs, output in jobs:
    model = keras.saving.load_model(path, safe_mode=False)
    batch = [np.load(p) for p in inputs]
    outs = model(batch[0] if len(batch) == 1 else batch, training=False)
    flat = [np.asarray(keras.ops.convert_to_numpy(o)) for o in keras.tree.flatten(outs)]
    np.savez(output, *flat)
print(json.dumps({{"done": len(jobs)}}))
"""


def save_closure_lambda_model(directory):
    """A Lambda whose function closes over a value (``x * k + 1`` with ``k = 3``)."""
    import keras

    def make(k):
        return lambda x: x * k + 1

    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, name="dense")(inputs)
    outputs = keras.layers.Lambda(make(3.0), name="scaled")(hidden)
    path = directory / "closure_lambda.keras"
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.fixture(scope="module")
def lambda_models(tmp_path_factory):
    """Each lambda model with its fixed inputs and stock Keras' outputs (child process)."""
    directory = tmp_path_factory.mktemp("lambdas")
    paths = [EXAMPLES / "lambda_model.keras", KERAS2 / "lambda_double.h5",
             save_closure_lambda_model(directory)]
    jobs, cases = [], {}
    for index, path in enumerate(paths):
        model = kerasvet.load_model(path)
        batch = fixed_inputs(model)
        files = []
        for position, array in enumerate(batch):
            file = directory / f"in_{index}_{position}.npy"
            np.save(file, array)
            files.append(str(file))
        output = directory / f"out_{index}.npz"
        jobs.append([str(path), files, str(output)])
        cases[path.name] = (model, batch, output)
    assert run_python(REFERENCE.format(jobs=jobs)) == {"done": len(jobs)}
    return cases


@pytest.mark.parametrize("name", ["lambda_model.keras", "lambda_double.h5",
                                  "closure_lambda.keras"])
def test_lambda_model_predicts_like_unsafe_keras(lambda_models, name):
    model, batch, output = lambda_models[name]
    reference = np.load(output)
    expected = [reference[f"arr_{i}"] for i in range(len(reference.files))]
    for mine, theirs in zip(predict(model, batch), expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)


def test_lambda_is_the_rebuilt_function_not_keras_func_load(lambda_models):
    model, _, _ = lambda_models["closure_lambda.keras"]
    function = model.get_layer("scaled").function
    assert function.__code__.co_filename == "<kerasvet-lambda>"
    assert function.__closure__[0].cell_contents == 3.0


def test_lambda_roots_are_bound_to_the_policy_modules(tmp_path):
    """``ops`` in a lambda is bound to ``keras.ops`` as the policy's root says; stock Keras
    cannot even run this lambda (its ``func_load`` globals have no ``ops``)."""
    import keras

    # `ops` must be a global of the lambda (a local import would become a closure value).
    function = eval("lambda x: ops.relu(x) * 2 + 1", {"ops": keras.ops})
    inputs = keras.Input((3,), name="x")
    outputs = keras.layers.Lambda(function, name="shifted")(inputs)
    path = tmp_path / "ops_lambda.keras"
    keras.Model(inputs, outputs).save(path)

    model = kerasvet.load_model(path)
    batch = np.array([[-1.0, 0.5, 2.0]], dtype="float32")
    np.testing.assert_allclose(predict(model, [batch])[0], np.maximum(batch, 0) * 2 + 1)

