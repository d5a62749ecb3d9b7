"""Types of the lambda analyzer: decoded code objects, their constants, and the error base.

A serialized Keras lambda is ``marshal.dumps(fn.__code__)`` from whatever CPython saved the
model. We never let CPython load it (its native unmarshaller has no verifier and crashes on crafted
input, see docs/research lambda-analysis.md section 3), so the pure-Python reader rebuilds the
code object as the plain, immutable records below instead of a native code object.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import EllipsisType, MappingProxyType
from typing import Final, TypeAlias, Union

from kerasvet.errors import KerasvetError

__all__ = [
    "LAMBDA_RULES",
    "BytecodeError",
    "CodeRecord",
    "Const",
    "FrozenSetConst",
    "JsonValue",
    "LambdaAnalysis",
    "LambdaError",
    "LambdaForm",
    "LambdaReason",
    "LayoutFamily",
    "LiftError",
    "MarshalError",
    "VerifiedLambda",
]


class LambdaError(KerasvetError):
    """Base of every refusal raised while reading a serialized lambda.

    Callers catch this one type and turn it into a deny decision (fail closed); anything
    else escaping the lambda readers is a bug in kerasvet, never a property of the input.
    """

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        """Human-readable cause, safe to print (it never embeds raw attacker bytes)."""
        self.offset = offset
        """Byte offset in the blob or in ``co_code`` where the problem was seen, if known."""
        super().__init__(reason if offset is None else f"{reason} (at offset {offset})")


class MarshalError(LambdaError):
    """The bytes are not a well-formed code object of the layout family that was tried."""


class BytecodeError(LambdaError):
    """``co_code`` does not decode cleanly under the opcode table that was tried."""


class LiftError(LambdaError):
    """The bytecode uses something outside the subset the expression lifter understands."""


class LayoutFamily(enum.Enum):
    """How a code object's fields are laid out in the marshal stream.

    CPython 3.11 replaced varnames/freevars/cellvars by ``co_localsplusnames`` plus a kinds
    byte string and added qualname and the exception table, so one blob can only be read with
    one of two layouts. Nothing in the blob says which: the reader tries both.
    """

    PY38_TO_310 = "3.8-3.10"
    """argcount, posonly, kwonly, nlocals, stacksize, flags, code, consts, names, varnames,
    freevars, cellvars, filename, name, firstlineno, lnotab/linetable."""
    PY311_ON = "3.11+"
    """argcount, posonly, kwonly, stacksize, flags, code, consts, names, localsplusnames,
    localspluskinds, filename, name, qualname, firstlineno, linetable, exceptiontable."""


@dataclass(frozen=True, slots=True)
class FrozenSetConst:
    """A ``frozenset`` constant (CPython folds ``x in {1, 2}`` into one).

    Kept as a tuple in stream order rather than a real ``frozenset`` so that nothing is
    silently merged (``{1, True}`` would collapse) and so that iteration is deterministic.
    The reader refuses duplicate items.
    """

    items: tuple[Const, ...]
    """The members, in the order the writer emitted them."""


Const: TypeAlias = Union[
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    EllipsisType,
    tuple["Const", ...],
    FrozenSetConst,
    "CodeRecord",
    None,
]
"""What a ``co_consts`` entry can be after a strict read; nested code stays a CodeRecord."""


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """A code object as data: every field the marshal stream carries, nothing executable.

    Fields that exist in only one layout family are ``None`` in the other. For 3.11+ the
    classic ``varnames``/``freevars``/``cellvars`` are derived from the locals-plus kinds the
    same way CPython derives ``co_varnames`` and friends, so later stages need not care.
    """

    family: LayoutFamily
    """The layout the record was read with."""
    argcount: int
    """Positional parameters, including positional-only ones."""
    posonlyargcount: int
    """Positional-only parameters."""
    kwonlyargcount: int
    """Keyword-only parameters."""
    nlocals: int | None
    """Declared ``co_nlocals`` (3.8-3.10 only; 3.11+ derives it from the kinds)."""
    stacksize: int
    """Declared ``co_stacksize``; CPython trusts it blindly, we only record it."""
    flags: int
    """``co_flags`` bit set (CO_OPTIMIZED, CO_GENERATOR, ...)."""
    code: bytes
    """The raw ``co_code`` bytes as serialized, inline caches included (3.11+)."""
    consts: tuple[Const, ...]
    """``co_consts``; nested code objects are CodeRecords."""
    names: tuple[str, ...]
    """``co_names``: globals, attributes and imported names used by the bytecode."""
    varnames: tuple[str, ...]
    """Local variable names, parameters first (``co_varnames``)."""
    freevars: tuple[str, ...]
    """Names of closure cells received from the enclosing scope (``co_freevars``)."""
    cellvars: tuple[str, ...]
    """Locals captured by nested scopes (``co_cellvars``)."""
    localsplusnames: tuple[str, ...] | None
    """3.11+: every fast-locals slot name, in slot order (what LOAD_FAST indexes)."""
    localspluskinds: bytes | None
    """3.11+: one kind byte per slot (CO_FAST_LOCAL 0x20, CELL 0x40, FREE 0x80, HIDDEN 0x10)."""
    filename: str
    """``co_filename`` as written by the producer (informational only)."""
    name: str
    """``co_name``; ``<lambda>`` for a lambda."""
    qualname: str | None
    """``co_qualname`` (3.11+ only)."""
    firstlineno: int
    """``co_firstlineno`` (informational only)."""
    linetable: bytes
    """``co_lnotab`` (3.8, 3.9) or ``co_linetable`` (3.10+), unparsed."""
    exceptiontable: bytes
    """``co_exceptiontable`` (3.11+); empty for 3.8-3.10."""


# -- the analysis record ------------------------------------------------------------------

JsonValue: TypeAlias = (
    bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
)
"""Plain JSON data: the only thing a lambda's defaults and closure values may be."""

LAMBDA_RULES: Final[Mapping[str, str]] = MappingProxyType({
    "KV503": "lambda-unreadable",
    "KV504": "lambda-construct-not-allowed",
    "KV505": "lambda-call-not-allowed",
    "KV506": "lambda-data-not-allowed",
    "KV507": "lambda-alias-mismatch",
    "KV508": "lambda-bandit",
})
"""Rule id to slug of every reason :func:`~kerasvet.lambdas.analyze.analyze_lambda` gives.

The engine owns the :class:`~kerasvet.findings.Rule` declarations; this table only pins the
ids so both sides agree on them.
"""


class LambdaForm(enum.Enum):
    """Where a serialized lambda was found, which fixes the shape of the value to read.

    The three shapes carry the same triple ``(code, defaults, closure)`` that Keras'
    ``func_dump`` writes; telling the analyzer which one to expect lets it refuse a value of
    the wrong shape instead of guessing.
    """

    KERAS3_LAYER = "keras3-layer"
    """The ``config`` of a Keras 3 ``__lambda__`` node written by the Lambda layer:
    ``{"code": str, "defaults": list | None, "closure": list | None}``."""
    KERAS3_VALUE = "keras3-value"
    """The ``config`` of a ``__lambda__`` node written by ``serialization_lib``:
    ``{"value": [code, defaults, closure]}``."""
    KERAS2_LIST = "keras2-list"
    """A Keras 2 / tf.keras ``function`` (``output_shape``, ``mask``) value whose
    ``*_type`` is ``"lambda"``: ``[code, defaults, closure]``."""


@dataclass(frozen=True, slots=True)
class LambdaReason:
    """One reason a lambda is denied (or, for low bandit findings, merely annotated)."""

    rule: str
    """``KV503`` ... ``KV508``, see :data:`LAMBDA_RULES`."""
    message: str
    """What was seen, for a person; never embeds raw attacker bytes."""
    severity: str | None = None
    """bandit's severity (``"low"``, ``"medium"``, ``"high"``) for KV508, else ``None``."""
    denies: bool = True
    """Whether this reason refuses the lambda; only bandit findings below the policy's
    ``bandit_severity`` are ``False`` (they are reported, not enforced)."""


@dataclass(frozen=True, slots=True)
class VerifiedLambda:
    """The lifted lambda exactly as the checker saw it, kept for :mod:`rebuild`.

    ``ast`` nodes are mutable, so the dump taken at check time travels with the node and the
    rebuilder refuses a node that no longer matches it: what runs is what was checked.
    """

    node: ast.Lambda
    """The lifted lambda without defaults (they come from the config at rebuild time)."""
    dump: str
    """``ast.dump(node)`` when it was checked."""
    parameters: tuple[str, ...]
    """Parameter names, in declaration order."""
    freevars: tuple[str, ...]
    """Closure names, in ``co_freevars`` order (the order of the config's closure list)."""
    roots: frozenset[str]
    """Policy root aliases the lambda uses (``ops``, ``np``); the only globals it sees."""
    builtins: frozenset[str]
    """Policy builtins the lambda calls; the only builtins it gets."""
    calls: tuple[str, ...]
    """Fully-qualified callables the lambda calls, sorted (``keras.ops.mean``)."""


@dataclass(frozen=True, slots=True)
class LambdaAnalysis:
    """The verdict on one serialized lambda, with everything the report and loader need."""

    allowed: bool
    """True only when no reason denies."""
    source: str | None
    """Reconstructed source with the config's defaults (``lambda x, y=3: x * y``); closure
    variables appear by name and their values are in :attr:`closure`. ``None`` when no
    reading could be lifted, or when readings disagree."""
    versions: tuple[str, ...]
    """CPython versions whose reading survived the strict checks, oldest first."""
    reasons: tuple[LambdaReason, ...]
    """Every reason found, in pipeline order (shape, data, reading, lifting, checking,
    astroid, bandit)."""
    form: LambdaForm
    """The shape the value was read as."""
    defaults: tuple[JsonValue, ...] | None = None
    """The config's defaults (a private deep copy), when they were plain JSON data."""
    closure: Mapping[str, JsonValue] = field(default_factory=lambda: MappingProxyType({}))
    """Closure name to value (a private deep copy), when the values were plain JSON data and
    matched the code's free variables one to one."""
    verified: VerifiedLambda | None = None
    """The lifted AST when it passed the allowlist check (astroid, bandit or data reasons
    may still deny the lambda); ``None`` otherwise. :mod:`rebuild` needs it."""
    resolutions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Callee as written (``ops.mean``) to the definition astroid inferred
    (``keras.src.ops.numpy.mean``), for the audit text."""
    notes: tuple[str, ...] = ()
    """Informational remarks that are not reasons (a framework astroid could not find)."""
    rejected: tuple[tuple[str, str], ...] = ()
    """``(version, why)`` for every CPython version whose reading did not survive."""
