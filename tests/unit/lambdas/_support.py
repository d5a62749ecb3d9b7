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

from kerasvet.findings import Severity
from kerasvet.lambdas.defaults import (
    DEFAULT_BANDIT_SEVERITY,
    DEFAULT_LAMBDA_ATTRIBUTES,
    DEFAULT_LAMBDA_BUILTINS,
    DEFAULT_LAMBDA_CALLS,
    DEFAULT_LAMBDA_ROOTS,
)
from kerasvet.lambdas.instructions import decode_instructions
from kerasvet.lambdas.marshal_reader import decode_code_field
from kerasvet.lambdas.model import CodeRecord, Const, FrozenSetConst, LayoutFamily
from kerasvet.lambdas.opcodes import SUPPORTED_VERSIONS, OpcodeTable, load_table
from kerasvet.policy.model import LambdaMode, LambdaPolicy

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "lambdas"

CASE_IDS = (
    "mul2", "add_float", "default_arg", "closure", "ops_relu", "keras_mean", "slice_column",
    "if_not_none", "tuple_pick", "last_dim", "in_set", "complex_const", "big_int",
    "dunder_import", "os_system", "eval_call", "listcomp", "yield_expr", "walrus", "fstring",
    "star_args", "dunder_class", "getattr_class",
    # typical ML lambdas
    "slice_cols", "ops_mean_kw", "k_mean", "tf_reduce_sum", "tf_l2_normalize", "tf_nn_relu",
    "np_clip", "closure_two", "dtype_cond", "default_axis", "two_defaults", "optional_add",
    "relu_affine", "l2_rows", "concat_pair", "expand_last", "output_shape", "rank",
    "shape_tuple", "transpose_t",
    # lambda-analysis.md section 7
    "import_or", "subclasses", "exec_tuple", "compile_call", "globals_os", "vars_call",
    "getattr_folded", "getattr_join", "format_attr", "fstring_class", "attrgetter",
    "walrus_class", "nested_lambda", "genexp_next", "marshal_loads", "reexport_system",
    "np_load", "unsafe_deserialization", "tf_py_function", "module_field_system",
    "tensor_numpy", "shape_class", "star_call", "kwargs_call", "const_dos", "pow_dos",
)
"""Every case the fixture script compiles and dumps, in order."""

CRAFTED_IDS = (
    "closure_extra_value", "closure_missing", "defaults_too_many", "oob_const",
    "extended_arg", "varname_injection", "extra_names", "hidden_cache_import",
)
"""Cases the script crafts from a real dump, in order, after the dumped ones."""

CACHE_ONLY_IDS = frozenset({"hidden_cache_import"})
"""Crafted cases that exist only for versions with inline caches (3.11+)."""

BACKWARD_JUMP_CASES = frozenset({"listcomp", "genexp_next"})
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
    expected: dict[str, Any] | None
    """The producer's native summary; ``None`` for crafted blobs native tools misdescribe."""
    expect: dict[str, Any]
    """kerasvet's expected verdict: verdict, rules, lifted source, bandit ids, sample kind."""
    crafted: dict[str, Any] | None = None
    """For crafted cases: the base case, what was changed, and recorded native facts."""

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


def crafted_ids(version: str) -> tuple[str, ...]:
    """The crafted case ids written for one producer version."""
    caches = version in ("3.11", "3.12", "3.13")
    return tuple(i for i in CRAFTED_IDS if caches or i not in CACHE_ONLY_IDS)


@cache
def every_case() -> tuple[Case, ...]:
    """Every fixture case of every supported version, crafted ones included."""
    out = []
    for version in SUPPORTED_VERSIONS:
        data = fixture_file(version)
        for raw in data["cases"]:
            out.append(Case(
                version=data["version"], python=data["python"], magic=data["magic"],
                id=raw["id"], group=raw["group"], source=raw["source"], keras=raw["keras"],
                expected=raw["expected"], expect=raw["expect"], crafted=raw.get("crafted"),
            ))
    return tuple(out)


@cache
def all_cases() -> tuple[Case, ...]:
    """Every case compiled and dumped by a real interpreter, unaltered (no crafted ones)."""
    return tuple(c for c in every_case() if c.crafted is None)


def get_case(version: str, case_id: str) -> Case:
    """One fixture case."""
    for case in every_case():
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


# -- the policy the analyzer tests use ---------------------------------------------------


def default_lambda_policy(**changes: Any) -> LambdaPolicy:
    """The default lambda policy (same values as policies/default.toml), with overrides."""
    values: dict[str, Any] = {
        "mode": LambdaMode.ANALYZE,
        "roots": dict(DEFAULT_LAMBDA_ROOTS),
        "calls": frozenset(DEFAULT_LAMBDA_CALLS),
        "builtins": frozenset(DEFAULT_LAMBDA_BUILTINS),
        "attributes": frozenset(DEFAULT_LAMBDA_ATTRIBUTES),
        "bandit_severity": Severity.parse(DEFAULT_BANDIT_SEVERITY),
    }
    values.update(changes)
    return LambdaPolicy(**values)


POLICY = default_lambda_policy()
"""mode analyze; roots keras, ops/K -> keras.ops, tf, np; the reviewed call list; builtins
abs bool float int len list max min round sum tuple; attributes T dtype ndim shape;
bandit_severity low."""


def sample_input(kind: str) -> Any:
    """The input a rebuilt lambda and its original are both called with."""
    import numpy as np

    tensor = np.arange(8, dtype=np.float32).reshape(2, 4) - 3.0
    if kind == "tensor":
        return tensor
    if kind == "int_tensor":
        return np.arange(8, dtype=np.int32).reshape(2, 4)
    if kind == "pair":
        return (tensor, tensor + 1.0)
    if kind == "int":
        return 3
    if kind == "shape":
        return (2, 4)
    raise ValueError(kind)
