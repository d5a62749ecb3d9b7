"""Reports and their formats (text, JSON), each format a pure ``render(report) -> str``."""

from kerasvet.report.model import ArtifactReport, LambdaRecord, Report

__all__ = ["ArtifactReport", "LambdaRecord", "Report"]
