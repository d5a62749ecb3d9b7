"""Human text output: per finding the layer, pointer, offending value, rule and what to do."""

from __future__ import annotations

from kerasvet.findings import Finding
from kerasvet.report.model import ArtifactReport, Report

__all__ = ["render_text"]


def _finding_lines(finding: Finding) -> list[str]:
    where = finding.location
    place = where.member
    if where.pointer is not None:
        place += f"#{where.pointer}"
    if where.detail:
        place += f" ({where.detail})"
    head = f"  {finding.severity.label.upper():8} {finding.rule.id} {finding.rule.slug}"
    lines = [head, f"           at {place}"]
    if where.layer:
        lines.append(f"           layer: {where.layer}")
    lines.append(f"           {finding.message}")
    if finding.value is not None:
        lines.append(f"           value: {finding.value}")
    lines.append(f"           fix: {finding.rule.remediation}")
    lines.append(f"           see: {finding.rule.docs_path}")
    return lines


def _artifact_lines(artifact: ArtifactReport, show_allowed: bool) -> list[str]:
    verdict = "ALLOWED" if artifact.allowed else "DENIED"
    nodes = len(artifact.decisions)
    lines = [f"{artifact.path}: {verdict} ({artifact.format.value}, {nodes} nodes, "
             f"{len(artifact.findings)} findings)"]
    for finding in artifact.findings:
        lines.extend(_finding_lines(finding))
    for record in artifact.lambdas:
        versions = ", ".join(record.versions) or "none"
        lines.append(f"  lambda at {record.member}#{record.pointer}: {record.verdict.value} "
                     f"[{record.rule}] (CPython {versions})")
        if record.source is not None:
            lines.append(f"           {record.source}")
    if show_allowed:
        for decision in artifact.decisions:
            lines.append(f"  {decision.verdict.value:5} {decision.member}#{decision.pointer} "
                         f"{decision.module or '-'}.{decision.class_name} [{decision.rule}]")
    return lines


def render_text(report: Report, *, show_allowed: bool = False) -> str:
    """Render the report for a person reading a terminal or a CI log."""
    lines = [f"kerasvet {report.kerasvet_version}, policy {report.policy_name} "
             f"(sha256 {report.policy_sha256[:12]})"]
    for artifact in report.artifacts:
        lines.extend(_artifact_lines(artifact, show_allowed))
    denied = sum(1 for a in report.artifacts if not a.allowed)
    lines.append(f"{len(report.artifacts)} artifact(s), {denied} denied")
    return "\n".join(lines) + "\n"
