#!/usr/bin/env python3
"""Write real Keras 2 / tf.keras legacy fixtures into ``tests/fixtures/keras2/``.

This must run under a *throw-away* interpreter that has TensorFlow 2.15 (which ships Keras 2),
never in the project's environment::

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.15.*"
    /tmp/tfenv/bin/python scripts/make_keras2_fixtures.py

Files written (each < 300 KB), all with ``model.save("<name>.h5")`` (legacy HDF5, Keras 2
grammar: no ``module`` keys, ``batch_input_shape``, string dtypes, list-form inbound nodes):

* ``seq_mlp.h5``          Sequential MLP, not compiled
* ``functional_cnn.h5``   functional CNN with BatchNormalization, not compiled
* ``lstm.h5``             Sequential LSTM, not compiled
* ``compiled_mlp.h5``     compiled + trained one epoch: ``training_config`` and
  ``optimizer_weights`` present
* ``model.json``          ``model.to_json()`` of the functional CNN
* ``lambda_double.h5``    ``Lambda(lambda x: x * 2)``: Keras 2 list-form lambda
  (``function_type: "lambda"``, marshalled CPython 3.11 bytecode). Harmless, expected to be
  refused by kerasvet because lambdas are denied.
* ``MANIFEST.json``       versions and how each file was made
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.pop("TF_USE_LEGACY_KERAS", None)

import numpy as np
import tensorflow as tf

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "keras2"
MAX_FILE = 300 * 1024
SEED = 1234

keras = tf.keras
KERAS_VERSION = getattr(keras, "__version__", None) or __import__("keras").__version__
if not KERAS_VERSION.startswith("2."):
    raise SystemExit(f"tf.keras is Keras {KERAS_VERSION}; run this under TensorFlow <= 2.15 "
                     "(Keras 2), e.g. /tmp/tfenv/bin/python")


def _seed() -> None:
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)


def seq_mlp() -> keras.Model:
    _seed()
    return keras.Sequential(
        [
            keras.layers.Dense(16, activation="relu", input_shape=(8,), name="hidden"),
            keras.layers.Dropout(0.1, name="dropout"),
            keras.layers.Dense(3, activation="softmax", name="probabilities"),
        ],
        name="seq_mlp",
    )


def functional_cnn() -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="functional_cnn")


def lstm() -> keras.Model:
    _seed()
    return keras.Sequential(
        [
            keras.layers.LSTM(16, return_sequences=True, input_shape=(10, 8), name="lstm_1"),
            keras.layers.LSTM(8, name="lstm_2"),
            keras.layers.Dense(1, name="regression"),
        ],
        name="lstm",
    )


def compiled_mlp() -> keras.Model:
    model = seq_mlp()
    model._name = "compiled_mlp"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(SEED)
    model.fit(rng.normal(size=(8, 8)).astype("float32"), rng.integers(0, 3, size=(8,)),
              epochs=1, batch_size=4, verbose=0, shuffle=False)
    return model


def lambda_double() -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(4,), name="x")
    doubled = keras.layers.Lambda(lambda x: x * 2, name="times_two")(inputs)
    outputs = keras.layers.Dense(1, name="out")(doubled)
    return keras.Model(inputs, outputs, name="lambda_double")


def _entry(path: Path, how: str) -> dict[str, object]:
    size = path.stat().st_size
    if size > MAX_FILE:
        raise SystemExit(f"{path} is {size} bytes (> {MAX_FILE})")
    print(f"  {path.name}: {size} bytes", file=sys.stderr)
    return {"file": path.name, "bytes": size, "how": how}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, build, how in [
        ("seq_mlp", seq_mlp, "Sequential Dense/Dropout/Dense (input_shape=(8,)), not compiled"),
        ("functional_cnn", functional_cnn,
         "functional CNN: Conv2D, BatchNormalization, MaxPooling2D, GlobalAveragePooling2D, "
         "Dense; not compiled"),
        ("lstm", lstm, "Sequential LSTM(16, seq) -> LSTM(8) -> Dense(1), not compiled"),
        ("compiled_mlp", compiled_mlp,
         "the Sequential MLP compiled with Adam, 'sparse_categorical_crossentropy', "
         "['accuracy'] and fitted one epoch on 8 random rows"),
        ("lambda_double", lambda_double,
         "functional model with Lambda(lambda x: x * 2) -- harmless, expected to be refused"),
    ]:
        model = build()
        path = OUT / f"{name}.h5"
        path.unlink(missing_ok=True)
        model.save(path, save_format="h5")
        entries.append(_entry(path, f"{how}; model.save('{name}.h5', save_format='h5')"))

    path = OUT / "model.json"
    path.write_text(functional_cnn().to_json(), encoding="utf-8")
    entries.append(_entry(path, "functional_cnn model.to_json()"))

    manifest = {
        "description": "Real Keras 2 (tf.keras) legacy fixtures; see README.md",
        "generator": "scripts/make_keras2_fixtures.py",
        "tensorflow_version": tf.__version__,
        "keras_version": KERAS_VERSION,
        "h5py_version": __import__("h5py").__version__,
        "python": platform.python_version(),
        "files": entries,
    }
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
