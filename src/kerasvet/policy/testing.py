"""``kerasvet policy test``: run a policy file's own ``[[tests]]`` against its effective policy.

Each case audits an artifact (or an inline config) with ``audit_artifact`` and compares the
verdict, and optionally the exact set of rule ids of denying findings, with what the case
expects. Tests are not inherited: a policy runs only the tests of its own top file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kerasvet.policy.model import Policy, PolicyFileError, PolicyTest

__all__ = ["PolicyTestResult", "run_policy_tests"]


@dataclass(frozen=True, slots=True)
class PolicyTestResult:
    """What one case found, next to what it expected."""

    test: PolicyTest
    """The case."""
    verdict: str
    """``"allow"`` or ``"deny"``: the audit's verdict."""
    rules: frozenset[str]
    """Rule ids of the denying findings the audit reported."""

    @property
    def passed(self) -> bool:
        """The verdict matches, and so do the rule ids when the case lists them."""
        if self.verdict != self.test.verdict:
            return False
        return self.test.rules is None or self.rules == self.test.rules

    def __str__(self) -> str:
        if self.passed:
            return f"ok {self.test.name}: {self.verdict} {_ids(self.rules)}"
        expected = self.test.verdict
        if self.test.rules is not None:
            expected = f"{expected} {_ids(self.test.rules)}"
        return (f"FAIL {self.test.name}: expected {expected}, got {self.verdict} "
                f"{_ids(self.rules)}  # {self.test.source}")


def _ids(rules: frozenset[str]) -> str:
    return "[" + ", ".join(sorted(rules)) + "]"


def _source_path(source: str) -> Path:
    """The file of a ``path:line`` source."""
    path, _, line = source.rpartition(":")
    return Path(path) if path and line.isdigit() else Path(source)


def run_policy_tests(policy: Policy) -> tuple[PolicyTestResult, ...]:
    """Run every test of ``policy`` in file order.

    Raises ``PolicyFileError`` (naming the test's ``file:line``) when an artifact is missing;
    hostile or broken artifacts are findings, as in any audit.
    """
    from kerasvet.audit import audit_artifact  # the audit pipeline imports this package

    results: list[PolicyTestResult] = []
    for index, test in enumerate(policy.tests):
        if test.artifact is not None:
            if not test.artifact.exists():
                path = _source_path(test.source)
                line = test.source.rpartition(":")[2]
                raise PolicyFileError(path, f"tests[{index}].artifact",
                                      f"test {test.name!r}: {test.artifact} does not exist",
                                      int(line) if line.isdigit() else None)
            report = audit_artifact(str(test.artifact), policy)
        else:
            assert test.config is not None
            report = audit_artifact(test.config, policy)
        rules = frozenset(str(f.rule.id) for f in report.findings if f.denies)
        results.append(PolicyTestResult(test=test, verdict=report.verdict.value, rules=rules))
    return tuple(results)
