"""Lift one strict reading of a lambda back to a Python ``ast.Lambda``, over an allowlist.

Why an AST and not a verdict on bytecode: the loader never runs the attacker's bytecode. It
checks the lifted AST against policy and, if allowed, compiles *that AST* itself
(lambda-analysis.md section 6, "verify the source you run, run the source you verified"). So
a gap here can only cost fidelity (a deny, or a lambda that computes something different),
never code execution.

The lifter is a small symbolic stack machine. It understands the opcode subset of
section 6.5 across CPython 3.8-3.13 and raises :class:`~kerasvet.lambdas.model.LiftError`
for everything else (imports, stores, function creation, loops, f-strings, ``*args`` calls,
EXTENDED_ARG, yields, ...). Conditional jumps fork the machine (at most ``max_paths`` paths,
``max_steps`` steps in total) and the paths are recombined into ``IfExp``/``BoolOp``. It
also enforces the structural checks of section 6.4 first. Nothing here compiles, executes or
natively loads anything; ``ast`` nodes are only built and printed.
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass
from typing import Final

from kerasvet.lambdas.instructions import Instruction, Reading
from kerasvet.lambdas.model import CodeRecord, Const, FrozenSetConst, LiftError
from kerasvet.lambdas.opcodes import OpcodeTable, load_table

__all__ = ["DEFAULT_LIFT_LIMITS", "LiftLimits", "LiftedLambda", "lift"]


@dataclass(frozen=True, slots=True)
class LiftLimits:
    """Caps of the symbolic execution and of the structural checks (section 6.4)."""

    max_paths: int = 32
    """Most execution paths (each conditional jump adds one)."""
    max_steps: int = 5000
    """Most instructions executed over all paths."""
    max_code_bytes: int = 4096
    """Largest ``co_code`` accepted."""
    max_const_depth: int = 10
    """Deepest nesting of tuple constants."""
    max_const_string: int = 10_000
    """Longest str or bytes constant."""


DEFAULT_LIFT_LIMITS: Final = LiftLimits()
"""The limits used when the caller passes none."""


@dataclass(frozen=True, slots=True)
class LiftedLambda:
    """A lambda rebuilt as an AST from one reading."""

    version: str
    """Producer version of the reading that was lifted."""
    node: ast.Lambda
    """The reconstructed lambda, locations filled in; never compiled here."""
    source: str
    """``ast.unparse`` of ``node``, for the audit record (defaults are not included)."""
    parameters: tuple[str, ...]
    """Parameter names in declaration order (positional, keyword-only, ``*``, ``**``)."""
    freevars: tuple[str, ...]
    """Closure names the body reads; the loader binds them from the config's closure."""


class _Null:
    """The NULL a 3.11+ call sequence (and 3.8-3.10 LOAD_METHOD) puts beside the callable."""

    __slots__ = ()


_NULL: Final = _Null()

_CO_VARARGS: Final = 0x04
_CO_VARKEYWORDS: Final = 0x08
# OPTIMIZED, NEWLOCALS, VARARGS, VARKEYWORDS, NESTED, NOFREE, plus the __future__ bits
# (0x20000-0x1000000) a lambda inherits from its module; they change nothing at run time.
_ALLOWED_FLAGS: Final = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x1FE0000

_BINARY: Final[dict[str, type[ast.operator]]] = {
    "ADD": ast.Add, "SUBTRACT": ast.Sub, "MULTIPLY": ast.Mult, "TRUE_DIVIDE": ast.Div,
    "FLOOR_DIVIDE": ast.FloorDiv, "MODULO": ast.Mod, "REMAINDER": ast.Mod, "POWER": ast.Pow,
    "MATRIX_MULTIPLY": ast.MatMult, "LSHIFT": ast.LShift, "RSHIFT": ast.RShift,
    "AND": ast.BitAnd, "OR": ast.BitOr, "XOR": ast.BitXor,
}
_UNARY: Final[dict[str, type[ast.unaryop]]] = {
    "UNARY_NEGATIVE": ast.USub, "UNARY_NOT": ast.Not, "UNARY_INVERT": ast.Invert,
    "UNARY_POSITIVE": ast.UAdd,
}
_COMPARE: Final[dict[str, type[ast.cmpop]]] = {
    "<": ast.Lt, "<=": ast.LtE, "==": ast.Eq, "!=": ast.NotEq, ">": ast.Gt, ">=": ast.GtE,
    "in": ast.In, "not in": ast.NotIn, "is": ast.Is, "is not": ast.IsNot,
}
_COMPARE_SHIFT: Final = {"3.12": 4, "3.13": 5}
_NO_EFFECT: Final = frozenset({"NOP", "PRECALL", "TO_BOOL", "COPY_FREE_VARS"})
# Conditional jumps: name -> (pops the condition?, which branch runs when it is truthy
# ("fall" or "jump"), test kind). 3.11 spells the forward ones POP_JUMP_FORWARD_IF_*.
_BRANCHES: Final[dict[str, tuple[bool, str, str]]] = {
    "POP_JUMP_IF_FALSE": (True, "fall", "truth"),
    "POP_JUMP_IF_TRUE": (True, "jump", "truth"),
    "POP_JUMP_IF_NONE": (True, "fall", "not_none"),
    "POP_JUMP_IF_NOT_NONE": (True, "fall", "none"),
    "JUMP_IF_FALSE_OR_POP": (False, "fall", "truth"),
    "JUMP_IF_TRUE_OR_POP": (False, "jump", "truth"),
}


@dataclass(slots=True)
class _Path:
    """One symbolic execution path: where it is, its stack, and where its result goes."""

    index: int
    stack: list[object]
    kwnames: tuple[str, ...] | None
    fork: int | None
    branch: int


@dataclass(slots=True)
class _Fork:
    """A conditional jump waiting for the results of both of its paths."""

    test: ast.expr
    truthy: str
    results: list[ast.expr | None]
    parent: int | None
    parent_branch: int


def lift(reading: Reading, limits: LiftLimits = DEFAULT_LIFT_LIMITS) -> LiftedLambda:
    """Rebuild the lambda of ``reading`` as an AST, or raise :class:`LiftError`."""
    decoded = reading.root
    code = decoded.code
    table = load_table(reading.version)
    parameters = _check_structure(code, decoded.exception_table != (), limits)
    body = _Machine(reading.version, table, code, decoded.instructions, parameters,
                    limits).run()
    node = ast.Lambda(args=_arguments(code, parameters), body=body)
    ast.fix_missing_locations(node)
    return LiftedLambda(reading.version, node, ast.unparse(node), parameters, code.freevars)


def _check_structure(code: CodeRecord, has_handlers: bool, limits: LiftLimits) -> tuple[str, ...]:
    """Section 6.4: what a plain expression lambda looks like; returns its parameter names."""
    if code.name != "<lambda>":
        raise LiftError(f"code object is named {code.name!r}, not <lambda>")
    if code.flags & ~_ALLOWED_FLAGS:
        raise LiftError(f"code flags 0x{code.flags:x} include generator or unknown bits")
    if has_handlers or code.exceptiontable:
        raise LiftError("lambda has an exception table")
    if code.cellvars:
        raise LiftError("lambda has cell variables")
    if any(isinstance(c, CodeRecord) for c in code.consts):
        raise LiftError("lambda contains nested code (a lambda, generator or comprehension)")
    if len(code.code) > limits.max_code_bytes:
        raise LiftError(f"bytecode of {len(code.code)} bytes exceeds {limits.max_code_bytes}")
    for name in (*code.varnames, *code.freevars, *code.names):
        if not name.isidentifier() or keyword.iskeyword(name):
            raise LiftError(f"{name!r} is not a plain identifier")
    count = (code.argcount + code.kwonlyargcount + bool(code.flags & _CO_VARARGS)
             + bool(code.flags & _CO_VARKEYWORDS))
    return code.varnames[:count]


def _arguments(code: CodeRecord, parameters: tuple[str, ...]) -> ast.arguments:
    names = list(parameters)
    positional = [ast.arg(arg=n) for n in names[:code.argcount]]
    rest = names[code.argcount:]
    kwonly = [ast.arg(arg=n) for n in rest[:code.kwonlyargcount]]
    rest = rest[code.kwonlyargcount:]
    vararg = ast.arg(arg=rest.pop(0)) if code.flags & _CO_VARARGS else None
    kwarg = ast.arg(arg=rest.pop(0)) if code.flags & _CO_VARKEYWORDS else None
    return ast.arguments(
        posonlyargs=positional[:code.posonlyargcount], args=positional[code.posonlyargcount:],
        vararg=vararg, kwonlyargs=kwonly, kw_defaults=[None] * len(kwonly), kwarg=kwarg,
        defaults=[],
    )


class _Machine:
    """The symbolic interpreter; one instance lifts one code object once."""

    def __init__(self, version: str, table: OpcodeTable, code: CodeRecord,
                 instructions: tuple[Instruction, ...], parameters: tuple[str, ...],
                 limits: LiftLimits) -> None:
        self.version = version
        self.table = table
        self.code = code
        self.instructions = instructions
        self.parameters = frozenset(parameters)
        self.limits = limits
        self.index_of = {ins.start: k for k, ins in enumerate(instructions)}
        self.null_above = version == "3.13"  # 3.13 calls: [callable, NULL, args...]
        self.forks: list[_Fork] = []
        self.steps = 0
        self.locals_ = (code.localsplusnames if code.localsplusnames is not None
                        else code.varnames)
        self.cells = (code.localsplusnames if code.localsplusnames is not None
                      else code.cellvars + code.freevars)

    def run(self) -> ast.expr:
        """Execute every path; combine the results bottom-up; return the lambda body."""
        work = [_Path(0, [], None, None, 0)]
        result: ast.expr | None = None
        while work:
            path = work.pop()
            value = self._walk(path, work)
            if value is None:
                continue
            fork, branch = path.fork, path.branch
            while True:
                if fork is None:
                    result = value
                    break
                node = self.forks[fork]
                node.results[branch] = value
                if any(r is None for r in node.results):
                    break
                value = _combine(node)
                fork, branch = node.parent, node.parent_branch
        if result is None:
            raise LiftError("lambda never returns")
        return result

    def _walk(self, path: _Path, work: list[_Path]) -> ast.expr | None:
        """Run one path until it returns (its value) or forks (None; the halves are queued)."""
        stack = path.stack
        while True:
            if path.index >= len(self.instructions):
                raise LiftError("execution runs off the end of the code")
            self.steps += 1
            if self.steps > self.limits.max_steps:
                raise LiftError(f"more than {self.limits.max_steps} steps")
            ins = self.instructions[path.index]
            name = ins.opname
            path.index += 1
            if ins.extended_args:
                raise LiftError("EXTENDED_ARG is outside the lambda subset")
            if name in ("RETURN_VALUE", "RETURN_CONST"):
                value = (self._const(ins) if name == "RETURN_CONST" else _expr(self._pop(stack)))
                if stack:
                    raise LiftError("values left on the stack at return")
                return value
            if name in ("JUMP_FORWARD", "JUMP_ABSOLUTE"):
                path.index = self._target(ins)
                continue
            branch = _BRANCHES.get(name.replace("_FORWARD_IF_", "_IF_"))
            if branch is not None:
                self._fork(path, ins, branch, work)
                return None
            self._step(ins, path)

    def _fork(self, path: _Path, ins: Instruction, branch: tuple[bool, str, str],
              work: list[_Path]) -> None:
        pops, truthy, kind = branch
        stack = path.stack
        cond = _expr(self._pop(stack) if pops else self._peek(stack))
        if len(self.forks) + 1 >= self.limits.max_paths:
            raise LiftError(f"more than {self.limits.max_paths} paths")
        none = ast.Constant(value=None)
        test: ast.expr = cond
        if kind == "none":
            test = ast.Compare(left=cond, ops=[ast.Is()], comparators=[none])
        elif kind == "not_none":
            test = ast.Compare(left=cond, ops=[ast.IsNot()], comparators=[none])
        self.forks.append(_Fork(test, truthy, [None, None], path.fork, path.branch))
        fork = len(self.forks) - 1
        fall_stack = list(stack)
        if not pops:
            fall_stack.pop()  # *_OR_POP: the value stays only on the jump path
        work.append(_Path(self._target(ins), list(stack), path.kwnames, fork, 1))
        work.append(_Path(path.index, fall_stack, path.kwnames, fork, 0))

    def _target(self, ins: Instruction) -> int:
        if ins.jump_target is None or ins.jump_target not in self.index_of:
            raise LiftError(f"{ins.opname} without a valid target")
        return self.index_of[ins.jump_target]

    # -- one instruction --------------------------------------------------------------------

    def _step(self, ins: Instruction, path: _Path) -> None:
        name, arg, stack = ins.opname, ins.arg, path.stack
        if name in _NO_EFFECT or (name == "RESUME" and arg == 0):
            return
        if name == "LOAD_FAST":
            stack.append(self._param(self._local(ins.arg)))
        elif name == "LOAD_FAST_LOAD_FAST":
            assert arg is not None
            stack.append(self._param(self._local(arg >> 4)))
            stack.append(self._param(self._local(arg & 15)))
        elif name == "LOAD_DEREF":
            stack.append(self._free(ins))
        elif name == "LOAD_CONST":
            stack.append(self._const(ins))
        elif name == "LOAD_GLOBAL":
            self._load_global(ins, stack)
        elif name == "LOAD_ATTR":
            self._load_attr(ins, stack)
        elif name == "LOAD_METHOD":
            self._push_method(stack, self._attribute(stack, self._name(ins.arg)))
        elif name == "PUSH_NULL":
            stack.append(_NULL)
        elif name == "KW_NAMES":
            path.kwnames = self._kwnames(self._const(ins))
        elif name in ("CALL", "CALL_METHOD", "CALL_FUNCTION", "CALL_FUNCTION_KW", "CALL_KW"):
            self._call(ins, path)
        elif name == "BINARY_OP":
            assert arg is not None
            op_name = self.table.nb_ops[arg][0].removeprefix("NB_")
            self._binary(stack, op_name)
        elif name.startswith("BINARY_") and name[7:] in _BINARY:
            self._binary(stack, name[7:])
        elif name == "BINARY_SUBSCR":
            index = self._pop(stack)
            value = _expr(self._pop(stack))
            stack.append(ast.Subscript(value=value, slice=_index(index), ctx=ast.Load()))
        elif name == "BINARY_SLICE":
            upper, lower = self._pop(stack), self._pop(stack)
            value = _expr(self._pop(stack))
            stack.append(ast.Subscript(value=value, slice=_slice(lower, upper, None),
                                       ctx=ast.Load()))
        elif name == "BUILD_SLICE":
            assert arg is not None
            step = self._pop(stack) if arg == 3 else None
            upper, lower = self._pop(stack), self._pop(stack)
            stack.append(_slice(lower, upper, step))
        elif name in _UNARY:
            stack.append(ast.UnaryOp(op=_UNARY[name](), operand=_expr(self._pop(stack))))
        elif name == "CALL_INTRINSIC_1" and arg == 5:  # INTRINSIC_UNARY_POSITIVE
            stack.append(ast.UnaryOp(op=ast.UAdd(), operand=_expr(self._pop(stack))))
        elif name in ("COMPARE_OP", "IS_OP", "CONTAINS_OP"):
            self._compare(ins, stack)
        elif name in ("BUILD_TUPLE", "BUILD_LIST", "BUILD_SET"):
            assert arg is not None
            raw = self._pop_n(stack, arg)
            # ``x[:, 0]`` builds a tuple holding a slice; it may only be used as an index.
            items = ([_index_item(v) for v in raw] if name == "BUILD_TUPLE"
                     else [_expr(v) for v in raw])
            stack.append(ast.Tuple(elts=items, ctx=ast.Load()) if name == "BUILD_TUPLE"
                         else ast.List(elts=items, ctx=ast.Load()) if name == "BUILD_LIST"
                         else ast.Set(elts=items))
        elif name == "BUILD_MAP":
            assert arg is not None
            flat = [_expr(v) for v in self._pop_n(stack, 2 * arg)]
            keys: list[ast.expr | None] = list(flat[0::2])
            stack.append(ast.Dict(keys=keys, values=flat[1::2]))
        elif name == "BUILD_CONST_KEY_MAP":
            assert arg is not None
            key_tuple = self._pop(stack)
            values = [_expr(v) for v in self._pop_n(stack, arg)]
            if not isinstance(key_tuple, ast.Tuple) or len(key_tuple.elts) != arg:
                raise LiftError("BUILD_CONST_KEY_MAP without a constant key tuple")
            stack.append(ast.Dict(keys=list(key_tuple.elts), values=values))
        elif name in ("LIST_EXTEND", "SET_UPDATE") and arg == 1:
            self._extend(name, stack)
        elif name == "COPY" and arg == 1:
            stack.append(self._peek(stack))
        elif name == "POP_TOP":
            self._discard(self._pop(stack), path)
        else:
            raise LiftError(f"{name} is outside the lambda subset")

    # -- helpers ----------------------------------------------------------------------------

    def _pop(self, stack: list[object]) -> object:
        if not stack:
            raise LiftError("stack underflow")
        return stack.pop()

    def _peek(self, stack: list[object]) -> object:
        if not stack:
            raise LiftError("stack underflow")
        return stack[-1]

    def _pop_n(self, stack: list[object], n: int) -> list[object]:
        if n > len(stack):
            raise LiftError("stack underflow")
        if n == 0:
            return []
        items = stack[-n:]
        del stack[-n:]
        return items

    def _discard(self, value: object, path: _Path) -> None:
        """POP_TOP may only drop a value that is also a branch condition or side-effect free.

        ``a and b`` keeps ``a`` both as the test and on the stack (COPY 1); anything else
        popped would vanish from the lifted AST, so the rebuilt lambda would differ.
        """
        if isinstance(value, (ast.Name, ast.Constant)):
            return
        fork = path.fork
        while fork is not None:
            test = self.forks[fork].test
            if test is value or (isinstance(test, ast.Compare) and test.left is value):
                return
            fork = self.forks[fork].parent
        raise LiftError("POP_TOP discards a computed value")

    def _local(self, index: int | None) -> str:
        assert index is not None
        return self.locals_[index]

    def _param(self, name: str) -> ast.expr:
        if name not in self.parameters:
            raise LiftError(f"LOAD_FAST of {name!r}, which is not a parameter")
        return ast.Name(id=name, ctx=ast.Load())

    def _free(self, ins: Instruction) -> ast.expr:
        assert ins.arg is not None
        name = self.cells[ins.arg]
        if name not in self.code.freevars:
            raise LiftError(f"LOAD_DEREF of {name!r}, which is not a closure variable")
        return ast.Name(id=name, ctx=ast.Load())

    def _name(self, index: int | None) -> str:
        assert index is not None
        return self.code.names[index]

    def _const(self, ins: Instruction) -> ast.expr:
        assert ins.arg is not None
        return _const_node(self.code.consts[ins.arg], self.limits)

    def _load_global(self, ins: Instruction, stack: list[object]) -> None:
        assert ins.arg is not None
        with_null = self.table.family.value == "3.11+" and ins.arg & 1
        index = ins.arg >> 1 if self.table.family.value == "3.11+" else ins.arg
        node = ast.Name(id=self._name(index), ctx=ast.Load())
        if with_null:
            self._push_method(stack, node)
        else:
            stack.append(node)

    def _load_attr(self, ins: Instruction, stack: list[object]) -> None:
        assert ins.arg is not None
        method = self.version in ("3.12", "3.13") and ins.arg & 1
        index = ins.arg >> 1 if self.version in ("3.12", "3.13") else ins.arg
        node = self._attribute(stack, self._name(index))
        if method:
            self._push_method(stack, node)
        else:
            stack.append(node)

    def _attribute(self, stack: list[object], name: str) -> ast.expr:
        return ast.Attribute(value=_expr(self._pop(stack)), attr=name, ctx=ast.Load())

    def _push_method(self, stack: list[object], callable_: ast.expr) -> None:
        """A callable with the NULL the version's call convention expects beside it."""
        if self.null_above:
            stack.extend((callable_, _NULL))
        else:
            stack.extend((_NULL, callable_))

    def _kwnames(self, node: ast.expr) -> tuple[str, ...]:
        if not isinstance(node, ast.Tuple) or not all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
        ):
            raise LiftError("keyword names are not a constant tuple of str")
        names = tuple(str(e.value) for e in node.elts if isinstance(e, ast.Constant))
        for n in names:
            if not n.isidentifier() or keyword.iskeyword(n):
                raise LiftError(f"keyword {n!r} is not a plain identifier")
        return names

    def _call(self, ins: Instruction, path: _Path) -> None:
        name, stack = ins.opname, path.stack
        assert ins.arg is not None
        kwnames: tuple[str, ...] = ()
        if name in ("CALL_FUNCTION_KW", "CALL_KW"):
            kwnames = self._kwnames(_expr(self._pop(stack)))
        elif name == "CALL" and path.kwnames is not None:
            kwnames, path.kwnames = path.kwnames, None
        args = [_expr(v) for v in self._pop_n(stack, ins.arg)]
        if name == "CALL_FUNCTION" or name == "CALL_FUNCTION_KW":
            func = _expr(self._pop(stack))
        elif self.null_above:
            if self._pop(stack) is not _NULL:
                raise LiftError("call without NULL (a bound-method call shape)")
            func = _expr(self._pop(stack))
        else:
            func = _expr(self._pop(stack))
            if self._pop(stack) is not _NULL:
                raise LiftError("call without NULL (a bound-method call shape)")
        if len(kwnames) > len(args):
            raise LiftError("more keyword names than arguments")
        split = len(args) - len(kwnames)
        keywords = [ast.keyword(arg=k, value=v) for k, v in zip(kwnames, args[split:],
                                                                 strict=True)]
        stack.append(ast.Call(func=func, args=args[:split], keywords=keywords))

    def _binary(self, stack: list[object], op_name: str) -> None:
        if op_name not in _BINARY:
            raise LiftError(f"binary operator {op_name} is outside the lambda subset")
        right = _expr(self._pop(stack))
        left = _expr(self._pop(stack))
        stack.append(ast.BinOp(left=left, op=_BINARY[op_name](), right=right))

    def _compare(self, ins: Instruction, stack: list[object]) -> None:
        assert ins.arg is not None
        right = _expr(self._pop(stack))
        left = _expr(self._pop(stack))
        op: ast.cmpop
        if ins.opname == "IS_OP":
            op = ast.IsNot() if ins.arg else ast.Is()
        elif ins.opname == "CONTAINS_OP":
            op = ast.NotIn() if ins.arg else ast.In()
        else:
            text = self.table.cmp_op[ins.arg >> _COMPARE_SHIFT.get(self.version, 0)]
            if text not in _COMPARE:
                raise LiftError(f"comparison {text!r} is outside the lambda subset")
            op = _COMPARE[text]()
        stack.append(ast.Compare(left=left, ops=[op], comparators=[right]))

    def _extend(self, name: str, stack: list[object]) -> None:
        """``[1, 2, 3]``/``{1, 2}`` from 3.9 on: an empty literal extended by a constant."""
        items = self._pop(stack)
        target = self._peek(stack)
        if name == "LIST_EXTEND":
            if not isinstance(target, ast.List) or not isinstance(items, ast.Tuple):
                raise LiftError("LIST_EXTEND of something other than constants")
            stack[-1] = ast.List(elts=[*target.elts, *items.elts], ctx=ast.Load())
        else:
            if not isinstance(target, ast.Set) or not isinstance(items, ast.Set):
                raise LiftError("SET_UPDATE of something other than constants")
            stack[-1] = ast.Set(elts=[*target.elts, *items.elts])


def _expr(value: object) -> ast.expr:
    """A stack value used as an ordinary expression (not a NULL, not a slice)."""
    if isinstance(value, ast.Slice) or not isinstance(value, ast.expr):
        raise LiftError("a call marker or slice is used as a value")
    if isinstance(value, ast.Tuple) and any(isinstance(e, ast.Slice) for e in value.elts):
        raise LiftError("a tuple of slices is used outside a subscript")
    return value


def _index_item(value: object) -> ast.expr:
    """An element of a tuple that may end up as a subscript index: slices allowed."""
    return value if isinstance(value, ast.Slice) else _expr(value)


def _index(value: object) -> ast.expr:
    """A subscript index: an expression, a slice, or a tuple that may contain slices."""
    if isinstance(value, ast.Slice):
        return value
    if isinstance(value, ast.Tuple):
        return value
    return _expr(value)


def _slice(lower: object, upper: object, step: object) -> ast.Slice:
    def part(value: object) -> ast.expr | None:
        if value is None:
            return None
        node = _expr(value)
        return None if isinstance(node, ast.Constant) and node.value is None else node

    return ast.Slice(lower=part(lower), upper=part(upper), step=part(step))


def _combine(fork: _Fork) -> ast.expr:
    """Both paths of a conditional jump have returned: build the expression they form."""
    fall, jump = fork.results
    assert fall is not None
    assert jump is not None
    body, orelse = (fall, jump) if fork.truthy == "fall" else (jump, fall)
    test = fork.test
    # COPY/JUMP_IF_*_OR_POP keep the *same* node as condition and result: that is and/or.
    if orelse is test:
        return _boolop(ast.And, test, body)
    if body is test:
        return _boolop(ast.Or, test, orelse)
    return ast.IfExp(test=test, body=body, orelse=orelse)


def _boolop(kind: type[ast.boolop], left: ast.expr, right: ast.expr) -> ast.expr:
    values = [left]
    if isinstance(right, ast.BoolOp) and isinstance(right.op, kind):
        values.extend(right.values)
    else:
        values.append(right)
    return ast.BoolOp(op=kind(), values=values)


def _const_node(value: Const, limits: LiftLimits) -> ast.expr:
    """A constant as an AST literal, iteratively, within depth and length caps."""
    if isinstance(value, CodeRecord):
        raise LiftError("code object used as a value")
    if not isinstance(value, (tuple, FrozenSetConst)):
        if isinstance(value, (str, bytes)) and len(value) > limits.max_const_string:
            raise LiftError("constant string too long")
        return ast.Constant(value=value)
    # Explicit stack of (container, depth, built children) to avoid recursion.
    root: list[ast.expr] = []
    work: list[tuple[Const, int, list[ast.expr]]] = [(value, 0, root)]
    while work:
        item, depth, sink = work.pop()
        if depth > limits.max_const_depth:
            raise LiftError("constant nested too deeply")
        if isinstance(item, CodeRecord):
            raise LiftError("code object inside a constant")
        if isinstance(item, (tuple, FrozenSetConst)):
            members = item if isinstance(item, tuple) else item.items
            children: list[ast.expr] = []
            if isinstance(item, FrozenSetConst) and not item.items:
                raise LiftError("empty frozenset constant")
            sink.append(ast.Tuple(elts=children, ctx=ast.Load()) if isinstance(item, tuple)
                        else ast.Set(elts=children))
            work.extend((m, depth + 1, children) for m in reversed(members))
            continue
        if isinstance(item, (str, bytes)) and len(item) > limits.max_const_string:
            raise LiftError("constant string too long")
        sink.append(ast.Constant(value=item))
    return root[0]
