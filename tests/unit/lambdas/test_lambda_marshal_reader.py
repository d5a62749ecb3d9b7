"""The pure-Python unmarshaller on crafted and damaged streams: every failure is a MarshalError."""

from __future__ import annotations

import struct

import pytest

from kerasvet.lambdas.marshal_reader import DEFAULT_LIMITS, MarshalLimits, read_code
from kerasvet.lambdas.model import CodeRecord, FrozenSetConst, LayoutFamily, MarshalError

from ._support import (
    CASE_IDS,
    code_stream,
    get_case,
    i32,
    w_bytes,
    w_int,
    w_names,
    w_str,
    w_tuple,
)

OLD = LayoutFamily.PY38_TO_310
NEW = LayoutFamily.PY311_ON
FAMILIES = (OLD, NEW)


def _consts(family: LayoutFamily, consts: bytes) -> bytes:
    return code_stream(family, consts=consts)


def _reason(blob: bytes, family: LayoutFamily, limits: MarshalLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(MarshalError) as info:
        read_code(blob, family, limits)
    return info.value.reason


# -- the writer helper itself is sound ----------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_crafted_baseline_reads(family: LayoutFamily) -> None:
    record = read_code(code_stream(family), family)
    assert record.name == "<lambda>"
    assert record.argcount == 1
    assert record.varnames == ("x",)
    assert record.consts == (None,)
    assert record.qualname == (None if family is OLD else "<lambda>")


# -- truncation and declared lengths ------------------------------------------------------


@pytest.mark.parametrize(("version", "case_id"), [("3.8", "keras_mean"), ("3.12", "keras_mean"),
                                                  ("3.13", "in_set"), ("3.10", "big_int")])
def test_every_truncation_is_refused(version: str, case_id: str) -> None:
    blob = get_case(version, case_id).blob
    for cut in range(len(blob)):
        for family in FAMILIES:
            with pytest.raises(MarshalError):
                read_code(blob[:cut], family)


@pytest.mark.parametrize("family", FAMILIES)
def test_trailing_bytes_are_refused(family: LayoutFamily) -> None:
    assert "trailing" in _reason(code_stream(family) + b"N", family)


@pytest.mark.parametrize("family", FAMILIES)
def test_huge_declared_length_is_refused_before_allocating(family: LayoutFamily) -> None:
    huge = b"s" + struct.pack("<i", 0x7FFFFFFF)
    assert "exceeds cap" in _reason(code_stream(family, code=huge), family)
    # Under the cap but longer than what is left: a truncation, not an allocation.
    assert "truncated" in _reason(code_stream(family, linetable=b"s" + i32(30_000)), family)
    assert "negative" in _reason(code_stream(family, code=b"s" + i32(-1)), family)


def test_huge_tuple_length_is_refused() -> None:
    stream = _consts(NEW, b"(" + struct.pack("<i", 0x7FFFFFFF))
    assert "tuple length" in _reason(stream, NEW)


def test_input_size_cap() -> None:
    blob = code_stream(NEW)
    assert "exceeds" in _reason(blob, NEW, MarshalLimits(max_input_bytes=len(blob) - 1))
    assert read_code(blob, NEW, MarshalLimits(max_input_bytes=len(blob))).name == "<lambda>"


def test_non_bytes_input_is_a_marshal_error() -> None:
    assert _reason("c", NEW) == "blob is not bytes"  # type: ignore[arg-type]


# -- nesting, object counts, references ---------------------------------------------------


def _nested(depth: int) -> bytes:
    return b")\x01" * depth + b"N"


def test_deep_nesting_is_refused() -> None:
    assert "nesting deeper" in _reason(_consts(NEW, _nested(20_000)), NEW)


def test_reader_does_not_recurse() -> None:
    # With the caps lifted, 100 000 levels read fine: a recursive reader would overflow.
    limits = MarshalLimits(max_input_bytes=1 << 20, max_depth=200_000, max_objects=200_000)
    record = read_code(_consts(NEW, _nested(100_000)), NEW, limits)
    depth = 0
    value: object = record.consts
    while isinstance(value, tuple) and value:
        value = value[0]
        depth += 1
    assert depth == 100_000
    assert value is None


def test_nesting_just_under_the_cap_reads() -> None:
    depth = DEFAULT_LIMITS.max_depth - 1  # the code object itself is one level
    record = read_code(_consts(NEW, _nested(depth)), NEW)
    value = record.consts
    for _ in range(depth - 1):
        assert isinstance(value, tuple)
        assert len(value) == 1
        value = value[0]
    assert value == (None,)
    assert "nesting deeper" in _reason(_consts(NEW, _nested(depth + 1)), NEW)


@pytest.mark.parametrize("index", [1, 99, -1, 0x7FFFFFFF])
def test_bad_reference_index(index: int) -> None:
    # Slot 0 is the flagged code object itself; nothing else is registered.
    stream = bytes([ord("c") | 0x80]) + code_stream(NEW, consts=w_tuple(b"r" + i32(index)))[1:]
    assert f"reference {index} out of range" in _reason(stream, NEW)


def test_reference_to_the_object_being_built_is_refused() -> None:
    # A tuple that contains itself: native marshal hands out the half-built tuple.
    consts = bytes([ord(")") | 0x80, 1]) + b"r" + i32(0)
    assert "still being built" in _reason(_consts(NEW, consts), NEW)
    # ... and a code object that references itself from its own consts.
    stream = bytes([ord("c") | 0x80]) + code_stream(NEW, consts=w_tuple(b"r" + i32(0)))[1:]
    assert "still being built" in _reason(stream, NEW)


def test_valid_reference_resolves_to_the_same_object() -> None:
    shared = bytes([ord("z") | 0x80, 3]) + b"abc"
    record = read_code(_consts(NEW, w_tuple(shared, b"r" + i32(0))), NEW)
    assert record.consts == ("abc", "abc")


def test_reference_expansion_counts_against_the_object_cap() -> None:
    # Each level is a 200-tuple of references to the previous level: 200**4 objects if
    # a later pass walked it naively. The reader counts expanded sizes and stops early.
    parts = [bytes([ord("z") | 0x80, 1]) + b"a"]
    for level in range(4):
        parts.append(bytes([ord(")") | 0x80, 200]) + (b"r" + i32(level)) * 200)
    consts = w_tuple(*parts)
    assert "objects" in _reason(_consts(NEW, consts), NEW)


def test_references_deepen_nesting() -> None:
    inner = bytes([ord(")") | 0x80]) + _nested(40)[1:]
    consts = w_tuple(inner, _nested(10)[:-1] + b"r" + i32(0))
    assert "nesting too deep through a reference" in _reason(_consts(NEW, consts), NEW)


@pytest.mark.parametrize("singleton", [b"N", b"T", b"F", b"."])
def test_flag_ref_on_singletons_and_refs_is_refused(singleton: bytes) -> None:
    flagged = bytes([singleton[0] | 0x80])
    assert "FLAG_REF on a singleton" in _reason(_consts(NEW, w_tuple(flagged)), NEW)
    flagged_ref = bytes([ord("r") | 0x80]) + i32(0)
    assert "FLAG_REF on a reference" in _reason(_consts(NEW, w_tuple(flagged_ref)), NEW)


# -- refused and malformed types ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        (b"[" + i32(0), "list"),
        (b"{0", "dict"),
        (b"<" + i32(0), "set"),
        (b"S", "StopIteration"),
        (b"0", "NULL"),
        (b"f\x031.5", "text float"),
        (b"x\x011\x011", "text complex"),
        (b"I" + b"\0" * 8, "64-bit int"),
        (b"?", "unknown"),
        (b":", "slice"),
    ],
)
def test_types_a_code_object_never_needs_are_refused(raw: bytes, label: str) -> None:
    assert label in _reason(_consts(NEW, w_tuple(raw)), NEW)


def test_unknown_type_code() -> None:
    assert "unknown marshal type code 0x7e" in _reason(_consts(OLD, w_tuple(b"~")), OLD)


def test_scalar_constants_decode_exactly() -> None:
    consts = w_tuple(
        w_int(-5), b"g" + struct.pack("<d", 0.1), b"y" + struct.pack("<dd", 1.5, -2.0),
        w_bytes(b"\x00\xff"), w_str("h\u00e9"), b"T", b"F", b".", b"N",
        b"a" + i32(3) + b"abc", b"t" + i32(2) + "\u00e9".encode(),
    )
    record = read_code(_consts(NEW, consts), NEW)
    assert record.consts == (
        -5, 0.1, complex(1.5, -2.0), b"\x00\xff", "h\u00e9", True, False, Ellipsis, None,
        "abc", "\u00e9",
    )
    assert type(record.consts[5]) is bool


def test_non_ascii_in_an_ascii_string_is_refused() -> None:
    assert "non-ASCII" in _reason(_consts(NEW, w_tuple(b"z\x01\xe9")), NEW)


def test_invalid_utf8_is_refused() -> None:
    assert "UTF-8" in _reason(_consts(NEW, w_tuple(b"u" + i32(2) + b"\xc3\x28")), NEW)


def _long(ndigits: int, digits: list[int]) -> bytes:
    return b"l" + i32(ndigits) + b"".join(struct.pack("<H", d) for d in digits)


def test_long_integers() -> None:
    value = 123456789012345678901234567890
    digits = []
    rest = value
    while rest:
        digits.append(rest & 0x7FFF)
        rest >>= 15
    record = read_code(_consts(NEW, w_tuple(_long(len(digits), digits),
                                            _long(-len(digits), digits))), NEW)
    assert record.consts == (value, -value)
    # The fixture's big constant, as 3.10 wrote it, reads to the same value.
    big = read_code(get_case("3.10", "big_int").blob, OLD)
    assert value in big.consts


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_long(0, []), "zero must be written as 'i'"),
        (_long(2, [1, 0]), "unnormalized"),
        (_long(3, [0x8000, 1, 1]), "digit out of range"),
        (_long(1, [5]), "fits in a 4-byte 'i'"),
        (_long(1000, [1] * 1000), "exceeds cap"),
    ],
)
def test_malformed_longs(raw: bytes, reason: str) -> None:
    assert reason in _reason(_consts(NEW, w_tuple(raw)), NEW)


def test_frozensets() -> None:
    members = b">" + i32(2) + w_int(1) + w_str("a")
    record = read_code(_consts(NEW, w_tuple(b"N", members)), NEW)
    assert record.consts == (None, FrozenSetConst((1, "a")))
    for dup in (w_int(1) + w_int(1), w_int(1) + b"T", w_int(1) + b"g" + struct.pack("<d", 1.0)):
        stream = _consts(NEW, w_tuple(b">" + i32(2) + dup))
        assert "duplicate frozenset member" in _reason(stream, NEW)
    nested = b">" + i32(1) + b">" + i32(1) + w_int(1)
    assert "unsupported type" in _reason(_consts(NEW, w_tuple(nested)), NEW)


# -- code objects: placement and header consistency ---------------------------------------


def test_nested_code_in_consts_is_a_code_record() -> None:
    inner = code_stream(NEW)
    record = read_code(_consts(NEW, w_tuple(b"N", inner)), NEW)
    assert isinstance(record.consts[1], CodeRecord)
    assert record.consts[1].name == "<lambda>"


def test_code_objects_only_directly_in_consts() -> None:
    inner = code_stream(NEW)
    assert "outside a co_consts tuple" in _reason(_consts(NEW, w_tuple(w_tuple(inner))), NEW)
    frozen = b">" + i32(1) + inner
    assert "outside a co_consts tuple" in _reason(_consts(NEW, w_tuple(frozen)), NEW)


def test_root_must_be_a_code_object() -> None:
    assert "does not start with a code object" in _reason(w_tuple(), NEW)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"names": w_tuple(w_int(1))}, "names is not a tuple of str"),
        ({"consts": w_names("a")[:0] + w_str("a")}, "consts is not a tuple"),
        ({"code": w_str("ab")}, "code is not bytes"),
        ({"name": w_bytes(b"x")}, "name is not a str"),
        ({"code": w_bytes(b"\x97")}, "odd length"),
        ({"code": w_bytes(b"")}, "empty"),
        ({"posonlyargcount": i32(2)}, "posonlyargcount exceeds argcount"),
        ({"argcount": i32(-1)}, "argcount -1 out of range"),
        ({"stacksize": i32(-3)}, "stacksize -3 out of range"),
        ({"flags": i32(-1)}, "negative flags"),
        ({"localspluskinds": w_bytes(b"\x20\x20")}, "differ in length"),
        ({"localspluskinds": w_bytes(b"\x01")}, "unknown localsplus kind"),
        ({"argcount": i32(2)}, "too short for the parameters"),
    ],
)
def test_inconsistent_311_headers(fields: dict[str, bytes], reason: str) -> None:
    assert reason in _reason(code_stream(NEW, **fields), NEW)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"nlocals": i32(2)}, "nlocals does not match varnames"),
        ({"argcount": i32(2), "nlocals": i32(1)}, "too short for the parameters"),
        ({"varnames": w_tuple(b"N")}, "varnames is not a tuple of str"),
        ({"linetable": w_str("x")}, "linetable is not bytes"),
    ],
)
def test_inconsistent_310_headers(fields: dict[str, bytes], reason: str) -> None:
    assert reason in _reason(code_stream(OLD, **fields), OLD)


def test_311_kinds_derive_varnames_cells_and_frees() -> None:
    stream = code_stream(
        NEW,
        localsplusnames=w_names("x", "c", "f"),
        localspluskinds=w_bytes(bytes([0x20 | 0x40, 0x40, 0x80])),
    )
    record = read_code(stream, NEW)
    assert record.varnames == ("x",)
    assert record.cellvars == ("x", "c")
    assert record.freevars == ("f",)
    assert record.localsplusnames == ("x", "c", "f")


def test_code_object_count_cap() -> None:
    inner = code_stream(NEW)
    stream = _consts(NEW, w_tuple(*([inner] * 5)))
    assert "code objects" in _reason(stream, NEW, MarshalLimits(max_code_objects=4))
    assert len(read_code(stream, NEW, MarshalLimits(max_code_objects=6)).consts) == 5


def test_fixture_ids_are_known() -> None:
    assert len(CASE_IDS) == len(set(CASE_IDS))
