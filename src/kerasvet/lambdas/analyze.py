"""Judge one serialized Keras lambda: read, lift, check, resolve, scan; never run it.

This is the entry point the engine calls for every lambda it finds. The pipeline
(lambda-analysis.md section 6), each step only able to add reasons:

1. shape: the value must be the ``(code, defaults, closure)`` triple in the form the caller
   found it in (:class:`~kerasvet.lambdas.model.LambdaForm`);
2. data: defaults and closure values must be plain, bounded JSON data (KV506);
3. code: strict base64 within ``policy.max_code_chars``, then the pure-Python marshal reader
   under every supported CPython version; no surviving reading, or readings that disagree,
   is KV503 (a reading that only failed because the bytecode loops is KV504);
4. lift every surviving reading to an ``ast.Lambda``; a refused construct is KV504, and
   lifts that differ between versions are KV503;
5. the allowlist check against the policy (KV505, KV506, KV504);
6. astroid resolves the allowed dotted calls (KV507), only when nothing denied so far;
7. bandit scans the reconstructed source (KV508; below ``bandit_severity`` it only
   annotates).

Every exception raised inside a step becomes a reason of that step's rule: the function
returns an analysis for any input and never raises.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from kerasvet.lambdas.check import check_lambda
from kerasvet.lambdas.instructions import Examination, decode_instructions, examine
from kerasvet.lambdas.lift import LiftedLambda, lift
from kerasvet.lambdas.marshal_reader import decode_code_field, read_code
from kerasvet.lambdas.model import (
    CodeRecord,
    JsonValue,
    LambdaAnalysis,
    LambdaError,
    LambdaForm,
    LambdaReason,
    VerifiedLambda,
)
from kerasvet.lambdas.opcodes import load_table
from kerasvet.lambdas.resolve import DEFAULT_RESOLVE_BUDGET, resolve_calls
from kerasvet.policy.model import LambdaPolicy

__all__ = ["DataLimits", "analyze_lambda"]


@dataclass(frozen=True, slots=True)
class DataLimits:
    """Bounds on a lambda's defaults and closure values (each list checked on its own)."""

    max_depth: int = 16
    """Deepest nesting of lists and dicts."""
    max_items: int = 10_000
    """Most values, containers included."""
    max_string: int = 10_000
    """Longest string (or dict key)."""
    max_int_bits: int = 1024
    """Largest integer magnitude, in bits."""


_DATA_LIMITS: Final = DataLimits()
_LAYER_KEYS: Final = frozenset({"code", "defaults", "closure"})
_CO_VARARGS: Final = 0x04


@dataclass(slots=True)
class _State:
    """What the pipeline has found so far; frozen into a LambdaAnalysis at the end."""

    form: LambdaForm
    reasons: list[LambdaReason] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    versions: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()
    defaults: tuple[JsonValue, ...] | None = None
    closure: dict[str, JsonValue] = field(default_factory=dict)
    source: str | None = None
    verified: VerifiedLambda | None = None
    resolutions: dict[str, str] = field(default_factory=dict)

    def deny(self, rule: str, message: str) -> None:
        self.reasons.append(LambdaReason(rule, message))

    @property
    def denied(self) -> bool:
        return any(r.denies for r in self.reasons)

    def freeze(self) -> LambdaAnalysis:
        return LambdaAnalysis(
            allowed=not self.denied,
            source=self.source,
            versions=self.versions,
            reasons=tuple(self.reasons),
            form=self.form,
            defaults=self.defaults,
            closure=MappingProxyType(dict(self.closure)),
            verified=self.verified,
            resolutions=MappingProxyType(dict(self.resolutions)),
            notes=tuple(self.notes),
            rejected=self.rejected,
        )


def analyze_lambda(
    value: object,
    form: LambdaForm,
    policy: LambdaPolicy,
    *,
    use_astroid: bool = True,
    use_bandit: bool = True,
    resolve_budget: float = DEFAULT_RESOLVE_BUDGET,
) -> LambdaAnalysis:
    """Analyse one serialized lambda found in ``form`` under ``policy``; never raises.

    ``policy.mode`` is not consulted (a ``deny`` policy is the caller's short cut).
    ``use_astroid``/``use_bandit`` exist for measurements and tests; both default on.
    """
    state = _State(form)
    try:
        _pipeline(state, value, policy, use_astroid, use_bandit, resolve_budget)
    except Exception as exc:  # a bug in kerasvet, never a reason to allow
        state.deny("KV503", f"internal error while analysing the lambda: "
                   f"{type(exc).__name__}: {exc}")
    return state.freeze()


def _pipeline(state: _State, value: object, policy: LambdaPolicy, use_astroid: bool,
              use_bandit: bool, resolve_budget: float) -> None:
    unpacked = _unpack(value, state.form)
    if isinstance(unpacked, str):
        state.deny("KV503", unpacked)
        return
    code_text, raw_defaults, raw_closure = unpacked
    defaults = _json_list(raw_defaults, "defaults", state)
    closure = _json_list(raw_closure, "closure", state)
    state.defaults = defaults

    if not isinstance(code_text, str):
        state.deny("KV503", f"the code field is a {type(code_text).__name__}, not a string")
        return
    if len(code_text) > policy.max_code_chars:
        state.deny("KV503", f"the code field has {len(code_text)} characters, more than "
                   f"the policy's {policy.max_code_chars}")
        return
    try:
        blob = decode_code_field(code_text, max_chars=policy.max_code_chars)
    except LambdaError as exc:
        state.deny("KV503", f"the code field is not strict base64: {exc}")
        return

    try:
        examination = examine(blob)
    except Exception as exc:
        state.deny("KV503", f"the marshal reader failed: {type(exc).__name__}: {exc}")
        return
    state.versions = examination.versions
    state.rejected = tuple((r.version, f"{r.stage}: {r.reason}")
                           for r in examination.rejections)
    if not examination.readings:
        _no_reading(state, blob, examination)
        return
    if not examination.agree:
        state.deny("KV503", "the blob reads as valid code under CPython "
                   f"{', '.join(examination.versions)} with different meanings")
        return

    lifted = _lift_all(state, examination)
    if lifted is None:
        return
    _bind_data(state, lifted, defaults, closure)

    try:
        result = check_lambda(lifted.node, policy, lifted.freevars)
    except Exception as exc:
        state.deny("KV504", f"the lambda cannot be checked: {type(exc).__name__}: {exc}")
        return
    state.reasons.extend(result.reasons)
    state.source = _source_with_defaults(lifted.node, state.defaults, state)
    if not result.reasons:
        # Only an AST that passed the allowlist is kept for rebuilding, so even an analysis
        # whose ``allowed`` flag was forged cannot get a refused construct compiled.
        state.verified = VerifiedLambda(
            node=lifted.node, dump=ast.dump(lifted.node), parameters=lifted.parameters,
            freevars=lifted.freevars, roots=result.roots, builtins=result.builtins,
            calls=tuple(sorted({c.qualified for c in result.calls})),
        )

    if use_astroid and not state.denied and result.calls:
        resolution = resolve_calls(result.calls, policy.roots, lifted.source,
                                   budget=resolve_budget)
        state.reasons.extend(resolution.reasons)
        state.notes.extend(resolution.notes)
        state.resolutions.update(resolution.resolutions)
    if use_bandit and state.source is not None:
        from kerasvet.lambdas.bandit_check import bandit_reasons

        state.reasons.extend(bandit_reasons(state.source, policy.bandit_severity))


# -- step 1: shape ---------------------------------------------------------------------------


def _unpack(value: object, form: LambdaForm) -> tuple[object, object, object] | str:
    """The ``(code, defaults, closure)`` triple, or why ``value`` has the wrong shape."""
    if form is LambdaForm.KERAS3_LAYER:
        if not isinstance(value, dict):
            return f"a Keras 3 lambda config must be an object, not {_kind(value)}"
        if set(value) != _LAYER_KEYS:
            return ("a Keras 3 lambda config must have exactly the keys code, defaults and "
                    f"closure; it has {_key_list(value)}")
        return value["code"], value["defaults"], value["closure"]
    if form is LambdaForm.KERAS3_VALUE:
        if not isinstance(value, dict):
            return f"a Keras 3 lambda config must be an object, not {_kind(value)}"
        if set(value) != {"value"}:
            return f"a Keras 3 lambda config must have only the key value; it has " \
                   f"{_key_list(value)}"
        return _triple(value["value"], "the value of a Keras 3 lambda config")
    if form is LambdaForm.KERAS2_LIST:
        return _triple(value, "a Keras 2 lambda")
    return f"unknown lambda form {form!r}"


def _triple(value: object, what: str) -> tuple[object, object, object] | str:
    if not isinstance(value, list) or len(value) != 3:
        size = f" of {len(value)}" if isinstance(value, list) else ""
        return f"{what} must be a list [code, defaults, closure], not {_kind(value)}{size}"
    return value[0], value[1], value[2]


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _key_list(value: dict[object, object]) -> str:
    keys = sorted(repr(k)[:40] for k in list(value)[:10])
    return ", ".join(keys) + (", ..." if len(value) > 10 else "") if keys else "none"


# -- step 2: data ----------------------------------------------------------------------------


def _json_list(value: object, what: str, state: _State) -> tuple[JsonValue, ...] | None:
    """A private copy of the defaults or closure list, or ``None`` (with KV506 if bad)."""
    if value is None:
        return None
    if not isinstance(value, list):
        state.deny("KV506", f"{what} must be a list or null, not {_kind(value)}")
        return None
    problem = _data_problem(value, what, _DATA_LIMITS)
    if problem is not None:
        state.deny("KV506", problem)
        return None
    return tuple(copy.deepcopy(value))


def _data_problem(root: list[object], what: str, limits: DataLimits) -> str | None:
    """Why ``root`` is not plain bounded JSON data, or ``None``; iterative."""
    work: list[tuple[object, str, int]] = [(root, what, 0)]
    count = 0
    while work:
        item, where, depth = work.pop()
        count += 1
        if count > limits.max_items:
            return f"{what} hold more than {limits.max_items} values"
        kind = type(item)
        if item is None or kind is bool or kind is float:
            continue
        if kind is int:
            assert isinstance(item, int)
            if item.bit_length() > limits.max_int_bits:
                return f"{where}: an integer of more than {limits.max_int_bits} bits"
            continue
        if kind is str:
            assert isinstance(item, str)
            if len(item) > limits.max_string:
                return f"{where}: a string longer than {limits.max_string} characters"
            continue
        if kind is list or kind is dict:
            if depth >= limits.max_depth:
                return f"{where}: nested deeper than {limits.max_depth} levels"
            if isinstance(item, list):
                work.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
                continue
            assert isinstance(item, dict)
            for key, child in item.items():
                if type(key) is not str:
                    return f"{where}: a dict key of type {type(key).__name__}"
                if len(key) > limits.max_string:
                    return f"{where}: a dict key longer than {limits.max_string} characters"
                work.append((child, f"{where}[{key[:20]!r}]", depth + 1))
            continue
        return f"{where}: a {kind.__name__} is not plain JSON data"
    return None


def _bind_data(state: _State, lifted: LiftedLambda, defaults: tuple[JsonValue, ...] | None,
               closure: tuple[JsonValue, ...] | None) -> None:
    """Match the closure list to the free variables, and the defaults to the parameters."""
    freevars = lifted.freevars
    if closure is not None or freevars:
        have = 0 if closure is None else len(closure)
        if have != len(freevars):
            state.deny("KV506", f"the closure holds {have} value(s) but the lambda has "
                       f"{len(freevars)} free variable(s)")
        elif closure is not None:
            state.closure = dict(zip(freevars, closure, strict=True))
    if defaults is not None:
        args = lifted.node.args
        positional = len(args.posonlyargs) + len(args.args)
        if len(defaults) > positional:
            state.deny("KV506", f"{len(defaults)} default(s) for {positional} positional "
                       "parameter(s)")
            state.defaults = None


def _source_with_defaults(node: ast.Lambda, defaults: tuple[JsonValue, ...] | None,
                          state: _State) -> str | None:
    """``ast.unparse`` of the lambda with the config's defaults written in."""
    shown = copy.deepcopy(node)
    if defaults:
        shown.args.defaults = [_literal(v) for v in defaults]
    try:
        return ast.unparse(ast.fix_missing_locations(shown))
    except Exception as exc:
        state.deny("KV504", f"the lambda cannot be printed: {type(exc).__name__}")
        return None


def _literal(value: JsonValue) -> ast.expr:
    """A JSON value as an AST literal (depth is bounded by :class:`DataLimits`)."""
    if isinstance(value, list):
        return ast.List(elts=[_literal(v) for v in value], ctx=ast.Load())
    if isinstance(value, dict):
        keys: list[ast.expr | None] = [ast.Constant(value=k) for k in value]
        return ast.Dict(keys=keys, values=[_literal(v) for v in value.values()])
    return ast.Constant(value=value)


# -- steps 3 and 4: reading and lifting ------------------------------------------------------


def _no_reading(state: _State, blob: bytes, examination: Examination) -> None:
    """No version read the blob: a loop (KV504) if that is all that failed, else KV503."""
    for rejection in examination.rejections:
        if (rejection.stage == "bytecode" and "backward jump" in rejection.reason
                and _decodes_with_loops(blob, rejection.version)):
            state.deny("KV504", "the bytecode loops backwards (a comprehension, generator "
                       f"or loop), read as CPython {rejection.version}")
            return
    tried = "; ".join(f"{v}: {why}" for v, why in state.rejected[:6])
    state.deny("KV503", f"no CPython version reads the code strictly ({tried})")


def _decodes_with_loops(blob: bytes, version: str) -> bool:
    """Whether every code object of ``blob`` decodes as ``version`` once loops are allowed."""
    table = load_table(version)
    try:
        work: list[CodeRecord] = [read_code(blob, table.family)]
        while work:
            code = work.pop()
            decode_instructions(code, table, forward_only=False)
            work.extend(c for c in code.consts if isinstance(c, CodeRecord))
    except LambdaError:
        return False
    return True


def _lift_all(state: _State, examination: Examination) -> LiftedLambda | None:
    """Lift every surviving reading; all must lift, and to the same AST."""
    lifted: list[LiftedLambda] = []
    for reading in examination.readings:
        try:
            lifted.append(lift(reading))
        except LambdaError as exc:
            state.deny("KV504", f"{exc.reason} (read as CPython {reading.version})")
            return None
        except Exception as exc:
            state.deny("KV504", f"the lambda cannot be lifted as CPython {reading.version}: "
                       f"{type(exc).__name__}")
            return None
    if not _same(lifted):
        sources = "; ".join(f"{item.version}: {item.source[:80]}" for item in lifted)
        state.deny("KV503", f"the readings lift to different lambdas ({sources})")
        return None
    return lifted[0]


def _same(lifted: Sequence[LiftedLambda]) -> bool:
    first = ast.dump(lifted[0].node)
    return all(ast.dump(item.node) == first and item.freevars == lifted[0].freevars
               for item in lifted[1:])
