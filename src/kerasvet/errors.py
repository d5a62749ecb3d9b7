"""The error hierarchy: every exception kerasvet raises on purpose derives from KerasvetError.

Hostile or malformed *artifacts* never raise: they become findings in a report. These errors
are for the caller's own mistakes (a missing path, a broken policy file) and for refusals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kerasvet.report.model import Report

__all__ = [
    "ArtifactNotFound",
    "KerasvetError",
    "PolicyError",
    "PolicyViolation",
]


class KerasvetError(Exception):
    """Base class of every error kerasvet raises deliberately."""


class ArtifactNotFound(KerasvetError):
    """The path given to audit does not exist or cannot be opened (an I/O problem, exit 2)."""


class PolicyError(KerasvetError):
    """A policy file is malformed: unknown keys, wrong types, a cycle in `extends`, ..."""


class PolicyViolation(KerasvetError):
    """The artifact was refused; `report` holds every finding that led there."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(report.refusal_message())
