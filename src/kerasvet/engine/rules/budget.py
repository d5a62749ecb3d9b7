"""KV405/KV406: sizes that would exhaust memory when Keras builds the model."""

from __future__ import annotations

import math
from collections.abc import Iterator

from kerasvet.findings import Finding, Location, Pointer, Rule, RuleId, Severity, join_pointer
from kerasvet.policy.model import Policy
from kerasvet.tree import Node, NodeKind

__all__ = ["RULES", "check_budget", "check_dimensions"]

PARAMETER_BUDGET = Rule(
    RuleId("KV405"), "parameter-budget",
    "The parameters the config would allocate exceed the policy's budget.",
    Severity.HIGH,
    "Raise `max_parameters` in a policy that extends this one if the model is genuinely "
    "that large; otherwise the file is built to exhaust memory.",
)
DIMENSION_TOO_LARGE = Rule(
    RuleId("KV406"), "dimension-too-large",
    "A size argument (units, filters, a shape entry, ...) is absurdly large or negative "
    "(-1, \"infer\", is accepted in shapes only).",
    Severity.HIGH,
    "Raise `max_dimension` in a policy that extends this one if the size is genuine.",
)

RULES: tuple[Rule, ...] = (PARAMETER_BUDGET, DIMENSION_TOO_LARGE)

SIZE_ARGUMENTS = frozenset({
    "units", "filters", "input_dim", "output_dim", "num_heads", "key_dim", "value_dim",
    "max_tokens", "num_tokens", "num_bins", "output_sequence_length", "depth_multiplier",
    "intermediate_dim", "hidden_dim", "num_classes", "groups", "n", "repeats",
    "kernel_size", "pool_size", "strides", "dilation_rate", "size", "target_shape",
    "batch_shape", "batch_input_shape", "input_shape", "shape", "dims", "output_shape",
    "cropping", "padding", "height", "width", "embedding_dim", "num_embeddings",
    "sequence_length", "max_sequence_length", "vocabulary_size",
})
"""Config keys whose integers Keras uses to size weights or tensors."""

SHAPE_ARGUMENTS = frozenset({
    "target_shape", "batch_shape", "batch_input_shape", "input_shape", "shape", "dims",
    "output_shape",
})
"""Size arguments that are shapes, where -1 means "infer this dimension"."""


def _ints(value: object, pointer: str) -> Iterator[tuple[str, int]]:
    stack: list[tuple[object, str]] = [(value, pointer)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            yield where, item
        elif isinstance(item, list):
            stack.extend((v, f"{where}/{i}") for i, v in enumerate(item))


def _plausible(value: object, cap: int, lowest: int) -> bool:
    """Fast path: a number or a flat list of numbers and nulls, all within [lowest, cap]."""
    if type(value) is int:
        return lowest <= value <= cap
    if type(value) is list:
        for item in value:
            if item is not None and not (type(item) is int and lowest <= item <= cap):
                return False
        return True
    return value is None or type(value) in (str, float, bool)


def _dims(value: object) -> list[int]:
    return [v for _, v in _ints(value, "")]


def check_dimensions(node: Node, policy: Policy) -> list[Finding]:
    """Every integer under a size argument (and in ``build_config``) must be plausible."""
    cap = policy.limits.max_dimension
    findings = []
    places: list[tuple[str, str, object]] = []  # (section, key, value)
    config = node.config
    if type(config) is dict:
        places.extend(("config", k, config[k]) for k in config if k in SIZE_ARGUMENTS)
    build = node.raw.get("build_config")
    if type(build) is dict:
        places.extend(("build_config", k, v) for k, v in build.items())
    for section, key, value in places:
        # -1 is Keras' "infer this dimension" in shapes (Reshape, build_config); a size such
        # as `units` has no such meaning, so any negative number is refused there.
        lowest = -1 if section == "build_config" or key in SHAPE_ARGUMENTS else 0
        if _plausible(value, cap, lowest):
            continue
        pointer = join_pointer(join_pointer(node.pointer, section), key)
        for where, number in _ints(value, pointer):
            if number > cap or number < lowest:
                findings.append(Finding.of(
                    DIMENSION_TOO_LARGE,
                    Location(member=node.member, pointer=Pointer(where), layer=node.layer),
                    f"size {number} is outside [{lowest}, {cap}] (`max_dimension`)",
                    value=number,
                ))
    return findings


def _last_dim(node: Node) -> int:
    build = node.raw.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    if isinstance(shape, list) and shape and isinstance(shape[-1], int):
        return max(shape[-1], 1)
    return 1


def _estimate(node: Node) -> int:
    """A lower bound on the weights a layer allocates, from its own arguments."""
    config = node.config
    if not isinstance(config, dict):
        return 0

    def number(key: str, default: int = 0) -> int:
        value = config.get(key, default)
        if isinstance(value, list):
            return math.prod(v for v in value if isinstance(v, int) and v > 0)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
            else default

    name = node.class_name
    inputs = _last_dim(node)
    if name == "Embedding":
        return number("input_dim") * number("output_dim")
    if name in ("Dense", "EinsumDense"):
        return inputs * number("units", number("output_shape")) + number("units")
    if name.startswith("Conv") or name.startswith("SeparableConv") or name.startswith(
        "DepthwiseConv"
    ):
        return number("kernel_size", 1) * inputs * max(number("filters"), 1)
    if name in ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
        gates = {"LSTM": 4, "GRU": 3}.get(name, 1)
        units = number("units")
        return gates * (inputs + units + 1) * units
    if name == "MultiHeadAttention":
        heads = number("num_heads")
        return 4 * heads * max(number("key_dim"), number("value_dim")) * inputs
    if name in ("CategoryEncoding", "Hashing", "Discretization"):
        return number("num_tokens") + number("num_bins")
    return 0


def check_budget(nodes: tuple[Node, ...], policy: Policy) -> list[Finding]:
    """Sum the estimate over all layers; report the largest contributors when over."""
    budget = policy.limits.max_parameters
    contributions = [(_estimate(n), n) for n in nodes if n.kind is NodeKind.CLASS]
    total = sum(c for c, _ in contributions)
    if total <= budget or not nodes:
        return []
    top = sorted(contributions, key=lambda item: -item[0])[:3]
    listed = ", ".join(f"{n.layer or n.class_name} ~{c:,}" for c, n in top)
    root = nodes[0]
    return [Finding.of(
        PARAMETER_BUDGET, Location(member=root.member, pointer=root.pointer, layer=root.layer),
        f"the config would allocate about {total:,} parameters, over the budget of "
        f"{budget:,} (`max_parameters`); largest: {listed}", value=total,
    )]
