"""The allowlist checker on lambdas parsed from test-side source (the analyzer lifts them)."""

from __future__ import annotations

import ast

import pytest

from kerasvet.lambdas.check import MAX_AST_DEPTH, CallSite, check_lambda, dotted_path

from ._support import POLICY


def _lambda(source: str) -> ast.Lambda:
    node = ast.parse(source, mode="eval").body
    assert isinstance(node, ast.Lambda)
    return node


def _reasons(source: str, freevars: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    result = check_lambda(_lambda(source), POLICY, freevars)
    return [(r.rule, r.message) for r in result.reasons]


@pytest.mark.parametrize(("source", "roots", "builtins", "calls"), [
    ("lambda x: x * 2", set(), set(), []),
    ("lambda x: ops.mean(x, axis=-1, keepdims=True)", {"ops"}, set(),
     [CallSite("ops.mean", "ops", "keras.ops.mean")]),
    ("lambda x: K.sum(ops.relu(x)) + keras.ops.abs(x)", {"K", "ops", "keras"}, set(),
     [CallSite("K.sum", "K", "keras.ops.sum"), CallSite("ops.relu", "ops", "keras.ops.relu"),
      CallSite("keras.ops.abs", "keras", "keras.ops.abs")]),
    ("lambda x: tf.math.l2_normalize(x, axis=-1)", {"tf"}, set(),
     [CallSite("tf.math.l2_normalize", "tf", "tensorflow.math.l2_normalize")]),
    ("lambda x: np.linalg.norm(x)", {"np"}, set(),
     [CallSite("np.linalg.norm", "np", "numpy.linalg.norm")]),
    ("lambda x: len(x.shape) + max(x.ndim, 1)", set(), {"len", "max"}, []),
    ("lambda x: x.T if x.dtype == 'float32' else -x", set(), set(), []),
    ("lambda x, y: x if y is None else x + y", set(), set(), []),
    ("lambda t: (t[0], t[1:], t[::2], {'a': t}, [1, 2], {3})", set(), set(), []),
    ("lambda x: x * k", set(), set(), []),
    ("lambda _: 0", set(), set(), []),
    ("lambda x: (1, 2) + x", set(), set(), []),
    ("lambda *a, **kw: a", set(), set(), []),
    ("lambda x: ops.relu(x) + ops.relu(-x)", {"ops"}, set(),
     [CallSite("ops.relu", "ops", "keras.ops.relu")]),
])
def test_allowed(source: str, roots: set[str], builtins: set[str],
                 calls: list[CallSite]) -> None:
    result = check_lambda(_lambda(source), POLICY, ("k",) if "k" in source else ())
    assert result.reasons == ()
    assert result.roots == frozenset(roots)
    assert result.builtins == frozenset(builtins)
    assert sorted(result.calls, key=lambda c: c.written) == sorted(calls,
                                                                   key=lambda c: c.written)


@pytest.mark.parametrize(("source", "reasons"), [
    ("lambda x: os.system('id')",
     [("KV505", "call of 'os.system': 'os' is not a policy root")]),
    ("lambda x: __import__('os')",
     [("KV505", "call of '__import__', which is not an allowed builtin")]),
    ("lambda x: eval('1')", [("KV505", "call of 'eval', which is not an allowed builtin")]),
    ("lambda x: ops.load(x)",
     [("KV505", "call of 'ops.load' (keras.ops.load) is not in the allowlist")]),
    ("lambda x: keras.src.utils.python_utils.os.system('id')",
     [("KV505", "call of 'keras.src.utils.python_utils.os.system' "
                "(keras.src.utils.python_utils.os.system) is not in the allowlist")]),
    ("lambda x: keras.ops._private(x)",
     [("KV505", "attribute '_private' starts with an underscore"),
      ("KV505", "call of 'keras.ops._private' (keras.ops._private) is not in the allowlist")]),
    ("lambda x: x.numpy()", [("KV505", "call of 'x.numpy': a method of a value")]),
    ("lambda x: x.__class__",
     [("KV505", "attribute '__class__' starts with an underscore"),
      ("KV505", "attribute '__class__' on a value is not allowed")]),
    ("lambda x: x.shape.__class__",
     [("KV505", "attribute '__class__' starts with an underscore"),
      ("KV505", "attribute '__class__' on a value is not allowed")]),
    ("lambda x: ops.relu(x).numpy()",
     [("KV505", "call of 'ops.relu(x).numpy': a method of a computed value")]),
    ("lambda x: ops.relu(x)(x)",
     [("KV505", "call of a computed callable (Call)")]),
    ("lambda t: t[0](1)", [("KV505", "call of a computed callable (Subscript)")]),
    ("lambda f: f(1)", [("KV505", "call of 'f', a value (computed callable)")]),
    ("lambda ops: ops.relu(1)", [("KV505", "call of 'ops.relu': a method of a value")]),
    ("lambda x: ops(x)", [("KV505", "call of module alias 'ops'")]),
    ("lambda x: ops", [("KV505", "module alias 'ops' used as a value")]),
    ("lambda x: np.pi * x", [("KV505", "module attribute 'np.pi' used as a value")]),
    ("lambda x: np.__dict__",
     [("KV505", "attribute '__dict__' starts with an underscore"),
      ("KV505", "module attribute 'np.__dict__' used as a value")]),
    ("lambda x: sorted(x, key=len)",
     [("KV505", "call of 'sorted', which is not an allowed builtin"),
      ("KV505", "builtin 'len' used as a value (builtins may only be called)")]),
    ("lambda x: globals()['os']",
     [("KV505", "call of 'globals', which is not an allowed builtin")]),
    ("lambda x: '{0.__class__}'.format(x)",
     [("KV505", "call of \"'{0.__class__}'.format\": a method of a computed value")]),
    ("lambda x: ().__class__.__base__.__subclasses__()",
     [("KV505", "attribute '__subclasses__' starts with an underscore"),
      ("KV505", "attribute '__base__' starts with an underscore"),
      ("KV505", "attribute '__class__' starts with an underscore"),
      ("KV505", "call of '().__class__.__base__.__subclasses__': a method of a computed "
                "value")]),
    ("lambda x: ops.mean(x, **{'axis': 1})", [("KV505", "a call passes **kwargs")]),
    ("lambda x: ops.concatenate(*x)", [("KV504", "a starred expression")]),
    ("lambda x: [i for i in x]", [("KV504", "ListComp is not an allowed expression")]),
    ("lambda x: (y := x)", [("KV504", "NamedExpr is not an allowed expression")]),
    ("lambda x: f'{x}'", [("KV504", "JoinedStr is not an allowed expression")]),
    ("lambda x: (lambda y: y)(x)",
     [("KV505", "call of a computed callable (Lambda)"),
      ("KV504", "Lambda is not an allowed expression")]),
    ("lambda x: len('a' * 1000000000)",
     [("KV506", "unfolded constant arithmetic (Mult of two constants): its result was too "
                "large for CPython to fold")]),
    ("lambda x: x + -(2 ** 100000)",
     [("KV506", "unfolded constant arithmetic (Pow of two constants): its result was too "
                "large for CPython to fold")]),
    ("lambda x: [0] * 1000000000",
     [("KV506", "unfolded constant arithmetic (Mult of two constants): its result was too "
                "large for CPython to fold")]),
    ("lambda x, y=1: x", [("KV504", "the lifted lambda carries defaults of its own")]),
    ("lambda x: {'a': 1, **x}", [("KV504", "a dict display unpacks another mapping (**)")]),
])
def test_denied(source: str, reasons: list[tuple[str, str]]) -> None:
    result = check_lambda(_lambda(source), POLICY, ())
    assert [(r.rule, r.message) for r in result.reasons] == reasons
    assert (result.roots, result.builtins, result.calls) == (frozenset(), frozenset(), ())


def test_closure_names_are_values_but_not_callables() -> None:
    assert _reasons("lambda x: x * k", ("k",)) == []
    assert _reasons("lambda x: k(x)", ("k",)) == [
        ("KV505", "call of 'k', a value (computed callable)")]
    assert _reasons("lambda x: x * k") == [("KV505", "global name 'k' is not allowed")]


def test_closure_and_parameters_shadow_roots_and_builtins() -> None:
    assert _reasons("lambda x: len * x", ("len",)) == []
    assert _reasons("lambda np: np.mean(1)") == [
        ("KV505", "call of 'np.mean': a method of a value")]


def test_repeated_violations_are_reported_once() -> None:
    assert _reasons("lambda x: eval(x) + eval(x)") == [
        ("KV505", "call of 'eval', which is not an allowed builtin")]


def test_long_constants_are_shortened_in_messages() -> None:
    text = "a" * 200
    reasons = _reasons(f"lambda x: '{text}'.upper()")
    assert reasons == [("KV505", "call of \"'" + "a" * 76 + "...\": a method of a computed "
                                 "value")]


def test_depth_cap() -> None:
    deep = "lambda x: " + "-" * (MAX_AST_DEPTH + 5) + "x"
    assert _reasons(deep) == [
        ("KV504", f"expression nested deeper than {MAX_AST_DEPTH} levels")]
    shallow = "lambda x: " + "-" * (MAX_AST_DEPTH - 2) + "x"
    assert _reasons(shallow) == []


def test_policy_without_builtins_or_attributes() -> None:
    from ._support import default_lambda_policy

    bare = default_lambda_policy(builtins=frozenset(), attributes=frozenset())
    result = check_lambda(_lambda("lambda x: len(x.shape)"), bare, ())
    assert [(r.rule, r.message) for r in result.reasons] == [
        ("KV505", "call of 'len', which is not an allowed builtin"),
        ("KV505", "attribute 'shape' on a value is not allowed"),
    ]


def test_dotted_path() -> None:
    node = ast.parse("a.b.c", mode="eval").body
    assert dotted_path(node) == ("a", ["b", "c"])
    assert dotted_path(ast.parse("f().b", mode="eval").body) is None
