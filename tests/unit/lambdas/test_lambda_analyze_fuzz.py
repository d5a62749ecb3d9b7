"""analyze_lambda on damaged and random input: always an analysis, never an exception.

Every outcome must be coherent: a denial carries at least one denying reason; an allowed
lambda carries a verified AST that rebuilds into a function (compiled from our AST only,
never called here).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasvet.lambdas.analyze import analyze_lambda
from kerasvet.lambdas.model import LAMBDA_RULES, LambdaAnalysis, LambdaForm
from kerasvet.lambdas.rebuild import rebuild_lambda

from ._support import POLICY, all_cases

BLOBS = tuple(case.blob for case in all_cases())
TIME_BOUND = 1.0  # seconds per analysis without astroid and bandit


def _check(analysis: LambdaAnalysis) -> None:
    assert set(r.rule for r in analysis.reasons) <= set(LAMBDA_RULES)
    if analysis.allowed:
        assert all(not r.denies for r in analysis.reasons)
        assert analysis.verified is not None
        assert analysis.source is not None
        bindings = {alias: object() for alias in analysis.verified.roots}
        assert callable(rebuild_lambda(analysis, bindings))
    else:
        assert any(r.denies and r.message for r in analysis.reasons)


def _analyze(value: object, form: LambdaForm, **options: Any) -> LambdaAnalysis:
    t0 = time.perf_counter()
    analysis = analyze_lambda(value, form, POLICY, **options)
    assert time.perf_counter() - t0 < TIME_BOUND
    return analysis


@st.composite
def damaged_nodes(draw: st.DrawFn) -> dict[str, Any]:
    blob = bytearray(draw(st.sampled_from(BLOBS)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(blob) - 1))
        kind = draw(st.sampled_from(("set", "flip", "delete", "insert")))
        if kind == "set":
            blob[i] = draw(st.integers(0, 255))
        elif kind == "flip":
            blob[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del blob[i]
        else:
            blob.insert(i, draw(st.integers(0, 255)))
    code = base64.encodebytes(bytes(blob)).decode("ascii")
    json_scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    data = st.none() | st.lists(json_scalar, max_size=3)
    return {"code": code, "defaults": draw(data), "closure": draw(data)}


@settings(max_examples=1500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(damaged_nodes())
def test_damaged_blobs_always_give_a_coherent_analysis(node: dict[str, Any]) -> None:
    _check(_analyze(node, LambdaForm.KERAS3_LAYER, use_astroid=False, use_bandit=False))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(damaged_nodes())
def test_damaged_blobs_with_bandit(node: dict[str, Any]) -> None:
    _check(_analyze(node, LambdaForm.KERAS3_LAYER, use_astroid=False))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(json_values, st.sampled_from(list(LambdaForm)))
def test_random_values_in_every_form(value: object, form: LambdaForm) -> None:
    analysis = _analyze(value, form, use_astroid=False, use_bandit=False)
    assert not analysis.allowed
    assert analysis.reasons[0].rule in ("KV503", "KV506")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=600))
def test_random_bytes_are_unreadable(blob: bytes) -> None:
    node = {"code": base64.encodebytes(blob).decode("ascii"), "defaults": None,
            "closure": None}
    analysis = _analyze(node, LambdaForm.KERAS3_LAYER, use_astroid=False, use_bandit=False)
    assert not analysis.allowed
    assert [r.rule for r in analysis.reasons] == ["KV503"]
