"""The reviewed default allowlist: well-formed, real, and free of known-dangerous entries."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from kerasvet.lambdas.defaults import (
    DEFAULT_BANDIT_SEVERITY,
    DEFAULT_LAMBDA_ATTRIBUTES,
    DEFAULT_LAMBDA_BUILTINS,
    DEFAULT_LAMBDA_CALLS,
    DEFAULT_LAMBDA_ROOTS,
    KERAS_OPS_CALLS,
    NUMPY_CALLS,
    TENSORFLOW_CALLS,
)

from ._support import POLICY

# Entries that take a callable, touch files, change global state or allocate from constants.
NEVER = frozenset({
    "keras.ops.map", "keras.ops.scan", "keras.ops.cond", "keras.ops.switch",
    "keras.ops.while_loop", "keras.ops.fori_loop", "keras.ops.vectorized_map",
    "keras.ops.associative_scan", "keras.ops.custom_gradient", "keras.ops.zeros",
    "keras.ops.ones", "keras.ops.full", "keras.ops.arange", "keras.ops.eye",
    "numpy.load", "numpy.save", "numpy.fromfile", "numpy.vectorize", "numpy.frompyfunc",
    "numpy.apply_along_axis", "numpy.zeros", "numpy.ones", "numpy.empty", "numpy.full",
    "tensorflow.py_function", "tensorflow.numpy_function", "tensorflow.map_fn",
    "tensorflow.cond", "tensorflow.while_loop", "tensorflow.io.read_file",
    "tensorflow.io.write_file", "tensorflow.print", "tensorflow.zeros", "tensorflow.ones",
})


def test_roots_and_scalars() -> None:
    assert dict(DEFAULT_LAMBDA_ROOTS) == {
        "keras": "keras", "ops": "keras.ops", "K": "keras.ops", "tf": "tensorflow",
        "np": "numpy"}
    assert DEFAULT_LAMBDA_ATTRIBUTES == ("T", "dtype", "ndim", "shape")
    assert DEFAULT_BANDIT_SEVERITY == "low"
    assert set(DEFAULT_LAMBDA_BUILTINS) == {
        "abs", "bool", "float", "int", "len", "list", "max", "min", "round", "sum", "tuple"}


def test_calls_are_sorted_unique_dotted_names_under_a_root() -> None:
    modules = {m for _, m in DEFAULT_LAMBDA_ROOTS}
    assert list(DEFAULT_LAMBDA_CALLS) == sorted(set(DEFAULT_LAMBDA_CALLS))
    assert set(DEFAULT_LAMBDA_CALLS) == {*KERAS_OPS_CALLS, *NUMPY_CALLS, *TENSORFLOW_CALLS}
    for name in DEFAULT_LAMBDA_CALLS:
        parts = name.split(".")
        assert all(p.isidentifier() and not p.startswith("_") for p in parts), name
        assert any(name.startswith(m + ".") for m in modules), name
    assert len(KERAS_OPS_CALLS) == 105
    assert len(NUMPY_CALLS) == 78
    assert len(TENSORFLOW_CALLS) == 99


def test_no_known_dangerous_entry() -> None:
    assert NEVER.isdisjoint(DEFAULT_LAMBDA_CALLS)
    assert {"range", "isinstance", "eval", "exec", "getattr", "open", "print",
            "__import__", "globals", "vars", "compile"}.isdisjoint(DEFAULT_LAMBDA_BUILTINS)


def test_the_test_policy_is_built_from_the_defaults() -> None:
    assert POLICY.calls == frozenset(DEFAULT_LAMBDA_CALLS)
    assert POLICY.builtins == frozenset(DEFAULT_LAMBDA_BUILTINS)
    assert POLICY.attributes == frozenset(DEFAULT_LAMBDA_ATTRIBUTES)
    assert dict(POLICY.roots) == dict(DEFAULT_LAMBDA_ROOTS)


@pytest.mark.skipif(importlib.util.find_spec("numpy") is None, reason="needs numpy")
def test_numpy_entries_exist() -> None:
    import numpy

    for name in NUMPY_CALLS:
        target: object = numpy
        for part in name.split(".")[1:]:
            target = getattr(target, part)
        assert callable(target), name


@pytest.mark.keras
def test_keras_ops_entries_exist() -> None:
    keras = pytest.importorskip("keras")
    for name in KERAS_OPS_CALLS:
        assert callable(getattr(keras.ops, name.rsplit(".", 1)[1])), name
