"""Human text output: per finding the layer, pointer, offending value, rule and what to do,
then a summary table of the run.

Layer names, pointers, zip member names and file names are written by whoever made the
artifact, and this text goes to terminals and CI logs: every such string passes through
``printable`` so an escape sequence cannot recolour the screen, move the cursor or start a
fake line of the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kerasvet.report.model import (
    ArtifactReport,
    Disposition,
    RenderOptions,
    Report,
    SkipReason,
    Triaged,
)
from kerasvet.report.summary import Summary, summarize

__all__ = ["printable", "printable_lines", "render_text"]

_SKIP_WORDS: Mapping[SkipReason, str] = MappingProxyType({
    SkipReason.SYMLINK: "symbolic link(s), not followed",
    SkipReason.SPECIAL: "special file(s) (FIFO, socket, device)",
    SkipReason.NOT_KERAS_JSON: "JSON file(s) without a top-level class_name",
    SkipReason.NOT_A_MODEL: "file(s) that are no Keras artifact by content",
})
_LISTED = (SkipReason.SYMLINK, SkipReason.SPECIAL)
"""Skips worth naming one by one; the others are only counted."""


def _escape(character: str) -> str:
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on spelled as a Python escape:
    controls (ESC, CR, newline), format characters (bidi overrides, zero widths) and other
    separators; printable text, non-ASCII letters included, is left as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def printable_lines(text: str, indent: str) -> str:
    """A multi-line message (a finding's paste-ready snippet): each line made printable,
    lines after the first indented so they cannot pass for the report's own lines."""
    return f"\n{indent}".join(printable(line) for line in text.split("\n"))


def _tag(item: Triaged, report: Report) -> str:
    if item.disposition is Disposition.SUPPRESSED:
        return f" [suppressed by baseline: {item.reason}]"
    if item.disposition is Disposition.BELOW_THRESHOLD:
        return f" [below --fail-on {report.fail_on.label}]"
    return ""


def _finding_lines(item: Triaged, report: Report) -> list[str]:
    finding = item.finding
    where = finding.location
    place = where.member
    if where.pointer is not None:
        place += f"#{where.pointer}"
    if where.detail:
        place += f" ({where.detail})"
    head = (f"  {finding.severity.label.upper():8} {finding.rule.id} {finding.rule.slug}"
            f"{printable(_tag(item, report))}")
    lines = [head, f"           at {printable(place)}"]
    if where.layer:
        lines.append(f"           layer: {printable(where.layer)}")
    lines.append(f"           {printable_lines(finding.message, ' ' * 11)}")
    if finding.value is not None:
        lines.append(f"           value: {finding.value}")
    lines.append(f"           fix: {finding.rule.remediation}")
    lines.append(f"           see: {finding.rule.docs_path}")
    return lines


def _artifact_lines(artifact: ArtifactReport, report: Report, show_allowed: bool) -> list[str]:
    verdict = "ALLOWED" if artifact.allowed else "DENIED"
    nodes = len(artifact.decisions)
    lines = [f"{printable(artifact.path)}: {verdict} ({artifact.format.value}, {nodes} nodes, "
             f"{len(artifact.findings)} findings)"]
    for item in artifact.triaged(report.fail_on):
        lines.extend(_finding_lines(item, report))
    for record in artifact.lambdas:
        versions = ", ".join(record.versions) or "none"
        lines.append(f"  lambda at {printable(f'{record.member}#{record.pointer}')}: "
                     f"{record.verdict.value} [{record.rule}] (CPython {versions})")
        if record.source is not None:
            lines.append(f"           {printable_lines(record.source, ' ' * 11)}")
    if show_allowed:
        for decision in artifact.decisions:
            node = f"{decision.member}#{decision.pointer} {decision.module or '-'}." \
                f"{decision.class_name} [{decision.rule}]"
            lines.append(f"  {decision.verdict.value:5} {printable(node)}")
    return lines


def _summary_lines(summary: Summary) -> list[str]:
    """The table a person reads last: files, verdicts, skips, then findings per rule."""
    counts = dict(summary.skipped)
    rows = [("files", str(summary.files)), ("allowed", str(summary.allowed)),
            ("denied", str(summary.denied)), ("errors", str(summary.errors))]
    rows.extend((f"skipped {reason.value}", str(count)) for reason, count in counts.items())
    lines = ["", "summary"]
    lines.extend(f"  {label:28} {value:>6}" for label, value in rows)
    lines.append(f"  {'findings':28} {summary.reported:>6} reported, {summary.suppressed} "
                 f"suppressed by baseline, {summary.below_threshold} below --fail-on "
                 f"{summary.fail_on.label}")
    if summary.by_rule:
        lines.append(f"  {'rule':8} {'reported':>9} {'suppressed':>11} {'below':>6}")
        lines.extend(f"  {c.rule:8} {c.reported:>9} {c.suppressed:>11} {c.below_threshold:>6}"
                     for c in summary.by_rule)
    lines.append(f"result: {summary.exit_code.name.lower()} (exit {int(summary.exit_code)})")
    return lines


def render_text(report: Report, options: RenderOptions | None = None) -> str:
    """Render the report for a person reading a terminal or a CI log."""
    show_allowed = options.show_allowed if options is not None else False
    lines = [f"kerasvet {report.kerasvet_version}, policy {report.policy_name} "
             f"(sha256 {report.policy_sha256[:12]}), fail on {report.fail_on.label}"]
    for artifact in report.artifacts:
        lines.extend(_artifact_lines(artifact, report, show_allowed))
    for error in report.errors:
        lines.append(f"{printable(error.path)}: ERROR {printable(error.message)}")
    for reason in _LISTED:
        named = [s.path for s in report.skipped if s.reason is reason]
        if named:
            lines.append(f"skipped {len(named)} {_SKIP_WORDS[reason]}:")
            lines.extend(f"  {printable(path)}" for path in named)
    for reason in SkipReason:
        count = sum(1 for s in report.skipped if s.reason is reason)
        if count and reason not in _LISTED:
            lines.append(f"skipped {count} {_SKIP_WORDS[reason]}")
    denied = sum(1 for a in report.artifacts if not a.allowed)
    lines.append(f"{len(report.artifacts)} artifact(s), {denied} denied")
    lines.extend(_summary_lines(summarize(report)))
    return "\n".join(lines) + "\n"
