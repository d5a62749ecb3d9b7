"""kerasvet: a safe loader and static auditor for Keras model configs.

``audit`` reads an artifact once, walks every config node and judges it against an
allowlist policy; nothing the config names is ever imported while auditing.
"""

from __future__ import annotations

__version__ = "0.1.0"

from kerasvet.audit import audit
from kerasvet.engine import Decision, Verdict
from kerasvet.errors import (
    ArtifactNotFound,
    KerasvetError,
    PolicyError,
    PolicyViolation,
)
from kerasvet.findings import Finding, Location, Rule, Severity
from kerasvet.policy import Policy
from kerasvet.report import ArtifactReport, Report

__all__ = [
    "ArtifactNotFound",
    "ArtifactReport",
    "Decision",
    "Finding",
    "KerasvetError",
    "Location",
    "Policy",
    "PolicyError",
    "PolicyViolation",
    "Report",
    "Rule",
    "Severity",
    "Verdict",
    "__version__",
    "audit",
]
