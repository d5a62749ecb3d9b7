"""JSON output (schema version 1): explicit serializers, no timestamps, stable key order.

Later additions only add keys (``summary``, ``errors``, ``skipped``, a finding's
``disposition``), so a reader written for the first shape keeps working.
"""

from __future__ import annotations

import json

from kerasvet.engine.model import Decision
from kerasvet.report.model import ArtifactReport, LambdaRecord, RenderOptions, Report, Triaged
from kerasvet.report.summary import Summary, summarize

__all__ = ["SCHEMA_VERSION", "render_json", "report_to_dict", "summary_to_dict"]

SCHEMA_VERSION = 1


def _finding(item: Triaged) -> dict[str, object]:
    finding = item.finding
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
        "disposition": item.disposition.value,
        "baseline_reason": item.reason,
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


def _artifact(artifact: ArtifactReport, report: Report, show_allowed: bool) -> dict[str, object]:
    result: dict[str, object] = {
        "path": artifact.path,
        "sha256": artifact.sha256,
        "format": artifact.format.value,
        "verdict": artifact.verdict.value,
        "relative_path": artifact.relative_path,
        "findings": [_finding(t) for t in artifact.triaged(report.fail_on)],
        "lambdas": [_lambda(r) for r in artifact.lambdas],
    }
    if show_allowed:
        result["decisions"] = [_decision(d) for d in artifact.decisions]
    return result


def summary_to_dict(summary: Summary) -> dict[str, object]:
    """The summary block (also SARIF's run properties), so every format counts alike."""
    return {
        "files": summary.files,
        "allowed": summary.allowed,
        "denied": summary.denied,
        "errors": summary.errors,
        "skipped": {reason.value: count for reason, count in summary.skipped},
        "fail_on": summary.fail_on.label,
        "findings": {
            "reported": summary.reported,
            "suppressed": summary.suppressed,
            "below_threshold": summary.below_threshold,
        },
        "by_rule": {
            c.rule: {"reported": c.reported, "suppressed": c.suppressed,
                     "below_threshold": c.below_threshold}
            for c in summary.by_rule
        },
        "exit_code": int(summary.exit_code),
    }


def report_to_dict(report: Report, *, show_allowed: bool = False) -> dict[str, object]:
    """The report as plain JSON data."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kerasvet_version": report.kerasvet_version,
        "policy": {"name": report.policy_name, "sha256": report.policy_sha256},
        "verdict": report.verdict.value,
        "summary": summary_to_dict(summarize(report)),
        "artifacts": [_artifact(a, report, show_allowed) for a in report.artifacts],
        "errors": [
            {"path": e.path, "relative_path": e.relative_path, "message": e.message}
            for e in report.errors
        ],
        "skipped": [
            {"path": s.path, "relative_path": s.relative_path, "reason": s.reason.value}
            for s in report.skipped
        ],
    }


def render_json(report: Report, options: RenderOptions | None = None) -> str:
    """Render the report as indented JSON."""
    show = options.show_allowed if options is not None else False
    return json.dumps(report_to_dict(report, show_allowed=show), indent=2) + "\n"
