"""The one table from ``--format`` names to renderers."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from types import MappingProxyType

from kerasvet.report.github import render_github
from kerasvet.report.json_format import render_json
from kerasvet.report.junit import render_junit
from kerasvet.report.model import RenderOptions, Report
from kerasvet.report.sarif import render_sarif
from kerasvet.report.text import render_text

__all__ = ["FORMATS", "OutputFormat", "Renderer"]


class OutputFormat(str, enum.Enum):
    """Output formats of ``kerasvet audit``."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    GITHUB = "github"
    JUNIT = "junit"


Renderer = Callable[[Report, RenderOptions], str]
"""A format: a pure function of the report and the options, never filtering."""

FORMATS: Mapping[OutputFormat, Renderer] = MappingProxyType({
    OutputFormat.TEXT: render_text,
    OutputFormat.JSON: render_json,
    OutputFormat.SARIF: render_sarif,
    OutputFormat.GITHUB: render_github,
    OutputFormat.JUNIT: render_junit,
})
"""Every format, exhaustively; a test walks this table."""
