"""The expression lifter: every fixture reading rebuilt (or refused), crafted refusals, caps."""

from __future__ import annotations

import ast
import dataclasses
import marshal
import sys
import types

import pytest

from kerasvet.lambdas.instructions import (
    DecodedCode,
    Reading,
    decode_instructions,
    examine,
    read_as,
)
from kerasvet.lambdas.lift import LiftLimits, lift
from kerasvet.lambdas.model import CodeRecord, LiftError
from kerasvet.lambdas.opcodes import SUPPORTED_VERSIONS, load_table

from ._support import Case, all_cases, get_case, op

SOURCES = {
    "mul2": "lambda x: x * 2",
    "add_float": "lambda x: x + 1.0",
    "default_arg": "lambda x, y: x * y",  # defaults come from the config, not the code
    "closure": "lambda x: x * k",
    "ops_relu": "lambda x: ops.relu(x)",
    "keras_mean": "lambda x: keras.ops.mean(x, axis=-1)",
    "slice_column": "lambda x: x[:, 0]",
    "if_not_none": "lambda x: x if x is not None else 0",
    "tuple_pick": "lambda t: (t[0], t[1])",
    "last_dim": "lambda x: x.shape[-1]",
    "in_set": "lambda x: x in {1, 2, 3}",
    "complex_const": "lambda x: x * 2j",
    "big_int": "lambda x: x + 123456789012345678901234567890",
    # Hostile but inside the opcode subset: lifted faithfully, for the policy to deny.
    "dunder_import": "lambda x: __import__('os').system('true')",
    "os_system": "lambda x: os.system('true')",
    "eval_call": "lambda x: eval('1')",
    "star_args": "lambda *a: a",
    "dunder_class": "lambda x: x.__class__",
    "getattr_class": "lambda x: getattr(x, '__class__')",
}
REFUSALS = {
    "yield_expr": {v: "generator or unknown bits" for v in SUPPORTED_VERSIONS},
    "walrus": {**{v: "DUP_TOP is outside" for v in ("3.8", "3.9", "3.10")},
               **{v: "STORE_FAST is outside" for v in ("3.11", "3.12", "3.13")}},
    "fstring": {**{v: "FORMAT_VALUE is outside" for v in SUPPORTED_VERSIONS[:5]},
                "3.13": "FORMAT_SIMPLE is outside"},
}
RUNNING = "{}.{}".format(*sys.version_info[:2])


def _ids(case: Case) -> str:
    return str(case)


@pytest.mark.parametrize(
    "case",
    [c for c in all_cases() if c.id in SOURCES or c.id in REFUSALS],
    ids=_ids,
)
def test_every_reading_of_every_fixture(case: Case) -> None:
    readings = examine(case.blob).readings
    assert readings
    for reading in readings:
        if case.id in SOURCES:
            lifted = lift(reading)
            assert lifted.source == SOURCES[case.id]
            assert lifted.version == reading.version
            assert lifted.freevars == (("k",) if case.id == "closure" else ())
        else:
            with pytest.raises(LiftError) as info:
                lift(reading)
            assert REFUSALS[case.id][case.version] in info.value.reason


def _code_of(node: ast.Lambda) -> types.CodeType:
    """Test-side only: what CPython makes of the lifted AST (never done in src/)."""
    module = compile(ast.Expression(body=node), "<kerasvet-fixture>", "eval")
    return next(c for c in module.co_consts if isinstance(c, types.CodeType))


@pytest.mark.skipif(RUNNING not in SUPPORTED_VERSIONS, reason="needs a 3.8-3.13 runner")
@pytest.mark.parametrize(
    "case",
    [c for c in all_cases() if c.version == RUNNING and c.id in SOURCES and c.id != "closure"],
    ids=_ids,
)
def test_recompiling_the_lifted_ast_gives_back_the_same_bytecode(case: Case) -> None:
    lifted = lift(read_as(case.blob, case.version))
    code = _code_of(lifted.node)
    assert code.co_code.hex() == case.expected["code"]
    assert list(code.co_names) == case.expected["names"]
    assert list(code.co_varnames) == case.expected["varnames"]


# -- crafted refusals -----------------------------------------------------------------------


def _reading(version: str, case_id: str, body: bytes, **changes: object) -> Reading:
    reading = read_as(get_case(version, case_id).blob, version)
    code: CodeRecord = dataclasses.replace(reading.root.code, code=body, **changes)
    decoded = DecodedCode(code, decode_instructions(code, load_table(version)), ())
    return dataclasses.replace(reading, codes=(decoded,))


def _refused(reading: Reading, limits: LiftLimits | None = None) -> str:
    with pytest.raises(LiftError) as info:
        lift(reading) if limits is None else lift(reading, limits)
    return info.value.reason


def test_load_fast_of_a_non_parameter() -> None:
    t = load_table("3.10")
    reading = _reading("3.10", "mul2", op(t, "LOAD_FAST", 1) + op(t, "RETURN_VALUE"),
                       varnames=("x", "y"), nlocals=2)
    assert "LOAD_FAST of 'y', which is not a parameter" in _refused(reading)


def test_extended_arg_is_refused() -> None:
    t = load_table("3.8")
    reading = _reading("3.8", "mul2", op(t, "EXTENDED_ARG", 1) + op(t, "LOAD_CONST", 0)
                       + op(t, "RETURN_VALUE"), consts=tuple(range(300)))
    assert "EXTENDED_ARG is outside" in _refused(reading)


def test_import_is_refused() -> None:
    t = load_table("3.12")
    body = (op(t, "RESUME") + op(t, "LOAD_CONST", 0) + op(t, "LOAD_CONST", 0)
            + op(t, "IMPORT_NAME", 0) + op(t, "RETURN_VALUE"))
    assert "IMPORT_NAME is outside" in _refused(_reading("3.12", "os_system", body))


def test_leftover_stack_and_underflow() -> None:
    t = load_table("3.9")
    two = op(t, "LOAD_FAST") + op(t, "LOAD_FAST") + op(t, "RETURN_VALUE")
    assert "values left on the stack" in _refused(_reading("3.9", "mul2", two))
    under = op(t, "BINARY_ADD") + op(t, "RETURN_VALUE")
    assert "stack underflow" in _refused(_reading("3.9", "mul2", under))


def test_discarding_a_call_is_refused() -> None:
    t = load_table("3.8")
    body = (op(t, "LOAD_GLOBAL", 0) + op(t, "CALL_FUNCTION", 0) + op(t, "POP_TOP")
            + op(t, "LOAD_FAST") + op(t, "RETURN_VALUE"))
    assert "POP_TOP discards a computed value" in _refused(_reading("3.8", "os_system", body))


def test_call_without_null_is_refused() -> None:
    t = load_table("3.12")
    body = (op(t, "RESUME") + op(t, "LOAD_GLOBAL", 0) + op(t, "CALL", 0)
            + op(t, "RETURN_VALUE"))
    assert "stack underflow" in _refused(_reading("3.12", "os_system", body))
    body = (op(t, "RESUME") + op(t, "LOAD_FAST") + op(t, "LOAD_GLOBAL", 0) + op(t, "CALL", 0)
            + op(t, "RETURN_VALUE"))
    assert "call without NULL" in _refused(_reading("3.12", "os_system", body))


def test_non_identifier_names_are_refused() -> None:
    reading = read_as(get_case("3.13", "os_system").blob, "3.13")
    code = dataclasses.replace(reading.root.code, names=("os", "system('x')"))
    decoded = DecodedCode(code, reading.root.instructions, ())
    assert "is not a plain identifier" in _refused(dataclasses.replace(reading, codes=(decoded,)))


def test_step_cap() -> None:
    reading = read_as(get_case("3.13", "mul2").blob, "3.13")
    assert "more than 3 steps" in _refused(reading, LiftLimits(max_steps=3))
    assert lift(reading, LiftLimits(max_steps=5)).source == "lambda x: x * 2"


# -- compiled here, under the running interpreter, as fresh inputs ---------------------------


def _blob(source: str) -> bytes:
    fn = eval(compile(source, "<kerasvet-test>", "eval"), {})  # only creates the lambda
    return marshal.dumps(fn.__code__)


needs_runner = pytest.mark.skipif(RUNNING not in SUPPORTED_VERSIONS,
                                  reason="needs a 3.8-3.13 runner")


@needs_runner
@pytest.mark.parametrize("source", [
    "lambda a, b: a and b",
    "lambda a, b: a or b",
    "lambda a, b, c: a and b and c",
    "lambda a, b: a + 1 if a > b else -b",
    "lambda x: [1, 2, 3]",
    "lambda x: {'a': x, 'b': 2}",
    "lambda x, *, axis: x.sum(axis=axis)",  # defaults live in the config, not the code
    "lambda x: x[1:2, ::3]",
    "lambda x: not x",
])
def test_fresh_lambdas_lift_to_their_source(source: str) -> None:
    assert lift(read_as(_blob(source), RUNNING)).source == source


@needs_runner
def test_path_cap() -> None:
    four = "lambda x: " + " + ".join(f"(x if x > {i} else {i})" for i in range(4))
    lifted = lift(read_as(_blob(four), RUNNING))
    # Each fork duplicates what follows it (16 paths); the meaning is unchanged.
    assert lifted.source.count(" if x > 3 else ") == 8
    original, rebuilt = eval(four), eval(lifted.source)  # test-side, our own sources
    assert [rebuilt(x) for x in range(-1, 6)] == [original(x) for x in range(-1, 6)]
    six = "lambda x: " + " + ".join(f"(x if x > {i} else {i})" for i in range(6))
    assert "more than 32 paths" in _refused(read_as(_blob(six), RUNNING))


@needs_runner
def test_nested_lambda_is_refused() -> None:
    reading = read_as(_blob("lambda x: (lambda y: y)(x)"), RUNNING)
    assert "nested code" in _refused(reading)


@needs_runner
def test_star_call_is_refused() -> None:
    reason = _refused(read_as(_blob("lambda t: ops.concatenate(*t)"), RUNNING))
    assert "outside the lambda subset" in reason
