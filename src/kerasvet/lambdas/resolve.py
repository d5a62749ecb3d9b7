"""Resolve a lambda's allowed dotted calls with astroid, to catch aliases that lie.

Why: the allowlist names public paths (``keras.ops.mean``), and the checker matched the
lambda's callee after replacing its root alias by the module the policy binds. What it
cannot see is what those names *are* in the installed frameworks. astroid reads their
sources (it never imports or runs them) and infers each name to the function or class that
defines it (lambda-analysis.md section 8). Two things deny (KV507):

* the callee as the lambda writes it, with the aliases imported the way the policy spells
  them (``from keras import ops``), and the allowlisted path imported directly from its own
  module (``from keras.ops import mean``) infer to different definitions: the package
  re-exports something else under the alias;
* a definition lies outside the allowlisted path's top-level package (an allowed
  ``keras...`` name that is really ``posix.system``, as astroid shows for
  ``keras.src.utils.python_utils.os.system``).

astroid only ever adds denials. Where a framework is not installed, or astroid's inference
gives up on a name (numpy ufuncs are C objects it cannot see into), the name is skipped with
a note, not denied. A failure of astroid itself (anything but its ordinary "cannot infer"
errors), or running past the time budget, denies.

All caching is astroid's own (its manager keeps parsed modules per process); this module
keeps no state between calls. The time budget is cooperative: it is checked before each
inference and between inferred values, because a running astroid inference cannot be
interrupted safely (killing it mid-way could leave astroid's caches half built).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kerasvet.lambdas.check import CallSite
from kerasvet.lambdas.model import LambdaReason

__all__ = ["DEFAULT_RESOLVE_BUDGET", "Resolution", "resolve_calls"]

DEFAULT_RESOLVE_BUDGET: Final = 10.0
"""Seconds per lambda. Warm resolution takes about a millisecond; the first lambda of a
process pays for astroid parsing the frameworks' sources (0.5-2 s for Keras and numpy)."""

_MAX_RESULTS: Final = 8
"""Most inferred values looked at per name; allowlisted names infer to one."""

_PROBE_MODULE: Final = "<kerasvet-lambda-probe>"
"""Module name of the probe sources: not importable, so it cannot shadow a real module in
astroid's cache (which keeps the first module built under each name)."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """What astroid made of a lambda's calls."""

    reasons: tuple[LambdaReason, ...]
    """KV507 denials."""
    resolutions: Mapping[str, str]
    """Callee as written to the definition(s) it inferred to (``" | "``-joined)."""
    notes: tuple[str, ...]
    """Names skipped, and why."""


class _OutOfTime(Exception):
    """The per-lambda budget ran out between two inference steps."""


def resolve_calls(
    calls: Sequence[CallSite],
    roots: Mapping[str, str],
    source: str,
    *,
    budget: float = DEFAULT_RESOLVE_BUDGET,
) -> Resolution:
    """Resolve every allowed dotted call of one lambda; never raises.

    ``source`` is the reconstructed lambda (without defaults); ``roots`` the policy's alias
    to module table. Only the aliases the calls use are imported in the probe module.
    """
    if not calls:
        return Resolution((), {}, ())
    deadline = time.monotonic() + budget
    try:
        return _resolve(calls, roots, source, deadline)
    except _OutOfTime:
        return Resolution((LambdaReason(
            "KV507", f"astroid did not finish resolving the calls within {budget:g} s"),), {}, ())
    except Exception as exc:  # astroid's own failure: fail closed
        return Resolution((LambdaReason(
            "KV507", f"astroid failed while resolving the calls: {type(exc).__name__}: "
                     f"{_short(str(exc))}"),), {}, ())


def _resolve(calls: Sequence[CallSite], roots: Mapping[str, str], source: str,
             deadline: float) -> Resolution:
    import astroid
    from astroid import exceptions as astroid_errors

    not_found = (astroid_errors.AstroidImportError,)
    cannot_infer = (astroid_errors.InferenceError, astroid_errors.UseInferenceDefault,
                    astroid_errors.AstroidImportError)
    manager = astroid.MANAGER

    def tick() -> None:
        if time.monotonic() > deadline:
            raise _OutOfTime

    aliases = sorted({c.alias for c in calls})
    missing: set[str] = set()
    for alias in aliases:
        top = roots[alias].split(".")[0]
        tick()
        try:
            manager.ast_from_module_name(top)
        except not_found:
            missing.add(alias)
    notes = [f"{roots[a].split('.')[0]} is not installed: astroid did not resolve "
             + ", ".join(sorted(c.written for c in calls if c.alias == a))
             for a in aliases if a in missing]
    present = [c for c in calls if c.alias not in missing]
    if not present:
        return Resolution((), {}, tuple(notes))

    probes: list[Any] = []
    try:
        return _compare(present, roots, source, tick, cannot_infer, notes, probes)
    finally:
        _forget(probes)


def _compare(present: Sequence[CallSite], roots: Mapping[str, str], source: str,
             tick: Callable[[], None], cannot_infer: tuple[type[BaseException], ...],
             notes: list[str], probes: list[Any]) -> Resolution:
    """Infer each callee as written and as listed, and compare the two."""
    import astroid

    lambda_module = astroid.parse(_lambda_probe(present, roots, source),
                                  module_name=_PROBE_MODULE)
    probes.append(lambda_module)
    callees = _callee_nodes(lambda_module, {c.written for c in present})
    canonical_module = astroid.parse(_canonical_probe(present), module_name=_PROBE_MODULE)
    probes.append(canonical_module)
    canonical = [stmt.value for stmt in canonical_module.body
                 if type(stmt).__name__ == "Expr"]

    reasons: list[LambdaReason] = []
    resolutions: dict[str, str] = {}
    for index, call in enumerate(present):
        written_node = callees.get(call.written)
        if written_node is None:
            raise RuntimeError(f"callee {call.written} not found in the probe module")
        as_written = _infer(written_node, tick, cannot_infer)
        as_listed = _infer(canonical[index], tick, cannot_infer)
        if as_written is None or as_listed is None:
            notes.append(f"astroid could not infer {call.written} ({call.qualified}); "
                         "not resolved")
            continue
        if any(_top_level(q) == "" for q in as_written | as_listed):
            # astroid's brain modules build stand-ins for C functions in nameless modules
            # (numpy's ``dot`` is ``.dot`` one way and ``numpy._core.multiarray.dot``
            # the other): they say nothing about where the real definition lives.
            notes.append(f"astroid resolved {call.written} ({call.qualified}) only to a "
                         f"stand-in ({_names(as_written | as_listed)}); not compared")
            continue
        if as_written != as_listed:
            reasons.append(LambdaReason(
                "KV507", f"{call.written} resolves to {_names(as_written)}, but the allowed "
                         f"{call.qualified} is {_names(as_listed)}"))
            continue
        resolutions[call.written] = _names(as_written)
        top = call.qualified.split(".")[0]
        outside = sorted(q for q in as_written if _top_level(q) != top)
        if outside:
            reasons.append(LambdaReason(
                "KV507", f"{call.written} ({call.qualified}) resolves to {_names(outside)}, "
                         f"outside {top}"))
    return Resolution(tuple(reasons), resolutions, tuple(notes))


def _forget(probes: Sequence[Any]) -> None:
    """Drop astroid's inference-cache entries keyed by this call's probe nodes.

    astroid memoises inferences in a process-wide dict keyed by node; without this, every
    analysed lambda would keep its two probe modules alive (about 8 KB each, forever).
    Entries for the frameworks' own nodes stay: they are what keeps resolution fast.
    """
    if not probes:
        return
    from astroid import context

    cache = getattr(context, "_INFERENCE_CACHE", None)
    if not isinstance(cache, dict):
        return
    mine: set[int] = set()
    work: list[Any] = list(probes)
    while work:
        node = work.pop()
        mine.add(id(node))
        work.extend(node.get_children())
    for key in [k for k in cache if isinstance(k, tuple) and k and id(k[0]) in mine]:
        del cache[key]


def _lambda_probe(calls: Iterable[CallSite], roots: Mapping[str, str], source: str) -> str:
    """The aliases imported the way the policy spells them, then the lambda itself."""
    lines = []
    for alias in sorted({c.alias for c in calls}):
        module = roots[alias]
        parent, _, leaf = module.rpartition(".")
        lines.append(f"from {parent} import {leaf} as {alias}" if parent
                     else f"import {module} as {alias}")
    lines.append(f"_kerasvet_lambda = {source}")
    return "\n".join(lines) + "\n"


def _canonical_probe(calls: Sequence[CallSite]) -> str:
    """Each allowlisted path imported from its own module, one expression per call."""
    lines = []
    for index, call in enumerate(calls):
        module, _, name = call.qualified.rpartition(".")
        lines.append(f"from {module} import {name} as _kerasvet_c{index}")
    lines.extend(f"_kerasvet_c{index}" for index in range(len(calls)))
    return "\n".join(lines) + "\n"


def _callee_nodes(module: Any, written: set[str]) -> dict[str, Any]:
    """The first Call.func node in the probe's lambda for each callee text."""
    found: dict[str, Any] = {}
    work: list[Any] = [module]
    while work:
        node = work.pop()
        if type(node).__name__ == "Call":
            text = node.func.as_string()
            if text in written and text not in found:
                found[text] = node.func
        work.extend(node.get_children())
    return found


def _infer(node: Any, tick: Callable[[], None],
           cannot_infer: tuple[type[BaseException], ...]) -> frozenset[str] | None:
    """The qualified names ``node`` infers to; ``None`` when astroid cannot tell."""
    names: set[str] = set()
    tick()
    try:
        results: Iterator[Any] = node.infer()
        for count, value in enumerate(results):
            tick()
            if count >= _MAX_RESULTS:
                break
            name = _qualified_name(value)
            if name is None:
                return None
            names.add(name)
    except cannot_infer:
        return None
    return frozenset(names) if names else None


def _qualified_name(value: Any) -> str | None:
    """A stable name for an inferred value; ``None`` for astroid's Uninferable."""
    kind = type(value).__name__
    if kind == "UninferableBase":
        return None
    if kind in ("FunctionDef", "ClassDef", "AsyncFunctionDef", "BoundMethod",
                "UnboundMethod", "Lambda"):
        return str(value.qname())
    if kind in ("Instance", "Module"):
        return f"{kind.lower()} {value.qname()}"
    # A constant or anything else a callee should never be.
    return f"<{kind}>"


def _top_level(name: str) -> str:
    """``numpy`` for ``numpy._core.fromnumeric.mean`` and for ``instance numpy.ufunc``."""
    return name.rpartition(" ")[2].split(".")[0]


def _names(names: Iterable[str]) -> str:
    return " | ".join(sorted(names))


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
