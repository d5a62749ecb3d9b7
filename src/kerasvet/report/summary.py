"""Counts over a report and the one function that turns a report into an exit code.

Every format shows the same numbers, and the command exits with the code computed here, so
what a person reads in the summary and what CI acts on cannot disagree.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

from kerasvet.findings import RuleId, Severity
from kerasvet.report.model import Disposition, Report, SkipReason

__all__ = ["ExitCode", "RuleCount", "Summary", "exit_code", "summarize"]


class ExitCode(enum.IntEnum):
    """What ``kerasvet audit`` returns."""

    OK = 0
    """Nothing at or above ``--fail-on`` outside the baseline."""
    FAILED = 1
    """At least one reported finding."""
    ERROR = 2
    """A usage error, or an input that could not be read (the scan is incomplete)."""


@dataclass(frozen=True, slots=True)
class RuleCount:
    """How often one rule fired, split by disposition."""

    rule: RuleId
    """The rule id."""
    reported: int
    """Findings that fail the run."""
    suppressed: int
    """Findings accepted by the baseline."""
    below_threshold: int
    """Findings under ``--fail-on``."""


@dataclass(frozen=True, slots=True)
class Summary:
    """The numbers of one run."""

    files: int
    """Artifacts audited."""
    allowed: int
    """Artifacts the policy allows."""
    denied: int
    """Artifacts the policy denies (whatever ``--fail-on`` says)."""
    errors: int
    """Inputs that could not be read."""
    skipped: tuple[tuple[SkipReason, int], ...]
    """Paths passed over by the tree walk, per reason (only reasons that occurred)."""
    reported: int
    """Findings that fail the run."""
    suppressed: int
    """Findings accepted by the baseline."""
    below_threshold: int
    """Findings under ``--fail-on``."""
    by_rule: tuple[RuleCount, ...]
    """Per rule id, sorted by id."""
    fail_on: Severity
    """The threshold the partition used."""
    exit_code: ExitCode
    """What the command returns for this report."""


def exit_code(report: Report) -> ExitCode:
    """The exit code: 2 when an input could not be read, 1 when any finding is reported
    (at or above the report's ``fail_on`` and not suppressed by the baseline), else 0.

    An unreadable input wins over findings: the scan is incomplete, so neither "passed"
    nor "these are all the problems" would be true.
    """
    if report.errors:
        return ExitCode.ERROR
    for artifact in report.artifacts:
        for item in artifact.triaged(report.fail_on):
            if item.disposition is Disposition.REPORTED:
                return ExitCode.FAILED
    return ExitCode.OK


def summarize(report: Report) -> Summary:
    """Count files, verdicts, skipped paths and findings per disposition and rule."""
    per_rule: dict[RuleId, Counter[Disposition]] = {}
    totals: Counter[Disposition] = Counter()
    for artifact in report.artifacts:
        for item in artifact.triaged(report.fail_on):
            per_rule.setdefault(item.finding.rule.id, Counter())[item.disposition] += 1
            totals[item.disposition] += 1
    skipped = Counter(s.reason for s in report.skipped)
    denied = sum(1 for a in report.artifacts if not a.allowed)
    return Summary(
        files=len(report.artifacts),
        allowed=len(report.artifacts) - denied,
        denied=denied,
        errors=len(report.errors),
        skipped=tuple((reason, skipped[reason]) for reason in SkipReason if skipped[reason]),
        reported=totals[Disposition.REPORTED],
        suppressed=totals[Disposition.SUPPRESSED],
        below_threshold=totals[Disposition.BELOW_THRESHOLD],
        by_rule=tuple(
            RuleCount(rule=rule, reported=counts[Disposition.REPORTED],
                      suppressed=counts[Disposition.SUPPRESSED],
                      below_threshold=counts[Disposition.BELOW_THRESHOLD])
            for rule, counts in sorted(per_rule.items())
        ),
        fail_on=report.fail_on,
        exit_code=exit_code(report),
    )
