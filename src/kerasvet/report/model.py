"""The report: every decision and finding of an audit, partitioned, never filtered."""

from __future__ import annotations

from dataclasses import dataclass

from kerasvet.artifact.model import ArtifactFormat
from kerasvet.engine.model import Decision, Verdict
from kerasvet.findings import Finding, Pointer
from kerasvet.tree import Grammar

__all__ = ["ArtifactReport", "LambdaRecord", "Report"]


@dataclass(frozen=True, slots=True)
class LambdaRecord:
    """One serialized lambda found in the config, and what became of it."""

    member: str
    """The member holding it."""
    pointer: Pointer
    """Pointer of the ``__lambda__`` node (or the Keras 2 list)."""
    layer: str | None
    """Enclosing layer."""
    grammar: Grammar
    """Keras 3 node or Keras 2 list form."""
    verdict: Verdict
    """Allowed or denied."""
    rule: str
    """The rule that decided."""
    source: str | None = None
    """The reconstructed source, defaults included, when the bytecode could be lifted."""
    versions: tuple[str, ...] = ()
    """CPython versions whose reading of the bytecode survived the strict checks."""
    reasons: tuple[str, ...] = ()
    """Why the lambda was denied (or what bandit noted), one line each with its rule id."""


@dataclass(frozen=True, slots=True)
class ArtifactReport:
    """The audit of one artifact."""

    path: str
    """The path as given (or ``<bytes>``, ``<dict>``, ``<json>``)."""
    sha256: str | None
    """Hash of what was read."""
    format: ArtifactFormat
    """The detected format."""
    verdict: Verdict
    """Deny when any finding denies."""
    findings: tuple[Finding, ...]
    """Every finding: container, tree, node and whole-model, in that order."""
    decisions: tuple[Decision, ...]
    """One decision per node, allowed ones included."""
    lambdas: tuple[LambdaRecord, ...]
    """Serialized lambdas found."""

    @property
    def allowed(self) -> bool:
        """Whether the artifact may be built."""
        return self.verdict is Verdict.ALLOW


@dataclass(frozen=True, slots=True)
class Report:
    """The audit of one or more artifacts under one policy."""

    kerasvet_version: str
    """Version of kerasvet that wrote the report."""
    policy_name: str
    """Name of the policy applied."""
    policy_sha256: str
    """Hash of the policy files applied."""
    artifacts: tuple[ArtifactReport, ...]
    """One entry per artifact, in the order given."""

    @property
    def verdict(self) -> Verdict:
        """Deny when any artifact is denied."""
        if any(a.verdict is Verdict.DENY for a in self.artifacts):
            return Verdict.DENY
        return Verdict.ALLOW

    @property
    def allowed(self) -> bool:
        """Whether every artifact may be built."""
        return self.verdict is Verdict.ALLOW

    def refusal_message(self) -> str:
        """A message listing every denying finding with pointer, layer and rule."""
        lines = []
        for artifact in self.artifacts:
            for finding in artifact.findings:
                if not finding.denies:
                    continue
                where = finding.location
                layer = f" layer {where.layer!r}" if where.layer else ""
                pointer = f" at {where.member}#{where.pointer}" if where.pointer is not None \
                    else f" in {where.member}"
                lines.append(f"  {finding.rule.id}{pointer}{layer}: {finding.message}")
        head = f"kerasvet refused the model under policy {self.policy_name!r}"
        return head + (":\n" + "\n".join(lines) if lines else "")
