"""analyze_lambda end to end: every fixture of every version, every shape, every failure."""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib.util
import json
import marshal
import sys
from typing import Any

import pytest

from kerasvet.findings import Severity
from kerasvet.lambdas import analyze as analyze_module
from kerasvet.lambdas.analyze import analyze_lambda
from kerasvet.lambdas.instructions import Examination, examine, read_as
from kerasvet.lambdas.model import LAMBDA_RULES, LambdaAnalysis, LambdaForm, LambdaReason

from ._support import POLICY, Case, default_lambda_policy, every_case, get_case

CASES = every_case()
RUNNING = "{}.{}".format(*sys.version_info[:2])
LAYER = LambdaForm.KERAS3_LAYER


def _ids(case: Case) -> str:
    return str(case)


def _rules(analysis: LambdaAnalysis) -> list[str]:
    return sorted(r.rule for r in analysis.reasons)


def _bandit_ids(analysis: LambdaAnalysis) -> list[str]:
    return sorted(r.message.split()[1] for r in analysis.reasons if r.rule == "KV508")


def _only(analysis: LambdaAnalysis, rule: str) -> str:
    """The message of the single reason, which must be of ``rule``."""
    assert not analysis.allowed
    assert [r.rule for r in analysis.reasons] == [rule]
    return analysis.reasons[0].message


def _layer(code: str, defaults: Any = None, closure: Any = None) -> dict[str, Any]:
    return {"code": code, "defaults": defaults, "closure": closure}


def _dump(source: str) -> str:
    """A Keras code field for a lambda compiled by the running interpreter (test-side)."""
    fn = eval(compile(source, "<kerasvet-test>", "eval"), {})  # only creates the lambda
    return base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")


# -- the fixtures ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_fixture_verdict_rules_and_source(case: Case) -> None:
    analysis = analyze_lambda(case.keras, LAYER, POLICY)
    expect = case.expect
    assert analysis.allowed is (expect["verdict"] == "allow"), analysis.reasons
    assert _rules(analysis) == expect["rules"], analysis.reasons
    assert _bandit_ids(analysis) == expect["bandit"]
    assert analysis.source == expect["lifted"]
    assert analysis.form is LAYER
    assert all(r.denies for r in analysis.reasons)  # bandit_severity low: every finding denies
    if analysis.allowed:
        assert case.version in analysis.versions
        assert analysis.verified is not None
        assert analysis.verified.dump == ast.dump(analysis.verified.node)
    if {"KV504", "KV505"} & set(expect["rules"]) or expect["lifted"] is None:
        assert analysis.verified is None


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_versions_are_the_strict_readings(case: Case) -> None:
    analysis = analyze_lambda(case.keras, LAYER, POLICY, use_astroid=False, use_bandit=False)
    blob = base64.decodebytes(case.keras["code"].encode("ascii"))
    result = examine(blob)
    assert analysis.versions == result.versions
    assert [v for v, _ in analysis.rejected] == [r.version for r in result.rejections]


@pytest.mark.parametrize("case", [c for c in CASES if c.version == RUNNING], ids=_ids)
def test_astroid_and_bandit_only_add_denials(case: Case) -> None:
    full = analyze_lambda(case.keras, LAYER, POLICY)
    bare = analyze_lambda(case.keras, LAYER, POLICY, use_astroid=False, use_bandit=False)
    assert full.reasons[:len(bare.reasons)] == bare.reasons
    assert {r.rule for r in full.reasons[len(bare.reasons):]} <= {"KV507", "KV508"}
    assert not full.allowed or bare.allowed
    assert full.source == bare.source
    assert full.versions == bare.versions


@pytest.mark.parametrize("version", ["3.8", "3.10", "3.11", "3.13"])
def test_the_three_forms_give_the_same_verdict(version: str) -> None:
    for case_id in ("default_arg", "closure", "os_system"):
        node = get_case(version, case_id).keras
        triple = [node["code"], node["defaults"], node["closure"]]
        layer = analyze_lambda(node, LambdaForm.KERAS3_LAYER, POLICY)
        value = analyze_lambda({"value": triple}, LambdaForm.KERAS3_VALUE, POLICY)
        keras2 = analyze_lambda(triple, LambdaForm.KERAS2_LIST, POLICY)
        for other, form in ((value, LambdaForm.KERAS3_VALUE), (keras2, LambdaForm.KERAS2_LIST)):
            assert other.form is form
            assert (other.allowed, other.source, other.reasons, other.versions) == (
                layer.allowed, layer.source, layer.reasons, layer.versions)


def test_allowed_closure_and_defaults_are_recorded() -> None:
    closure = analyze_lambda(get_case("3.12", "closure_two").keras, LAYER, POLICY)
    assert closure.allowed
    assert closure.source == "lambda x: x * a + b"
    assert dict(closure.closure) == {"a": 0.5, "b": 1.0}
    assert closure.verified is not None
    assert closure.verified.freevars == ("a", "b")
    assert closure.defaults is None
    defaults = analyze_lambda(get_case("3.9", "two_defaults").keras, LAYER, POLICY)
    assert defaults.source == "lambda x, scale=0.5, shift=1.0: x * scale + shift"
    assert defaults.defaults == (0.5, 1.0)
    assert dict(defaults.closure) == {}
    assert defaults.verified is not None
    assert defaults.verified.parameters == ("x", "scale", "shift")


def test_verified_lambda_records_what_it_uses() -> None:
    analysis = analyze_lambda(get_case("3.13", "dtype_cond").keras, LAYER, POLICY)
    assert analysis.allowed
    verified = analysis.verified
    assert verified is not None
    assert verified.roots == frozenset({"ops"})
    assert verified.builtins == frozenset()
    assert verified.calls == ("keras.ops.cast",)
    rank = analyze_lambda(get_case("3.10", "rank").keras, LAYER, POLICY).verified
    assert rank is not None
    assert (rank.roots, rank.builtins, rank.calls) == (frozenset(), frozenset({"len"}), ())


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None,
                    reason="only meaningful where TensorFlow is absent")
def test_missing_framework_is_a_note_not_a_reason() -> None:
    analysis = analyze_lambda(get_case("3.11", "tf_reduce_sum").keras, LAYER, POLICY)
    assert analysis.allowed
    assert analysis.reasons == ()
    assert analysis.notes == (
        "tensorflow is not installed: astroid did not resolve tf.reduce_sum",)
    assert dict(analysis.resolutions) == {}


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="needs Keras sources")
def test_resolutions_name_the_defining_functions() -> None:
    analysis = analyze_lambda(get_case("3.8", "k_mean").keras, LAYER, POLICY)
    assert dict(analysis.resolutions) == {"K.mean": "keras.src.ops.numpy.mean"}
    relu = analyze_lambda(get_case("3.13", "relu_affine").keras, LAYER, POLICY)
    assert dict(relu.resolutions) == {"ops.relu": "keras.src.ops.nn.relu"}
    assert relu.notes == ()


def test_crafted_evasions_deny_with_their_reason() -> None:
    hidden = analyze_lambda(get_case("3.11", "hidden_cache_import").keras, LAYER, POLICY)
    assert "3.11: bytecode: non-zero inline cache word after LOAD_GLOBAL" in _only(
        hidden, "KV503")
    crafted = get_case("3.11", "hidden_cache_import").crafted
    assert crafted is not None
    # Native dis of the same blob cannot see the import (lambda-analysis.md section 3).
    assert crafted["native_dis"] == ["RESUME", "JUMP_FORWARD", "LOAD_GLOBAL", "LOAD_FAST",
                                     "PRECALL", "CALL", "RETURN_VALUE"]
    for version in ("3.8", "3.12"):
        oob = analyze_lambda(get_case(version, "oob_const").keras, LAYER, POLICY)
        assert f"{version}: bytecode: LOAD_CONST 200 past" in _only(oob, "KV503")
        ext = analyze_lambda(get_case(version, "extended_arg").keras, LAYER, POLICY)
        assert version in ext.versions
        assert _only(ext, "KV504") == ("EXTENDED_ARG is outside the lambda subset "
                                       f"(read as CPython {ext.versions[0]})")
        names = analyze_lambda(get_case(version, "varname_injection").keras, LAYER, POLICY)
        assert _only(names, "KV504").startswith(
            "\"x=__import__('os')\" is not a plain identifier")
    extra = analyze_lambda(get_case("3.10", "closure_extra_value").keras, LAYER, POLICY)
    assert _only(extra, "KV506") == ("the closure holds 2 value(s) but the lambda has 1 free "
                                    "variable(s)")
    assert dict(extra.closure) == {}
    missing = analyze_lambda(get_case("3.13", "closure_missing").keras, LAYER, POLICY)
    assert _only(missing, "KV506") == ("the closure holds 0 value(s) but the lambda has 1 "
                                      "free variable(s)")
    many = analyze_lambda(get_case("3.9", "defaults_too_many").keras, LAYER, POLICY)
    assert _only(many, "KV506") == "3 default(s) for 2 positional parameter(s)"
    assert many.defaults is None


def test_loops_are_a_construct_denial() -> None:
    for version in ("3.8", "3.11", "3.13"):
        analysis = analyze_lambda(get_case(version, "genexp_next").keras, LAYER, POLICY)
        assert _only(analysis, "KV504") == (
            "the bytecode loops backwards (a comprehension, generator or loop), read as "
            f"CPython {version}")
        assert analysis.versions == ()
        assert analysis.source is None


# -- shapes ---------------------------------------------------------------------------------

MUL2 = get_case("3.11", "mul2").keras["code"]


@pytest.mark.parametrize(("value", "form", "message"), [
    (None, LambdaForm.KERAS3_LAYER, "a Keras 3 lambda config must be an object, not null"),
    ([MUL2, None, None], LambdaForm.KERAS3_LAYER,
     "a Keras 3 lambda config must be an object, not list"),
    ({"code": MUL2, "defaults": None}, LambdaForm.KERAS3_LAYER,
     "a Keras 3 lambda config must have exactly the keys code, defaults and closure; it has "
     "'code', 'defaults'"),
    ({"code": MUL2, "defaults": None, "closure": None, "module": "os"}, LambdaForm.KERAS3_LAYER,
     "a Keras 3 lambda config must have exactly the keys code, defaults and closure; it has "
     "'closure', 'code', 'defaults', 'module'"),
    ({"value": [MUL2, None]}, LambdaForm.KERAS3_VALUE,
     "the value of a Keras 3 lambda config must be a list [code, defaults, closure], not "
     "list of 2"),
    ({"value": [MUL2, None, None], "x": 1}, LambdaForm.KERAS3_VALUE,
     "a Keras 3 lambda config must have only the key value; it has 'value', 'x'"),
    ({"value": (MUL2, None, None)}, LambdaForm.KERAS3_VALUE,
     "the value of a Keras 3 lambda config must be a list [code, defaults, closure], not "
     "tuple"),
    (MUL2, LambdaForm.KERAS2_LIST,
     "a Keras 2 lambda must be a list [code, defaults, closure], not str"),
    ({"code": MUL2}, LambdaForm.KERAS2_LIST,
     "a Keras 2 lambda must be a list [code, defaults, closure], not dict"),
    ([7, None, None], LambdaForm.KERAS2_LIST, "the code field is a int, not a string"),
])
def test_wrong_shapes_are_unreadable(value: object, form: LambdaForm, message: str) -> None:
    analysis = analyze_lambda(value, form, POLICY)
    assert _only(analysis, "KV503") == message
    assert analysis.source is None
    assert analysis.versions == ()
    assert analysis.verified is None


def test_code_field_limits_and_strict_base64() -> None:
    small = default_lambda_policy(max_code_chars=20)
    too_long = analyze_lambda(_layer(MUL2), LAYER, small)
    assert _only(too_long, "KV503") == (
        f"the code field has {len(MUL2)} characters, more than the policy's 20")
    # Keras' func_load falls back to raw_unicode_escape on a decode error; kerasvet refuses.
    raw = analyze_lambda(_layer("c\\x00\\x01not base64!"), LAYER, POLICY)
    assert _only(raw, "KV503").startswith("the code field is not strict base64: ")
    garbage = analyze_lambda(_layer(base64.b64encode(b"\xe3garbage").decode()), LAYER, POLICY)
    message = _only(garbage, "KV503")
    assert message.startswith("no CPython version reads the code strictly (3.8: marshal: ")
    assert garbage.rejected[0][0] == "3.8"
    assert len(garbage.rejected) == 6


# -- data -----------------------------------------------------------------------------------


class _Opaque:
    pass


def _nested(levels: int) -> list[object]:
    """``levels`` lists, one inside the other, around a 1."""
    value: list[object] = [1]
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(("defaults", "message"), [
    ({"a": 1}, "defaults must be a list or null, not dict"),
    ((3,), "defaults must be a list or null, not tuple"),
    ([(1, 2)], "defaults[0]: a tuple is not plain JSON data"),
    ([{1, 2}], "defaults[0]: a set is not plain JSON data"),
    ([b"os"], "defaults[0]: a bytes is not plain JSON data"),
    ([_Opaque()], "defaults[0]: a _Opaque is not plain JSON data"),
    ([{"k": [1, {"x": print}]}], "defaults[0]['k'][1]['x']: a builtin_function_or_method is "
                                 "not plain JSON data"),
    ([{3: "x"}], "defaults[0]: a dict key of type int"),
    ([2 ** 1100], "defaults[0]: an integer of more than 1024 bits"),
    (["a" * 10_001], "defaults[0]: a string longer than 10000 characters"),
    # 17 nested lists counting the defaults list itself: the innermost is one too deep.
    ([_nested(16)], "defaults" + "[0]" * 16 + ": nested deeper than 16 levels"),
    ([_nested(15)], None),
    ([0] * 10_001, "defaults hold more than 10000 values"),
])
def test_non_json_defaults_are_data_denials(defaults: object, message: str | None) -> None:
    analysis = analyze_lambda(_layer(MUL2, defaults=defaults), LAYER, POLICY)
    if message is None:  # the deepest nesting accepted
        assert analysis.allowed
        assert analysis.reasons == ()
        assert analysis.source == "lambda x=" + "[" * 15 + "1" + "]" * 15 + ": x * 2"
        return
    assert _only(analysis, "KV506") == message
    assert analysis.defaults is None
    assert analysis.source == "lambda x: x * 2"


def test_non_json_closure_is_a_data_denial() -> None:
    code = get_case("3.11", "closure").keras["code"]
    analysis = analyze_lambda(_layer(code, closure=[_Opaque()]), LAYER, POLICY)
    assert [(r.rule, r.message) for r in analysis.reasons] == [
        ("KV506", "closure[0]: a _Opaque is not plain JSON data"),
        ("KV506", "the closure holds 0 value(s) but the lambda has 1 free variable(s)"),
    ]


def test_json_data_is_copied() -> None:
    defaults = [[1, 2]]
    analysis = analyze_lambda(_layer(get_case("3.11", "default_arg").keras["code"],
                                     defaults=defaults), LAYER, POLICY)
    assert analysis.allowed
    assert analysis.source == "lambda x, y=[1, 2]: x * y"
    defaults[0].append(3)
    assert analysis.defaults == ([1, 2],)


def test_a_closure_for_a_lambda_without_free_variables() -> None:
    analysis = analyze_lambda(_layer(MUL2, closure=[1]), LAYER, POLICY)
    assert _only(analysis, "KV506") == (
        "the closure holds 1 value(s) but the lambda has 0 free variable(s)")


# -- failures inside a step become reasons --------------------------------------------------


def test_reader_failure_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(blob: bytes) -> Examination:
        raise RuntimeError("reader bug")

    monkeypatch.setattr(analyze_module, "examine", boom)
    analysis = analyze_lambda(_layer(MUL2), LAYER, POLICY)
    assert _only(analysis, "KV503") == "the marshal reader failed: RuntimeError: reader bug"


def test_lifter_failure_is_a_construct_denial(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(reading: object) -> object:
        raise RecursionError("deep")

    monkeypatch.setattr(analyze_module, "lift", boom)
    analysis = analyze_lambda(_layer(MUL2), LAYER, POLICY)
    assert _only(analysis, "KV504") == (
        "the lambda cannot be lifted as CPython 3.11: RecursionError")


def test_checker_failure_is_a_construct_denial(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> object:
        raise KeyError("checker bug")

    monkeypatch.setattr(analyze_module, "check_lambda", boom)
    analysis = analyze_lambda(_layer(MUL2), LAYER, POLICY)
    assert _only(analysis, "KV504") == "the lambda cannot be checked: KeyError: 'checker bug'"
    assert analysis.verified is None


def test_any_other_failure_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> object:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(analyze_module, "_bind_data", boom)
    analysis = analyze_lambda(_layer(MUL2), LAYER, POLICY)
    assert _only(analysis, "KV503") == (
        "internal error while analysing the lambda: ZeroDivisionError: bug")


def test_disagreeing_readings_are_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    one = read_as(get_case("3.11", "mul2").blob, "3.11")
    other = read_as(get_case("3.12", "add_float").blob, "3.12")
    monkeypatch.setattr(analyze_module, "examine",
                        lambda blob: Examination((one, other), ()))
    analysis = analyze_lambda(_layer(MUL2), LAYER, POLICY)
    assert _only(analysis, "KV503") == (
        "the blob reads as valid code under CPython 3.11, 3.12 with different meanings")
    assert analysis.source is None
    assert analysis.versions == ("3.11", "3.12")


def test_disagreeing_lifts_are_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    real_lift = analyze_module.lift

    def lift_differently(reading: Any) -> Any:
        lifted = real_lift(reading)
        if reading.version == "3.12":
            node = ast.Lambda(args=lifted.node.args, body=ast.Constant(value=0))
            return dataclasses.replace(lifted, node=node, source="lambda x: 0")
        return lifted

    monkeypatch.setattr(analyze_module, "lift", lift_differently)
    analysis = analyze_lambda(_layer(MUL2), LAYER, POLICY)
    assert analysis.versions == ("3.11", "3.12")
    assert _only(analysis, "KV503") == (
        "the readings lift to different lambdas (3.11: lambda x: x * 2; 3.12: lambda x: 0)")


def test_astroid_failure_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    from kerasvet.lambdas import resolve

    def boom(*args: object) -> object:
        raise TypeError("astroid bug")

    monkeypatch.setattr(resolve, "_resolve", boom)
    analysis = analyze_lambda(get_case("3.11", "ops_relu").keras, LAYER, POLICY)
    assert _only(analysis, "KV507") == (
        "astroid failed while resolving the calls: TypeError: astroid bug")
    assert analysis.source == "lambda x: ops.relu(x)"


def test_bandit_failure_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    from kerasvet.lambdas import bandit_check

    def boom(source: str) -> object:
        raise OSError("no temp dir")

    monkeypatch.setattr(bandit_check, "_scan", boom)
    analysis = analyze_lambda(_layer(MUL2), LAYER, POLICY)
    assert _only(analysis, "KV508") == "bandit failed: OSError: no temp dir"


# -- bandit severity threshold --------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "allowed"), [
    (Severity.LOW, False), (Severity.MEDIUM, True), (Severity.HIGH, True),
])
def test_low_bandit_findings_deny_only_at_a_low_threshold(threshold: Severity,
                                                          allowed: bool) -> None:
    # A (deliberately bad) policy that allows os.system: only bandit objects.
    policy = default_lambda_policy(roots={"os": "os"}, calls=frozenset({"os.system"}),
                                   bandit_severity=threshold)
    analysis = analyze_lambda(_layer(_dump('lambda x: os.system("true")')), LAYER, policy,
                              use_astroid=False)
    assert analysis.allowed is allowed
    assert [(r.rule, r.message.split()[1], r.severity, r.denies) for r in analysis.reasons] == [
        ("KV508", "B605", "low", not allowed), ("KV508", "B607", "low", not allowed),
    ]


def test_medium_bandit_finding_and_threshold() -> None:
    code = _dump('lambda x: eval("1")')
    for threshold, denies in ((Severity.MEDIUM, True), (Severity.HIGH, False)):
        policy = default_lambda_policy(builtins=frozenset({"eval"}), bandit_severity=threshold)
        analysis = analyze_lambda(_layer(code), LAYER, policy)
        assert analysis.allowed is not denies
        assert analysis.reasons == (LambdaReason(
            "KV508", "bandit B307 (blacklist), severity medium, confidence high: Use of "
            "possibly insecure function - consider using safer ast.literal_eval.",
            severity="medium", denies=denies),)


def test_rule_table_covers_every_rule_emitted() -> None:
    seen = {r.rule for case in CASES
            for r in analyze_lambda(case.keras, LAYER, POLICY, use_astroid=False).reasons}
    assert seen == {"KV503", "KV504", "KV505", "KV506", "KV508"}
    assert set(LAMBDA_RULES) == seen | {"KV507"}


# -- configs written by Keras itself --------------------------------------------------------


@pytest.mark.keras
def test_keras_written_lambda_layer_and_value_forms() -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])
    # What a .keras file holds is JSON: tuples come back as lists.
    function = json.loads(model.to_json())["config"]["layers"][1]["config"]["function"]
    assert function["class_name"] == "__lambda__"
    layer = analyze_lambda(function["config"], LambdaForm.KERAS3_LAYER, POLICY)
    assert layer.allowed
    assert layer.source == "lambda x: x * 2"
    assert layer.versions[0] == RUNNING
    with pytest.warns(UserWarning, match="lambda"):
        node = json.loads(json.dumps(keras.saving.serialize_keras_object(
            lambda x, scale=0.5: x[:, 0:2] * scale)))
    assert node["class_name"] == "__lambda__"
    value = analyze_lambda(node["config"], LambdaForm.KERAS3_VALUE, POLICY)
    assert value.allowed
    assert value.source == "lambda x, scale=0.5: x[:, 0:2] * scale"
    assert value.defaults == (0.5,)
