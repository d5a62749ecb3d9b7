"""Whole-tree checks on models: layer names resolve, and shared objects agree."""

from __future__ import annotations

from collections.abc import Iterator

from kerasvet.artifact.rules import GRAPH_INVALID, SHARED_OBJECT_MISMATCH
from kerasvet.findings import Finding, Location, Pointer, Rule, join_pointer
from kerasvet.tree import Node, NodeKind

__all__ = ["RULES", "check_graph", "check_shared_objects"]

RULES: tuple[Rule, ...] = ()  # both rules are declared with the reader's KV2xx family

_LAYERS = "/config/layers/"


def _owner(pointer: str) -> str | None:
    """Pointer of the model whose ``layers`` list contains ``pointer``."""
    cut = pointer.rfind(_LAYERS)
    return None if cut < 0 else pointer[:cut]


def _history_names(value: object, pointer: str) -> Iterator[tuple[str, str]]:
    """Layer names in ``[name, node, tensor]`` leaves and legacy inbound lists."""
    stack: list[tuple[object, str]] = [(value, pointer)]
    while stack:
        item, where = stack.pop()
        if not isinstance(item, list):
            continue
        if len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int):
            yield where, item[0]
            continue
        stack.extend((v, f"{where}/{i}") for i, v in enumerate(item))


def check_graph(nodes: tuple[Node, ...]) -> list[Finding]:
    """Every inbound reference names a layer of the same model; names are unique."""
    findings: list[Finding] = []
    names: dict[str, set[str]] = {}
    layers_of: dict[str, list[Node]] = {}
    for node in nodes:
        if not node.in_layer_list:
            continue
        owner = _owner(node.pointer)
        if owner is None:
            continue
        layers_of.setdefault(owner, []).append(node)
        name = node.raw.get("name")
        if not isinstance(name, str) and isinstance(node.config, dict):
            name = node.config.get("name")
        if not isinstance(name, str):
            continue
        seen = names.setdefault(owner, set())
        if name in seen:
            findings.append(Finding.of(GRAPH_INVALID, node.location,
                                       f"a second layer named {name!r} in the same model",
                                       value=name))
        seen.add(name)
    member_of = {n.pointer: n for n in nodes}
    edges: dict[str, dict[str, set[str]]] = {owner: {} for owner in layers_of}
    for owner, layer_nodes in layers_of.items():
        known = names.get(owner, set())
        for node in layer_nodes:
            inbound = node.raw.get("inbound_nodes")
            if isinstance(inbound, list) and inbound and isinstance(inbound[0], list):
                base = join_pointer(node.pointer, "inbound_nodes")
                for where, name in _history_names(inbound, base):
                    if node.layer is not None:
                        edges[owner].setdefault(node.layer, set()).add(name)
                    if name not in known:
                        findings.append(Finding.of(
                            GRAPH_INVALID,
                            Location(member=node.member, pointer=Pointer(where), layer=node.layer),
                            f"inbound node names layer {name!r}, which this model does not have",
                            value=name))
        model = member_of.get(Pointer(owner))
        if model is None or not isinstance(model.config, dict):
            continue
        for key in ("input_layers", "output_layers"):
            base = join_pointer(join_pointer(model.pointer, "config"), key)
            for where, name in _history_names(model.config.get(key), base):
                if name not in known:
                    findings.append(Finding.of(
                        GRAPH_INVALID,
                        Location(member=model.member, pointer=Pointer(where), layer=model.layer),
                        f"`{key}` names layer {name!r}, which this model does not have",
                        value=name))
    for node in nodes:
        if node.kind is not NodeKind.SPECIAL or node.class_name != "__keras_tensor__":
            continue
        owner = _owner(node.pointer)
        if owner is None or owner not in names or not isinstance(node.config, dict):
            continue
        history = node.config.get("keras_history")
        if not (isinstance(history, list) and history and isinstance(history[0], str)):
            continue
        consumer = _consumer(node.pointer, owner, member_of)
        if consumer is not None:
            edges.setdefault(owner, {}).setdefault(consumer, set()).add(history[0])
        if history[0] not in names[owner]:
            findings.append(Finding.of(
                GRAPH_INVALID, node.location,
                f"a tensor comes from layer {history[0]!r}, which this model does not have",
                value=history[0]))
    for owner, graph in edges.items():
        cycle = _find_cycle(graph)
        if cycle is not None:
            model = member_of.get(Pointer(owner))
            place = model.location if model is not None else Location(member="<artifact>")
            findings.append(Finding.of(
                GRAPH_INVALID, place,
                f"the layer graph has a cycle: {' -> '.join(cycle)}", value=cycle[0]))
    return findings


def _consumer(pointer: str, owner: str, member_of: dict[Pointer, Node]) -> str | None:
    """Name of the layer (directly in model ``owner``) whose inbound nodes hold ``pointer``."""
    rest = pointer[len(owner) + len(_LAYERS):]
    index = rest.split("/", 1)[0]
    layer = member_of.get(Pointer(f"{owner}{_LAYERS}{index}"))
    return layer.layer if layer is not None else None


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """An iterative depth-first search; returns one cycle as a list of layer names."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        state[start] = 1
        iterators = [iter(sorted(graph.get(start, ())))]
        while iterators:
            following = next(iterators[-1], None)
            if following is None:
                state[path.pop()] = 2
                iterators.pop()
                continue
            seen = state.get(following)
            if seen == 1:
                return [*path[path.index(following):], following]
            if seen is None:
                state[following] = 1
                path.append(following)
                iterators.append(iter(sorted(graph.get(following, ()))))
    return None


def check_shared_objects(nodes: tuple[Node, ...]) -> list[Finding]:
    """Keras builds a shared object once, from its first occurrence: all must be equal."""
    first: dict[object, Node] = {}
    findings = []
    for node in nodes:
        shared = node.raw.get("shared_object_id")
        if shared is None:
            continue
        key = (node.member, repr(shared))
        earlier = first.get(key)
        if earlier is None:
            first[key] = node
            continue
        if (earlier.class_name, earlier.module, earlier.config) != (
            node.class_name, node.module, node.config
        ):
            findings.append(Finding.of(
                SHARED_OBJECT_MISMATCH, node.location,
                f"shared_object_id {shared!r} is also used at {earlier.pointer} with a "
                "different config", value=shared))
    return findings
