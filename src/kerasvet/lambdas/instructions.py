"""Split a serialized ``co_code`` into instructions for one producer version, strictly.

Nothing in a Keras lambda blob records which Python wrote it, and CPython 3.8-3.10 (and
3.11-3.13) blobs even load natively under each other's interpreters with a *different*
meaning. So :func:`examine` reads the blob under every (layout family, opcode table) pair and
keeps only the readings that pass every strict check below; if the survivors disagree on what
the code does, the caller must deny (ambiguous).

The checks reject what ``marshal.dumps`` of compiler output never contains, which is also
what attacks hide in (lambda-analysis.md sections 3 and 7):

* an opcode unknown to that version, or one that is never serialized (specialized,
  instrumented, CACHE executed as an instruction);
* a truncated instruction or inline cache, and a *non-zero* cache word: ``dumps`` writes the
  de-optimized code with zeroed caches, while the 3.11+ interpreter executes the raw words,
  so a payload in the cache is invisible to ``dis`` yet runs;
* an argument byte on an opcode that takes none, an EXTENDED_ARG that is zero-led, chained
  more than three times, dangling or prefixing an argument-less opcode;
* jumps that go backwards, leave the code, or land inside a cache or between an
  EXTENDED_ARG prefix and its instruction;
* an argument that indexes past ``co_consts``, ``co_names``, the locals or the cells, or past
  the version's comparison/binary-operator/intrinsic tables;
* a 3.11+ exception table that is malformed or points outside instruction boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from kerasvet.lambdas.marshal_reader import DEFAULT_LIMITS, MarshalLimits, const_key, read_code
from kerasvet.lambdas.model import (
    BytecodeError,
    CodeRecord,
    LayoutFamily,
    MarshalError,
)
from kerasvet.lambdas.opcodes import SUPPORTED_VERSIONS, OpcodeTable, load_table

__all__ = [
    "DecodedCode",
    "Examination",
    "ExceptionEntry",
    "Instruction",
    "Reading",
    "Rejection",
    "candidate_readings",
    "decode_instructions",
    "examine",
    "parse_exception_table",
    "read_as",
    "reading_meaning",
    "readings_agree",
]

_CO_FAST_CELL: Final = 0x40
_CO_FAST_FREE: Final = 0x80
_MAX_EXTENDED_ARGS: Final = 3


@dataclass(frozen=True, slots=True)
class _Rules:
    """Per-version decoding rules that CPython keeps in Lib/dis rather than ``opcode``."""

    jump_unit: int
    """Bytes per unit of a jump argument: 1 for 3.8/3.9 (byte offsets), 2 from 3.10 on."""
    jump_skips_caches: bool
    """3.12+: a relative jump counts from the end of the jump's own inline caches."""
    name_shift: tuple[tuple[str, int], ...]
    """Opcodes whose name index is ``arg >> shift`` (low bits are flags): Lib/dis 3.11-3.13."""
    compare_shift: int
    """COMPARE_OP's ``cmp_op`` index is ``arg >> shift`` (0, 3.12: 4, 3.13: 5)."""
    pair_locals: frozenset[str]
    """3.13 super-instructions whose argument packs two 4-bit local indexes."""
    max_resume_arg: int
    """Largest RESUME argument (3.13 adds a depth bit to the 2-bit location)."""


_RULES: Final[dict[str, _Rules]] = {
    "3.8": _Rules(1, False, (), 0, frozenset(), 0),
    "3.9": _Rules(1, False, (), 0, frozenset(), 0),
    "3.10": _Rules(2, False, (), 0, frozenset(), 0),
    "3.11": _Rules(2, False, (("LOAD_GLOBAL", 1),), 0, frozenset(), 3),
    "3.12": _Rules(
        2, True, (("LOAD_GLOBAL", 1), ("LOAD_ATTR", 1), ("LOAD_SUPER_ATTR", 2)), 4,
        frozenset(), 3,
    ),
    "3.13": _Rules(
        2, True, (("LOAD_GLOBAL", 1), ("LOAD_ATTR", 1), ("LOAD_SUPER_ATTR", 2)), 5,
        frozenset({"LOAD_FAST_LOAD_FAST", "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST"}), 7,
    ),
}


@dataclass(frozen=True, slots=True)
class Instruction:
    """One decoded instruction, EXTENDED_ARG prefixes folded in."""

    offset: int
    """Byte offset of the opcode itself (after any EXTENDED_ARG prefixes)."""
    start: int
    """Byte offset where the instruction begins: its first EXTENDED_ARG, else ``offset``."""
    opcode: int
    """Opcode number in the producer version."""
    opname: str
    """Opcode name in the producer version."""
    arg: int | None
    """Folded argument, or ``None`` for opcodes without one."""
    extended_args: int
    """How many EXTENDED_ARG prefixes were folded (0 when none were used)."""
    cache_count: int
    """Inline cache code units that follow the instruction (3.11+)."""
    cache: bytes
    """The raw cache bytes as serialized (always all zero in an accepted reading)."""
    jump_target: int | None
    """Byte offset of the jump destination, for jump instructions."""


@dataclass(frozen=True, slots=True)
class ExceptionEntry:
    """One 3.11+ exception-table entry, offsets in bytes."""

    start: int
    """First protected byte offset."""
    end: int
    """Byte offset just past the protected range."""
    target: int
    """Handler offset."""
    depth: int
    """Stack depth to unwind to."""
    lasti: bool
    """Whether the handler receives the offset of the raising instruction."""


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """A code object together with its instructions under one opcode table."""

    code: CodeRecord
    """The unmarshalled code object."""
    instructions: tuple[Instruction, ...]
    """Its instructions, in order."""
    exception_table: tuple[ExceptionEntry, ...]
    """Parsed exception table (empty before 3.11)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """A blob read as one producer version, having passed every strict check."""

    version: str
    """Producer version of the opcode table used, ``"3.12"``."""
    family: LayoutFamily
    """Code-object layout used."""
    codes: tuple[DecodedCode, ...]
    """The lambda first, then every nested code constant (depth first, in consts order)."""

    @property
    def root(self) -> DecodedCode:
        """The lambda's own code object."""
        return self.codes[0]

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        """The lambda's own instructions."""
        return self.codes[0].instructions


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one candidate version did not yield a reading (kept for the audit record)."""

    version: str
    """Producer version tried."""
    family: LayoutFamily
    """Layout family tried."""
    stage: str
    """``"marshal"`` (the layout did not parse) or ``"bytecode"`` (a strict check failed)."""
    reason: str
    """The error message, offsets included."""


@dataclass(frozen=True, slots=True)
class Examination:
    """The outcome of trying every supported version on one blob."""

    readings: tuple[Reading, ...]
    """Readings that passed every check, oldest version first."""
    rejections: tuple[Rejection, ...]
    """One entry per version that failed, with its reason."""

    @property
    def agree(self) -> bool:
        """Whether all surviving readings mean the same thing (vacuously true for 0 or 1)."""
        return readings_agree(self.readings)

    @property
    def versions(self) -> tuple[str, ...]:
        """Versions of the surviving readings."""
        return tuple(r.version for r in self.readings)


def decode_instructions(
    code: CodeRecord, table: OpcodeTable, *, forward_only: bool = True
) -> tuple[Instruction, ...]:
    """Decode ``code.code`` with ``table``, raising :class:`BytecodeError` on any oddity.

    ``forward_only=False`` lets backward jumps through (they must still land on an
    instruction start); readings never use it, it exists for tests and diagnostics.
    """
    if code.family is not table.family:
        raise BytecodeError(f"a {code.family.value} code object cannot be {table.version} code")
    rules = _RULES[table.version]
    raw = code.code
    n = len(raw)
    if n == 0 or n % 2:
        raise BytecodeError("co_code is empty or of odd length")
    opnames = table.opnames
    caches = table.cache_entries
    hasarg = table.hasarg
    ext_op = table.extended_arg
    out: list[Instruction] = []
    i = 0
    ext = 0
    ext_count = 0
    ext_start = 0
    while i < n:
        op = raw[i]
        byte = raw[i + 1]
        name = opnames[op]
        if name is None:
            raise BytecodeError(f"opcode {op} is not valid in serialized {table.version} code", i)
        if op == ext_op:
            if ext_count == 0:
                if byte == 0:
                    raise BytecodeError("EXTENDED_ARG with a zero leading byte", i)
                ext_start = i
            elif ext_count >= _MAX_EXTENDED_ARGS:
                raise BytecodeError("more than three chained EXTENDED_ARG", i)
            ext = (ext << 8) | byte
            ext_count += 1
            i += 2 + 2 * caches[op]
            continue
        arg: int | None
        if op in hasarg:
            arg = (ext << 8) | byte
        else:
            if ext_count:
                raise BytecodeError(f"EXTENDED_ARG before {name}, which takes no argument", i)
            if byte:
                raise BytecodeError(f"{name} takes no argument but has {byte}", i)
            arg = None
        ncache = caches[op]
        end = i + 2 + 2 * ncache
        if end > n:
            raise BytecodeError(f"{name} inline cache runs past the end of co_code", i)
        cache = raw[i + 2:end]
        if cache.count(0) != len(cache):
            raise BytecodeError(f"non-zero inline cache word after {name}", i)
        out.append(Instruction(
            offset=i, start=ext_start if ext_count else i, opcode=op, opname=name, arg=arg,
            extended_args=ext_count, cache_count=ncache, cache=cache, jump_target=None,
        ))
        ext = 0
        ext_count = 0
        i = end
    if ext_count:
        raise BytecodeError("co_code ends with EXTENDED_ARG", ext_start)
    return _check_arguments(code, table, rules, out, forward_only)


def _check_arguments(
    code: CodeRecord,
    table: OpcodeTable,
    rules: _Rules,
    decoded: list[Instruction],
    forward_only: bool,
) -> tuple[Instruction, ...]:
    """Second pass: jump targets need every instruction start, so they are checked here."""
    n = len(code.code)
    starts = {ins.start for ins in decoded}
    shifts = dict(rules.name_shift)
    plus = code.localsplusnames
    kinds = code.localspluskinds
    n_locals = len(plus) if plus is not None else len(code.varnames)
    n_cells = len(plus) if plus is not None else len(code.cellvars) + len(code.freevars)
    result: list[Instruction] = []
    for ins in decoded:
        op, name, arg, at = ins.opcode, ins.opname, ins.arg, ins.offset
        target: int | None = None
        if arg is None:
            result.append(ins)
            continue
        if op in table.hasjrel or op in table.hasjabs:
            target = _jump_target(ins, table, rules, arg)
            if forward_only and ("BACKWARD" in name or target <= at):
                raise BytecodeError(f"backward jump {name} to {target}", at)
            if target < 0 or target >= n or target not in starts:
                raise BytecodeError(f"{name} target {target} is not an instruction start", at)
        elif op in table.hasconst:
            if arg >= len(code.consts):
                raise BytecodeError(f"{name} {arg} past {len(code.consts)} constants", at)
        elif op in table.hasname:
            index = arg >> shifts.get(name, 0)
            if index >= len(code.names):
                raise BytecodeError(f"{name} {index} past {len(code.names)} names", at)
        elif op in table.haslocal:
            indexes = (arg >> 4, arg & 15) if name in rules.pair_locals else (arg,)
            for index in indexes:
                if index >= n_locals:
                    raise BytecodeError(f"{name} {index} past {n_locals} locals", at)
        elif op in table.hasfree:
            if arg >= n_cells:
                raise BytecodeError(f"{name} {arg} past {n_cells} cell and free slots", at)
            if kinds is not None:
                wanted = _CO_FAST_CELL if name == "MAKE_CELL" else _CO_FAST_CELL | _CO_FAST_FREE
                if not kinds[arg] & wanted:
                    raise BytecodeError(f"{name} {arg} names a slot that is not a cell", at)
        elif op in table.hascompare:
            if arg >> rules.compare_shift >= len(table.cmp_op):
                raise BytecodeError(f"COMPARE_OP argument {arg} out of range", at)
        else:
            _check_special(name, arg, code, table, rules, at)
        result.append(ins if target is None else _with_target(ins, target))
    if code.family is LayoutFamily.PY311_ON:
        _check_prologue(result)
    return tuple(result)


# What CPython 3.11-3.13 may put before the first RESUME (the compiler's
# insert_prefix_instructions).
_PROLOGUE: Final = frozenset({"MAKE_CELL", "COPY_FREE_VARS", "RETURN_GENERATOR", "POP_TOP"})


def _check_prologue(instructions: Sequence[Instruction]) -> None:
    """3.11+ code always starts with its cell/free/generator prefix and then ``RESUME 0``.

    This is what separates a 3.13 blob from a 3.11 reading of the same bytes: opcode
    numbers were reshuffled, so the foreign reading does not start the way the compiler does.
    """
    for ins in instructions:
        if ins.opname == "RESUME":
            if ins.arg != 0:
                raise BytecodeError("the first RESUME is not RESUME 0", ins.offset)
            return
        if ins.opname not in _PROLOGUE:
            raise BytecodeError(f"{ins.opname} before the first RESUME", ins.offset)
    raise BytecodeError("3.11+ code without RESUME")


def _check_special(
    name: str, arg: int, code: CodeRecord, table: OpcodeTable, rules: _Rules, at: int
) -> None:
    """Range checks for the few opcodes whose argument indexes a fixed table."""
    if name == "BINARY_OP" and arg >= len(table.nb_ops):
        raise BytecodeError(f"BINARY_OP argument {arg} out of range", at)
    if name in ("IS_OP", "CONTAINS_OP") and arg > 1:
        raise BytecodeError(f"{name} argument {arg} is not 0 or 1", at)
    if name == "CALL_INTRINSIC_1" and not 0 < arg < len(table.intrinsic_1):
        raise BytecodeError(f"CALL_INTRINSIC_1 argument {arg} out of range", at)
    if name == "CALL_INTRINSIC_2" and not 0 < arg < len(table.intrinsic_2):
        raise BytecodeError(f"CALL_INTRINSIC_2 argument {arg} out of range", at)
    if name == "COPY_FREE_VARS" and not 0 < arg == len(code.freevars):
        raise BytecodeError("COPY_FREE_VARS count differs from co_freevars", at)
    if name == "RESUME" and arg > rules.max_resume_arg:
        raise BytecodeError(f"RESUME argument {arg} out of range", at)


def _jump_target(ins: Instruction, table: OpcodeTable, rules: _Rules, arg: int) -> int:
    """Destination byte offset, following Lib/dis of that version."""
    if ins.opcode in table.hasjabs:
        return arg * rules.jump_unit
    after = ins.offset + 2
    if rules.jump_skips_caches:
        after += 2 * ins.cache_count
    if "BACKWARD" in ins.opname:
        return after - arg * rules.jump_unit
    return after + arg * rules.jump_unit


def _with_target(ins: Instruction, target: int) -> Instruction:
    return Instruction(
        offset=ins.offset, start=ins.start, opcode=ins.opcode, opname=ins.opname, arg=ins.arg,
        extended_args=ins.extended_args, cache_count=ins.cache_count, cache=ins.cache,
        jump_target=target,
    )


def parse_exception_table(
    code: CodeRecord, instructions: Sequence[Instruction]
) -> tuple[ExceptionEntry, ...]:
    """Parse and check a 3.11+ exception table (Objects/exception_handling_notes.txt).

    Every entry starts with a byte carrying the 0x80 marker, followed by four 6-bit varints
    (start, length, target in code units; depth<<1|lasti). Ranges and handlers must sit on
    instruction boundaries: a handler inside a cache would execute attacker words.
    """
    table = code.exceptiontable
    if not table:
        return ()
    n = len(code.code)
    starts = {ins.start for ins in instructions}
    entries: list[ExceptionEntry] = []
    pos = 0
    size = len(table)

    def varint(first: bool) -> int:
        nonlocal pos
        if pos >= size:
            raise BytecodeError("truncated exception table", pos)
        b = table[pos]
        if bool(b & 0x80) != first:
            raise BytecodeError("exception table entry marker out of place", pos)
        pos += 1
        value = b & 63
        steps = 0
        while b & 64:
            if pos >= size or steps >= 4:
                raise BytecodeError("truncated or oversized exception table varint", pos)
            b = table[pos]
            if b & 0x80:
                raise BytecodeError("exception table entry marker out of place", pos)
            pos += 1
            steps += 1
            value = (value << 6) | (b & 63)
        return value

    while pos < size:
        start = varint(True) * 2
        length = varint(False) * 2
        target = varint(False) * 2
        depth_lasti = varint(False)
        end = start + length
        if length == 0 or start not in starts or not (end == n or end in starts) or end > n:
            raise BytecodeError("exception table range is not on instruction boundaries")
        if target not in starts:
            raise BytecodeError("exception handler is not an instruction start")
        entries.append(ExceptionEntry(start, end, target, depth_lasti >> 1, bool(depth_lasti & 1)))
    return tuple(entries)


def _decode_all(root: CodeRecord, table: OpcodeTable) -> tuple[DecodedCode, ...]:
    """Decode the lambda and every nested code constant, depth first, without recursion."""
    out: list[DecodedCode] = []
    seen: set[int] = set()
    work = [root]
    while work:
        code = work.pop()
        if id(code) in seen:  # a code object shared through a marshal reference
            continue
        seen.add(id(code))
        instructions = decode_instructions(code, table)
        entries = parse_exception_table(code, instructions)
        out.append(DecodedCode(code, instructions, entries))
        work.extend(c for c in reversed(code.consts) if isinstance(c, CodeRecord))
    return tuple(out)


def read_as(blob: bytes, version: str, limits: MarshalLimits = DEFAULT_LIMITS) -> Reading:
    """Read ``blob`` as code written by Python ``version``; raises a :class:`LambdaError`."""
    table = load_table(version)
    root = read_code(blob, table.family, limits)
    return Reading(version, table.family, _decode_all(root, table))


def examine(
    blob: bytes,
    versions: Iterable[str] = SUPPORTED_VERSIONS,
    limits: MarshalLimits = DEFAULT_LIMITS,
) -> Examination:
    """Try every version on ``blob``; keep the readings that pass, and why the others failed.

    Each layout family is unmarshalled once and shared by the versions that use it.
    """
    parsed: dict[LayoutFamily, CodeRecord | MarshalError] = {}
    readings: list[Reading] = []
    rejections: list[Rejection] = []
    for version in versions:
        table = load_table(version)
        family = table.family
        if family not in parsed:
            try:
                parsed[family] = read_code(blob, family, limits)
            except MarshalError as exc:
                parsed[family] = exc
        root = parsed[family]
        if isinstance(root, MarshalError):
            rejections.append(Rejection(version, family, "marshal", str(root)))
            continue
        try:
            readings.append(Reading(version, family, _decode_all(root, table)))
        except BytecodeError as exc:
            rejections.append(Rejection(version, family, "bytecode", str(exc)))
    return Examination(tuple(readings), tuple(rejections))


def candidate_readings(blob: bytes) -> list[Reading]:
    """Every (layout family, version table) reading of ``blob`` that passes all checks.

    Zero readings means deny (unreadable or malformed); several readings must be checked
    with :func:`readings_agree` and denied as ambiguous when they disagree.
    """
    return list(examine(blob).readings)


# 3.12 renamed 3.11's forward-only conditional jumps without changing what they do.
_OPNAME_ALIASES: Final = {
    "POP_JUMP_FORWARD_IF_FALSE": "POP_JUMP_IF_FALSE",
    "POP_JUMP_FORWARD_IF_TRUE": "POP_JUMP_IF_TRUE",
    "POP_JUMP_FORWARD_IF_NONE": "POP_JUMP_IF_NONE",
    "POP_JUMP_FORWARD_IF_NOT_NONE": "POP_JUMP_IF_NOT_NONE",
}


def reading_meaning(reading: Reading) -> tuple[object, ...]:
    """A version-neutral description of what a reading does, for comparing readings.

    Opcodes are compared by name and arguments by what they resolve to: the constant, the
    name, the local, the comparison, and for jumps the *index* of the target instruction
    (byte offsets differ between versions with different cache sizes).
    """
    table = load_table(reading.version)
    rules = _RULES[reading.version]
    shifts = dict(rules.name_shift)
    code_index = {id(d.code): k for k, d in enumerate(reading.codes)}
    parts: list[object] = []
    for decoded in reading.codes:
        code = decoded.code
        locals_ = code.localsplusnames if code.localsplusnames is not None else code.varnames
        cells = (code.localsplusnames if code.localsplusnames is not None
                 else code.cellvars + code.freevars)
        index = {ins.start: k for k, ins in enumerate(decoded.instructions)}
        ops: list[object] = []
        for ins in decoded.instructions:
            op, arg = ins.opcode, ins.arg
            value: object = arg
            if arg is None:
                value = None
            elif ins.jump_target is not None:
                value = ("to", index[ins.jump_target])
            elif op in table.hasconst:
                const = code.consts[arg]
                value = (("code", code_index[id(const)]) if isinstance(const, CodeRecord)
                         else const_key(const))
            elif op in table.hasname:
                shift = shifts.get(ins.opname, 0)
                value = (code.names[arg >> shift], arg & ((1 << shift) - 1))
            elif op in table.haslocal:
                value = ((locals_[arg >> 4], locals_[arg & 15]) if ins.opname in rules.pair_locals
                         else locals_[arg])
            elif op in table.hasfree:
                value = cells[arg]
            elif op in table.hascompare:
                shift = rules.compare_shift
                value = (table.cmp_op[arg >> shift], arg & ((1 << shift) - 1))
            elif ins.opname == "BINARY_OP":
                value = table.nb_ops[arg][0]
            elif ins.opname == "CALL_INTRINSIC_1":
                value = table.intrinsic_1[arg]
            ops.append((_OPNAME_ALIASES.get(ins.opname, ins.opname), value))
        parts.append((
            code.name, code.argcount, code.posonlyargcount, code.kwonlyargcount, code.flags,
            code.varnames, code.freevars, code.cellvars, tuple(ops),
        ))
    return tuple(parts)


def readings_agree(readings: Sequence[Reading]) -> bool:
    """True when every reading has the same :func:`reading_meaning` (or there are < 2).

    Two surviving readings that disagree mean the blob is valid under two versions with two
    different behaviours: the caller must deny it as ambiguous rather than pick one.
    """
    if len(readings) < 2:
        return True
    first = reading_meaning(readings[0])
    return all(reading_meaning(r) == first for r in readings[1:])
