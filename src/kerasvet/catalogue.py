"""The full rule catalogue, collected from each family's module in one explicit list."""

from __future__ import annotations

from kerasvet.artifact import rules as artifact_rules
from kerasvet.engine.rules import allowlist, arguments, budget, graph, lambdas, references
from kerasvet.findings import Rule, RuleId
from kerasvet.loader import rules as loader_rules

__all__ = ["RULES", "rule"]

RULES: tuple[Rule, ...] = tuple(
    sorted(
        (
            *artifact_rules.RULES,
            *allowlist.RULES,
            *references.RULES,
            *arguments.RULES,
            *budget.RULES,
            *graph.RULES,
            *lambdas.RULES,
            *loader_rules.RULES,
        ),
        key=lambda r: r.id,
    )
)
"""Every rule kerasvet can emit, sorted by id."""

_BY_ID = {r.id: r for r in RULES}
if len(_BY_ID) != len(RULES):  # pragma: no cover - a programming error caught at import
    raise RuntimeError("duplicate rule id in the catalogue")


def rule(rule_id: str) -> Rule:
    """Look a rule up by id."""
    return _BY_ID[RuleId(rule_id)]
