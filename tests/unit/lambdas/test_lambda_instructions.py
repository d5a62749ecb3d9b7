"""Strict instruction decoding: each check that makes a reading fail, on crafted bytecode."""

from __future__ import annotations

import dataclasses

import pytest

from kerasvet.lambdas.instructions import (
    ExceptionEntry,
    candidate_readings,
    decode_instructions,
    examine,
    parse_exception_table,
    read_as,
    reading_meaning,
    readings_agree,
)
from kerasvet.lambdas.marshal_reader import read_code
from kerasvet.lambdas.model import BytecodeError, CodeRecord, LayoutFamily
from kerasvet.lambdas.opcodes import load_table

from ._support import get_case, op, patch_code


def _record(version: str, case_id: str) -> CodeRecord:
    case = get_case(version, case_id)
    return read_code(case.blob, case.family)


def _fails(code: CodeRecord, version: str) -> str:
    with pytest.raises(BytecodeError) as info:
        decode_instructions(code, load_table(version))
    return str(info.value)


def _with_code(version: str, case_id: str, *ops: bytes, **changes: object) -> CodeRecord:
    return dataclasses.replace(_record(version, case_id), code=b"".join(ops), **changes)


# -- the research's hidden-cache attack (lambda-analysis.md section 3, exp6) ---------------


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
@pytest.mark.parametrize("case_id", ["os_system", "eval_call", "ops_relu"])
def test_payload_in_load_global_cache_kills_every_reading(version: str, case_id: str) -> None:
    case = get_case(version, case_id)
    table = case.table
    record = read_code(case.blob, case.family)
    assert version in examine(case.blob).versions  # the clean blob reads
    load_global = next(i for i in decode_instructions(record, table) if i.opname == "LOAD_GLOBAL")
    assert load_global.cache_count >= 4
    # Put IMPORT_NAME into the first cache word: dis shows nothing, the interpreter runs it.
    code = bytearray(record.code)
    code[load_global.offset + 2:load_global.offset + 4] = op(table, "IMPORT_NAME", 0)[:2]
    patched = patch_code(case.blob, record.code, bytes(code))
    result = examine(patched)
    assert result.readings == ()
    producer = next(r for r in result.rejections if r.version == version)
    assert producer.stage == "bytecode"
    assert "non-zero inline cache word after LOAD_GLOBAL" in producer.reason


def test_jump_into_a_cache_is_refused() -> None:
    t = load_table("3.12")
    code = _with_code(
        "3.12", "os_system",
        op(t, "RESUME"), op(t, "JUMP_FORWARD", 1), op(t, "LOAD_GLOBAL", 0),
        op(t, "LOAD_CONST", 1), op(t, "RETURN_VALUE"),
    )
    # JUMP_FORWARD at 2 lands on 6, the first cache word of LOAD_GLOBAL at 4.
    assert "JUMP_FORWARD target 6 is not an instruction start" in _fails(code, "3.12")


def test_jump_between_extended_arg_and_its_instruction_is_refused() -> None:
    t = load_table("3.8")
    consts = tuple(range(300))
    code = _with_code(
        "3.8", "if_not_none",
        op(t, "LOAD_FAST"), op(t, "POP_JUMP_IF_FALSE", 6), op(t, "EXTENDED_ARG", 1),
        op(t, "LOAD_CONST", 0), op(t, "RETURN_VALUE"), consts=consts,
    )
    assert "POP_JUMP_IF_FALSE target 6 is not an instruction start" in _fails(code, "3.8")
    ok = dataclasses.replace(code, code=code.code[:3] + b"\x04" + code.code[4:])
    jump = decode_instructions(ok, load_table("3.8"))[1]
    assert jump.jump_target == 4  # the EXTENDED_ARG prefix itself is a valid target


# -- backward and out-of-code jumps -------------------------------------------------------


@pytest.mark.parametrize(("arg", "reason"), [
    (4, "backward jump POP_JUMP_IF_FALSE to 4"),
    (6, "backward jump POP_JUMP_IF_FALSE to 6"),  # to itself
    (200, "target 200 is not an instruction start"),
    (13, "target 13 is not an instruction start"),  # mid-instruction
])
def test_38_jump_targets(arg: int, reason: str) -> None:
    case = get_case("3.8", "if_not_none")
    record = read_code(case.blob, case.family)
    code = bytearray(record.code)
    assert code[6] == load_table("3.8").opmap["POP_JUMP_IF_FALSE"]
    code[7] = arg
    result = examine(patch_code(case.blob, record.code, bytes(code)))
    assert "3.8" not in result.versions
    assert reason in next(r.reason for r in result.rejections if r.version == "3.8")


@pytest.mark.parametrize(("version", "jump"), [
    ("3.11", "POP_JUMP_FORWARD_IF_NONE"), ("3.12", "POP_JUMP_IF_NONE"),
    ("3.13", "POP_JUMP_IF_NONE"),
])
def test_311_plus_backward_jump_is_refused(version: str, jump: str) -> None:
    case = get_case(version, "if_not_none")
    table = case.table
    record = read_code(case.blob, case.family)
    ins = next(i for i in decode_instructions(record, table) if i.opname == jump)
    assert table.cache_entries[table.opmap["JUMP_BACKWARD"]] == ins.cache_count
    code = bytearray(record.code)
    code[ins.offset] = table.opmap["JUMP_BACKWARD"]
    result = examine(patch_code(case.blob, record.code, bytes(code)))
    assert version not in result.versions
    reason = next(r.reason for r in result.rejections if r.version == version)
    assert "backward jump JUMP_BACKWARD" in reason


# -- opcodes that never appear in serialized code -----------------------------------------


@pytest.mark.parametrize("version", ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"])
def test_unknown_opcode_is_refused(version: str) -> None:
    table = load_table(version)
    unused = next(n for n in range(1, 256) if n not in table.opmap.values())
    record = _record(version, "mul2")
    code = dataclasses.replace(record, code=bytes([unused, 0]) + record.code[2:])
    assert f"opcode {unused} is not valid in serialized {version} code" in _fails(code, version)


@pytest.mark.parametrize(("version", "name"), [
    ("3.11", "CACHE"), ("3.12", "CACHE"), ("3.13", "CACHE"), ("3.13", "ENTER_EXECUTOR"),
    ("3.12", "INSTRUMENTED_RESUME"), ("3.12", "INTERPRETER_EXIT"),
])
def test_never_serialized_opcode_is_refused(version: str, name: str) -> None:
    table = load_table(version)
    record = _record(version, "mul2")
    code = dataclasses.replace(record, code=bytes([table.opmap[name], 0]) + record.code[2:])
    assert "is not valid in serialized" in _fails(code, version)


def test_argument_byte_on_an_argumentless_opcode() -> None:
    t = load_table("3.12")
    code = _with_code("3.12", "mul2", op(t, "RESUME"), op(t, "LOAD_FAST"),
                      bytes([t.opmap["RETURN_VALUE"], 1]))
    assert "RETURN_VALUE takes no argument but has 1" in _fails(code, "3.12")


# -- EXTENDED_ARG ---------------------------------------------------------------------------


def test_extended_arg_is_folded_and_recorded() -> None:
    t = load_table("3.12")
    code = _with_code(
        "3.12", "mul2",
        op(t, "RESUME"), op(t, "LOAD_FAST"), op(t, "EXTENDED_ARG", 1), op(t, "LOAD_CONST", 4),
        op(t, "BINARY_OP", 5), op(t, "RETURN_VALUE"), consts=tuple(range(300)),
    )
    ins = decode_instructions(code, t)
    assert [i.opname for i in ins] == ["RESUME", "LOAD_FAST", "LOAD_CONST", "BINARY_OP",
                                       "RETURN_VALUE"]
    load_const = ins[2]
    assert (load_const.start, load_const.offset, load_const.arg) == (4, 6, 260)
    assert load_const.extended_args == 1
    assert ins[1].extended_args == 0
    short = dataclasses.replace(code, consts=(None, 2))
    assert "LOAD_CONST 260 past 2 constants" in _fails(short, "3.12")


@pytest.mark.parametrize(("ops", "reason"), [
    (("EXTENDED_ARG", 0, "LOAD_CONST", 1), "zero leading byte"),
    (("EXTENDED_ARG", 1, "RETURN_VALUE", 0), "EXTENDED_ARG before RETURN_VALUE"),
    (("EXTENDED_ARG", 1, "EXTENDED_ARG", 1, "EXTENDED_ARG", 1, "EXTENDED_ARG", 1,
      "LOAD_CONST", 0), "more than three chained EXTENDED_ARG"),
    (("LOAD_FAST", 0, "EXTENDED_ARG", 1), "ends with EXTENDED_ARG"),
])
def test_extended_arg_abuse(ops: tuple[object, ...], reason: str) -> None:
    t = load_table("3.10")
    body = b"".join(op(t, str(n), int(a)) for n, a in zip(ops[::2], ops[1::2], strict=True))
    assert reason in _fails(_with_code("3.10", "mul2", body), "3.10")


# -- truncation and argument ranges ---------------------------------------------------------


def test_truncated_cache_is_refused() -> None:
    t = load_table("3.12")
    code = _with_code("3.12", "os_system", op(t, "RESUME"), op(t, "LOAD_GLOBAL", 0)[:6])
    assert "LOAD_GLOBAL inline cache runs past the end" in _fails(code, "3.12")


@pytest.mark.parametrize("version", ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"])
def test_out_of_range_load_const(version: str) -> None:
    t = load_table(version)
    prefix = op(t, "RESUME") if t.family is LayoutFamily.PY311_ON else b""
    code = _with_code(version, "mul2", prefix, op(t, "LOAD_CONST", 200), op(t, "RETURN_VALUE"))
    assert "LOAD_CONST 200 past 2 constants" in _fails(code, version)


@pytest.mark.parametrize(("version", "name", "arg", "reason"), [
    ("3.12", "LOAD_GLOBAL", 5 << 1, "LOAD_GLOBAL 5 past 2 names"),
    ("3.11", "LOAD_GLOBAL", 5 << 1, "LOAD_GLOBAL 5 past 2 names"),
    ("3.13", "LOAD_ATTR", 2 << 1, "LOAD_ATTR 2 past 2 names"),
    ("3.8", "LOAD_GLOBAL", 2, "LOAD_GLOBAL 2 past 2 names"),
    ("3.12", "LOAD_FAST", 7, "LOAD_FAST 7 past 1 locals"),
    ("3.13", "LOAD_FAST_LOAD_FAST", 0x07, "LOAD_FAST_LOAD_FAST 7 past 1 locals"),
    ("3.12", "BINARY_OP", 99, "BINARY_OP argument 99 out of range"),
    ("3.12", "COMPARE_OP", 6 << 4, "COMPARE_OP argument 96 out of range"),
    ("3.13", "COMPARE_OP", 6 << 5, "COMPARE_OP argument 192 out of range"),
    ("3.9", "COMPARE_OP", 9, "COMPARE_OP argument 9 out of range"),
    ("3.12", "IS_OP", 2, "IS_OP argument 2 is not 0 or 1"),
    ("3.12", "CALL_INTRINSIC_1", 0, "CALL_INTRINSIC_1 argument 0 out of range"),
    ("3.12", "CALL_INTRINSIC_1", 12, "CALL_INTRINSIC_1 argument 12 out of range"),
])
def test_out_of_range_arguments(version: str, name: str, arg: int, reason: str) -> None:
    t = load_table(version)
    prefix = op(t, "RESUME") if t.family is LayoutFamily.PY311_ON else b""
    code = _with_code(version, "os_system", prefix, op(t, name, arg), op(t, "RETURN_VALUE"))
    assert reason in _fails(code, version)


def test_deref_must_name_a_cell_or_free_slot() -> None:
    t = load_table("3.12")
    record = _record("3.12", "closure")
    assert record.localspluskinds == bytes([0x20, 0x80])
    code = dataclasses.replace(record, code=b"".join([
        op(t, "COPY_FREE_VARS", 1), op(t, "RESUME"), op(t, "LOAD_DEREF", 0),
        op(t, "RETURN_VALUE"),
    ]))
    assert "LOAD_DEREF 0 names a slot that is not a cell" in _fails(code, "3.12")
    wrong_count = dataclasses.replace(record, code=op(t, "COPY_FREE_VARS", 2) + record.code[2:])
    assert "COPY_FREE_VARS count differs" in _fails(wrong_count, "3.12")


def test_38_deref_range() -> None:
    t = load_table("3.8")
    record = _record("3.8", "closure")
    assert (record.cellvars, record.freevars) == ((), ("k",))
    code = dataclasses.replace(record, code=op(t, "LOAD_DEREF", 1) + op(t, "RETURN_VALUE"))
    assert "LOAD_DEREF 1 past 1 cell and free slots" in _fails(code, "3.8")


# -- 3.11+ prologue -------------------------------------------------------------------------


def test_311_plus_code_must_start_with_resume_zero() -> None:
    t = load_table("3.12")
    no_resume = _with_code("3.12", "mul2", op(t, "NOP"), op(t, "LOAD_FAST"), op(t, "RETURN_VALUE"))
    assert "NOP before the first RESUME" in _fails(no_resume, "3.12")
    wrong = _with_code("3.12", "mul2", op(t, "RESUME", 1), op(t, "LOAD_FAST"),
                       op(t, "RETURN_VALUE"))
    assert "the first RESUME is not RESUME 0" in _fails(wrong, "3.12")


def test_family_mismatch_is_refused() -> None:
    assert "cannot be 3.12 code" in _fails(_record("3.8", "mul2"), "3.12")


# -- exception tables -----------------------------------------------------------------------


@pytest.mark.parametrize(("version", "entry"), [
    ("3.12", ExceptionEntry(10, 28, 34, 2, False)),
    ("3.13", ExceptionEntry(10, 30, 36, 2, False)),
])
def test_exception_table_of_an_inlined_comprehension(version: str, entry: ExceptionEntry) -> None:
    record = _record(version, "listcomp")
    ins = decode_instructions(record, load_table(version), forward_only=False)
    assert parse_exception_table(record, ins) == (entry,)


@pytest.mark.parametrize(("table", "reason"), [
    (b"\x05\x09\x11\x04", "marker out of place"),
    (b"\x85\x09", "truncated exception table"),
    (b"\x85\x49\x49\x49\x49\x49\x09\x11\x04", "oversized"),
    (b"\x85\x09\x08\x04", "handler is not an instruction start"),  # FOR_ITER's cache
    (b"\x88\x01\x11\x04", "not on instruction boundaries"),
    (b"\x85\x00\x11\x04", "not on instruction boundaries"),  # empty range
    (b"\x85\x3f\x11\x04", "not on instruction boundaries"),  # past the end
])
def test_malformed_exception_tables(table: bytes, reason: str) -> None:
    record = dataclasses.replace(_record("3.12", "listcomp"), exceptiontable=table)
    ins = decode_instructions(record, load_table("3.12"), forward_only=False)
    with pytest.raises(BytecodeError, match=reason):
        parse_exception_table(record, ins)


# -- agreement between surviving readings ---------------------------------------------------


def test_readings_that_disagree_are_reported() -> None:
    """Bytes valid as 3.8, 3.9 and 3.10 whose jump means 'next' in 3.8/3.9 and 'skip' in 3.10."""
    case = get_case("3.8", "if_not_none")
    t = load_table("3.8")
    record = read_code(case.blob, case.family)
    code = b"".join([
        op(t, "LOAD_FAST"), op(t, "POP_JUMP_IF_FALSE", 4), op(t, "LOAD_CONST", 0),
        op(t, "RETURN_VALUE"), op(t, "LOAD_CONST", 1), op(t, "RETURN_VALUE"), op(t, "NOP"),
        op(t, "NOP"),
    ])
    result = examine(patch_code(case.blob, record.code, code))
    assert result.versions == ("3.8", "3.9", "3.10")
    targets = {r.version: r.instructions[1].jump_target for r in result.readings}
    assert targets == {"3.8": 4, "3.9": 4, "3.10": 8}
    assert readings_agree(result.readings[:2])
    assert not readings_agree(result.readings)
    assert not result.agree


def test_renamed_311_jumps_agree_with_312() -> None:
    result = examine(get_case("3.11", "if_not_none").blob)
    assert result.versions == ("3.11", "3.12")
    names = {r.version: r.instructions[2].opname for r in result.readings}
    assert names == {"3.11": "POP_JUMP_FORWARD_IF_NONE", "3.12": "POP_JUMP_IF_NONE"}
    assert result.agree


def test_meaning_resolves_names_constants_and_jumps() -> None:
    meaning = reading_meaning(read_as(get_case("3.12", "os_system").blob, "3.12"))
    (name, argcount, _, _, _, varnames, _, _, ops), = meaning  # type: ignore[misc]
    assert (name, argcount, varnames) == ("<lambda>", 1, ("x",))
    assert ops == (
        ("RESUME", 0), ("LOAD_GLOBAL", ("os", 0)), ("LOAD_ATTR", ("system", 1)),
        ("LOAD_CONST", ("str", "true")), ("CALL", 1), ("RETURN_VALUE", None),
    )
    cond = reading_meaning(read_as(get_case("3.13", "if_not_none").blob, "3.13"))
    assert ("POP_JUMP_IF_NONE", ("to", 5)) in cond[0][-1]  # type: ignore[index]


def test_nested_code_is_decoded_and_referenced_by_index() -> None:
    reading = read_as(get_case("3.10", "closure").blob, "3.10")
    assert len(reading.codes) == 1
    outer = examine(get_case("3.11", "listcomp").blob)
    assert outer.readings == ()
    with pytest.raises(BytecodeError, match="backward jump JUMP_BACKWARD"):
        read_as(get_case("3.11", "listcomp").blob, "3.11")


def test_candidate_readings_is_examine_readings() -> None:
    blob = get_case("3.9", "keras_mean").blob
    assert [r.version for r in candidate_readings(blob)] == ["3.8", "3.9", "3.10"]
    assert candidate_readings(blob) == list(examine(blob).readings)
    assert candidate_readings(b"garbage") == []
