"""Every committed fixture, from every producer version, read exactly as its producer saw it."""

from __future__ import annotations

import pytest

from kerasvet.lambdas.instructions import decode_instructions, examine, readings_agree
from kerasvet.lambdas.marshal_reader import read_code
from kerasvet.lambdas.model import BytecodeError, CodeRecord, LayoutFamily, MarshalError
from kerasvet.lambdas.opcodes import SUPPORTED_VERSIONS, load_table

from ._support import (
    BACKWARD_JUMP_CASES,
    CASE_IDS,
    Case,
    all_cases,
    crafted_ids,
    every_case,
    fixture_file,
    summarize,
)

CASES = all_cases()
FAMILY_VERSIONS = {
    LayoutFamily.PY38_TO_310: {"3.8", "3.9", "3.10"},
    LayoutFamily.PY311_ON: {"3.11", "3.12", "3.13"},
}


def _ids(case: Case) -> str:
    return str(case)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_fixture_file_matches_its_interpreter(version: str) -> None:
    data = fixture_file(version)
    assert data["version"] == version
    assert data["python"].startswith(version + ".")
    assert data["magic"] == load_table(version).magic
    assert data["marshal_version"] == 4
    assert tuple(c["id"] for c in data["cases"]) == CASE_IDS + crafted_ids(version)
    for case in data["cases"]:
        # The exact Keras 3 Lambda-layer shape: encodebytes text, defaults, closure.
        assert set(case["keras"]) == {"code", "defaults", "closure"}
        assert case["keras"]["code"].endswith("\n")


@pytest.mark.parametrize("case", [c for c in every_case() if c.expected is not None],
                         ids=_ids)
def test_reader_reproduces_native_structure(case: Case) -> None:
    """Names, constants (nested code included), co_code, tables: as native marshal saw them."""
    record = read_code(case.blob, case.family)
    assert record.family is case.family
    assert summarize(record, case.table) == case.expected


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_other_layout_family_is_refused(case: Case) -> None:
    other = next(f for f in LayoutFamily if f is not case.family)
    with pytest.raises(MarshalError):
        read_code(case.blob, other)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_survivors_are_the_producer_family_and_agree(case: Case) -> None:
    result = examine(case.blob)
    versions = set(result.versions)
    if case.id in BACKWARD_JUMP_CASES:
        assert versions == set()
        producer = next(r for r in result.rejections if r.version == case.version)
        assert producer.stage == "bytecode"
        assert "backward jump" in producer.reason
        return
    assert case.version in versions
    assert versions <= FAMILY_VERSIONS[case.family]
    assert readings_agree(result.readings)
    assert result.agree
    # The other family fails at the marshal stage, once per version, with a reason.
    for rejection in result.rejections:
        if rejection.family is not case.family:
            assert rejection.stage == "marshal"
            assert rejection.reason


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.version == "3.13" and c.id not in BACKWARD_JUMP_CASES],
    ids=_ids,
)
def test_313_blobs_read_as_313_only(case: Case) -> None:
    assert examine(case.blob).versions == ("3.13",)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.8", ("3.8",)),  # COMPARE_OP 'is not' exists only in 3.8's cmp_op
        ("3.9", ("3.9",)),  # byte-offset jump read as 3.10 leaves the code
        ("3.10", ("3.10",)),
        ("3.13", ("3.13",)),
    ],
)
def test_conditional_lambda_pins_the_version(version: str, expected: tuple[str, ...]) -> None:
    case = next(c for c in CASES if c.version == version and c.id == "if_not_none")
    assert examine(case.blob).versions == expected


@pytest.mark.parametrize("case", [c for c in CASES if c.id in BACKWARD_JUMP_CASES], ids=_ids)
def test_loops_decode_only_when_backward_jumps_are_allowed(case: Case) -> None:
    record = read_code(case.blob, case.family)
    # Some code object of the lambda (itself from 3.12 on, else the nested listcomp) loops.
    codes = [record, *(c for c in record.consts if isinstance(c, CodeRecord))]
    reasons = []
    for code in codes:
        try:
            decode_instructions(code, case.table)
        except BytecodeError as exc:
            reasons.append(exc.reason)
        assert decode_instructions(code, case.table, forward_only=False)
    assert len(reasons) == 1
    assert reasons[0].startswith("backward jump")
