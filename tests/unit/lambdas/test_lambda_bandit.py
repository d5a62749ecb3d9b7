"""bandit on reconstructed sources: findings, the severity threshold, and failing closed."""

from __future__ import annotations

import logging

import pytest

from kerasvet.findings import Severity
from kerasvet.lambdas.bandit_check import bandit_reasons
from kerasvet.lambdas.model import LambdaReason

B605 = ("bandit B605 (start_process_with_a_shell), severity low, confidence high: Starting a "
        "process with a shell: Seems safe, but may be changed in the future, consider "
        "rewriting without shell")
B607 = ("bandit B607 (start_process_with_partial_path), severity low, confidence high: "
        "Starting a process with a partial executable path")


def test_os_system_findings() -> None:
    assert bandit_reasons("lambda x: os.system('true')", Severity.LOW) == (
        LambdaReason("KV508", B605, severity="low", denies=True),
        LambdaReason("KV508", B607, severity="low", denies=True),
    )


def test_findings_below_the_threshold_do_not_deny() -> None:
    assert bandit_reasons("lambda x: os.system('true')", Severity.MEDIUM) == (
        LambdaReason("KV508", B605, severity="low", denies=False),
        LambdaReason("KV508", B607, severity="low", denies=False),
    )


@pytest.mark.parametrize(("source", "test_id", "severity"), [
    ("lambda x: eval('1')", "B307", "medium"),
    ("lambda x: exec('x')", "B102", "medium"),
    ("lambda x: marshal.loads(x)", "B302", "medium"),
    ("lambda x: pickle.loads(x)", "B301", "medium"),
])
def test_known_calls_are_flagged(source: str, test_id: str, severity: str) -> None:
    (reason,) = bandit_reasons(source, Severity.HIGH)
    assert reason.rule == "KV508"
    assert reason.message.startswith(f"bandit {test_id} (")
    assert f"severity {severity}" in reason.message
    assert reason.severity == severity
    assert reason.denies is False


def test_clean_source_has_no_reasons() -> None:
    assert bandit_reasons("lambda x: ops.mean(x, axis=-1)", Severity.LOW) == ()


def test_unparsable_source_denies() -> None:
    assert bandit_reasons("lambda x: (", Severity.HIGH) == (LambdaReason(
        "KV508", "bandit could not scan the source (syntax error while parsing AST from "
                 "file)"),)


def test_a_plugin_error_denies_instead_of_failing_open(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bandit.core import tester

    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("plugin bug")

    monkeypatch.setattr(tester.BanditTester, "run_tests", boom)
    logger = logging.getLogger("bandit")
    handlers, propagate = list(logger.handlers), logger.propagate
    assert bandit_reasons("lambda x: x", Severity.HIGH) == (LambdaReason(
        "KV508", "bandit could not scan the source (exception while scanning file)"),)
    # Quiet while it runs, and the logger is left as it was found.
    assert capsys.readouterr() == ("", "")
    assert (list(logger.handlers), logger.propagate) == (handlers, propagate)


def test_a_manager_error_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    from bandit.core import manager

    def boom(self: object) -> None:
        raise ValueError("manager bug")

    monkeypatch.setattr(manager.BanditManager, "run_tests", boom)
    assert bandit_reasons("lambda x: x", Severity.HIGH) == (
        LambdaReason("KV508", "bandit failed: ValueError: manager bug"),)
