"""Rebuilt lambdas compute what the originals compute, in the namespace the loader owns.

The originals are the fixture's source text, evaluated here (test-side, our own text) with
the same bindings; the rebuilt functions come from the checked AST only.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import math
from types import SimpleNamespace
from typing import Any

import pytest

from kerasvet.lambdas.analyze import analyze_lambda
from kerasvet.lambdas.model import LambdaAnalysis, LambdaError, LambdaForm
from kerasvet.lambdas.rebuild import rebuild_lambda

from ._support import POLICY, Case, every_case, get_case, sample_input

np = pytest.importorskip("numpy")

LAYER = LambdaForm.KERAS3_LAYER
KERAS_ROOTS = frozenset({"keras", "ops", "K"})


def _analysis(case: Case) -> LambdaAnalysis:
    # astroid/bandit cannot turn a deny into an allow; the verdict tests cover them.
    return analyze_lambda(case.keras, LAYER, POLICY, use_astroid=False, use_bandit=False)


ALLOWED = [c for c in every_case() if c.expect["verdict"] == "allow"]


def _uses_keras(case: Case) -> bool:
    verified = _analysis(case).verified
    assert verified is not None
    return bool(verified.roots & KERAS_ROOTS)


NUMPY_ONLY = [c for c in ALLOWED if not _uses_keras(c)]
WITH_KERAS = [c for c in ALLOWED if _uses_keras(c)]


def _ids(case: Case) -> str:
    return str(case)


def _fake_tf() -> Any:
    """TensorFlow is not a test dependency: numpy stand-ins, bound the same way for both."""
    return SimpleNamespace(
        reduce_sum=lambda x, axis=None: np.sum(x, axis=axis),
        math=SimpleNamespace(
            l2_normalize=lambda x, axis=None: x / np.linalg.norm(x, axis=axis, keepdims=True)),
        nn=SimpleNamespace(relu=lambda x: np.maximum(x, 0)),
    )


def _original(case: Case, bindings: dict[str, Any]) -> Any:
    """The lambda from the fixture's own source text, with the same bindings."""
    return eval(compile(case.source, "<fixture>", "eval"), dict(bindings))


def _same(left: Any, right: Any) -> None:
    if isinstance(left, tuple):
        assert isinstance(right, tuple)
        assert len(left) == len(right)
        for a, b in zip(left, right):
            _same(a, b)
        return
    np.testing.assert_array_equal(np.asarray(left), np.asarray(right))
    assert np.asarray(left).dtype == np.asarray(right).dtype


def _compare(case: Case, bindings: dict[str, Any]) -> None:
    analysis = _analysis(case)
    assert analysis.allowed
    rebuilt = rebuild_lambda(analysis, bindings)
    original = _original(case, bindings)
    value = sample_input(case.expect["sample"])
    _same(rebuilt(value), original(value))
    assert rebuilt.__defaults__ == original.__defaults__
    if original.__closure__:
        assert [c.cell_contents for c in rebuilt.__closure__] == [
            c.cell_contents for c in original.__closure__]
    else:
        assert rebuilt.__closure__ is None


@pytest.mark.parametrize("case", NUMPY_ONLY, ids=_ids)
def test_rebuilt_matches_original(case: Case) -> None:
    _compare(case, {"np": np, "tf": _fake_tf()})


@pytest.mark.keras
@pytest.mark.parametrize("case", WITH_KERAS, ids=_ids)
def test_rebuilt_keras_lambda_matches_original(case: Case) -> None:
    keras = pytest.importorskip("keras")
    _compare(case, {"keras": keras, "ops": keras.ops, "K": keras.ops, "np": np})


def test_the_split_covers_typical_lambdas() -> None:
    keras_ids = {c.id for c in WITH_KERAS}
    assert {"ops_mean_kw", "dtype_cond", "default_axis", "k_mean", "keras_mean"} <= keras_ids
    assert {"mul2", "slice_cols", "closure_two", "tf_reduce_sum", "np_clip"} <= {
        c.id for c in NUMPY_ONLY}
    assert {c.version for c in ALLOWED} == {"3.8", "3.9", "3.10", "3.11", "3.12", "3.13"}


def test_namespace_holds_only_what_the_lambda_uses() -> None:
    rank = rebuild_lambda(_analysis(get_case("3.12", "rank")), {"np": np, "os": object()})
    assert rank.__globals__.keys() == {"__builtins__"}
    assert rank.__globals__["__builtins__"] == {"len": builtins.len}
    assert rank.__code__.co_filename == "<kerasvet-lambda>"
    clip = rebuild_lambda(_analysis(get_case("3.9", "np_clip")), {"np": np, "tf": None})
    assert clip.__globals__.keys() == {"__builtins__", "np"}
    assert clip.__globals__["__builtins__"] == {}
    assert clip.__globals__["np"] is np


def test_closure_cells_and_defaults() -> None:
    closure = rebuild_lambda(_analysis(get_case("3.8", "closure_two")), {})
    assert closure.__code__.co_freevars == ("a", "b")
    assert [c.cell_contents for c in closure.__closure__] == [0.5, 1.0]
    assert closure(2.0) == 2.0
    defaults = rebuild_lambda(_analysis(get_case("3.13", "two_defaults")), {})
    assert defaults.__defaults__ == (0.5, 1.0)
    assert defaults(2.0) == 2.0
    assert defaults(2.0, 3.0, 0.0) == 6.0


def test_mutable_defaults_are_private_copies() -> None:
    code = get_case("3.11", "default_arg").keras["code"]
    analysis = analyze_lambda({"code": code, "defaults": [[1, 2]], "closure": None}, LAYER,
                              POLICY, use_astroid=False, use_bandit=False)
    first = rebuild_lambda(analysis, {})
    second = rebuild_lambda(analysis, {})
    assert first.__defaults__ == ([1, 2],)
    assert first.__defaults__[0] is not second.__defaults__[0]
    first.__defaults__[0].append(3)
    assert analysis.defaults == ([1, 2],)
    assert second(2) == [1, 2, 1, 2]


def test_restricted_builtins_are_the_boundary_of_last_resort() -> None:
    # Even a rebuilt lambda that reached for another builtin would not find it.
    rank = rebuild_lambda(_analysis(get_case("3.10", "rank")), {})
    probe = type(rank)(compile("lambda: open", "<probe>", "eval").co_consts[0],
                       rank.__globals__)
    with pytest.raises(NameError):
        probe()


def test_refuses_denied_analyses() -> None:
    denied = analyze_lambda(get_case("3.11", "os_system").keras, LAYER, POLICY)
    with pytest.raises(LambdaError, match="not allowed"):
        rebuild_lambda(denied, {})
    # A forged verdict does not help: a refused AST is never kept for rebuilding.
    forged = dataclasses.replace(denied, allowed=True)
    with pytest.raises(LambdaError, match="carries no verified lambda"):
        rebuild_lambda(forged, {})


def test_refuses_a_modified_ast() -> None:
    analysis = _analysis(get_case("3.12", "mul2"))
    assert analysis.verified is not None
    analysis.verified.node.body = ast.Call(
        func=ast.Name(id="open", ctx=ast.Load()), args=[], keywords=[])
    with pytest.raises(LambdaError, match="modified after it was checked"):
        rebuild_lambda(analysis, {})


def test_refuses_missing_bindings() -> None:
    analysis = _analysis(get_case("3.13", "np_clip"))
    with pytest.raises(LambdaError, match="no binding for root alias"):
        rebuild_lambda(analysis, {"ops": object()})


def test_refuses_closure_that_does_not_match() -> None:
    analysis = _analysis(get_case("3.8", "closure"))
    with pytest.raises(LambdaError, match="closure values do not match"):
        rebuild_lambda(dataclasses.replace(analysis, closure={}), {})


def test_rebuilt_output_shape_lambda() -> None:
    shape = rebuild_lambda(_analysis(get_case("3.10", "output_shape")), {})
    assert shape((None, 5)) == (None, 10)
    assert math.isclose(rebuild_lambda(_analysis(get_case("3.11", "add_float")), {})(1), 2.0)
