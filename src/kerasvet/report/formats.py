"""The one table from ``--format`` names to renderers."""

from __future__ import annotations

import enum
from collections.abc import Callable

from kerasvet.report.json_format import render_json
from kerasvet.report.model import Report
from kerasvet.report.text import render_text

__all__ = ["FORMATS", "OutputFormat"]


class OutputFormat(str, enum.Enum):
    """Output formats of ``kerasvet audit``."""

    TEXT = "text"
    JSON = "json"



FORMATS: dict[OutputFormat, Callable[[Report, bool], str]] = {
    OutputFormat.TEXT: lambda report, show_allowed: render_text(report, show_allowed=show_allowed),
    OutputFormat.JSON: lambda report, show_allowed: render_json(report, show_allowed=show_allowed),
}
"""Every format, exhaustively; a test walks this table."""
