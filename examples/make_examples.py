#!/usr/bin/env python3
"""Write the example models in ``examples/`` with real Keras 3 (jax backend).

Usage (from the repository root)::

    KERAS_BACKEND=jax python examples/make_examples.py

Writes mlp.keras, cnn_functional.keras, legacy_mlp.h5, small_mobilenet.json,
lambda_model.keras and lambda_import.keras (see examples/README.md). Seeds are fixed, so the
weights are reproducible; the files are still not byte-identical from run to run, exactly as
Keras writes them: ``metadata.json`` (``date_saved``) and zip timestamps, and
``shared_object_id`` values in ``config.json`` (Keras writes the Python ``id()`` of shared
objects such as the ``DTypePolicy``).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import keras

HERE = Path(__file__).resolve().parent
MAX_BYTES = 2 * 1024 * 1024


def _seed() -> None:
    keras.utils.set_random_seed(1234)
    keras.backend.clear_session()


def mlp() -> keras.Model:
    _seed()
    model = keras.Sequential(
        [
            keras.Input(shape=(8,), name="features"),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dropout(0.1, name="dropout"),
            keras.layers.Dense(3, activation="softmax", name="probabilities"),
        ],
        name="mlp",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def cnn_functional() -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="cnn_functional")


def small_mobilenet() -> keras.Model:
    _seed()
    return keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), classes=10, alpha=0.75,
    )


def lambda_model() -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(4,), name="x")
    doubled = keras.layers.Lambda(lambda x: x * 2, name="times_two")(inputs)
    outputs = keras.layers.Dense(1, name="out")(doubled)
    return keras.Model(inputs, outputs, name="lambda_model")


def lambda_import_model() -> keras.Model:
    """A lambda with the classic attack shape, made harmless: it imports ``math``.

    Keras calls it once while building (``math.floor(2.0)`` is 2); kerasvet refuses it,
    because ``__import__`` is no call the policy allows.
    """
    _seed()
    inputs = keras.Input(shape=(4,), name="x")
    scaled = keras.layers.Lambda(lambda x: __import__("math").floor(2.0) * x,
                                 name="imports_math")(inputs)
    outputs = keras.layers.Dense(1, name="out")(scaled)
    return keras.Model(inputs, outputs, name="lambda_import_model")


def _check(path: Path, limit: int = MAX_BYTES) -> None:
    size = path.stat().st_size
    print(f"{path.relative_to(HERE.parent)}: {size} bytes", file=sys.stderr)
    if size > limit:
        raise SystemExit(f"{path} is {size} bytes, over the {limit} limit")


def main() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        path = HERE / "mlp.keras"
        mlp().save(path)
        _check(path)

        path = HERE / "cnn_functional.keras"
        cnn_functional().save(path)
        _check(path)

        path = HERE / "legacy_mlp.h5"
        path.unlink(missing_ok=True)
        mlp().save(path)  # legacy HDF5 (keras.src.legacy.saving.legacy_h5_format)
        _check(path)

        path = HERE / "small_mobilenet.json"
        path.write_text(small_mobilenet().to_json(), encoding="utf-8")
        _check(path, limit=1024 * 1024)

        path = HERE / "lambda_model.keras"
        lambda_model().save(path)  # Keras stores the lambda's marshalled bytecode
        _check(path)

        path = HERE / "lambda_import.keras"
        lambda_import_model().save(path)
        _check(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
