"""The engine's output: one decision per node, plus findings that belong to no single node."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from kerasvet.findings import Finding, Pointer
from kerasvet.tree import NodeKind

if TYPE_CHECKING:
    from kerasvet.lambdas.model import LambdaAnalysis

__all__ = ["Decision", "Evaluation", "Verdict"]


class Verdict(enum.Enum):
    """Allow or deny; there is no third state."""

    ALLOW = "allow"
    DENY = "deny"


class Decision(NamedTuple):
    """What the policy says about one node, and every finding on it.

    A named tuple for the same reason as ``tree.Node``: one is built per node.
    """

    member: str
    """Artifact member holding the node."""
    pointer: Pointer
    """JSON pointer of the node."""
    layer: str | None
    """Enclosing layer name."""
    kind: NodeKind
    """Node kind."""
    module: str | None
    """The node's ``module``."""
    class_name: str
    """The node's ``class_name``."""
    verdict: Verdict
    """Deny when any finding on the node denies."""
    findings: tuple[Finding, ...]
    """Findings on this node."""
    rule: str
    """The policy rule that settled the verdict (``classes: keras.layers.Dense``, a rule id)."""
    lambda_analysis: LambdaAnalysis | None = None
    """For a lambda node under an ``analyze`` policy: the static analysis behind the verdict."""
    registered_name: str | None = None
    """The node's ``registered_name`` (a ``package>Name`` marks a custom object)."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything the engine concluded about one artifact's tree."""

    decisions: tuple[Decision, ...]
    """One decision per node, in document order."""
    findings: tuple[Finding, ...]
    """Findings that concern the artifact or several nodes (graph, budgets, compile strings)."""
