"""The resolver: turn an audited artifact into a private config and the objects Keras may use.

Keras resolves a node by asking its registries first (the custom-object scope, then the
process-wide ``GLOBAL_CUSTOM_OBJECTS``, then the caller's ``custom_objects``) and only then
its own tables. The resolver works with that order instead of against it:

* **Private copy.** Every vetted document is copied (Keras edits configs in place), and all
  substitutions happen in the copy; the documents the audit judged stay untouched.
* **Lambdas.** Each allowed lambda node is replaced by a function node naming a fresh,
  unguessable key (``kerasvet>lambda_<n>_<nonce>``); the scope maps that key to the function
  rebuilt from the verified AST, so Keras resolves the node through its registry lookup and
  its ``func_load`` is never reached. (Keras leaves a ``mask`` as it is rather than
  deserializing it, so a ``mask`` lambda is replaced by the function itself.)
* **Objects outside Keras.** Keras resolves ``keras.*`` names from its own export table; any
  other module it would refuse. A node naming an allowed non-Keras pair (a user's own layer,
  or whatever a weakened policy lists) is bound here, from the policy's table only: the
  module the policy names is imported, the name looked up, and the node is pointed at a
  fresh key in the scope. A node allowed by a ``[[custom]]`` entry is bound the same way to
  the entry's ``object`` (never to whatever a registry holds under its registered name).
  Nothing the policy does not list is ever imported.
* **Process-wide registry.** ``get_custom_objects()`` beats Keras' tables, so a registration
  under a name the config uses would substitute the class the policy allowed. Such a
  collision refuses the load (KV601) instead of silently building something else.

Everything here runs before the runtime guard is active, and imports only policy-named
modules; the lambdas themselves are compiled under the guard by the loader.
"""

from __future__ import annotations

import importlib
import json
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kerasvet.engine import Verdict
from kerasvet.findings import Finding, Location, Rule
from kerasvet.loader.model import CustomObjectNotAllowed
from kerasvet.loader.rules import LAMBDA_NOT_REBUILT, REGISTRY_SHADOWS_NAME, UNRESOLVABLE
from kerasvet.policy import Policy
from kerasvet.policy.model import CustomKind, CustomObject
from kerasvet.tree import NodeKind

if TYPE_CHECKING:
    from kerasvet.engine import Decision
    from kerasvet.lambdas.model import LambdaAnalysis
    from kerasvet.loader.vet import Vetted

__all__ = [
    "PendingLambda",
    "Plan",
    "check_custom_objects",
    "keras_resolves",
    "plan_build",
]

Container = dict[str, object] | list[object]


@dataclass(frozen=True, slots=True)
class PendingLambda:
    """An allowed lambda whose function is compiled under the guard, then put in place."""

    analysis: LambdaAnalysis
    """The analysis with the verified AST the function is compiled from."""
    key: str
    """The scope key Keras will look the function up by."""
    container: Container
    """The list or dict in the private copy that holds the node."""
    slot: str | int
    """The node's key (or index) in ``container``."""
    in_place: bool
    """Put the function itself in ``container`` (for a ``mask``), not only in the scope."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What the loader hands Keras: private configs, the scope, and lambdas to compile."""

    documents: Mapping[str, object]
    """Member name -> private copy of the vetted document, substitutions applied."""
    scope: dict[str, object]
    """The custom-object scope Keras runs in: exactly the objects the policy allows here
    (filled with the rebuilt lambdas under the guard)."""
    lambdas: tuple[PendingLambda, ...]
    """Allowed lambdas, to be rebuilt from their verified AST."""
    bindings: Mapping[str, object]
    """Policy root alias -> module object, for the lambdas that use one."""
    findings: tuple[Finding, ...]
    """Why the plan cannot be built (KV601, KV603, KV604); empty when it can."""

    @property
    def lambda_dumps(self) -> frozenset[str]:
        """``ast.dump`` of every verified lambda: the only code the guard lets compile."""
        return frozenset(p.analysis.verified.dump for p in self.lambdas
                         if p.analysis.verified is not None)


def keras_resolves(module: str) -> bool:
    """Modules Keras 3 resolves from its own export table (or its ``builtins`` shorthand)."""
    return module == "keras" or module.startswith("keras.") or module == "builtins"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _locate(root: object, pointer: str) -> tuple[Container, str | int] | None:
    """The container holding the value at ``pointer`` and its key, in a private copy."""
    if not pointer:
        return None
    tokens = [_unescape(t) for t in pointer.split("/")[1:]]
    current: object = root
    for token in tokens[:-1]:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return None
    last = tokens[-1]
    if isinstance(current, dict) and last in current:
        return current, last
    if isinstance(current, list) and last.isdigit() and int(last) < len(current):
        return current, int(last)
    return None


def _value(root: object, pointer: str) -> object:
    if not pointer:
        return root
    found = _locate(root, pointer)
    if found is None:
        return None
    container, slot = found
    return container[str(slot)] if isinstance(container, dict) else container[int(slot)]


def _strings(value: object) -> Iterator[str]:
    """Every string value in a JSON-like tree (dict keys are never deserialized)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _describe(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}" if module else str(qualname)


def _entry_object(entry: CustomObject) -> object:
    """Import a ``[[custom]]`` entry's module and walk its qualname to the object, checking
    that it is the kind of object the entry says (a class, or a plain callable)."""
    target: object = importlib.import_module(entry.module)
    for part in entry.qualname.split("."):
        target = getattr(target, part)
    is_class = isinstance(target, type)
    if entry.kind is CustomKind.CLASS and not is_class:
        raise TypeError(f"{entry.object_path} is a {type(target).__name__}, not a class")
    if entry.kind is CustomKind.FUNCTION and (is_class or not callable(target)):
        raise TypeError(f"{entry.object_path} is not a function")
    return target


def _policy_object(policy: Policy, obj: object) -> bool:
    """Whether ``obj`` is a class or function the policy allows, by its own
    ``(module, qualname)`` (in the tables or as a ``[[custom]]`` entry's object) or as the very
    object a policy pair names in an imported module."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    is_class = isinstance(obj, type)
    if isinstance(module, str) and isinstance(qualname, str):
        if is_class and policy.allows_class(module, qualname):
            return True
        if not is_class and callable(obj) and policy.allows_function(module, qualname):
            return True
        wanted = CustomKind.CLASS if is_class else CustomKind.FUNCTION
        if (is_class or callable(obj)) and any(
                (entry.module, entry.qualname, entry.kind) == (module, qualname, wanted)
                for entry in policy.custom.values()):
            return True
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str):
        return False
    table = policy.classes if is_class else policy.functions
    for table_module, names in table.items():
        imported = sys.modules.get(table_module)  # never import to answer this
        if name in names and imported is not None and getattr(imported, name, None) is obj:
            return True
    return False


def check_custom_objects(
    custom_objects: Mapping[str, object] | None, policy: Policy
) -> dict[str, object]:
    """The caller's custom objects, each of which must be allowed by the policy.

    Keras consults ``custom_objects`` before its own tables, so an object the policy does not
    list would be built in place of whatever the config names under that key.
    """
    if not custom_objects:
        return {}
    refused = [f"{name!r} ({_describe(obj)})" for name, obj in custom_objects.items()
               if not isinstance(name, str) or not _policy_object(policy, obj)]
    if refused:
        raise CustomObjectNotAllowed(
            f"custom object(s) {', '.join(refused)} are not allowed classes or functions of "
            f"policy {policy.name!r}: add each exact (module, name) pair to [classes] or "
            "[functions] of a policy that extends it, with [arguments] limits for its config"
        )
    return dict(custom_objects)


class _Planner:
    """State of planning one build; private to ``plan_build``."""

    def __init__(self, vetted: Vetted, policy: Policy, scope: dict[str, object]) -> None:
        self.vetted = vetted
        self.policy = policy
        self.scope = scope
        self.nonce = secrets.token_hex(6)
        self.count = 0
        self.findings: list[Finding] = []
        self.lambdas: list[PendingLambda] = []
        self.keys: set[str] = set()

    def key(self, kind: str) -> str:
        """A fresh scope key no config can predict (so no config string can collide)."""
        self.count += 1
        key = f"kerasvet>{kind}_{self.count}_{self.nonce}"
        self.keys.add(key)
        return key

    def refuse(self, decision: Decision, rule: Rule, message: str) -> None:
        """Record why the node at ``decision`` cannot be built."""
        self.findings.append(Finding.of(
            rule, Location(member=decision.member, pointer=decision.pointer,
                           layer=decision.layer), message))

    def lambda_node(self, decision: Decision, root: object) -> None:
        """Point an allowed lambda node at a scope key (the function comes under the guard)."""
        analysis = decision.lambda_analysis
        if analysis is None:
            return  # a Keras 2 raw output shape: data, no bytecode
        found = _locate(root, decision.pointer)
        if not analysis.allowed or analysis.verified is None or found is None:
            self.refuse(decision, LAMBDA_NOT_REBUILT,
                        "the lambda cannot be substituted at this position")
            return
        container, slot = found
        key = self.key("lambda")
        in_place = slot == "mask"
        if not in_place:
            node = {"class_name": "function", "config": key, "module": None,
                    "registered_name": None}
            if isinstance(container, dict):
                container[str(slot)] = node
            else:
                container[int(slot)] = node
        self.lambdas.append(PendingLambda(analysis=analysis, key=key, container=container,
                                          slot=slot, in_place=in_place))

    def custom_node(self, decision: Decision, node: dict[str, object],
                    entry: CustomObject) -> None:
        """Bind a node the audit allowed through a ``[[custom]]`` entry to that entry's
        object; Keras looks the fresh key up in the scope, before any registry."""
        try:
            obj = _entry_object(entry)
        except Exception as exc:  # ImportError, AttributeError, TypeError, the module's own
            self.refuse(decision, UNRESOLVABLE,
                        f"custom object {entry.registered_name!r} -> {entry.object_path} "
                        f"({entry.source}) cannot be bound ({type(exc).__name__}: {exc})")
            return
        key = self.key("custom")
        node["registered_name"] = key
        if decision.kind is NodeKind.FUNCTION:
            node["config"] = key
        self.scope[key] = obj

    def object_node(self, decision: Decision, root: object) -> None:
        """Bind a ``[[custom]]`` node to its entry, or a non-Keras class or function node
        from the policy's table."""
        module = decision.module
        function = decision.kind is NodeKind.FUNCTION
        node = _value(root, decision.pointer) if function else None
        registered = decision.registered_name
        if function and isinstance(node, dict) and isinstance(node.get("config"), str) \
                and ">" in str(node["config"]):
            registered = str(node["config"])  # Keras' spelling of a registered function
        entry = self.policy.custom_object(registered) if registered and ">" in registered \
            else None
        if entry is None and (module is None or keras_resolves(module)):
            return  # legacy nodes and keras.* names: Keras' own tables
        if node is None:
            node = _value(root, decision.pointer)
        if not isinstance(node, dict):
            self.refuse(decision, UNRESOLVABLE, "the node cannot be found in the private copy")
            return
        if entry is not None:
            self.custom_node(decision, node, entry)
            return
        assert module is not None
        name = node.get("config") if function else decision.class_name
        allowed = isinstance(name, str) and (
            self.policy.allows_function(module, name) if function
            else self.policy.allows_class(module, name))
        if not allowed:
            self.refuse(decision, UNRESOLVABLE,
                        f"{module}.{name} is not an exact pair of the policy's table")
            return
        assert isinstance(name, str)
        try:
            obj = getattr(importlib.import_module(module), name)
        except Exception as exc:  # ImportError, AttributeError, or the module's own failure
            self.refuse(decision, UNRESOLVABLE,
                        f"{module}.{name} cannot be bound ({type(exc).__name__}: {exc})")
            return
        key = self.key("object")
        node["config" if function else "registered_name"] = key
        self.scope[key] = obj

    def bindings(self) -> dict[str, object]:
        """Import the module behind each policy root alias the lambdas use."""
        roots = self.policy.lambdas.roots
        bound: dict[str, object] = {}
        for pending in self.lambdas:
            verified = pending.analysis.verified
            assert verified is not None
            for alias in sorted(verified.roots - set(bound)):
                target = roots.get(alias)
                try:
                    if target is None:
                        raise KeyError(alias)
                    bound[alias] = importlib.import_module(target)
                except Exception as exc:
                    self.findings.append(Finding.of(
                        LAMBDA_NOT_REBUILT, Location(member="<policy>"),
                        f"lambda root {alias!r} ({target}) cannot be bound "
                        f"({type(exc).__name__}: {exc})"))
        return bound

    def registry(self, documents: Mapping[str, object], registry: Mapping[str, object],
                 builtin_functions: set[str]) -> None:
        """Refuse process-wide registrations under names the config uses (KV601), and
        ``package>name`` keys that Keras' ``builtins`` fallback would match by suffix."""
        if not registry:
            return
        used: set[str] = set()
        for document in documents.values():
            used.update(_strings(document))
        used -= self.keys
        for name in sorted(registry):
            shadowed = name in used or (
                ">" in name and name.rsplit(">", 1)[1] in builtin_functions)
            if shadowed:
                self.findings.append(Finding.of(
                    REGISTRY_SHADOWS_NAME, Location(member="<process>"),
                    f"the process-wide custom object {name!r} ({_describe(registry[name])}) "
                    "would be used for a name the config refers to", value=name))


def plan_build(
    vetted: Vetted,
    policy: Policy,
    custom_objects: Mapping[str, object],
    decode: Callable[[str], object],
    registry: Mapping[str, object],
) -> Plan:
    """Copy the vetted documents with ``decode`` (``json.loads``, or Keras' legacy decoder for
    HDF5 configs) and apply every substitution; refusals are returned as findings."""
    (artifact_report,) = vetted.report.artifacts
    documents = {d.member: decode(json.dumps(d.value)) for d in vetted.artifact.documents}
    scope: dict[str, object] = dict(custom_objects)
    planner = _Planner(vetted, policy, scope)
    builtin_functions: set[str] = set()
    for decision in artifact_report.decisions:
        if decision.verdict is not Verdict.ALLOW or decision.member not in documents:
            planner.refuse(decision, UNRESOLVABLE, "the node has no allowed decision")
            continue
        root = documents[decision.member]
        if decision.kind is NodeKind.LAMBDA:
            planner.lambda_node(decision, root)
        elif decision.kind in (NodeKind.CLASS, NodeKind.FUNCTION):
            planner.object_node(decision, root)
            if decision.kind is NodeKind.FUNCTION and decision.module == "builtins":
                name = _value(root, decision.pointer)
                if isinstance(name, dict) and isinstance(name.get("config"), str):
                    builtin_functions.add(name["config"])
    bindings = planner.bindings()
    planner.registry(documents, registry, builtin_functions)
    return Plan(documents=documents, scope=scope, lambdas=tuple(planner.lambdas),
                bindings=bindings, findings=tuple(planner.findings))
