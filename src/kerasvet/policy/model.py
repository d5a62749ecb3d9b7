"""The policy model: frozen, fully resolved (``extends`` already applied)."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kerasvet.errors import PolicyError
from kerasvet.findings import Severity
from kerasvet.limits import Limits

__all__ = [
    "JSON_TYPES",
    "NAME_TABLES",
    "ArgumentConstraint",
    "CustomKind",
    "CustomObject",
    "DenyKind",
    "DenyRule",
    "LambdaMode",
    "LambdaPolicy",
    "Policy",
    "PolicyFileError",
    "PolicyTest",
    "Removal",
]

JSON_TYPES = frozenset({"null", "bool", "int", "float", "string", "list", "object"})
"""Type names an argument constraint may list."""

NAME_TABLES = (
    "activations",
    "initializers",
    "regularizers",
    "constraints",
    "losses",
    "metrics",
    "optimizers",
)
"""Keras tables that resolve bare strings (``activation="relu"``)."""

FORBIDDEN_PATTERNS = frozenset({"path", "url"})
"""Named string patterns an argument constraint may forbid."""

REMOVABLE_SECTIONS = ("classes", "functions", "names", "custom", "arguments", "lambdas")
"""Tables a file's ``[remove]`` may take entries out of (what it inherited from parents)."""

REMOVABLE_LAMBDA_KEYS = ("calls", "builtins", "attributes", "roots")
"""Keys of ``[remove.lambdas]``: the union-merged parts of the lambda section."""


class PolicyFileError(PolicyError):
    """A problem at a known place in one policy file.

    Kept structured (file, line, location, message) so ``kerasvet policy check`` can print
    one ``file:line: where: message`` line per problem without parsing error text.
    """

    def __init__(self, path: Path, where: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.where = where
        self.message = message
        self.line = line
        place = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{place}: {where}: {message}")


class LambdaMode(enum.Enum):
    """What the policy does with serialized lambdas."""

    DENY = "deny"
    """Refuse every lambda without reading it."""
    ANALYZE = "analyze"
    """Read the bytecode statically and allow what the lambda section allows."""


@dataclass(frozen=True, slots=True)
class LambdaPolicy:
    """The ``[lambdas]`` section: what a statically analysed lambda may do."""

    mode: LambdaMode = LambdaMode.DENY
    """Deny every lambda, or analyse each one."""
    roots: Mapping[str, str] = field(default_factory=dict)
    """Global names a lambda may use, and the module each must be bound to
    (``ops = "keras.ops"``)."""
    calls: frozenset[str] = frozenset()
    """Fully-qualified callables a lambda may call (``keras.ops.mean``)."""
    builtins: frozenset[str] = frozenset()
    """Builtins a lambda may call (never use as values): ``len``, ``abs``, ..."""
    attributes: frozenset[str] = frozenset()
    """Attributes a lambda may read on values (``shape``, ``dtype``, ``ndim``, ``T``)."""
    bandit_severity: Severity = Severity.LOW
    """bandit findings at or above this severity deny the lambda."""
    max_code_chars: int = 65_536
    """Longest base64 ``code`` field read at all."""


class DenyKind(enum.Enum):
    """Which node kinds a deny rule covers."""

    CLASS = "class"
    FUNCTION = "function"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class DenyRule:
    """An explicit denial that wins over every allow rule and explains itself."""

    reason: str
    """Shown to the user: what the object does and which advisory it relates to."""
    module: str | None = None
    """Exact module, or ``None`` when ``module_prefix`` is used."""
    module_prefix: str | None = None
    """A module and everything below it (``keras.utils`` covers ``keras.utils.x``)."""
    names: frozenset[str] | None = None
    """Names covered; ``None`` covers every name in the module(s)."""
    kind: DenyKind = DenyKind.ANY
    """Classes, functions, or both."""
    advisory: str | None = None
    """The advisory or CVE id the denial answers, when there is one."""
    source: str = ""
    """Where the rule came from: ``path:line`` of its ``[[deny]]`` header (just ``path``
    when the line cannot be found)."""

    @property
    def broad(self) -> bool:
        """Whether the rule covers whole modules (no ``names``): less specific than an exact
        ``(module, name)`` allow, which a later file may therefore set against it."""
        return self.names is None

    def covers_module(self, module: str) -> bool:
        """Whether ``module`` is in this rule's reach (exact, or component-wise below a prefix)."""
        if self.module is not None:
            return module == self.module
        assert self.module_prefix is not None
        return module == self.module_prefix or module.startswith(self.module_prefix + ".")

    def matches(self, module: str | None, name: str, kind: DenyKind) -> bool:
        """Whether a node naming ``module``/``name`` of ``kind`` is denied by this rule."""
        if self.kind is not DenyKind.ANY and kind is not self.kind:
            return False
        if module is None:
            # Legacy nodes carry no module: only rules that name the object can match.
            return self.names is not None and name in self.names
        if not self.covers_module(module):
            return False
        return self.names is None or name in self.names


class CustomKind(enum.Enum):
    """What a ``[[custom]]`` entry registers."""

    CLASS = "class"
    FUNCTION = "function"


@dataclass(frozen=True, slots=True)
class CustomObject:
    """An application's own registered object (``[[custom]]``), allowed by its exact
    registered name and bound by the loader to one Python object path."""

    registered_name: str
    """``package>Name``, exactly as Keras writes it in the node's ``registered_name``."""
    module: str
    """The module the loader may import the object from (the ``object`` path's module)."""
    qualname: str
    """The object's qualified name inside ``module`` (``MyLayer``, or ``Outer.MyLayer``)."""
    kind: CustomKind = CustomKind.CLASS
    """A class (``class_name`` node) or a function (``"function"`` node)."""
    source: str = ""
    """Where the entry came from: ``path:line`` of its ``[[custom]]`` header."""

    @property
    def name(self) -> str:
        """The last part of ``qualname``: what Keras writes as ``class_name`` (or as the
        function node's ``config``)."""
        return self.qualname.rpartition(".")[2]

    @property
    def object_path(self) -> str:
        """``module.qualname``, as written in the policy's ``object`` key."""
        return f"{self.module}.{self.qualname}"


@dataclass(frozen=True, slots=True)
class Removal:
    """One entry a file's ``[remove]`` table took out of what its parents allowed.

    Kept so ``kerasvet policy show`` can say what was removed, and where; removals are
    explicit, never by omission.
    """

    section: str
    """The table: ``classes``, ``functions``, ``names``, ``custom``, ``arguments`` or
    ``lambdas.calls`` / ``lambdas.builtins`` / ``lambdas.attributes`` / ``lambdas.roots``."""
    key: str
    """The module, name table or argument target (``""`` for custom and lambda entries)."""
    name: str
    """What was removed: a class, function, bare name, registered name, argument or call."""
    source: str = ""
    """``path:line`` of the ``[remove]`` entry."""

    @property
    def shown(self) -> str:
        """``classes: keras.layers.LSTM`` style, for messages and ``policy show``."""
        target = f"{self.key}.{self.name}" if self.key else self.name
        return f"{self.section}: {target}"


@dataclass(frozen=True, slots=True)
class ArgumentConstraint:
    """Limits on one argument of a class's config."""

    types: frozenset[str] | None = None
    """Allowed JSON types; ``None`` allows any type."""
    minimum: float | None = None
    """Smallest number allowed (checked on each number inside lists as well)."""
    maximum: float | None = None
    """Largest number allowed (checked on each number inside lists as well)."""
    max_length: int | None = None
    """Longest string or list allowed."""
    enum: tuple[object, ...] | None = None
    """The only values allowed."""
    forbid: frozenset[str] = frozenset()
    """Named patterns refused in strings (``path``, ``url``)."""
    pattern: str | None = None
    """A regular expression every string (the value, or each string inside a list) must
    match in full: an allow pattern, so an unexpected spelling is refused."""
    max_items: int | None = None
    """Most items a list (or keys an object) may hold."""
    max_depth: int | None = None
    """Deepest nesting of lists and objects inside the value (a scalar is depth 0)."""
    nodes: frozenset[str] | None = None
    """When the value (or an item of a list value) is a config node, the only objects it may
    name: ``module.Class`` as Keras writes them, or a registered ``package>Name``."""
    reason: str | None = None
    """Why the constraint exists (an advisory, usually)."""
    source: str = ""
    """Where the constraint came from: ``path:line`` of its table or key (just ``path``
    when the line cannot be found)."""


@dataclass(frozen=True, slots=True)
class PolicyTest:
    """One ``[[tests]]`` case: an artifact or inline config and the verdict expected of it.

    Tests belong to the file that declares them and are not inherited through ``extends``:
    each file's own tests run against that file's effective policy.
    """

    name: str
    """Unique within its file; printed by ``kerasvet policy test``."""
    verdict: str
    """``"allow"`` or ``"deny"``."""
    artifact: Path | None = None
    """The artifact to audit, already resolved against the policy file's directory."""
    config: Mapping[str, object] | None = None
    """An inline Keras config (TOML has no null, so configs needing ``null`` use a file)."""
    rules: frozenset[str] | None = None
    """The exact set of rule ids of denying findings expected; ``None`` checks only the
    verdict."""
    source: str = ""
    """Where the test came from: ``path:line`` of its ``[[tests]]`` header."""


@dataclass(frozen=True, slots=True)
class Policy:
    """A resolved policy: what may be built from a config, and the caps on reading it."""

    name: str
    """The policy's name."""
    sha256: str
    """Hash over the policy file and every file it extends, in merge order."""
    sources: tuple[str, ...]
    """The files merged into this policy, parents first."""
    limits: Limits = field(default_factory=Limits)
    """Resource caps."""
    lambdas: LambdaPolicy = field(default_factory=LambdaPolicy)
    """What happens to serialized lambdas."""
    classes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Allowed classes: module -> class names."""
    functions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Allowed functions: module -> function names."""
    names: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Allowed bare-string references per Keras table (see ``NAME_TABLES``)."""
    deny: tuple[DenyRule, ...] = ()
    """Explicit denials, in file order."""
    arguments: Mapping[str, Mapping[str, ArgumentConstraint]] = field(default_factory=dict)
    """Argument constraints: ``"<module>.<Class>"``, a custom object's registered name
    (``"my_package>MyLayer"``) or ``"*"`` -> argument -> constraint."""
    custom: Mapping[str, CustomObject] = field(default_factory=dict)
    """The application's own registered objects: registered name -> entry."""
    description: str = ""
    """What the policy is for."""
    legacy_classes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Derived index: class name -> modules that allow it (legacy nodes carry no module)."""
    deny_by_scope: Mapping[str, tuple[tuple[int, DenyRule], ...]] = field(default_factory=dict)
    """Derived index: module or prefix -> (file position, rule); ``""`` holds the rules that
    name objects, for legacy nodes without a module."""
    tests: tuple[PolicyTest, ...] = ()
    """The ``[[tests]]`` of the top file only (tests are not inherited through ``extends``)."""
    removed: tuple[Removal, ...] = ()
    """What files' ``[remove]`` tables took out of their parents, in merge order."""
    deny_exceptions: Mapping[tuple[int, str, str, str], str] = field(default_factory=dict)
    """Derived index: (deny rule position, kind, module, name) -> ``path:line`` of the
    exact allow, in a file that extends the rule's file, that is more specific than that
    broad rule and so wins over it (an exact-name deny always wins: equal specificity)."""

    @classmethod
    def load(cls, reference: str | os.PathLike[str]) -> Policy:
        """Load a shipped policy by name (``"default"``) or a policy file by path."""
        from kerasvet.policy.load import load_policy  # the loader imports this module

        return load_policy(reference if isinstance(reference, str) else Path(reference))

    def allows_class(self, module: str, class_name: str) -> bool:
        """Exact ``(module, class_name)`` membership."""
        allowed = self.classes.get(module)
        return allowed is not None and class_name in allowed

    def allows_function(self, module: str, name: str) -> bool:
        """Exact ``(module, name)`` membership."""
        allowed = self.functions.get(module)
        return allowed is not None and name in allowed

    def legacy_class_modules(self, class_name: str) -> tuple[str, ...]:
        """Modules of allowed classes called ``class_name`` (legacy nodes have no module)."""
        return self.legacy_classes.get(class_name, ())

    def custom_object(self, registered_name: str | None) -> CustomObject | None:
        """The ``[[custom]]`` entry for ``registered_name``, if the policy has one."""
        if not registered_name:
            return None
        return self.custom.get(registered_name)

    def deny_rule_for(self, module: str | None, name: str, kind: DenyKind) -> DenyRule | None:
        """The first explicit denial matching the node, if any (in file order).

        Only the rules indexed under the module or one of its parent modules can match, so
        a lookup costs a few dictionary reads rather than a scan of every rule.
        """
        if module is None:
            candidates: list[tuple[int, DenyRule]] = list(self.deny_by_scope.get("", ()))
        else:
            candidates = []
            scope = ""
            for part in module.split("."):
                scope = f"{scope}.{part}" if scope else part
                candidates.extend(self.deny_by_scope.get(scope, ()))
        for position, rule in sorted(candidates, key=lambda item: item[0]):
            if rule.matches(module, name, kind) and not (
                    module is not None and rule.broad
                    and (position, kind.value, module, name) in self.deny_exceptions):
                return rule
        return None

    def deny_exception(self, module: str, name: str, kind: DenyKind) -> str | None:
        """The source of an exact allow that overrides a broad deny rule for this object,
        when one does (for the decision log and ``policy show``)."""
        for (_, rule_kind, rule_module, rule_name), source in self.deny_exceptions.items():
            if (rule_kind, rule_module, rule_name) == (kind.value, module, name):
                return source
        return None
