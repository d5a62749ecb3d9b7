"""SARIF 2.1.0 output: one pure function from the report to a SARIF log.

Decisions, each for a consumer such as GitHub code scanning:

- ``rules`` is the whole catalogue, in id order, so ``ruleIndex`` is stable between runs
  and a rule that did not fire today still has its help text.
- ``helpUri`` must be an absolute URI (SARIF §3.49.12; GitHub's upload rejects anything
  else), and kerasvet has no canonical public address, so it is written only when a base
  is configured (``--docs-base``; the Action passes its own repository at its own ref).
  ``help`` always names the repository page ``docs/rules/<id>.md``.
- The physical location is the artifact file, relative to the scan root (``%SRCROOT%``);
  there is no ``region``: a finding is about a node of a config, not a line, and without
  a line ``upload-sarif`` does not hash line 1 of a binary file into its own fingerprint.
- The node is a logical location: ``fullyQualifiedName`` is ``member#pointer``; the
  enclosing layer is a second logical location.
- ``partialFingerprints`` hash the rule id, the artifact's relative path, the member and the
  pointer (never the message, which names attacker-chosen values and may be reworded).
- Suppressed and below-threshold findings stay results: suppressed ones carry a SARIF
  ``suppression`` with the baseline reason; every result names its disposition.
- Inputs that could not be read are ``toolExecutionNotifications`` (level error); links
  and special files the tree walk passed over are notifications of level note.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath
from types import MappingProxyType
from urllib.parse import quote

from kerasvet.catalogue import RULES
from kerasvet.findings import Finding, Rule, Severity
from kerasvet.report.json_format import summary_to_dict
from kerasvet.report.model import (
    ArtifactReport,
    Disposition,
    RenderOptions,
    Report,
    SkipReason,
    Triaged,
)
from kerasvet.report.summary import exit_code, summarize

__all__ = [
    "FINGERPRINT_KEY",
    "SARIF_SCHEMA",
    "SEVERITY_LEVELS",
    "SRCROOT",
    "SarifLevel",
    "fingerprint",
    "render_sarif",
    "report_to_sarif",
]

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
"""The ``uriBaseId`` every artifact URI is relative to: the scan root."""
FINGERPRINT_KEY = "kerasvet/v1"
"""Key of our entry in ``partialFingerprints``; bump the suffix if the recipe changes."""


@dataclass(frozen=True, slots=True)
class SarifLevel:
    """How one kerasvet severity reads in SARIF and on GitHub."""

    level: str
    """SARIF ``level``: ``note``, ``warning`` or ``error``."""
    security_severity: str
    """GitHub's ``security-severity`` score (critical above 9.0, high from 7.0, medium from
    4.0, low below)."""


SEVERITY_LEVELS: Mapping[Severity, SarifLevel] = MappingProxyType({
    Severity.INFO: SarifLevel("note", "0.0"),
    Severity.LOW: SarifLevel("note", "2.0"),
    Severity.MEDIUM: SarifLevel("warning", "5.0"),
    Severity.HIGH: SarifLevel("error", "8.0"),
    Severity.CRITICAL: SarifLevel("error", "9.5"),
})
"""The one severity-to-level table; denying severities are errors."""


def fingerprint(rule_id: str, relative_path: str, member: str, pointer: str | None,
                occurrence: int = 0) -> str:
    """Stable identity of a finding across runs: what fired, in which file, at which node.

    ``occurrence`` tells apart findings that share all four (the same rule firing twice on
    one node); the first keeps the plain hash.
    """
    parts = [FINGERPRINT_KEY, rule_id, relative_path, member,
             "-" if pointer is None else "#" + pointer]
    if occurrence:
        parts.append(str(occurrence))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _rule_descriptor(rule: Rule, options: RenderOptions) -> dict[str, object]:
    level = SEVERITY_LEVELS[rule.severity]
    help_uri = options.docs_base + rule.docs_path if options.docs_base else None
    link = help_uri or rule.docs_path
    descriptor: dict[str, object] = {
        "id": rule.id,
        "name": rule.slug,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
        "help": {
            "text": f"{rule.remediation} See {rule.docs_path}.",
            "markdown": f"{rule.remediation}\n\nSee [{rule.docs_path}]({link}).",
        },
        "defaultConfiguration": {"level": level.level},
        "properties": {
            "tags": ["security", "keras"],
            "precision": "very-high",
            "security-severity": level.security_severity,
            "severity": rule.severity.label,
        },
    }
    if help_uri is not None:
        descriptor["helpUri"] = help_uri
    return descriptor


def _uri(relative: str) -> dict[str, str]:
    path = PurePosixPath(relative)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": quote(relative, safe="/"), "uriBaseId": SRCROOT}


def _artifact_path(artifact: ArtifactReport) -> str:
    return artifact.relative_path if artifact.relative_path is not None else artifact.path


def _location(artifact: ArtifactReport, finding: Finding) -> dict[str, object]:
    where = finding.location
    logical: list[dict[str, object]] = []
    if where.pointer is not None:
        logical.append({
            "name": where.pointer or where.member,
            "fullyQualifiedName": f"{where.member}#{where.pointer}",
            "kind": "object",
        })
    else:
        logical.append({"name": where.member, "fullyQualifiedName": where.member,
                        "kind": "resource"})
    if where.layer:
        logical.append({"name": where.layer, "kind": "member"})
    return {
        "physicalLocation": {"artifactLocation": _uri(artifact.file_of(finding))},
        "logicalLocations": logical,
    }


def _message(finding: Finding) -> str:
    """The finding's words plus the node, since most viewers show no logical location."""
    where = finding.location
    place = where.member if where.pointer is None else f"{where.member}#{where.pointer}"
    layer = f", layer {where.layer}" if where.layer else ""
    return f"{finding.message} (at {place}{layer})"


def _result(artifact: ArtifactReport, item: Triaged, rule_index: Mapping[str, int],
            occurrence: int) -> dict[str, object]:
    finding = item.finding
    where = finding.location
    result: dict[str, object] = {"ruleId": finding.rule.id}
    if finding.rule.id in rule_index:
        result["ruleIndex"] = rule_index[finding.rule.id]
    result.update({
        "level": SEVERITY_LEVELS[finding.severity].level,
        "message": {"text": _message(finding)},
        "locations": [_location(artifact, finding)],
        "partialFingerprints": {
            FINGERPRINT_KEY: fingerprint(finding.rule.id, _artifact_path(artifact),
                                         where.member, where.pointer, occurrence),
        },
    })
    if item.disposition is Disposition.SUPPRESSED:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": item.reason or ""},
        ]
    result["properties"] = {
        "severity": finding.severity.label,
        "disposition": item.disposition.value,
        "member": where.member,
        "pointer": where.pointer,
        "layer": where.layer,
        "detail": where.detail,
        "value": finding.value,
        "reference": finding.reference,
        "artifactSha256": artifact.sha256,
    }
    return result


def _results(report: Report, rule_index: Mapping[str, int]) -> list[dict[str, object]]:
    results = []
    for artifact in report.artifacts:
        seen: dict[tuple[str, str, str | None], int] = {}
        for item in artifact.triaged(report.fail_on):
            where = item.finding.location
            key = (item.finding.rule.id, where.member, where.pointer)
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            results.append(_result(artifact, item, rule_index, occurrence))
    return results


def _notifications(report: Report) -> list[dict[str, object]]:
    notes: list[dict[str, object]] = [
        {
            "level": "error",
            "message": {"text": f"could not read {error.path}: {error.message}"},
            "locations": [{"physicalLocation": {"artifactLocation": _uri(error.relative_path)}}],
        }
        for error in report.errors
    ]
    for skipped in report.skipped:
        if skipped.reason not in (SkipReason.SYMLINK, SkipReason.SPECIAL):
            continue
        notes.append({
            "level": "note",
            "message": {"text": f"skipped {skipped.path}: {skipped.reason.value} "
                                "(never followed or read)"},
            "locations": [{"physicalLocation": {"artifactLocation": _uri(skipped.relative_path)}}],
        })
    return notes


def report_to_sarif(report: Report, options: RenderOptions | None = None) -> dict[str, object]:
    """The report as a SARIF 2.1.0 log with one run."""
    options = options if options is not None else RenderOptions()
    rule_index: dict[str, int] = {rule.id: index for index, rule in enumerate(RULES)}
    driver: dict[str, object] = {
        "name": "kerasvet",
        "version": report.kerasvet_version,
        "semanticVersion": report.kerasvet_version,
        "rules": [_rule_descriptor(rule, options) for rule in RULES],
    }
    if options.docs_base:
        driver["informationUri"] = options.docs_base
    run: dict[str, object] = {
        "tool": {"driver": driver},
        "invocations": [{
            "executionSuccessful": not report.errors,
            "exitCode": int(exit_code(report)),
            "toolExecutionNotifications": _notifications(report),
        }],
    }
    if report.root is not None:
        root_uri = PurePath(report.root).as_uri().rstrip("/") + "/"
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root_uri}}
    run["results"] = _results(report, rule_index)
    run["properties"] = {
        "policy": {"name": report.policy_name, "sha256": report.policy_sha256},
        "summary": summary_to_dict(summarize(report)),
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(report: Report, options: RenderOptions | None = None) -> str:
    """Render the report as indented SARIF JSON."""
    return json.dumps(report_to_sarif(report, options), indent=2) + "\n"
