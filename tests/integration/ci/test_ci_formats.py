"""Every ``--format`` renders the same partitioned report; a test walks the formats table."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from ci_support import DENIED_CRITICAL, ONLY_HIGH, ONLY_MEDIUM, ROOT

from kerasvet.audit import audit_many
from kerasvet.baseline import Baseline, BaselineEntry, apply_baseline
from kerasvet.findings import Location, Pointer, RuleId, Severity
from kerasvet.report.formats import FORMATS, OutputFormat
from kerasvet.report.github import render_github
from kerasvet.report.junit import render_junit
from kerasvet.report.model import RenderOptions, Report
from kerasvet.report.text import render_text

REASON = "accepted: scanner fixture"


@pytest.fixture
def partitioned(default_policy) -> Report:
    """One finding in each part: reported (critical), suppressed (KV406), below (KV502)."""
    report = audit_many([str(DENIED_CRITICAL), str(ONLY_HIGH), str(ONLY_MEDIUM)],
                        default_policy)
    artifacts = tuple(replace(a, relative_path=f"m/{a.path.rsplit('/', 1)[-1]}")
                      for a in report.artifacts)
    high = artifacts[1]
    entries = tuple(BaselineEntry(high.sha256, "m/absurd-units.json", f.rule.id,
                                  f.location.pointer, REASON) for f in high.findings)
    return apply_baseline(replace(report, artifacts=artifacts, root=str(ROOT)),
                          Baseline(entries))


def _check_text(out: str) -> None:
    assert "  CRITICAL KV302 denied-class\n" in out
    assert f"  HIGH     KV406 dimension-too-large [suppressed by baseline: {REASON}]" in out
    assert "  MEDIUM   KV502 keras2-module-key [below --fail-on high]" in out
    assert out.rstrip().endswith("result: failed (exit 1)")


def _check_json(out: str) -> None:
    data = json.loads(out)
    assert list(data)[:5] == ["schema_version", "kerasvet_version", "policy", "verdict",
                              "summary"]
    assert data["summary"]["findings"] == {"reported": 1, "suppressed": 2, "below_threshold": 1}
    assert data["summary"]["by_rule"]["KV406"] == {"reported": 0, "suppressed": 1,
                                                   "below_threshold": 0}
    first = data["artifacts"][0]["findings"][0]
    assert {k: first[k] for k in ("rule", "pointer", "layer", "disposition")} == {
        "rule": "KV302", "pointer": "/config/layers/2", "layer": "dense_1",
        "disposition": "reported"}


def _check_sarif(out: str) -> None:
    results = json.loads(out)["runs"][0]["results"]
    assert [(r["ruleId"], r["properties"]["disposition"], "suppressions" in r)
            for r in results] == [("KV302", "reported", False), ("KV406", "suppressed", True),
                                  ("KV405", "suppressed", True),
                                  ("KV502", "below-threshold", False)]
    assert results[1]["suppressions"] == [{"kind": "external", "status": "accepted",
                                           "justification": REASON}]


def _check_github(out: str) -> None:
    lines = out.splitlines()
    assert lines[0].startswith("::error file=m/cve-2025-1550-subprocess-run.json,title=KV302::"
                               "critical denied-class: subprocess.run")
    assert lines[1].startswith("::notice file=m/absurd-units.json,title=KV406::")
    assert lines[3].startswith("::warning file=m/lambda_double.h5,title=KV502::medium")
    assert lines[-1].endswith("; exit 1")


def _check_junit(out: str) -> None:
    suites = ET.fromstring(out)
    assert (suites.get("tests"), suites.get("failures"), suites.get("errors")) == ("3", "1", "0")
    cases = suites.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == ["m/cve-2025-1550-subprocess-run.json",
                                              "m/absurd-units.json", "m/lambda_double.h5"]
    assert [f.get("type") for f in cases[0].findall("failure")] == ["KV302"]
    assert cases[1].find("failure") is None
    assert "suppressed by baseline" in cases[1].find("system-out").text
    assert "below --fail-on high" in cases[2].find("system-out").text


CHECKS = {
    OutputFormat.TEXT: _check_text,
    OutputFormat.JSON: _check_json,
    OutputFormat.SARIF: _check_sarif,
    OutputFormat.GITHUB: _check_github,
    OutputFormat.JUNIT: _check_junit,
}


def test_the_table_lists_every_choice():
    assert set(FORMATS) == set(OutputFormat) == set(CHECKS)


@pytest.mark.parametrize("fmt", list(FORMATS), ids=lambda f: f.value)
def test_every_format_shows_the_partition(fmt, partitioned):
    out = FORMATS[fmt](partitioned, RenderOptions())
    CHECKS[fmt](out)
    assert FORMATS[fmt](partitioned, RenderOptions()) == out  # pure: same report, same text


@pytest.mark.parametrize("fmt", list(OutputFormat), ids=lambda f: f.value)
def test_every_format_renders_from_the_command(fmt, kerasvet, tmp_path):
    out = tmp_path / f"report.{fmt.value}"
    run = kerasvet("audit", "--root", ROOT, "--format", fmt.value, "--output", out,
                   DENIED_CRITICAL)
    assert run.code == 1
    assert run.out == ""
    assert "KV302" in out.read_text()


def _hostile(report: Report, layer: str, message: str) -> Report:
    artifact = report.artifacts[0]
    finding = artifact.findings[0]
    hostile = replace(finding, message=message,
                      location=Location(member="<json>", pointer=Pointer("/config/layers/2"),
                                        layer=layer))
    return replace(report, artifacts=(replace(artifact, findings=(hostile,)),))


def test_github_annotations_cannot_be_forged_by_a_layer_name(partitioned):
    report = _hostile(partitioned, "x\n::error file=README.md::pwned", "100%\r\nok, done")
    (annotation, summary) = render_github(report).splitlines()
    assert annotation.startswith("::error file=m/cve-2025-1550-subprocess-run.json,title=KV302::")
    assert "%0A::error file=README.md::pwned" in annotation
    assert "100%25%0D%0Aok, done" in annotation
    assert summary.startswith("kerasvet:")


def test_junit_stays_well_formed_with_control_characters(partitioned):
    report = _hostile(partitioned, "bell\x07", "nul\x00 and <tag> & \"quotes\"")
    case = ET.fromstring(render_junit(report)).find("testsuite/testcase")
    failure = case.find("failure")
    assert failure.get("message") == 'denied-class: nul\\x00 and <tag> & "quotes"'
    assert "layer bell\\x07" in failure.text


def test_text_lists_unreadable_files_and_counts(partitioned):
    from kerasvet.report.model import ScanError

    report = replace(partitioned, errors=(ScanError("/x/y.keras", "y.keras", "EACCES"),),
                     fail_on=Severity.CRITICAL)
    out = render_text(report)
    assert "/x/y.keras: ERROR EACCES\n" in out
    assert out.rstrip().endswith("result: error (exit 2)")


def test_rule_ids_in_tests_exist():
    from kerasvet.catalogue import rule

    for rule_id in ("KV302", "KV405", "KV406", "KV502"):
        assert rule(RuleId(rule_id)).id == rule_id
