"""The report: every decision and finding of an audit, partitioned, never filtered."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kerasvet.artifact.model import ArtifactFormat
from kerasvet.engine.model import Decision, Verdict
from kerasvet.findings import Finding, Pointer, Severity
from kerasvet.tree import Grammar

__all__ = [
    "ArtifactReport",
    "Disposition",
    "LambdaRecord",
    "RenderOptions",
    "Report",
    "ScanError",
    "SkipReason",
    "Skipped",
    "Suppression",
    "Triaged",
]


class Disposition(str, enum.Enum):
    """Which part of the partition a finding falls in; every finding is in exactly one."""

    REPORTED = "reported"
    """At or above ``--fail-on`` and not in the baseline: it fails the run."""
    SUPPRESSED = "suppressed"
    """Matched by a baseline entry (same artifact sha256, rule id and pointer)."""
    BELOW_THRESHOLD = "below-threshold"
    """Below ``--fail-on``: shown, but it does not fail the run."""


@dataclass(frozen=True, slots=True)
class Suppression:
    """A finding a baseline entry accepted, with the reason a person wrote for it."""

    index: int
    """Position of the finding in ``ArtifactReport.findings`` (duplicates stay distinct)."""
    reason: str
    """The baseline entry's ``reason``."""


@dataclass(frozen=True, slots=True)
class Triaged:
    """One finding with its place in the partition."""

    finding: Finding
    """The finding, unchanged."""
    disposition: Disposition
    """Reported, suppressed by the baseline, or below the threshold."""
    reason: str | None = None
    """The baseline reason when suppressed."""


class SkipReason(str, enum.Enum):
    """Why a tree walk passed over a path instead of auditing it."""

    SYMLINK = "symlink"
    """A symbolic link: never followed, so a link cannot pull files from outside the tree."""
    SPECIAL = "special-file"
    """A FIFO, socket or device: reading it could block or never end."""
    NOT_KERAS_JSON = "not-keras-json"
    """JSON whose top level is not an object with ``class_name``: Keras cannot build it."""
    NOT_A_MODEL = "not-a-model"
    """Content that is no Keras artifact (see ``kerasvet.scan`` for how that is decided)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path found while walking a tree and deliberately not audited."""

    path: str
    """The path as walked."""
    relative_path: str
    """The path relative to the scan root, POSIX separators."""
    reason: SkipReason
    """Why it was passed over."""


@dataclass(frozen=True, slots=True)
class ScanError:
    """An input that could not be read at all (an I/O problem, not hostile content)."""

    path: str
    """The path as walked or given."""
    relative_path: str
    """The path relative to the scan root, POSIX separators."""
    message: str
    """What went wrong."""


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What a person asked of the output; formats read nothing else but the report."""

    show_allowed: bool = False
    """List every node's decision, allowed ones included (text and JSON)."""
    docs_base: str | None = None
    """Absolute URI the rule pages hang under (``<base>docs/rules/KV302.md``); SARIF writes
    ``helpUri`` only with one, since the spec and GitHub's upload require absolute URIs."""


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
    relative_path: str | None = None
    """Path relative to the scan root, POSIX separators (set by a scan; SARIF URIs and
    baselines name the artifact by it)."""
    suppressions: tuple[Suppression, ...] = ()
    """Findings a baseline accepted; they stay in ``findings``."""

    @property
    def allowed(self) -> bool:
        """Whether the artifact may be built."""
        return self.verdict is Verdict.ALLOW

    def file_of(self, finding: Finding) -> str:
        """The file a finding is in, for formats that name files (SARIF, GitHub): the
        artifact itself, or the member's file inside an unzipped ``.keras`` folder."""
        base = self.relative_path if self.relative_path is not None else self.path
        if self.format is not ArtifactFormat.KERAS_DIR:
            return base
        folder = base.rstrip("/") + "/"
        member = finding.location.member
        return folder if member.startswith("<") else folder + member

    def triaged(self, fail_on: Severity) -> tuple[Triaged, ...]:
        """Every finding, in order, with its disposition: baseline first, then threshold."""
        reasons = {s.index: s.reason for s in self.suppressions}
        result = []
        for index, finding in enumerate(self.findings):
            reason = reasons.get(index)
            if reason is not None:
                result.append(Triaged(finding, Disposition.SUPPRESSED, reason))
            elif finding.severity < fail_on:
                result.append(Triaged(finding, Disposition.BELOW_THRESHOLD))
            else:
                result.append(Triaged(finding, Disposition.REPORTED))
        return tuple(result)


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
    root: str | None = None
    """Absolute scan root (relative paths are relative to it); ``None`` outside a scan."""
    fail_on: Severity = Severity.HIGH
    """Lowest severity that fails the run (``--fail-on``); the partition depends on it."""
    errors: tuple[ScanError, ...] = ()
    """Inputs that could not be read; any of them makes the run exit 2."""
    skipped: tuple[Skipped, ...] = ()
    """Paths a tree walk passed over, each with its reason."""

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
