"""JSON output (schema version 1): explicit serializers, no timestamps, stable key order."""

from __future__ import annotations

import json

from kerasvet.engine.model import Decision
from kerasvet.findings import Finding
from kerasvet.report.model import ArtifactReport, LambdaRecord, Report

__all__ = ["SCHEMA_VERSION", "render_json", "report_to_dict"]

SCHEMA_VERSION = 1


def _finding(finding: Finding) -> dict[str, object]:
    where = finding.location
    return {
        "rule": finding.rule.id,
        "slug": finding.rule.slug,
        "severity": finding.severity.label,
        "member": where.member,
        "pointer": where.pointer,
        "layer": where.layer,
        "detail": where.detail,
        "message": finding.message,
        "value": finding.value,
        "reference": finding.reference,
        "remediation": finding.rule.remediation,
        "docs": finding.rule.docs_path,
    }


def _decision(decision: Decision) -> dict[str, object]:
    return {
        "member": decision.member,
        "pointer": decision.pointer,
        "layer": decision.layer,
        "kind": decision.kind.value,
        "module": decision.module,
        "class_name": decision.class_name,
        "verdict": decision.verdict.value,
        "rule": decision.rule,
    }


def _lambda(record: LambdaRecord) -> dict[str, object]:
    return {
        "member": record.member,
        "pointer": record.pointer,
        "layer": record.layer,
        "grammar": record.grammar.value,
        "verdict": record.verdict.value,
        "rule": record.rule,
        "source": record.source,
        "versions": list(record.versions),
        "reasons": list(record.reasons),
    }


def _artifact(artifact: ArtifactReport, show_allowed: bool) -> dict[str, object]:
    result: dict[str, object] = {
        "path": artifact.path,
        "sha256": artifact.sha256,
        "format": artifact.format.value,
        "verdict": artifact.verdict.value,
        "findings": [_finding(f) for f in artifact.findings],
        "lambdas": [_lambda(r) for r in artifact.lambdas],
    }
    if show_allowed:
        result["decisions"] = [_decision(d) for d in artifact.decisions]
    return result


def report_to_dict(report: Report, *, show_allowed: bool = False) -> dict[str, object]:
    """The report as plain JSON data."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kerasvet_version": report.kerasvet_version,
        "policy": {"name": report.policy_name, "sha256": report.policy_sha256},
        "verdict": report.verdict.value,
        "artifacts": [_artifact(a, show_allowed) for a in report.artifacts],
    }


def render_json(report: Report, *, show_allowed: bool = False) -> str:
    """Render the report as indented JSON."""
    return json.dumps(report_to_dict(report, show_allowed=show_allowed), indent=2) + "\n"
