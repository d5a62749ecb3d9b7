"""Lambdas in models that real Keras 3 saved: allowed with their source, or denied with it."""

from __future__ import annotations

import os

import pytest

from kerasvet import Verdict, audit

pytestmark = pytest.mark.keras

CANARY = "/tmp/kerasvet-canary"


def save_lambda_model(tmp_path, function, *, swap_to=None):
    """Build and save a model whose Lambda holds ``function``.

    Keras calls a Lambda while building the graph, so a hostile function is put in place
    only after the build (``swap_to``): Keras then serializes it without ever calling it.
    """
    import keras

    inputs = keras.Input((3,), name="x")
    layer = keras.layers.Lambda(function, name="lam")
    outputs = layer(inputs)
    model = keras.Model(inputs, outputs)
    if swap_to is not None:
        layer.function = swap_to
    path = tmp_path / "model.keras"
    model.save(path)
    return path


def test_keras_saved_times_two_is_allowed_with_its_source(tmp_path, default_policy):
    path = save_lambda_model(tmp_path, lambda x: x * 2)
    (artifact,) = audit(path, default_policy).artifacts
    assert artifact.verdict is Verdict.ALLOW
    (record,) = artifact.lambdas
    assert record.source == "lambda x: x * 2"
    assert record.pointer == "/config/layers/1/config/function"


def test_keras_saved_os_system_lambda_is_denied_with_its_source(tmp_path, default_policy):
    path = save_lambda_model(
        tmp_path, lambda x: x,
        swap_to=lambda x: os.system("touch /tmp/kerasvet-canary") or x,  # never called
    )
    (artifact,) = audit(path, default_policy).artifacts
    assert artifact.verdict is Verdict.DENY
    (record,) = artifact.lambdas
    assert record.source == "lambda x: os.system('touch /tmp/kerasvet-canary') or x"
    found = {(f.rule.id, f.location.pointer) for f in artifact.findings if f.denies}
    assert found == {("KV505", "/config/layers/1/config/function"),
                     ("KV508", "/config/layers/1/config/function")}
    assert not os.path.exists(CANARY)


def test_keras_saved_fstring_lambda_is_denied_unlifted(tmp_path, default_policy):
    path = save_lambda_model(tmp_path, lambda x: x, swap_to=lambda x: f"{x}")
    (artifact,) = audit(path, default_policy).artifacts
    (record,) = artifact.lambdas
    assert record.verdict is Verdict.DENY
    assert record.source is None
    assert {f.rule.id for f in artifact.findings if f.denies} == {"KV504"}


def test_keras_saved_closure_lambda_is_allowed(tmp_path, default_policy):
    scale = 3.0
    path = save_lambda_model(tmp_path, lambda x: x * scale)
    (artifact,) = audit(path, default_policy).artifacts
    assert artifact.verdict is Verdict.ALLOW
    (record,) = artifact.lambdas
    assert record.source == "lambda x: x * scale"
