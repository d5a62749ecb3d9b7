#!/usr/bin/env python3
"""Write the small models the shipped policies' own ``[[tests]]`` audit.

Usage (from the repository root)::

    KERAS_BACKEND=jax python scripts/make_policy_fixtures.py

Writes into ``tests/fixtures/shipped_policies/`` (real Keras 3 files, jax backend, fixed seeds):

* ``mlp_lstm.keras``: Dense layers around an LSTM, a layer no keras.applications
  architecture writes (``policies/applications.toml`` refuses it);
* ``lambda_arctan.keras``, ``lambda_ops_alias.keras``: a Lambda calling ``keras.ops.arctan``,
  and one calling ``ops.logaddexp`` and ``ops.cosh`` through the ``ops`` alias, on
  ``lambdas-reviewed``'s wider list and not on the default's;
* ``lambda_zeros.keras``: a Lambda calling ``keras.ops.zeros`` (allocates from constants),
  refused by both.

The lambdas are harmless tensor arithmetic; the audit never runs them anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import keras
from keras import ops

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "shipped_policies"


def _seed() -> None:
    keras.utils.set_random_seed(1234)
    keras.backend.clear_session()


def mlp_lstm() -> keras.Model:
    _seed()
    return keras.Sequential([
        keras.Input(shape=(6, 4), name="steps"),
        keras.layers.Dense(8, activation="relu", name="embed"),
        keras.layers.LSTM(4, name="lstm"),
        keras.layers.Dense(2, activation="softmax", name="classes"),
    ], name="mlp_lstm")


def lambda_model(name: str, function: object) -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(4,), name="x")
    hidden = keras.layers.Lambda(function, name="transform")(inputs)
    outputs = keras.layers.Dense(2, name="out")(hidden)
    return keras.Model(inputs, outputs, name=name)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    models = {
        "mlp_lstm": mlp_lstm(),
        "lambda_arctan": lambda_model("lambda_arctan", lambda x: keras.ops.arctan(x)),
        "lambda_ops_alias": lambda_model(
            "lambda_ops_alias", lambda x: ops.logaddexp(x, ops.cosh(x))),
        "lambda_zeros": lambda_model("lambda_zeros", lambda x: x + keras.ops.zeros((4,))),
    }
    for name, model in models.items():
        path = OUT / f"{name}.keras"
        model.save(path)
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
