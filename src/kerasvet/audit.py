"""The audit pipeline: reader -> tree -> engine -> report. Never imports Keras.

One :class:`~kerasvet.limits.Deadline` (``max_audit_seconds``) is started per artifact and
handed to every stage, so the wall-time cap covers the read, the walk and the engine
together.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from kerasvet import __version__
from kerasvet.artifact.model import Artifact, ArtifactFormat, ConfigRole
from kerasvet.artifact.read import read_artifact
from kerasvet.artifact.rules import AUDIT_TIMEOUT, INTERNAL_ERROR, ZIP_NO_CONFIG
from kerasvet.engine import Decision, Verdict, evaluate
from kerasvet.errors import KerasvetError
from kerasvet.findings import Finding, Location
from kerasvet.limits import Deadline
from kerasvet.policy import Policy, load_policy
from kerasvet.report.model import ArtifactReport, LambdaRecord, Report
from kerasvet.tree import Node, NodeKind, walk_documents

__all__ = [
    "Source",
    "analyse_artifact",
    "audit",
    "audit_artifact",
    "audit_many",
    "resolve_policy",
]

Source = str | os.PathLike[str] | bytes | Mapping[str, object]
"""What ``audit`` accepts: a path, raw bytes, a config dict, or JSON text."""

DEFAULT_POLICY = "default"


def resolve_policy(policy: Policy | str | os.PathLike[str] | None) -> Policy:
    """``None`` means the shipped default; a string is a shipped name or a path."""
    if policy is None:
        return load_policy(DEFAULT_POLICY)
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str):
        return load_policy(policy)
    return load_policy(Path(policy))


def _display(source: Source) -> str:
    if isinstance(source, bytes):
        return "<bytes>"
    if isinstance(source, Mapping):
        return "<dict>"
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return "<json>"
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


def analyse_artifact(
    artifact: Artifact, policy: Policy, path: str, deadline: Deadline | None = None
) -> ArtifactReport:
    """Tree, engine and report for an artifact already read (the loader reads it itself).

    ``deadline`` is the one the read ran under; without one, the walk and the engine get
    ``max_audit_seconds`` of their own.
    """
    clock = deadline if deadline is not None else Deadline.for_limits(policy.limits)
    findings: list[Finding] = list(artifact.findings)
    if _timed_out(artifact.findings):
        return _denied(artifact, path, tuple(findings))
    if not any(d.role is ConfigRole.MODEL for d in artifact.documents) and not any(
        f.denies for f in findings
    ):
        findings.append(Finding.of(ZIP_NO_CONFIG, Location(member="<artifact>"),
                                   "no model config was found to audit"))
    tree = walk_documents(artifact.documents, policy.limits, clock)
    findings.extend(tree.findings)
    if _timed_out(tree.findings):
        return _denied(artifact, path, tuple(findings))  # out of time: judge nothing
    evaluation = evaluate(tree, policy, clock)
    for decision in evaluation.decisions:
        findings.extend(decision.findings)
    findings.extend(evaluation.findings)
    # The engine judges nodes in order; past the deadline it stops early, so the decisions
    # may cover only a prefix of the nodes.
    lambdas = tuple(
        _lambda_record(node, decision)
        for node, decision in zip(tree.nodes[:len(evaluation.decisions)],
                                  evaluation.decisions, strict=True)
        if node.kind is NodeKind.LAMBDA and _is_bytecode(node)
    )
    verdict = Verdict.DENY if any(f.denies for f in findings) else Verdict.ALLOW
    return ArtifactReport(
        path=path, sha256=artifact.sha256, format=artifact.format, verdict=verdict,
        findings=tuple(findings), decisions=evaluation.decisions, lambdas=lambdas,
    )


def _timed_out(findings: Iterable[Finding]) -> bool:
    return any(f.rule.id == AUDIT_TIMEOUT.id for f in findings)


def _denied(artifact: Artifact, path: str, findings: tuple[Finding, ...]) -> ArtifactReport:
    """The report of an artifact refused before any node was judged."""
    return ArtifactReport(path=path, sha256=artifact.sha256, format=artifact.format,
                          verdict=Verdict.DENY, findings=findings, decisions=(), lambdas=())


def _is_bytecode(node: Node) -> bool:
    """Keras 2 ``output_shape``/``mask`` entries of type "raw" or "function" are no bytecode."""
    return node.argument is None or node.raw.get(f"{node.argument}_type") in (None, "lambda")


def _lambda_record(node: Node, decision: Decision) -> LambdaRecord:
    analysis = decision.lambda_analysis
    return LambdaRecord(
        member=node.member, pointer=node.pointer, layer=node.layer, grammar=node.grammar,
        verdict=decision.verdict, rule=decision.rule,
        source=analysis.source if analysis is not None else None,
        versions=analysis.versions if analysis is not None else (),
        reasons=tuple(f"{f.rule.id}: {f.message}" for f in decision.findings),
    )


def audit_artifact(source: Source, policy: Policy) -> ArtifactReport:
    """Audit one artifact; hostile content yields findings, a missing path raises."""
    path = _display(source)
    deadline = Deadline.for_limits(policy.limits)
    try:
        artifact = read_artifact(source, policy.limits, deadline)
    except KerasvetError:
        raise
    except Exception as exc:  # fail closed: a reader bug must deny, not pass or crash
        finding = Finding.of(INTERNAL_ERROR, Location(member="<artifact>"),
                             f"reading the artifact failed ({type(exc).__name__}: {exc})")
        return ArtifactReport(path=path, sha256=None, format=ArtifactFormat.UNKNOWN,
                              verdict=Verdict.DENY, findings=(finding,), decisions=(),
                              lambdas=())
    try:
        return analyse_artifact(artifact, policy, path, deadline)
    except RecursionError as exc:  # pragma: no cover - the walk is iterative; belt and braces
        finding = Finding.of(INTERNAL_ERROR, Location(member="<artifact>"), str(exc))
    except Exception as exc:  # fail closed: a finding, never a traceback or a pass
        finding = Finding.of(INTERNAL_ERROR, Location(member="<artifact>"),
                             f"the audit failed ({type(exc).__name__}: {exc})")
    return _denied(artifact, path, (*artifact.findings, finding))


def audit_many(sources: Iterable[Source], policy: Policy) -> Report:
    """Audit several artifacts under one policy."""
    return Report(
        kerasvet_version=__version__, policy_name=policy.name, policy_sha256=policy.sha256,
        artifacts=tuple(audit_artifact(source, policy) for source in sources),
    )


def audit(source: Source, policy: Policy | str | os.PathLike[str] | None = None) -> Report:
    """Audit a path, bytes, a config dict or a JSON string; returns the report, never raises
    for hostile content (only for a missing path or a broken policy)."""
    return audit_many([source], resolve_policy(policy))


