"""Reports and their formats (text, JSON, SARIF, GitHub, JUnit), each format a pure
``render(report, options) -> str``."""

from kerasvet.report.model import (
    ArtifactReport,
    Disposition,
    LambdaRecord,
    RenderOptions,
    Report,
    ScanError,
    Skipped,
    SkipReason,
    Suppression,
    Triaged,
)

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
