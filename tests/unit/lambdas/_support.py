"""Shared helpers: the committed fixtures, a canonical summary, and a tiny stream writer.

The fixtures were produced by scripts/make_lambda_fixtures.py under each real interpreter,
which also recorded what *its own* ``marshal.loads`` and ``dis`` saw. Tests compare against
those records and never unmarshal a blob natively.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from kerasvet.lambdas.instructions import decode_instructions
from kerasvet.lambdas.marshal_reader import decode_code_field
from kerasvet.lambdas.model import CodeRecord, Const, FrozenSetConst, LayoutFamily
from kerasvet.lambdas.opcodes import SUPPORTED_VERSIONS, OpcodeTable, load_table

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "lambdas"

CASE_IDS = (
    "mul2", "add_float", "default_arg", "closure", "ops_relu", "keras_mean", "slice_column",
    "if_not_none", "tuple_pick", "last_dim", "in_set", "complex_const", "big_int",
    "dunder_import", "os_system", "eval_call", "listcomp", "yield_expr", "walrus", "fstring",
    "star_args", "dunder_class", "getattr_class",
)
"""Every case the fixture script writes, in order."""

BACKWARD_JUMP_CASES = frozenset({"listcomp"})
"""Cases whose bytecode loops (a comprehension): no strict reading may survive."""


@dataclass(frozen=True)
class Case:
    """One fixture lambda as written by one interpreter."""

    version: str
    python: str
    magic: int
    id: str
    group: str
    source: str
    keras: dict[str, Any]
    expected: dict[str, Any]

    @property
    def blob(self) -> bytes:
        """The marshal bytes, decoded from the Keras ``code`` field."""
        return decode_code_field(self.keras["code"])

    @property
    def table(self) -> OpcodeTable:
        """The producer's opcode table."""
        return load_table(self.version)

    @property
    def family(self) -> LayoutFamily:
        """The producer's layout family."""
        return self.table.family

    def __str__(self) -> str:
        return f"py{self.version}-{self.id}"


@cache
def fixture_file(version: str) -> dict[str, Any]:
    """The parsed fixture file of one producer version."""
    path = FIXTURE_DIR / f"py{version.replace('.', '')}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def all_cases() -> tuple[Case, ...]:
    """Every fixture case of every supported version."""
    out = []
    for version in SUPPORTED_VERSIONS:
        data = fixture_file(version)
        for raw in data["cases"]:
            out.append(Case(
                version=data["version"], python=data["python"], magic=data["magic"],
                id=raw["id"], group=raw["group"], source=raw["source"], keras=raw["keras"],
                expected=raw["expected"],
            ))
    return tuple(out)


def get_case(version: str, case_id: str) -> Case:
    """One fixture case."""
    for case in all_cases():
        if case.version == version and case.id == case_id:
            return case
    raise KeyError((version, case_id))


def canon(value: Const, table: OpcodeTable) -> Any:
    """The JSON form scripts/make_lambda_fixtures.py writes for a native constant."""
    if value is None:
        return ["none"]
    if value is Ellipsis:
        return ["ellipsis"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", value.hex()]
    if isinstance(value, complex):
        return ["complex", value.real.hex(), value.imag.hex()]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if isinstance(value, tuple):
        return ["tuple", [canon(v, table) for v in value]]
    if isinstance(value, FrozenSetConst):
        items = [canon(v, table) for v in value.items]
        return ["frozenset", sorted(items, key=lambda c: json.dumps(c, sort_keys=True))]
    if isinstance(value, CodeRecord):
        return ["code", summarize(value, table)]
    raise TypeError(value)


def summarize(code: CodeRecord, table: OpcodeTable) -> dict[str, Any]:
    """Our record in the shape of the fixture's native summary (same keys, same encoding)."""
    instructions = decode_instructions(code, table, forward_only=False)
    return {
        "argcount": code.argcount,
        "posonlyargcount": code.posonlyargcount,
        "kwonlyargcount": code.kwonlyargcount,
        "nlocals": code.nlocals if code.nlocals is not None else len(code.varnames),
        "stacksize": code.stacksize,
        "flags": code.flags,
        "code": code.code.hex(),
        "consts": [canon(c, table) for c in code.consts],
        "names": list(code.names),
        "varnames": list(code.varnames),
        "freevars": list(code.freevars),
        "cellvars": list(code.cellvars),
        "filename": code.filename,
        "name": code.name,
        "qualname": code.qualname,
        "firstlineno": code.firstlineno,
        "linetable": code.linetable.hex(),
        "exceptiontable": code.exceptiontable.hex(),
        "instructions": [
            [i.offset, i.opname, i.arg, i.jump_target] for i in instructions
        ],
    }


def patch_code(blob: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the one copy of ``old`` (a co_code) inside ``blob`` by ``new``, same length."""
    assert len(old) == len(new)
    assert blob.count(old) == 1, "co_code must occur exactly once in the blob"
    return blob.replace(old, new)


# -- a minimal marshal writer for crafted streams -----------------------------------------


def w_int(value: int) -> bytes:
    """``'i'`` int32."""
    return b"i" + struct.pack("<i", value)


def w_bytes(value: bytes) -> bytes:
    """``'s'`` bytes."""
    return b"s" + struct.pack("<i", len(value)) + value


def w_str(value: str) -> bytes:
    """``'z'`` short ASCII or ``'u'`` UTF-8 string."""
    if value.isascii() and len(value) < 256:
        return b"z" + bytes([len(value)]) + value.encode("ascii")
    raw = value.encode("utf-8")
    return b"u" + struct.pack("<i", len(raw)) + raw


def w_tuple(*items: bytes) -> bytes:
    """``')'`` small tuple of already-written items."""
    return b")" + bytes([len(items)]) + b"".join(items)


def w_names(*names: str) -> bytes:
    """A tuple of short strings."""
    return w_tuple(*(w_str(n) for n in names))


def i32(value: int) -> bytes:
    """A raw little-endian int32 (code header fields)."""
    return struct.pack("<i", value)


def op(table: OpcodeTable, name: str, arg: int = 0) -> bytes:
    """One instruction of ``table`` followed by its zeroed inline caches."""
    number = table.opmap[name]
    return bytes([number, arg]) + b"\0\0" * table.cache_entries[number]


def code_stream(family: LayoutFamily, **fields: bytes) -> bytes:
    """A marshalled ``lambda x: x`` code object; any field can be replaced by raw bytes.

    Field names follow marshal.c: header ints (``argcount`` ...) take raw int32 bytes
    (see :func:`i32`), object fields take a written object.
    """
    if family is LayoutFamily.PY38_TO_310:
        t = load_table("3.8")
        default = {
            "argcount": i32(1), "posonlyargcount": i32(0), "kwonlyargcount": i32(0),
            "nlocals": i32(1), "stacksize": i32(1), "flags": i32(0x43),
            "code": w_bytes(op(t, "LOAD_FAST", 0) + op(t, "RETURN_VALUE")),
            "consts": w_tuple(b"N"), "names": w_names(), "varnames": w_names("x"),
            "freevars": w_names(), "cellvars": w_names(), "filename": w_str("<crafted>"),
            "name": w_str("<lambda>"), "firstlineno": i32(1), "linetable": w_bytes(b""),
        }
    else:
        t = load_table("3.12")
        default = {
            "argcount": i32(1), "posonlyargcount": i32(0), "kwonlyargcount": i32(0),
            "stacksize": i32(1), "flags": i32(0x3),
            "code": w_bytes(op(t, "RESUME", 0) + op(t, "LOAD_FAST", 0) + op(t, "RETURN_VALUE")),
            "consts": w_tuple(b"N"), "names": w_names(), "localsplusnames": w_names("x"),
            "localspluskinds": w_bytes(b"\x20"), "filename": w_str("<crafted>"),
            "name": w_str("<lambda>"), "qualname": w_str("<lambda>"), "firstlineno": i32(1),
            "linetable": w_bytes(b""), "exceptiontable": w_bytes(b""),
        }
    unknown = set(fields) - set(default)
    assert not unknown, unknown
    default.update(fields)
    return b"c" + b"".join(default.values())
