"""Property (e): the strict marshal reader raises only MarshalError, whatever the bytes.

Two sources, 2 000 examples each in CI: real blobs CPython 3.8-3.13 wrote, damaged; and
code objects this interpreter compiles from generated lambda sources, which must also read
back field for field as the interpreter itself sees them (the reader is exact, not lenient).
The later stages get the same treatment: ``examine`` never raises, ``lift`` raises only
LiftError, ``decode_code_field`` only MarshalError.
"""

from __future__ import annotations

import base64
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kerasvet.lambdas.instructions import examine
from kerasvet.lambdas.lift import lift
from kerasvet.lambdas.marshal_reader import decode_code_field, read_code
from kerasvet.lambdas.model import CodeRecord, LayoutFamily, LiftError, MarshalError

from ._support import FUZZ
from .strategies import SynthesizedBlob, mutated_blobs, synthesized_blobs

NATIVE = LayoutFamily.PY311_ON if sys.version_info >= (3, 11) else LayoutFamily.PY38_TO_310


def only_declared_errors(blob: bytes) -> None:
    """Every stage on ``blob``: a result or the stage's own error, nothing else."""
    for family in LayoutFamily:
        try:
            record = read_code(blob, family)
        except MarshalError as exc:
            reason = exc.reason
            assert reason
        else:
            assert isinstance(record, CodeRecord)
            assert record.family is family
    result = examine(blob)
    assert result.readings or result.rejections
    for reading in result.readings:
        try:
            lifted = lift(reading)
        except LiftError as exc:
            reason = exc.reason
            assert reason
        else:
            assert lifted.source.startswith("lambda")
    if not blob:
        return
    text = base64.encodebytes(blob).decode("ascii")
    assert decode_code_field(text) == blob
    damaged = text.replace("A", "*", 1) if "A" in text else text + "="
    with pytest.raises(MarshalError, match="base64"):
        decode_code_field(damaged)


@FUZZ
@given(mutated_blobs())
def test_damaged_real_blobs(blob: bytes) -> None:
    only_declared_errors(blob)


@FUZZ
@given(synthesized_blobs(), st.integers(0, 3), st.data())
def test_synthesized_code_objects(sample: SynthesizedBlob, damage: int,
                                  data: st.DataObject) -> None:
    code = sample.code
    record = read_code(sample.blob, NATIVE)
    assert (record.argcount, record.posonlyargcount, record.kwonlyargcount, record.flags) == (
        code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
    assert record.code == code.co_code
    assert (record.names, record.varnames) == (code.co_names, code.co_varnames)
    assert (record.freevars, record.cellvars) == (code.co_freevars, code.co_cellvars)
    assert (record.name, record.firstlineno) == (code.co_name, code.co_firstlineno)
    assert len(record.consts) == len(code.co_consts)
    blob = bytearray(sample.blob)
    for _ in range(damage):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    only_declared_errors(bytes(blob))
