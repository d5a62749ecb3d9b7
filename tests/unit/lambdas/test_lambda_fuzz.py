"""Random damage to real blobs: only the declared errors, bounded time, sound output.

2000 mutations of whole blobs exercise the unmarshaller (it must raise MarshalError and
nothing else); 1000 mutations confined to co_code get past it and exercise the instruction
checks (every reading that survives must still satisfy them) and the lifter (LiftError only).
"""

from __future__ import annotations

import struct
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasvet.lambdas.instructions import Reading, examine
from kerasvet.lambdas.lift import lift
from kerasvet.lambdas.marshal_reader import read_code
from kerasvet.lambdas.model import CodeRecord, LayoutFamily, LiftError, MarshalError
from kerasvet.lambdas.opcodes import load_table

from ._support import all_cases

BLOBS = tuple(case.blob for case in all_cases())
CODE_SPANS = tuple(
    (case.blob, case.blob.index(bytes.fromhex(case.expected["code"])),
     len(case.expected["code"]) // 2)
    for case in all_cases()
)
TIME_BOUND = 0.5  # seconds per call; a real lambda takes well under a millisecond

MUTATIONS = ("flip", "set", "truncate", "insert", "delete", "int32", "duplicate")


@st.composite
def mutated_blobs(draw: st.DrawFn) -> bytes:
    blob = bytearray(draw(st.sampled_from(BLOBS)))
    for _ in range(draw(st.integers(1, 4))):
        if not blob:
            break
        i = draw(st.integers(0, len(blob) - 1))
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "flip":
            blob[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            blob[i] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del blob[i:]
        elif kind == "insert":
            blob.insert(i, draw(st.integers(0, 255)))
        elif kind == "delete":
            del blob[i]
        elif kind == "int32":
            value = draw(st.sampled_from([-1, -(2**31), 2**31 - 1, 1 << 20, 255, 256, 0]))
            blob[i:i + 4] = struct.pack("<i", value)
        else:
            j = draw(st.integers(i, min(len(blob), i + 64)))
            blob[i:i] = blob[i:j]
    return bytes(blob)


@st.composite
def code_mutations(draw: st.DrawFn) -> bytes:
    blob, start, size = draw(st.sampled_from(CODE_SPANS))
    out = bytearray(blob)
    for _ in range(draw(st.integers(1, 3))):
        i = start + draw(st.integers(0, size - 1))
        out[i] = draw(st.integers(0, 255))
    return bytes(out)


def _timed(fn: object, *args: object) -> object:
    t0 = time.perf_counter()
    result = fn(*args)  # type: ignore[operator]
    assert time.perf_counter() - t0 < TIME_BOUND
    return result


@settings(max_examples=2000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_blobs())
def test_mutated_blobs_only_raise_marshal_error(blob: bytes) -> None:
    for family in LayoutFamily:
        try:
            record = _timed(read_code, blob, family)
        except MarshalError as exc:
            reason = exc.reason
            assert reason
        else:
            assert isinstance(record, CodeRecord)
            assert record.family is family
    result = _timed(examine, blob)  # never raises: failures become rejections
    assert len(result.readings) + len(result.rejections) == 6  # type: ignore[attr-defined]


def _assert_sound(reading: Reading) -> None:
    table = load_table(reading.version)
    for decoded in reading.codes:
        starts = {i.start for i in decoded.instructions}
        end = 0
        for ins in decoded.instructions:
            assert table.opnames[ins.opcode] == ins.opname
            assert ins.cache == b"\0" * (2 * ins.cache_count)
            if ins.jump_target is not None:
                assert ins.offset < ins.jump_target < len(decoded.code.code)
                assert ins.jump_target in starts
            end = ins.offset + 2 + 2 * ins.cache_count
        assert end == len(decoded.code.code)


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(code_mutations())
def test_mutated_bytecode_readings_stay_sound(blob: bytes) -> None:
    result = _timed(examine, blob)
    for reading in result.readings:  # type: ignore[attr-defined]
        _assert_sound(reading)
        try:
            lifted = _timed(lift, reading)
        except LiftError as exc:
            reason = exc.reason
            assert reason
        else:
            assert lifted.source.startswith("lambda")  # type: ignore[attr-defined]
    for rejection in result.rejections:  # type: ignore[attr-defined]
        assert rejection.stage in ("marshal", "bytecode")
        assert rejection.reason


def test_examining_a_real_lambda_is_fast() -> None:
    """Median over every fixture of the best of 20 runs; ~0.1 ms here, the bound is loose."""
    best = []
    for blob in BLOBS:
        runs = []
        for _ in range(20):
            t0 = time.perf_counter()
            examine(blob)
            runs.append(time.perf_counter() - t0)
        best.append(min(runs))
    best.sort()
    assert best[len(best) // 2] < 0.005
