"""JUnit XML: one test case per artifact, one ``<failure>`` per reported finding.

CI systems that only read test reports then show which model failed and why. Attacker text
can hold characters XML 1.0 cannot carry at all, so those are escaped before writing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from kerasvet.report.model import Disposition, RenderOptions, Report
from kerasvet.report.summary import summarize

__all__ = ["render_junit"]

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """Replace what XML 1.0 forbids (NUL, most C0 controls, lone surrogates) by escapes."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_junit(report: Report, options: RenderOptions | None = None) -> str:
    """Render the report as a JUnit ``testsuites`` document (no timestamps, no durations)."""
    summary = summarize(report)
    failed = 0
    suite = ET.Element("testsuite", name=_clean(f"kerasvet audit (policy {report.policy_name})"))
    properties = ET.SubElement(suite, "properties")
    for name, value in (("policy", report.policy_name), ("policy_sha256", report.policy_sha256),
                        ("fail_on", report.fail_on.label),
                        ("kerasvet_version", report.kerasvet_version)):
        ET.SubElement(properties, "property", name=name, value=_clean(value))
    for artifact in report.artifacts:
        name = artifact.relative_path if artifact.relative_path is not None else artifact.path
        case = ET.SubElement(suite, "testcase", classname="kerasvet.audit", name=_clean(name))
        kept_back = []
        reported = 0
        for item in artifact.triaged(report.fail_on):
            finding = item.finding
            where = finding.location
            place = where.member if where.pointer is None else f"{where.member}#{where.pointer}"
            line = (f"{finding.rule.id} {finding.severity.label} at {place}"
                    f"{f' (layer {where.layer})' if where.layer else ''}: {finding.message}")
            if item.disposition is Disposition.REPORTED:
                reported += 1
                failure = ET.SubElement(case, "failure", type=finding.rule.id,
                                        message=_clean(f"{finding.rule.slug}: {finding.message}"))
                failure.text = _clean(f"{line}\nfix: {finding.rule.remediation}\n"
                                      f"see: {finding.rule.docs_path}")
            elif item.disposition is Disposition.SUPPRESSED:
                kept_back.append(f"suppressed by baseline ({item.reason}): {line}")
            else:
                kept_back.append(f"below --fail-on {report.fail_on.label}: {line}")
        failed += 1 if reported else 0
        if kept_back:
            ET.SubElement(case, "system-out").text = _clean("\n".join(kept_back))
    for error in report.errors:
        case = ET.SubElement(suite, "testcase", classname="kerasvet.audit",
                             name=_clean(error.relative_path))
        ET.SubElement(case, "error", type="unreadable", message=_clean(error.message))
    counts = {"tests": str(len(report.artifacts) + len(report.errors)),
              "failures": str(failed), "errors": str(summary.errors), "skipped": "0"}
    suite.attrib.update(counts)
    root = ET.Element("testsuites", {"name": "kerasvet", "tests": counts["tests"],
                                     "failures": counts["failures"], "errors": counts["errors"]})
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
