"""Baselines: written today they suppress today's findings and not a new one; editing an
artifact revives its findings; a reason must be written by a person."""

from __future__ import annotations

import json
import shutil

import pytest
from ci_support import ATTACKS, DENIED_CRITICAL, ONLY_HIGH

from kerasvet.baseline import (
    PLACEHOLDER_REASON,
    Baseline,
    BaselineEntry,
    BaselineError,
    apply_baseline,
    parse_baseline,
)
from kerasvet.findings import Pointer, RuleId
from kerasvet.report.model import Disposition

REASON = "Reviewed by the model team: fixture kept to test the scanner (SEC-42)."


@pytest.fixture
def tree(allowed_tree):
    shutil.copy(DENIED_CRITICAL, allowed_tree / "old_bad.json")
    shutil.copy(ONLY_HIGH, allowed_tree / "old_high.json")
    return allowed_tree


def _write(kerasvet, tree, baseline):
    run = kerasvet("audit", "--root", tree, "--write-baseline", baseline, tree)
    assert run.code == 1  # writing a baseline does not change today's verdict
    return json.loads(baseline.read_text())


def _review(baseline):
    data = json.loads(baseline.read_text())
    for entry in data["entries"]:
        entry["reason"] = REASON
    baseline.write_text(json.dumps(data))


def test_written_entries_name_hash_rule_pointer_and_a_placeholder(kerasvet, tree, tmp_path):
    data = _write(kerasvet, tree, tmp_path / "baseline.json")
    assert data["version"] == 1
    entries = {(e["path"], e["rule"], e["pointer"]) for e in data["entries"]}
    assert entries == {
        ("old_bad.json", "KV302", "/config/layers/2"),
        ("old_high.json", "KV405", ""),
        ("old_high.json", "KV406", "/config/layers/2/config/units"),
    }
    assert {e["reason"] for e in data["entries"]} == {PLACEHOLDER_REASON}
    assert all(len(e["sha256"]) == 64 for e in data["entries"])


def test_placeholder_reasons_are_refused(kerasvet, tree, tmp_path):
    baseline = tmp_path / "baseline.json"
    _write(kerasvet, tree, baseline)
    run = kerasvet("audit", "--root", tree, "--baseline", baseline, tree)
    assert run.code == 2
    assert "no reason written by a person" in run.err
    assert "old_bad.json KV302 /config/layers/2" in run.err


def test_baseline_suppresses_todays_findings_but_not_a_new_one(kerasvet, tree, tmp_path):
    baseline = tmp_path / "baseline.json"
    _write(kerasvet, tree, baseline)
    _review(baseline)
    run = kerasvet("audit", "--root", tree, "--baseline", baseline, "--format", "json", tree)
    assert run.code == 0
    report = run.json()
    assert report["summary"]["findings"] == {"reported": 0, "suppressed": 3,
                                             "below_threshold": 0}
    (bad,) = [a for a in report["artifacts"] if a["relative_path"] == "old_bad.json"]
    assert [(f["disposition"], f["baseline_reason"]) for f in bad["findings"]] == \
        [("suppressed", REASON)]
    assert bad["verdict"] == "deny"  # suppressed, not forgotten

    shutil.copy(ATTACKS / "cve-2025-1550-os-system.json", tree / "keras" / "new_bad.json")
    run = kerasvet("audit", "--root", tree, "--baseline", baseline, "--format", "json", tree)
    assert run.code == 1
    reported = {(a["relative_path"], f["rule"]) for a in run.json()["artifacts"]
                for f in a["findings"] if f["disposition"] == "reported"}
    assert reported == {("keras/new_bad.json", "KV302")}


def test_entries_are_content_addressed(kerasvet, tree, tmp_path):
    """A byte-identical copy is the reviewed artifact, wherever it sits; one changed byte
    is not."""
    baseline = tmp_path / "baseline.json"
    _write(kerasvet, tree, baseline)
    _review(baseline)
    shutil.copy(DENIED_CRITICAL, tree / "keras" / "same_bytes.json")
    assert kerasvet("audit", "--root", tree, "--baseline", baseline, tree).code == 0
    (tree / "keras" / "same_bytes.json").write_bytes(DENIED_CRITICAL.read_bytes() + b"\n")
    assert kerasvet("audit", "--root", tree, "--baseline", baseline, tree).code == 1


def test_editing_an_artifact_revives_its_findings(kerasvet, tree, tmp_path):
    baseline = tmp_path / "baseline.json"
    _write(kerasvet, tree, baseline)
    _review(baseline)
    edited = tree / "old_bad.json"
    edited.write_text(json.dumps(json.loads(edited.read_text()), indent=4))  # same config
    run = kerasvet("audit", "--root", tree, "--baseline", baseline, "--format", "json", tree)
    assert run.code == 1
    dispositions = {(a["relative_path"], f["rule"], f["disposition"])
                    for a in run.json()["artifacts"] for f in a["findings"]}
    assert ("old_bad.json", "KV302", "reported") in dispositions
    assert ("old_high.json", "KV406", "suppressed") in dispositions


def test_rewriting_keeps_reviewed_reasons(kerasvet, tree, tmp_path):
    baseline = tmp_path / "baseline.json"
    _write(kerasvet, tree, baseline)
    _review(baseline)
    shutil.copy(ATTACKS / "cve-2025-1550-os-system.json", tree / "new_bad.json")
    run = kerasvet("audit", "--root", tree, "--baseline", baseline, "--write-baseline",
                   baseline, tree)
    assert run.code == 1
    reasons = {e["path"]: e["reason"] for e in json.loads(baseline.read_text())["entries"]}
    assert reasons["old_bad.json"] == REASON
    assert reasons["new_bad.json"] == PLACEHOLDER_REASON


def test_an_entry_needs_the_same_hash_rule_and_pointer(default_policy):
    from kerasvet.audit import audit_many
    from kerasvet.report.model import Report

    report: Report = audit_many([str(DENIED_CRITICAL)], default_policy)
    sha = report.artifacts[0].sha256

    def dispositions(entry: BaselineEntry) -> list[Disposition]:
        triaged = apply_baseline(report, Baseline((entry,))).artifacts[0].triaged(
            report.fail_on)
        return [t.disposition for t in triaged]

    def entry(sha256: str, rule: str, pointer: str | None) -> BaselineEntry:
        return BaselineEntry(sha256, "x", RuleId(rule), None if pointer is None
                             else Pointer(pointer), REASON)

    assert dispositions(entry(sha, "KV302", "/config/layers/2")) == [Disposition.SUPPRESSED]
    assert dispositions(entry(sha, "KV302", "/config/layers/3")) == [Disposition.REPORTED]
    assert dispositions(entry(sha, "KV303", "/config/layers/2")) == [Disposition.REPORTED]
    assert dispositions(entry("0" * 64, "KV302", "/config/layers/2")) == \
        [Disposition.REPORTED]


@pytest.mark.parametrize(("text", "message"), [
    ("[]", "expected"),
    ('{"version": 2, "entries": []}', "unsupported baseline version"),
    ('{"version": true, "entries": []}', "unsupported baseline version"),
    ('{"version": 1, "entries": [{"sha256": "x"}]}', "missing keys"),
    ('{"version": 1, "entries": [{"sha256": "' + "0" * 64 + '", "path": "a", "rule": "KV302",'
     ' "pointer": null, "reason": "  "}]}', "no reason written by a person"),
    ('{"version": 1, "entries": [], "extra": 1}', "expected"),
])
def test_malformed_baselines_are_refused(text, message):
    with pytest.raises(BaselineError, match=message):
        parse_baseline(text, "b.json")


def test_unreadable_baseline_exits_2(kerasvet, tree, tmp_path):
    run = kerasvet("audit", "--baseline", tmp_path / "missing.json", tree)
    assert run.code == 2
    assert "cannot read baseline" in run.err
