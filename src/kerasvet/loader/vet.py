"""Read the artifact once and audit exactly what was read, keeping both for the builder.

``kerasvet.audit`` returns only the report; the loader also needs the parsed documents and,
for files, the bytes themselves (the weights come from them). So this module reads a path
into memory exactly once and hands those bytes to the same reader and the same analysis the
audit uses: the config that was judged is the config that is built, and nothing re-opens
the path afterwards.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace

from kerasvet import __version__
from kerasvet.artifact.model import Artifact, ArtifactFormat
from kerasvet.artifact.read import read_artifact, read_file_once
from kerasvet.artifact.rules import INTERNAL_ERROR
from kerasvet.audit import analyse_artifact
from kerasvet.engine import Verdict
from kerasvet.errors import ArtifactNotFound, KerasvetError, PolicyViolation
from kerasvet.findings import Finding, Location
from kerasvet.limits import Deadline
from kerasvet.policy import Policy
from kerasvet.report.model import ArtifactReport, Report

__all__ = ["Vetted", "refuse", "vet_config", "vet_path"]


@dataclass(frozen=True, slots=True)
class Vetted:
    """An artifact that passed the audit, with everything the builder may use."""

    artifact: Artifact
    """The reader's result: the parsed documents (strict parse) and container findings."""
    report: Report
    """The audit report (verdict allow)."""
    data: bytes | None
    """The artifact's bytes for a file (``None`` for a dict or JSON text)."""


def _fail_closed(path: str, artifact: Artifact | None, exc: Exception) -> ArtifactReport:
    """The same fail-closed answer as ``kerasvet.audit``: a crash is a denying finding."""
    finding = Finding.of(INTERNAL_ERROR, Location(member="<artifact>"),
                         f"the audit failed ({type(exc).__name__}: {exc})")
    return ArtifactReport(
        path=path, sha256=artifact.sha256 if artifact else None,
        format=artifact.format if artifact else ArtifactFormat.UNKNOWN,
        verdict=Verdict.DENY,
        findings=(*(artifact.findings if artifact else ()), finding), decisions=(), lambdas=(),
    )


def _report(artifact_report: ArtifactReport, policy: Policy) -> Report:
    return Report(kerasvet_version=__version__, policy_name=policy.name,
                  policy_sha256=policy.sha256, artifacts=(artifact_report,))


def _vet(source: bytes | str | Mapping[str, object], path: str, policy: Policy,
         data: bytes | None) -> Vetted:
    artifact: Artifact | None = None
    try:
        deadline = Deadline.for_limits(policy.limits)  # one cap for read and judgement
        artifact = read_artifact(source, policy.limits, deadline)
        artifact_report = analyse_artifact(artifact, policy, path, deadline)
    except KerasvetError:
        raise
    except Exception as exc:  # fail closed, exactly like audit_artifact
        artifact_report = _fail_closed(path, artifact, exc)
    report = _report(artifact_report, policy)
    if not report.allowed or artifact is None:
        raise PolicyViolation(report)
    return Vetted(artifact=artifact, report=report, data=data)


def vet_path(path: str | os.PathLike[str], policy: Policy) -> Vetted:
    """Read a file once (the reader's own careful read), audit those bytes, refuse or return.

    A folder is audited the way ``kerasvet audit`` audits it (its reader keeps no weights),
    so a hostile folder is still refused with its findings; the caller decides what to do
    with an allowed one.
    """
    shown = os.fsdecode(os.fspath(path))
    try:
        info = os.stat(shown)
    except (OSError, ValueError) as exc:
        raise ArtifactNotFound(f"cannot open {shown!r}: {exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        return _vet(shown, shown, policy, None)
    if not stat.S_ISREG(info.st_mode):
        raise ArtifactNotFound(f"{shown!r} is not a regular file or folder")
    within_cap = info.st_size <= policy.limits.max_artifact_bytes
    data = read_file_once(shown, policy.limits) if within_cap else info.st_size
    if isinstance(data, int):
        # Too large: let the reader say so from the size alone (it reads nothing).
        return _vet(shown, shown, policy, None)
    return _vet(data, shown, policy, data)


def vet_config(source: bytes | Mapping[str, object], shown: str, policy: Policy) -> Vetted:
    """Audit JSON bytes or a dict (a dict is serialised and strictly re-parsed by the reader,
    so the document kept is a private copy that no caller holds). Text is passed as bytes:
    the reader would take a ``str`` that does not start with ``{`` for a path."""
    return _vet(source, shown, policy, None)


def refuse(vetted: Vetted, findings: tuple[Finding, ...]) -> PolicyViolation:
    """The violation for a load the loader stopped after the audit allowed it: the audit's
    report with the loader's findings appended and the verdict turned to deny."""
    (artifact_report,) = vetted.report.artifacts
    denied = replace(artifact_report, verdict=Verdict.DENY,
                     findings=(*artifact_report.findings, *findings))
    return PolicyViolation(replace(vetted.report, artifacts=(denied,)))
