"""The allowlist check of a lifted lambda against the policy's ``[lambdas]`` section.

Why an allowlist over the AST and not a denylist over names: the loader compiles *this* AST
in a namespace it owns (lambda-analysis.md section 6.8), so whatever the checker lets through
is exactly what can run. Every node the lambda may contain is listed below; everything else
is refused. The rules (section 6.6):

* names: the lambda's parameters and closure variables are values; a policy root alias
  (``ops``, ``np``) may only start a dotted callee; a policy builtin may only be called
  directly. Any other global name (``os``, ``__import__``, ``eval``) is refused;
* calls: the callee is either an allowed builtin, or a dotted path from a root alias whose
  fully-qualified form (alias replaced by its module) is listed in ``policy.calls``. Calling
  anything computed (``f(x)(y)``, ``x.foo()``, ``t[0](x)``) is refused, as are ``**kwargs``;
* attributes: on values, only ``policy.attributes`` (``shape``, ``dtype``, ...); a module
  path may not be used as a value (``np.pi``); no attribute starting with ``_`` anywhere;
* arithmetic whose two operands are both constants is refused: CPython folds every small
  constant expression at compile time, so one that survived folding is one whose result was
  too large to fold (``'a' * 10**9``), i.e. a denial of service.

The checker never raises for a property of the input: it returns reasons.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from kerasvet.lambdas.model import LambdaReason
from kerasvet.policy.model import LambdaPolicy

__all__ = ["MAX_AST_DEPTH", "CallSite", "CheckResult", "check_lambda", "dotted_path"]

MAX_AST_DEPTH: Final = 64
"""Deepest expression accepted. Lambdas written by people are a handful of levels deep;
the cap keeps every later recursive consumer (``ast.unparse``, astroid, bandit, CPython's
compiler) far from Python's recursion limit."""

_VALUE_NODES: Final = (
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice,
    ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Constant, ast.keyword,
)
_OPERATOR_NODES: Final = (ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.expr_context)


@dataclass(frozen=True, slots=True)
class CallSite:
    """One allowed dotted call, for astroid to resolve."""

    written: str
    """The callee as the lambda spells it (``ops.mean``)."""
    alias: str
    """The root alias it starts with (``ops``)."""
    qualified: str
    """The fully-qualified allowlist entry it matched (``keras.ops.mean``)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What the checker found: reasons, and what the lambda uses when it is allowed."""

    reasons: tuple[LambdaReason, ...]
    """KV504/KV505/KV506 reasons; empty when the lambda passes."""
    roots: frozenset[str]
    """Root aliases used by allowed dotted calls."""
    builtins: frozenset[str]
    """Allowed builtins the lambda calls."""
    calls: tuple[CallSite, ...]
    """Allowed dotted calls, in first-seen order, without duplicates."""


def dotted_path(node: ast.expr) -> tuple[str, list[str]] | None:
    """``a.b.c`` as ``("a", ["b", "c"])``; ``None`` when the chain does not end in a Name."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    attrs.reverse()
    return node.id, attrs


def check_lambda(
    node: ast.Lambda,
    policy: LambdaPolicy,
    freevars: tuple[str, ...],
) -> CheckResult:
    """Check the lifted ``node`` against ``policy``; ``freevars`` are its closure names."""
    return _Checker(node, policy, freevars).run()


def _parameters(args: ast.arguments) -> set[str]:
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names.extend(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    return set(names)


class _Checker:
    """One walk over one lambda; collects every violation instead of stopping at the first."""

    def __init__(self, node: ast.Lambda, policy: LambdaPolicy,
                 freevars: tuple[str, ...]) -> None:
        self.node = node
        self.policy = policy
        self.roots: Mapping[str, str] = policy.roots
        self.locals_ = _parameters(node.args) | set(freevars)
        self.reasons: list[LambdaReason] = []
        self.seen: set[tuple[str, str]] = set()
        self.used_roots: set[str] = set()
        self.used_builtins: set[str] = set()
        self.calls: dict[str, CallSite] = {}

    def deny(self, rule: str, message: str) -> None:
        if (rule, message) not in self.seen:
            self.seen.add((rule, message))
            self.reasons.append(LambdaReason(rule, message))

    def run(self) -> CheckResult:
        if self.node.args.defaults or any(d is not None for d in self.node.args.kw_defaults):
            self.deny("KV504", "the lifted lambda carries defaults of its own")
        # Explicit stack of (node, depth, role): role "callee" marks a Call's func, whose
        # dotted chain is judged as a whole by _callee.
        work: list[tuple[ast.AST, int, str]] = [(self.node.body, 1, "value")]
        while work:
            item, depth, role = work.pop()
            if depth > MAX_AST_DEPTH:
                self.deny("KV504", f"expression nested deeper than {MAX_AST_DEPTH} levels")
                continue
            if role == "callee":
                assert isinstance(item, ast.expr)
                self._callee(item)
                continue
            self._visit(item, depth, work)
        calls = tuple(self.calls.values())
        ok = not self.reasons
        return CheckResult(
            tuple(self.reasons),
            frozenset(self.used_roots) if ok else frozenset(),
            frozenset(self.used_builtins) if ok else frozenset(),
            calls if ok else (),
        )

    def _visit(self, item: ast.AST, depth: int, work: list[tuple[ast.AST, int, str]]) -> None:
        if isinstance(item, ast.Call):
            # Pushed in reverse so that reasons come out in source order.
            for kw in reversed(item.keywords):
                work.append((kw.value, depth + 1, "value"))
            for arg in reversed(item.args):
                work.append((arg, depth + 1, "value"))
            # The value a computed callee is taken from still needs checking: f(x)(y)
            # checks f(x) as a value after refusing the call.
            base = _callee_base(item.func)
            if base is not None:
                work.append((base, depth + 1, "value"))
            work.append((item.func, depth + 1, "callee"))
            if any(kw.arg is None for kw in item.keywords):
                self.deny("KV505", "a call passes **kwargs")
            return
        if isinstance(item, ast.Name):
            self._name_value(item.id)
            return
        if isinstance(item, ast.Attribute):
            self._attribute_value(item, depth, work)
            return
        if isinstance(item, ast.BinOp) and _constant_only(item.left) and _constant_only(
            item.right
        ):
            self.deny("KV506", "unfolded constant arithmetic "
                      f"({type(item.op).__name__} of two constants): its result was too "
                      "large for CPython to fold")
        if isinstance(item, ast.Starred):
            self.deny("KV504", "a starred expression")
            return
        if isinstance(item, ast.Dict) and any(key is None for key in item.keys):
            self.deny("KV504", "a dict display unpacks another mapping (**)")
        if not isinstance(item, (*_VALUE_NODES, *_OPERATOR_NODES)):
            self.deny("KV504", f"{type(item).__name__} is not an allowed expression")
            return
        for child in reversed(list(ast.iter_child_nodes(item))):
            work.append((child, depth + 1, "value"))

    def _name_value(self, name: str) -> None:
        if name in self.locals_:
            return
        if name in self.roots:
            self.deny("KV505", f"module alias {name!r} used as a value")
        elif name in self.policy.builtins:
            self.deny("KV505", f"builtin {name!r} used as a value (builtins may only be called)")
        else:
            self.deny("KV505", f"global name {name!r} is not allowed")

    def _attribute_value(self, item: ast.Attribute, depth: int,
                         work: list[tuple[ast.AST, int, str]]) -> None:
        if item.attr.startswith("_"):
            self.deny("KV505", f"attribute {item.attr!r} starts with an underscore")
        path = dotted_path(item)
        if path is not None and path[0] not in self.locals_ and path[0] in self.roots:
            written = ".".join([path[0], *path[1]])
            self.deny("KV505", f"module attribute {written!r} used as a value")
            for attr in path[1][:-1]:
                if attr.startswith("_"):
                    self.deny("KV505", f"attribute {attr!r} starts with an underscore")
            return
        if item.attr not in self.policy.attributes:
            self.deny("KV505", f"attribute {item.attr!r} on a value is not allowed")
        work.append((item.value, depth + 1, "value"))

    def _callee(self, func: ast.expr) -> None:
        if isinstance(func, ast.Name):
            name = func.id
            if name in self.locals_:
                self.deny("KV505", f"call of {name!r}, a value (computed callable)")
            elif name in self.policy.builtins:
                self.used_builtins.add(name)
            elif name in self.roots:
                self.deny("KV505", f"call of module alias {name!r}")
            else:
                self.deny("KV505", f"call of {name!r}, which is not an allowed builtin")
            return
        for attr in _chain_attributes(func):
            if attr.startswith("_"):
                self.deny("KV505", f"attribute {attr!r} starts with an underscore")
        path = dotted_path(func)
        if path is None:
            if isinstance(func, ast.Attribute):
                self.deny("KV505", f"call of {_short(ast.unparse(func))!r}: a method of a "
                          "computed value")
            else:
                self.deny("KV505", f"call of a computed callable ({type(func).__name__})")
            return
        written = ".".join([path[0], *path[1]])
        if path[0] in self.locals_:
            self.deny("KV505", f"call of {written!r}: a method of a value")
            return
        if path[0] not in self.roots:
            self.deny("KV505", f"call of {written!r}: {path[0]!r} is not a policy root")
            return
        alias, attrs = path
        qualified = ".".join([self.roots[alias], *attrs])
        if qualified not in self.policy.calls:
            self.deny("KV505", f"call of {written!r} ({qualified}) is not in the allowlist")
            return
        self.used_roots.add(alias)
        self.calls.setdefault(written, CallSite(written, alias, qualified))


def _chain_attributes(node: ast.expr) -> list[str]:
    """Attribute names along ``node``'s chain, outermost first, down to the first non-Attribute."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    return attrs


def _short(text: str, limit: int = 80) -> str:
    """Keep messages readable when the lambda holds a long constant."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _callee_base(func: ast.expr) -> ast.expr | None:
    """The computed value a callee hangs off, if it is not a plain dotted path.

    For ``f(x)(y)`` that is ``f(x)``; for ``x.foo()`` it is ``x``; for ``t[0](y)`` it is
    ``t[0]``. Dotted paths from a Name have no computed base.
    """
    node = func
    while isinstance(node, ast.Attribute):
        node = node.value
    if isinstance(node, ast.Name):
        return None
    return node


def _constant_only(node: ast.expr) -> bool:
    """Whether ``node`` is built from constants alone (iteratively, no recursion)."""
    work: list[ast.AST] = [node]
    while work:
        item = work.pop()
        if isinstance(item, ast.Constant):
            continue
        if isinstance(item, (ast.Tuple, ast.List, ast.Set)):
            work.extend(item.elts)
        elif isinstance(item, ast.UnaryOp):
            work.append(item.operand)
        elif isinstance(item, ast.BinOp):
            work.extend((item.left, item.right))
        else:
            return False
    return True
