"""GitHub Actions workflow commands: one annotation per finding, on the artifact's file.

Messages and layer names are attacker-written, so every value is escaped the way the
Actions toolkit escapes it: a newline inside a layer name must not start a new command.
"""

from __future__ import annotations

from kerasvet.findings import Severity
from kerasvet.report.model import Disposition, RenderOptions, Report, Triaged
from kerasvet.report.summary import summarize

__all__ = ["render_github"]


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _command(item: Triaged) -> str:
    """``error`` fails the run; what the partition kept back is a warning or a notice."""
    if item.disposition is Disposition.REPORTED:
        return "error"
    if item.disposition is Disposition.BELOW_THRESHOLD and item.finding.severity >= \
            Severity.MEDIUM:
        return "warning"
    return "notice"


def _annotation(item: Triaged, file: str, report: Report) -> str:
    finding = item.finding
    where = finding.location
    place = where.member if where.pointer is None else f"{where.member}#{where.pointer}"
    layer = f", layer {where.layer}" if where.layer else ""
    note = ""
    if item.disposition is Disposition.SUPPRESSED:
        note = f" [suppressed by baseline: {item.reason}]"
    elif item.disposition is Disposition.BELOW_THRESHOLD:
        note = f" [below --fail-on {report.fail_on.label}]"
    message = (f"{finding.severity.label} {finding.rule.slug}: {finding.message} "
               f"(at {place}{layer}; see {finding.rule.docs_path}){note}")
    return (f"::{_command(item)} file={_property(file)},title={_property(finding.rule.id)}"
            f"::{_data(message)}")


def render_github(report: Report, options: RenderOptions | None = None) -> str:
    """Workflow commands for every finding and unreadable input, then one summary line."""
    lines = []
    for artifact in report.artifacts:
        for item in artifact.triaged(report.fail_on):
            lines.append(_annotation(item, artifact.file_of(item.finding), report))
    for error in report.errors:
        lines.append(f"::error file={_property(error.relative_path)},title=kerasvet"
                     f"::{_data('could not read the file: ' + error.message)}")
    summary = summarize(report)
    lines.append(
        f"kerasvet: {summary.files} artifact(s), {summary.denied} denied, {summary.reported} "
        f"finding(s) reported, {summary.suppressed} suppressed by baseline, "
        f"{summary.below_threshold} below --fail-on {summary.fail_on.label}, "
        f"{summary.errors} unreadable; exit {int(summary.exit_code)}"
    )
    return "\n".join(lines) + "\n"
