"""A strict, pure-Python reader for marshalled code objects from CPython 3.8-3.13.

Why not the native loader: CPython's unmarshaller has no bytecode verifier and several
known memory-safety bugs on crafted input (python/cpython#85380, #118990, #136053, ...); on
3.12 and 3.13 merely *creating* a code object from random ``co_code`` segfaults. So the
attacker's bytes are parsed here, as data, into :class:`~kerasvet.lambdas.model.CodeRecord`.

The reader is deliberately narrower than marshal:

* only the types a code object can contain: code, None, True, False, Ellipsis, ints,
  binary floats and complex numbers, bytes, strings, tuples and frozensets (CPython folds
  ``x in {1, 2}`` into a frozenset constant). Lists, dicts, sets, StopIteration, NULL,
  text floats and the legacy 64-bit int are refused: ``marshal.dumps`` never writes them
  inside a code object at protocol version 4;
* only canonical encodings: ASCII strings must really be ASCII, longs must not fit in
  ``'i'``, the FLAG_REF bit is refused on singletons and on references;
* a reference may only name a finished object (no cycles, no half-built tuples);
* every read is bounds-checked, and the input size, object count (references counted at
  their full expanded size, so shared sub-trees cannot blow up later passes), nesting depth,
  string and tuple lengths and long size are all capped by :class:`MarshalLimits`;
* nesting is handled with an explicit stack, never Python recursion;
* any problem raises :class:`~kerasvet.lambdas.model.MarshalError` and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from typing import Final

from kerasvet.lambdas.model import (
    CodeRecord,
    Const,
    FrozenSetConst,
    LayoutFamily,
    MarshalError,
)

__all__ = [
    "DEFAULT_LIMITS",
    "MarshalLimits",
    "const_key",
    "decode_code_field",
    "read_code",
]


@dataclass(frozen=True, slots=True)
class MarshalLimits:
    """Caps enforced while reading; a real lambda is a few hundred bytes and ~50 objects."""

    max_input_bytes: int = 48 * 1024
    """Largest blob accepted (64 Ki base64 characters decode to 48 KiB)."""
    max_objects: int = 20_000
    """Most objects, counting every object reached through a reference at its full size."""
    max_depth: int = 48
    """Deepest nesting of tuples, frozensets and code objects."""
    max_string_bytes: int = 32 * 1024
    """Longest bytes or str payload (co_code included)."""
    max_tuple_length: int = 4096
    """Longest tuple or frozenset."""
    max_refs: int = 10_000
    """Most objects registered for back-references (FLAG_REF)."""
    max_long_digits: int = 256
    """Longest ``'l'`` integer, in 15-bit digits (3840 bits)."""
    max_code_objects: int = 64
    """Most code objects in one blob (the lambda plus nested comprehensions and lambdas)."""
    max_argcount: int = 255
    """Largest argument or local count accepted in a code header."""


DEFAULT_LIMITS: Final = MarshalLimits()
"""The limits used when the caller passes none."""

_MAX_CODE_FIELD_CHARS: Final = 64 * 1024
_B64_ALPHABET: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

_FLAG_REF: Final = 0x80

# Type codes (Python/marshal.c).
_T_NONE: Final = ord("N")
_T_FALSE: Final = ord("F")
_T_TRUE: Final = ord("T")
_T_ELLIPSIS: Final = ord(".")
_T_INT: Final = ord("i")
_T_LONG: Final = ord("l")
_T_BINARY_FLOAT: Final = ord("g")
_T_BINARY_COMPLEX: Final = ord("y")
_T_STRING: Final = ord("s")
_T_INTERNED: Final = ord("t")
_T_UNICODE: Final = ord("u")
_T_ASCII: Final = ord("a")
_T_ASCII_INTERNED: Final = ord("A")
_T_SHORT_ASCII: Final = ord("z")
_T_SHORT_ASCII_INTERNED: Final = ord("Z")
_T_TUPLE: Final = ord("(")
_T_SMALL_TUPLE: Final = ord(")")
_T_FROZENSET: Final = ord(">")
_T_CODE: Final = ord("c")
_T_REF: Final = ord("r")

_REFUSED_TYPES: Final = {
    ord("0"): "NULL",
    ord("S"): "StopIteration",
    ord("I"): "64-bit int (never written by protocol 4)",
    ord("f"): "text float (never written by protocol 4)",
    ord("x"): "text complex (never written by protocol 4)",
    ord("["): "list",
    ord("{"): "dict",
    ord("<"): "set",
    ord("?"): "unknown",
    ord(":"): "slice (3.14+)",
}

_INT32: Final = struct.Struct("<i")
_UINT16: Final = struct.Struct("<H")
_DOUBLE: Final = struct.Struct("<d")
_COMPLEX: Final = struct.Struct("<dd")

# localspluskinds bits (Include/internal/pycore_code.h, 3.11-3.13).
_CO_FAST_HIDDEN: Final = 0x10
_CO_FAST_LOCAL: Final = 0x20
_CO_FAST_CELL: Final = 0x40
_CO_FAST_FREE: Final = 0x80
_KNOWN_KIND_BITS: Final = _CO_FAST_HIDDEN | _CO_FAST_LOCAL | _CO_FAST_CELL | _CO_FAST_FREE

# Field schemas of a code object: "L" is a raw little-endian int32, anything else is the
# name of an object field. The order is exactly marshal.c's r_object(TYPE_CODE).
_SCHEMAS: Final[dict[LayoutFamily, tuple[str, ...]]] = {
    LayoutFamily.PY38_TO_310: (
        "L:argcount", "L:posonlyargcount", "L:kwonlyargcount", "L:nlocals", "L:stacksize",
        "L:flags", "code", "consts", "names", "varnames", "freevars", "cellvars",
        "filename", "name", "L:firstlineno", "linetable",
    ),
    LayoutFamily.PY311_ON: (
        "L:argcount", "L:posonlyargcount", "L:kwonlyargcount", "L:stacksize", "L:flags",
        "code", "consts", "names", "localsplusnames", "localspluskinds", "filename", "name",
        "qualname", "L:firstlineno", "linetable", "exceptiontable",
    ),
}

_BYTES_FIELDS: Final = frozenset({"code", "localspluskinds", "linetable", "exceptiontable"})
_STR_FIELDS: Final = frozenset({"filename", "name", "qualname"})
_NAME_TUPLE_FIELDS: Final = frozenset(
    {"names", "varnames", "freevars", "cellvars", "localsplusnames"}
)


class _Unfilled:
    """Marks a reference slot whose object is still being built (a cycle if referenced)."""

    __slots__ = ()


_UNFILLED: Final = _Unfilled()

_TUPLE: Final = 0
_FROZENSET: Final = 1
_CODE: Final = 2


class _Frame:
    """One container under construction on the explicit stack."""

    __slots__ = ("count", "depth", "fields", "is_consts", "items", "kind", "ref", "start",
                 "step", "weight")

    def __init__(self, kind: int, count: int, ref: int | None, start: int) -> None:
        self.kind = kind
        self.count = count
        self.ref = ref
        self.start = start
        self.items: list[Const] = []
        self.weight = 1
        self.depth = 0
        self.is_consts = False
        self.step = 0
        self.fields: dict[str, object] = {}


def read_code(
    data: bytes, family: LayoutFamily, limits: MarshalLimits = DEFAULT_LIMITS
) -> CodeRecord:
    """Read one marshalled code object laid out as ``family``; the whole input must be used.

    Raises :class:`MarshalError` for anything malformed, unsupported or over a limit.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MarshalError("blob is not bytes")
    buf = bytes(data)
    if len(buf) > limits.max_input_bytes:
        raise MarshalError(f"blob of {len(buf)} bytes exceeds {limits.max_input_bytes}")
    return _Reader(buf, family, limits).run()


def decode_code_field(text: object, *, max_chars: int = _MAX_CODE_FIELD_CHARS) -> bytes:
    """Decode a Keras ``code`` field: standard base64, optionally split by ``\\n`` only.

    Keras writes ``codecs.encode(marshal.dumps(code), "base64")`` (``base64.encodebytes``:
    76-character lines, each ending in a newline). On a decode error, Keras' ``func_load``
    falls back to ``raw_unicode_escape``; that fallback is *not* reproduced, since it turns
    arbitrary text into arbitrary bytes. Padding and the unused trailing bits must be
    canonical, so one blob has exactly one accepted spelling.
    """
    if not isinstance(text, str):
        raise MarshalError("code field is not a string")
    if len(text) > max_chars:
        raise MarshalError(f"code field of {len(text)} characters exceeds {max_chars}")
    if not text.isascii():
        raise MarshalError("code field is not ASCII base64")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        body = line.rstrip("=")
        if len(line) - len(body) > 2 or not _B64_ALPHABET.issuperset(body):
            raise MarshalError("code field contains characters outside standard base64")
    joined = "".join(lines)
    if not joined or len(joined) % 4:
        raise MarshalError("code field is empty or not a whole number of base64 quanta")
    if "=" in joined.rstrip("="):
        raise MarshalError("base64 padding in the middle of the code field")
    try:
        raw = base64.b64decode(joined, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MarshalError(f"bad base64 in code field: {exc}") from None
    if base64.b64encode(raw).decode("ascii") != joined:
        raise MarshalError("non-canonical base64 in code field")
    return raw


def const_key(value: Const) -> object:
    """A hashable, type-exact key for a constant (``1``, ``1.0`` and ``True`` differ).

    Used to refuse duplicate frozenset members and to compare readings; iterative, so a
    deep constant cannot exhaust the Python stack.
    """
    out: list[object] = []
    # Work items: ("v", value) to visit, ("t", n, tag) to fold the last n keys into a tuple.
    work: list[tuple[object, ...]] = [("v", value)]
    while work:
        item = work.pop()
        if item[0] == "t":
            count, tag = item[1], item[2]
            assert isinstance(count, int)
            folded = tuple(out[len(out) - count:]) if count else ()
            del out[len(out) - count:]
            out.append((tag, folded))
            continue
        v = item[1]
        if isinstance(v, tuple):
            work.append(("t", len(v), "tuple"))
            work.extend(("v", x) for x in reversed(v))
        elif isinstance(v, FrozenSetConst):
            work.append(("t", len(v.items), "frozenset"))
            work.extend(("v", x) for x in reversed(v.items))
        elif isinstance(v, CodeRecord):
            # Code constants are compared structurally elsewhere; here they only need a tag.
            out.append(("code", v.name))
        elif isinstance(v, float):
            out.append(("float", v.hex()))
        elif isinstance(v, complex):
            out.append(("complex", v.real.hex(), v.imag.hex()))
        else:
            out.append((type(v).__name__, v))
    return out[0]


class _Reader:
    """The unmarshalling state machine; one instance reads one blob once."""

    __slots__ = ("buf", "code_objects", "end", "family", "limits", "pos", "ref_depth",
                 "ref_weight", "refs", "schema", "weight")

    def __init__(self, buf: bytes, family: LayoutFamily, limits: MarshalLimits) -> None:
        self.buf = buf
        self.pos = 0
        self.end = len(buf)
        self.family = family
        self.limits = limits
        self.schema = _SCHEMAS[family]
        self.refs: list[Const | _Unfilled] = []
        self.ref_weight: list[int] = []
        self.ref_depth: list[int] = []
        self.weight = 0
        self.code_objects = 0

    # -- primitive reads ---------------------------------------------------------------

    def _take(self, n: int) -> bytes:
        pos = self.pos
        if n < 0 or n > self.end - pos:
            raise MarshalError(f"truncated: {n} bytes needed, {self.end - pos} left", pos)
        self.pos = pos + n
        return self.buf[pos:pos + n]

    def _byte(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise MarshalError("truncated: object expected", pos)
        self.pos = pos + 1
        return self.buf[pos]

    def _int32(self) -> int:
        pos = self.pos
        if self.end - pos < 4:
            raise MarshalError("truncated: 4-byte integer expected", pos)
        self.pos = pos + 4
        value: int = _INT32.unpack_from(self.buf, pos)[0]
        return value

    def _length(self, what: str, cap: int) -> int:
        at = self.pos
        n = self._int32()
        if n < 0:
            raise MarshalError(f"negative {what} length", at)
        if n > cap:
            raise MarshalError(f"{what} length {n} exceeds cap {cap}", at)
        return n

    def _count(self, n: int) -> None:
        self.weight += n
        if self.weight > self.limits.max_objects:
            raise MarshalError(f"more than {self.limits.max_objects} objects", self.pos)

    # -- references ---------------------------------------------------------------------

    def _reserve(self, flagged: bool) -> int | None:
        if not flagged:
            return None
        if len(self.refs) >= self.limits.max_refs:
            raise MarshalError(f"more than {self.limits.max_refs} referenced objects", self.pos)
        self.refs.append(_UNFILLED)
        self.ref_weight.append(0)
        self.ref_depth.append(0)
        return len(self.refs) - 1

    def _fill(self, ref: int | None, value: Const, weight: int, depth: int) -> None:
        if ref is not None:
            self.refs[ref] = value
            self.ref_weight[ref] = weight
            self.ref_depth[ref] = depth

    # -- the main loop ------------------------------------------------------------------

    def run(self) -> CodeRecord:
        """Read the root code object and check that nothing follows it."""
        start = self.pos
        code = self._byte()
        if code & ~_FLAG_REF != _T_CODE:
            raise MarshalError("blob does not start with a code object", start)
        stack = [self._push_code(code & _FLAG_REF != 0, start, stack_len=0)]
        while True:
            top = stack[-1]
            if top.kind == _CODE:
                self._read_due_longs(top)
            if self._frame_done(top):
                stack.pop()
                value, weight, depth = self._finish(top)
                if not stack:
                    if self.pos != self.end:
                        raise MarshalError(
                            f"{self.end - self.pos} trailing bytes after the code object",
                            self.pos,
                        )
                    assert isinstance(value, CodeRecord)
                    return value
                self._add(stack[-1], value, weight, depth)
                continue
            pushed = self._read_object(stack)
            if pushed is not None:
                stack.append(pushed)

    def _frame_done(self, frame: _Frame) -> bool:
        if frame.kind == _CODE:
            return frame.step >= len(self.schema)
        return len(frame.items) >= frame.count

    def _read_object(self, stack: list[_Frame]) -> _Frame | None:
        """Read one object for the frame on top of ``stack``; return a new frame if any."""
        start = self.pos
        code = self._byte()
        flagged = code & _FLAG_REF != 0
        t = code & ~_FLAG_REF
        top = stack[-1]
        if t in (_T_NONE, _T_FALSE, _T_TRUE, _T_ELLIPSIS):
            if flagged:
                raise MarshalError("FLAG_REF on a singleton", start)
            self._count(1)
            single: Const = (
                None if t == _T_NONE else False if t == _T_FALSE else True if t == _T_TRUE
                else ...
            )
            self._add(top, single, 1, 0)
            return None
        if t == _T_REF:
            if flagged:
                raise MarshalError("FLAG_REF on a reference", start)
            index = self._int32()
            if index < 0 or index >= len(self.refs):
                raise MarshalError(f"reference {index} out of range", start)
            target = self.refs[index]
            if isinstance(target, _Unfilled):
                raise MarshalError(f"reference {index} to an object still being built", start)
            weight, depth = self.ref_weight[index], self.ref_depth[index]
            if len(stack) + depth > self.limits.max_depth:
                raise MarshalError("nesting too deep through a reference", start)
            self._count(weight)
            self._add(top, target, weight, depth)
            return None
        if t in (_T_TUPLE, _T_SMALL_TUPLE, _T_FROZENSET):
            if t == _T_SMALL_TUPLE:
                n = self._byte()
            else:
                n = self._length("tuple", self.limits.max_tuple_length)
            if len(stack) >= self.limits.max_depth:
                raise MarshalError(f"nesting deeper than {self.limits.max_depth}", start)
            self._count(1)
            frame = _Frame(_FROZENSET if t == _T_FROZENSET else _TUPLE, n,
                           self._reserve(flagged), start)
            frame.is_consts = (top.kind == _CODE and self.schema[top.step] == "consts")
            if n == 0:
                value, weight, depth = self._finish(frame)
                self._add(top, value, weight, depth)
                return None
            return frame
        if t == _T_CODE:
            return self._push_code(flagged, start, len(stack))
        scalar = self._read_scalar(t, start)
        self._count(1)
        ref = self._reserve(flagged)
        self._fill(ref, scalar, 1, 0)
        self._add(top, scalar, 1, 0)
        return None

    def _read_scalar(self, t: int, start: int) -> Const:
        limits = self.limits
        if t == _T_INT:
            return self._int32()
        if t == _T_LONG:
            return self._read_long(start)
        if t == _T_BINARY_FLOAT:
            value: float = _DOUBLE.unpack(self._take(8))[0]
            return value
        if t == _T_BINARY_COMPLEX:
            re_, im = _COMPLEX.unpack(self._take(16))
            return complex(re_, im)
        if t == _T_STRING:
            return self._take(self._length("bytes", limits.max_string_bytes))
        if t in (_T_UNICODE, _T_INTERNED):
            raw = self._take(self._length("string", limits.max_string_bytes))
            try:
                return raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise MarshalError("string is not valid UTF-8", start) from None
        if t in (_T_ASCII, _T_ASCII_INTERNED, _T_SHORT_ASCII, _T_SHORT_ASCII_INTERNED):
            if t in (_T_SHORT_ASCII, _T_SHORT_ASCII_INTERNED):
                n = self._byte()
            else:
                n = self._length("string", limits.max_string_bytes)
            raw = self._take(n)
            if not raw.isascii():
                raise MarshalError("ASCII string holds a non-ASCII byte", start)
            return raw.decode("ascii")
        if t in _REFUSED_TYPES:
            raise MarshalError(f"marshal type {_REFUSED_TYPES[t]} is not allowed", start)
        raise MarshalError(f"unknown marshal type code 0x{t:02x}", start)

    def _read_long(self, start: int) -> int:
        n = self._int32()
        size = abs(n)
        if size == 0:
            raise MarshalError("non-canonical long: zero must be written as 'i'", start)
        if size > self.limits.max_long_digits:
            raise MarshalError(f"long of {size} digits exceeds cap", start)
        raw = self._take(2 * size)
        value = 0
        digit = 0
        for i in range(size - 1, -1, -1):
            digit = _UINT16.unpack_from(raw, 2 * i)[0]
            if digit >= 1 << 15:
                raise MarshalError("long digit out of range", start)
            value = (value << 15) | digit
            if i == size - 1 and digit == 0:
                raise MarshalError("unnormalized long (top digit is zero)", start)
        if n < 0:
            value = -value
        if -(1 << 31) <= value < (1 << 31):
            raise MarshalError("non-canonical long: fits in a 4-byte 'i'", start)
        return value

    # -- containers ---------------------------------------------------------------------

    def _push_code(self, flagged: bool, start: int, stack_len: int) -> _Frame:
        if stack_len >= self.limits.max_depth:
            raise MarshalError(f"nesting deeper than {self.limits.max_depth}", start)
        self.code_objects += 1
        if self.code_objects > self.limits.max_code_objects:
            raise MarshalError(f"more than {self.limits.max_code_objects} code objects", start)
        self._count(1)
        frame = _Frame(_CODE, len(self.schema), self._reserve(flagged), start)
        self._read_due_longs(frame)
        return frame

    def _read_due_longs(self, frame: _Frame) -> None:
        schema = self.schema
        while frame.step < len(schema) and schema[frame.step].startswith("L:"):
            frame.fields[schema[frame.step][2:]] = self._int32()
            frame.step += 1

    def _add(self, frame: _Frame, value: Const, weight: int, depth: int) -> None:
        """Attach a finished child to ``frame``, checking what may go where."""
        frame.weight += weight
        if depth + 1 > frame.depth:
            frame.depth = depth + 1
        if frame.kind == _CODE:
            field = self.schema[frame.step]
            self._check_field(field, value, frame.start)
            frame.fields[field] = value
            frame.step += 1
            return
        if isinstance(value, CodeRecord) and not (frame.kind == _TUPLE and frame.is_consts):
            raise MarshalError("code object outside a co_consts tuple", frame.start)
        frame.items.append(value)

    def _check_field(self, field: str, value: Const, start: int) -> None:
        if field in _BYTES_FIELDS:
            if not isinstance(value, bytes):
                raise MarshalError(f"code field {field} is not bytes", start)
        elif field in _STR_FIELDS:
            if not isinstance(value, str):
                raise MarshalError(f"code field {field} is not a str", start)
        elif field in _NAME_TUPLE_FIELDS:
            if not isinstance(value, tuple) or not all(isinstance(x, str) for x in value):
                raise MarshalError(f"code field {field} is not a tuple of str", start)
        elif field == "consts" and not isinstance(value, tuple):
            raise MarshalError("code field consts is not a tuple", start)

    def _finish(self, frame: _Frame) -> tuple[Const, int, int]:
        value: Const
        if frame.kind == _TUPLE:
            value = tuple(frame.items)
        elif frame.kind == _FROZENSET:
            value = self._finish_frozenset(frame)
        else:
            value = self._finish_code(frame)
        self._fill(frame.ref, value, frame.weight, frame.depth)
        return value, frame.weight, frame.depth

    def _finish_frozenset(self, frame: _Frame) -> FrozenSetConst:
        for item in frame.items:
            if isinstance(item, (FrozenSetConst, CodeRecord)):
                raise MarshalError("frozenset member of an unsupported type", frame.start)
        # Equal members (``1``, ``1.0``, ``True``) would be merged by a real frozenset, so
        # the native meaning would differ from ours: refuse them, by value and by type.
        if len(set(frame.items)) != len(frame.items) or len(
            {const_key(item) for item in frame.items}
        ) != len(frame.items):
            raise MarshalError("duplicate frozenset member", frame.start)
        return FrozenSetConst(tuple(frame.items))

    def _finish_code(self, frame: _Frame) -> CodeRecord:
        f = frame.fields
        at = frame.start
        cap = self.limits.max_argcount

        def number(name: str) -> int:
            value = f[name]
            assert isinstance(value, int)
            return value

        def names(name: str) -> tuple[str, ...]:
            value = f[name]
            assert isinstance(value, tuple)
            return tuple(x for x in value if isinstance(x, str))

        def blob(name: str) -> bytes:
            value = f[name]
            assert isinstance(value, bytes)
            return value

        def text(name: str) -> str:
            value = f[name]
            assert isinstance(value, str)
            return value

        argcount = number("argcount")
        posonly = number("posonlyargcount")
        kwonly = number("kwonlyargcount")
        stacksize = number("stacksize")
        flags = number("flags")
        for label, count in (("argcount", argcount), ("posonlyargcount", posonly),
                             ("kwonlyargcount", kwonly)):
            if not 0 <= count <= cap:
                raise MarshalError(f"{label} {count} out of range", at)
        if posonly > argcount:
            raise MarshalError("posonlyargcount exceeds argcount", at)
        if stacksize < 0 or stacksize > 1 << 16:
            raise MarshalError(f"stacksize {stacksize} out of range", at)
        if flags < 0:
            raise MarshalError("negative flags", at)
        code = blob("code")
        if not code or len(code) % 2:
            raise MarshalError("co_code is empty or of odd length", at)
        # CO_VARARGS 0x04 and CO_VARKEYWORDS 0x08 each add one parameter slot.
        nparams = argcount + kwonly + bool(flags & 0x04) + bool(flags & 0x08)
        consts = f["consts"]
        assert isinstance(consts, tuple)

        if self.family is LayoutFamily.PY38_TO_310:
            nlocals = number("nlocals")
            varnames = names("varnames")
            if nlocals != len(varnames):
                raise MarshalError("nlocals does not match varnames", at)
            if nparams > nlocals:
                raise MarshalError("varnames too short for the parameters", at)
            return CodeRecord(
                family=self.family, argcount=argcount, posonlyargcount=posonly,
                kwonlyargcount=kwonly, nlocals=nlocals, stacksize=stacksize, flags=flags,
                code=code, consts=consts, names=names("names"), varnames=varnames,
                freevars=names("freevars"), cellvars=names("cellvars"),
                localsplusnames=None, localspluskinds=None, filename=text("filename"),
                name=text("name"), qualname=None, firstlineno=number("firstlineno"),
                linetable=blob("linetable"), exceptiontable=b"",
            )

        plus_names = names("localsplusnames")
        kinds = blob("localspluskinds")
        if len(plus_names) != len(kinds):
            raise MarshalError("localsplusnames and localspluskinds differ in length", at)
        if len(plus_names) > 4 * cap:
            raise MarshalError("too many locals", at)
        for kind in kinds:
            if kind & ~_KNOWN_KIND_BITS or not kind & (_CO_FAST_LOCAL | _CO_FAST_CELL
                                                       | _CO_FAST_FREE):
                raise MarshalError(f"unknown localsplus kind 0x{kind:02x}", at)
        varnames = tuple(n for n, k in zip(plus_names, kinds, strict=True)
                         if k & _CO_FAST_LOCAL)
        if nparams > len(varnames):
            raise MarshalError("locals too short for the parameters", at)
        return CodeRecord(
            family=self.family, argcount=argcount, posonlyargcount=posonly,
            kwonlyargcount=kwonly, nlocals=None, stacksize=stacksize, flags=flags, code=code,
            consts=consts, names=names("names"), varnames=varnames,
            freevars=tuple(n for n, k in zip(plus_names, kinds, strict=True)
                           if k & _CO_FAST_FREE),
            cellvars=tuple(n for n, k in zip(plus_names, kinds, strict=True)
                           if k & _CO_FAST_CELL),
            localsplusnames=plus_names, localspluskinds=kinds, filename=text("filename"),
            name=text("name"), qualname=text("qualname"), firstlineno=number("firstlineno"),
            linetable=blob("linetable"), exceptiontable=blob("exceptiontable"),
        )
