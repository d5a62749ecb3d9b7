"""The config tree: one iterative walk over a parsed document that finds every node.

A node is any dict with a ``class_name`` key, wherever it sits, because Keras' deserializer
recurses into every list and dict value (``inbound_nodes`` args, ``Lambda.arguments``,
``compile_config``, dtype policies, ...). Keras 2 list-form lambdas (``function`` plus
``function_type``) are nodes too. The walk enforces the structural caps (depth, value
and node counts); scalars (numbers, string lengths) were already checked by the strict parser,
so the walk touches containers only. The wall-time deadline is sampled once per document and
once every ``_DEADLINE_EVERY`` nodes, so checking it costs nothing measurable.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from kerasvet.artifact import rules
from kerasvet.artifact.model import ConfigDocument, ConfigRole
from kerasvet.artifact.rules import timed_out
from kerasvet.findings import Finding, Location, Pointer, escape_pointer_token
from kerasvet.limits import NO_DEADLINE, Deadline, DeadlineExceeded, Limits

__all__ = ["CompileSection", "Grammar", "Node", "NodeKind", "Tree", "walk_documents"]


class Grammar(enum.Enum):
    """Which serialization grammar wrote a node."""

    KERAS3 = "keras3"
    """Keras 3 with a ``module`` key."""
    KERAS3_LEGACY = "keras3-legacy"
    """No ``module`` key: Keras 3 legacy HDF5 configs, resolved by class name alone."""
    KERAS2 = "keras2"
    """Keras 2 / tf.keras: list-form lambdas with ``*_type`` and ``*_module`` keys."""


class NodeKind(enum.Enum):
    """What Keras would do with a node."""

    CLASS = "class"
    """Resolve ``(module, class_name)`` and call ``from_config(config)``."""
    FUNCTION = "function"
    """``class_name == "function"``: resolve ``(module, config)`` to a callable."""
    LAMBDA = "lambda"
    """Serialized bytecode: ``__lambda__`` or a Keras 2 ``[code, defaults, closure]`` list."""
    SPECIAL = "special"
    """Other ``__name__`` markers: tensors, numpy arrays, slices, type specs, ..."""


SPECIAL_NAMES = frozenset(
    {
        "__keras_tensor__",
        "__tensor__",
        "__numpy__",
        "__bytes__",
        "__ellipsis__",
        "__slice__",
        "__typespec__",
        "__tuple__",
        "__passive_serialization__",
    }
)
"""Marker class names Keras' deserializers special-case (Keras 3 and legacy json_utils)."""

_KINDS = {"function": NodeKind.FUNCTION, "__lambda__": NodeKind.LAMBDA}
_DEADLINE_EVERY = 256
"""Nodes between two looks at the clock."""

KERAS2_CALLABLE_KEYS = ("function", "output_shape", "mask")
"""Lambda config keys that tf.keras pairs with ``<key>_type`` and ``<key>_module``."""


class Node(NamedTuple):
    """One config node, located and classified, still holding the raw attacker data.

    An immutable named tuple rather than a frozen dataclass: a large model has thousands of
    nodes, and building frozen dataclasses (one ``object.__setattr__`` per field) costs four
    times as much, which the audit's speed budget against ``json.loads`` cannot afford.
    """

    member: str
    """The artifact member the node was read from (``config.json``, ``model_config``, ...)."""
    pointer: Pointer
    """JSON pointer of the node dict (or of the Keras 2 lambda list)."""
    kind: NodeKind
    """What Keras would do with it."""
    grammar: Grammar
    """Which serialization grammar wrote it."""
    class_name: str
    """``class_name`` (for a Keras 2 lambda list: ``"__lambda__"``)."""
    module: str | None
    """``module`` when present and a string."""
    registered_name: str | None
    """``registered_name`` when present and a string."""
    config: object
    """The raw ``config`` value (for a Keras 2 lambda: the ``[code, defaults, closure]`` list)."""
    raw: Mapping[str, object]
    """The whole node dict (for a Keras 2 lambda: the enclosing Lambda layer config)."""
    layer: str | None
    """Name of the nearest enclosing layer (the node itself, for a layer)."""
    argument: str | None
    """Config key under which the node sits in its parent (``kernel_initializer``, ...)."""
    parent: Pointer | None
    """Pointer of the nearest enclosing node, ``None`` for a document root."""
    in_layer_list: bool
    """Whether the node is an entry of a model's ``layers`` list."""
    role: ConfigRole = ConfigRole.MODEL
    """Whether the node sits in a model config or a legacy training config."""

    @property
    def location(self) -> Location:
        """The node's location for findings."""
        return Location(member=self.member, pointer=self.pointer, layer=self.layer)


@dataclass(frozen=True, slots=True)
class CompileSection:
    """A ``compile_config`` (Keras 3) or ``training_config`` (legacy HDF5) object."""

    member: str
    """The member holding it."""
    pointer: Pointer
    """Its pointer."""
    value: Mapping[str, object]
    """The raw object: ``loss``, ``metrics``, ``optimizer``, ..."""


@dataclass(frozen=True, slots=True)
class Tree:
    """Every node of every document of one artifact, in document order."""

    nodes: tuple[Node, ...]
    """The nodes; roots of each document first within that document."""
    findings: tuple[Finding, ...]
    """Schema and cap findings raised by the walk."""
    compile_sections: tuple[CompileSection, ...]
    """Compile and training configs, whose bare strings name losses, metrics, optimizers."""


def _pointer(parent: str, token: str | int) -> str:
    if isinstance(token, int):
        return f"{parent}/{token}"
    if "~" in token or "/" in token:
        return f"{parent}/{escape_pointer_token(token)}"
    return f"{parent}/{token}"


def _grammar(node: Mapping[str, object], document_grammar: Grammar) -> Grammar:
    if "module" in node:
        return Grammar.KERAS3
    return document_grammar


def _document_grammar(value: object) -> Grammar:
    """Keras 2 writes ``keras_version`` 2.x; used only to label nodes without ``module``."""
    if isinstance(value, dict):
        version = value.get("keras_version")
        if isinstance(version, str) and version.startswith("2."):
            return Grammar.KERAS2
    return Grammar.KERAS3_LEGACY


class _Walk:
    """Mutable state of one walk, private to ``walk_documents``."""

    def __init__(self, limits: Limits, deadline: Deadline) -> None:
        self.limits = limits
        self.deadline = deadline
        self.nodes: list[Node] = []
        self.findings: list[Finding] = []
        self.values = 0
        self.stopped = False
        self.compile_sections: list[CompileSection] = []

    def stop(self, finding: Finding) -> None:
        self.findings.append(finding)
        self.stopped = True

    def add_node(self, node: Node) -> bool:
        """Keep ``node`` unless the node cap is reached (then stop with a KV205)."""
        if len(self.nodes) >= self.limits.max_nodes:
            self.stop(Finding.of(rules.JSON_TOO_BIG, node.location,
                                 f"more than {self.limits.max_nodes} config nodes"))
            return False
        self.nodes.append(node)
        if len(self.nodes) % _DEADLINE_EVERY == 0:
            self.deadline.check(f"walking {node.member} at {node.pointer or '/'}")
        return True

    def walk(self, document: ConfigDocument) -> None:
        limits = self.limits
        member = document.member
        root = document.value
        self.deadline.check(f"starting to walk {member}")
        problem = None
        if not isinstance(root, dict):
            problem = f"{member} holds a JSON {type(root).__name__}, not a config object"
        elif document.role is ConfigRole.MODEL and "class_name" not in root:
            problem = f"{member} is an object without `class_name`, not a model config"
        if problem is not None:
            self.findings.append(
                Finding.of(
                    rules.CONFIG_ROOT, Location(member=member, pointer=Pointer("")), problem,
                    value=root,
                )
            )
            return
        assert isinstance(root, dict)
        if document.role is ConfigRole.TRAINING:
            self.compile_sections.append(CompileSection(member, Pointer(""), root))
        elif isinstance(root.get("compile_config"), dict):
            self.compile_sections.append(
                CompileSection(member, Pointer("/compile_config"), root["compile_config"])
            )
        doc_grammar = _document_grammar(root)
        max_depth = limits.max_json_depth
        max_values = limits.max_json_values
        # Stack entries: (value, pointer, depth, layer, argument, parent node pointer,
        # whether the value is a `layers` list entry).
        stack: list[tuple[object, str, int, str | None, str | None, str | None, bool]] = [
            (root, "", 1, None, None, None, False)
        ]
        pop = stack.pop
        push = stack.append
        while stack:
            value, pointer, depth, layer, argument, parent, in_layers = pop()
            if depth > max_depth:
                self.stop(
                    Finding.of(
                        rules.JSON_TOO_DEEP,
                        Location(member=member, pointer=Pointer(pointer), layer=layer),
                        f"nesting reaches depth {depth}, over the cap of {max_depth}",
                    )
                )
                return
            if type(value) is dict:
                if "class_name" in value:
                    node = self._node(value, member, pointer, layer, argument, parent,
                                      in_layers, doc_grammar, document.role)
                    if node is not None:
                        if not self.add_node(node):
                            return
                        layer = node.layer
                        parent = pointer
                        compile_config = value.get("compile_config")
                        if pointer and isinstance(compile_config, dict):
                            self.compile_sections.append(CompileSection(
                                member, Pointer(f"{pointer}/compile_config"), compile_config))
                    if value.get("class_name") in ("Lambda",) and isinstance(
                        value.get("config"), dict
                    ) and not self._keras2_lambdas(value, member, pointer, layer):
                        return
                self.values += len(value)
                child_depth = depth + 1
                for key, child in reversed(value.items()):
                    kind = type(child)
                    if kind is dict or kind is list:
                        token = key.replace("~", "~0").replace("/", "~1") if (
                            "~" in key or "/" in key) else key
                        push((child, f"{pointer}/{token}", child_depth, layer,
                              key if argument is None or key != "config" else argument,
                              parent, False))
            elif type(value) is list:
                self.values += len(value)
                child_depth = depth + 1
                is_layers = argument == "layers"
                index = len(value)
                for child in reversed(value):
                    index -= 1
                    kind = type(child)
                    if kind is dict or kind is list:
                        push((child, f"{pointer}/{index}", child_depth, layer, argument,
                              parent, is_layers and kind is dict))
            if self.values > max_values:
                self.stop(
                    Finding.of(
                        rules.JSON_TOO_BIG,
                        Location(member=member, pointer=Pointer(pointer), layer=layer),
                        f"more than {max_values} JSON values in {member}",
                    )
                )
                return

    def _node(
        self,
        value: dict[str, object],
        member: str,
        pointer: str,
        layer: str | None,
        argument: str | None,
        parent: str | None,
        in_layers: bool,
        doc_grammar: Grammar,
        role: ConfigRole,
    ) -> Node | None:
        """Classify one dict with ``class_name``; schema problems become findings."""
        class_name = value["class_name"]
        module = value.get("module")
        registered = value.get("registered_name")
        config = value.get("config")
        # The common case first: strings where strings belong, a dict config.
        if class_name == "function":
            config_ok = type(config) is str
        else:
            # A dict or list class_name is unhashable: test the type before the set lookup.
            config_ok = (type(config) is dict or "config" not in value
                         or (type(class_name) is str
                             and (class_name in SPECIAL_NAMES or class_name == "__lambda__")))
        if not (config_ok and type(class_name) is str
                and (module is None or type(module) is str)
                and (registered is None or type(registered) is str)):
            self._schema_problem(value, member, pointer, layer)
            return None
        assert isinstance(class_name, str)
        kind = _KINDS.get(class_name)
        if kind is None:
            kind = NodeKind.SPECIAL if class_name[:2] == "__" and class_name[-2:] == "__" \
                else NodeKind.CLASS
        node_layer = layer
        if kind is NodeKind.CLASS and (in_layers or parent is None):
            name = value.get("name")
            if type(name) is not str and type(config) is dict:
                name = config.get("name")
            if type(name) is str:
                node_layer = name
        return Node(
            member,
            Pointer(pointer),
            kind,
            Grammar.KERAS3 if "module" in value else doc_grammar,
            class_name,
            module,
            registered,
            config,
            value,
            node_layer,
            argument,
            Pointer(parent) if parent is not None else None,
            in_layers,
            role,
        )

    def _schema_problem(
        self, value: dict[str, object], member: str, pointer: str, layer: str | None
    ) -> None:
        """Say exactly which node field has the wrong type."""
        class_name = value["class_name"]
        problems = []
        if not isinstance(class_name, str):
            problems.append(f"class_name is a {type(class_name).__name__}, not a string")
        for field_name in ("module", "registered_name"):
            field_value = value.get(field_name)
            if field_value is not None and not isinstance(field_value, str):
                problems.append(f"{field_name} is a {type(field_value).__name__}, "
                                "not a string or null")
        config = value.get("config")
        if class_name == "function" and not isinstance(config, str):
            problems.append("a function node's config must be the function's name")
        elif isinstance(class_name, str) and class_name not in SPECIAL_NAMES and \
                class_name not in ("function", "__lambda__") and not isinstance(config, dict):
            problems.append(f"config is a {type(config).__name__}, not an object")
        self.findings.append(Finding.of(
            rules.NODE_SCHEMA, Location(member=member, pointer=Pointer(pointer), layer=layer),
            "; ".join(problems) or "malformed node", value=class_name,
        ))

    def _keras2_lambdas(
        self, value: dict[str, object], member: str, pointer: str, layer: str | None
    ) -> bool:
        """tf.keras Lambda: ``function`` / ``output_shape`` / ``mask`` with ``*_type`` keys.

        These nodes count against ``max_nodes`` like any other; ``False`` when the cap stops
        the walk.
        """
        config = value["config"]
        assert isinstance(config, dict)
        for key in KERAS2_CALLABLE_KEYS:
            if f"{key}_type" not in config:
                continue
            kept = self.add_node(
                Node(
                    member=member,
                    pointer=Pointer(_pointer(f"{pointer}/config", key)),
                    kind=NodeKind.LAMBDA,
                    grammar=Grammar.KERAS2,
                    class_name="__lambda__",
                    module=None,
                    registered_name=None,
                    config=config.get(key),
                    raw=config,
                    layer=layer,
                    argument=key,
                    parent=Pointer(pointer),
                    in_layer_list=False,
                )
            )
            if not kept:
                return False
        return True


def walk_documents(
    documents: tuple[ConfigDocument, ...], limits: Limits, deadline: Deadline = NO_DEADLINE
) -> Tree:
    """Walk every document of an artifact once, in order, under one set of caps.

    Running past ``deadline`` stops the walk with a KV002 at the document being walked.
    """
    state = _Walk(limits, deadline)
    for document in documents:
        try:
            state.walk(document)
        except DeadlineExceeded as exc:
            state.stop(timed_out(exc, Location(member=document.member)))
        if state.stopped:
            break
    return Tree(nodes=tuple(state.nodes), findings=tuple(state.findings),
                compile_sections=tuple(state.compile_sections))
