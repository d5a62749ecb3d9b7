"""Turn an allowed lambda analysis into a real function, compiled from the checked AST.

"Verify the source you run, run the source you verified" (lambda-analysis.md section 6.8):
the attacker's bytecode is never loaded. What runs is what CPython's own compiler makes of
the ``ast.Lambda`` the checker approved, in a namespace this module builds:

* globals hold only the policy roots the lambda uses, bound by the caller to real modules;
* ``__builtins__`` holds only the policy builtins the lambda calls, mapped to the real ones;
* closure variables become parameters of an outer lambda built here around the checked one,
  which is called once with the closure values, so the inner lambda gets true closure cells;
* defaults are attached from the config as a tuple (deep copies of the JSON data), as
  Keras' ``func_load`` does.

This is the one place in kerasvet that compiles and evaluates anything, and it only ever
compiles an ``ast.Expression`` it assembled itself, never text.
"""

from __future__ import annotations

import ast
import builtins
import copy
from collections.abc import Callable, Mapping
from typing import Final

from kerasvet.lambdas.model import LambdaAnalysis, LambdaError

__all__ = ["rebuild_lambda"]

_FILENAME: Final = "<kerasvet-lambda>"


def rebuild_lambda(
    analysis: LambdaAnalysis, bindings: Mapping[str, object]
) -> Callable[..., object]:
    """Compile the verified lambda of an *allowed* ``analysis`` into a function.

    ``bindings`` maps the policy's root aliases to the objects the loader binds them to
    (``{"ops": keras.ops, ...}``); only the aliases the lambda uses are taken from it. Raises
    :class:`LambdaError` for a denied analysis, a missing binding, or a verified AST that was
    changed after it was checked.
    """
    if not analysis.allowed:
        raise LambdaError("refusing to rebuild a lambda that was not allowed")
    verified = analysis.verified
    if verified is None:
        raise LambdaError("the analysis carries no verified lambda")
    node = copy.deepcopy(verified.node)
    if ast.dump(node) != verified.dump:
        raise LambdaError("the verified lambda was modified after it was checked")
    missing = sorted(verified.roots - set(bindings))
    if missing:
        raise LambdaError(f"no binding for root alias(es) {', '.join(missing)}")
    if set(analysis.closure) != set(verified.freevars):
        raise LambdaError("closure values do not match the lambda's free variables")

    namespace: dict[str, object] = {
        "__builtins__": {name: getattr(builtins, name) for name in sorted(verified.builtins)},
    }
    for alias in sorted(verified.roots):
        namespace[alias] = bindings[alias]

    body: ast.expr = node
    if verified.freevars:
        # lambda k1, k2: <the checked lambda>  -- called once with the closure values.
        body = ast.Lambda(
            args=ast.arguments(
                posonlyargs=[], args=[ast.arg(arg=name) for name in verified.freevars],
                vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[],
            ),
            body=node,
        )
    tree = ast.fix_missing_locations(ast.Expression(body=body))
    code = compile(tree, _FILENAME, "eval", dont_inherit=True)
    made = eval(code, namespace)  # noqa: S307 - our own AST, our own namespace
    if verified.freevars:
        values = [copy.deepcopy(analysis.closure[name]) for name in verified.freevars]
        made = made(*values)
    if not callable(made):
        raise LambdaError("the rebuilt expression is not a function")
    if analysis.defaults:
        made.__defaults__ = copy.deepcopy(tuple(analysis.defaults))
    result: Callable[..., object] = made
    return result
