"""Exit codes exactly as issue 5 lists them, and the one function that computes them."""

from __future__ import annotations

import io
import shutil
import sys

import pytest
from ci_support import DENIED_CRITICAL, ONLY_HIGH, ONLY_MEDIUM

from kerasvet.config import FailOn
from kerasvet.findings import Severity
from kerasvet.report.model import Report, ScanError
from kerasvet.report.summary import ExitCode, exit_code


def test_tree_of_allowed_models_exits_0(kerasvet, allowed_tree):
    run = kerasvet("audit", "--root", allowed_tree, allowed_tree)
    assert run.code == 0, run.out
    assert "result: ok (exit 0)" in run.out


def test_adding_one_denied_model_exits_1(kerasvet, allowed_tree):
    shutil.copy(DENIED_CRITICAL, allowed_tree / "legacy" / "deeper" / "bad.json")
    run = kerasvet("audit", "--root", allowed_tree, "--format", "json", allowed_tree)
    assert run.code == 1
    denied = [a["relative_path"] for a in run.json()["artifacts"] if a["verdict"] == "deny"]
    assert denied == ["legacy/deeper/bad.json"]


def test_fail_on_critical_with_only_a_high_finding_exits_0(kerasvet, allowed_tree):
    shutil.copy(ONLY_HIGH, allowed_tree / "high.json")
    assert kerasvet("audit", "--root", allowed_tree, allowed_tree).code == 1
    run = kerasvet("audit", "--root", allowed_tree, "--fail-on", "critical", "--format", "json",
                   allowed_tree)
    assert run.code == 0
    (high,) = [a for a in run.json()["artifacts"] if a["relative_path"] == "high.json"]
    assert high["verdict"] == "deny"  # the policy still denies it; the gate is the threshold
    assert {(f["rule"], f["disposition"]) for f in high["findings"]} == {
        ("KV406", "below-threshold"), ("KV405", "below-threshold")}


def test_fail_on_medium_fails_on_a_medium_finding_only(kerasvet):
    assert kerasvet("audit", ONLY_MEDIUM).code == 0
    assert kerasvet("audit", "--fail-on", "medium", ONLY_MEDIUM).code == 1
    assert kerasvet("audit", "--fail-on", "high", ONLY_MEDIUM).code == 0


def test_missing_path_exits_2(kerasvet, allowed_tree):
    run = kerasvet("audit", allowed_tree, allowed_tree / "nope.keras")
    assert run.code == 2
    assert "no such file or directory" in run.err


def test_bad_policy_exits_2(kerasvet, allowed_tree, tmp_path):
    policy = tmp_path / "bad.toml"
    policy.write_text('name = "bad"\nsurprise = true\n')
    run = kerasvet("audit", "--policy", policy, allowed_tree)
    assert run.code == 2
    assert "unknown key" in run.err


@pytest.mark.parametrize("args", [["--jobs", "0"], ["--fail-on", "severe"],
                                  ["--docs-base", "not a url"]])
def test_bad_flag_values_exit_2(kerasvet, allowed_tree, args):
    try:
        code = kerasvet("audit", *args, allowed_tree).code
    except SystemExit as exc:  # argparse refuses choices itself
        code = exc.code
    assert code == 2


def test_unreadable_input_exits_2_whatever_the_findings():
    report = Report(kerasvet_version="0", policy_name="p", policy_sha256="0" * 64,
                    artifacts=(), errors=(ScanError("x", "x", "Permission denied"),))
    assert exit_code(report) is ExitCode.ERROR
    assert exit_code(Report(kerasvet_version="0", policy_name="p", policy_sha256="0" * 64,
                            artifacts=())) is ExitCode.OK


def test_fail_on_maps_every_choice_to_its_severity():
    assert [f.severity for f in FailOn] == list(Severity)
    assert all(f.value == f.severity.label for f in FailOn)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_outside_ci(monkeypatch):
    from kerasvet.cli import _progress

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv("CI", raising=False)
    assert _progress()[0] is None  # piped
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setenv("CI", "true")
    assert _progress()[0] is None  # a CI log
    monkeypatch.delenv("CI")
    update, stop = _progress()
    assert update is not None
    update(3, 4)
    stop()
