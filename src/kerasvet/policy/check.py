"""``kerasvet policy check``: load each policy file (parents included) and list what is wrong.

The loader stops at the first problem in a file, so each file yields at most one problem;
files are checked independently so one broken file does not hide the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kerasvet.errors import PolicyError
from kerasvet.policy.load import load_policy
from kerasvet.policy.model import PolicyFileError

__all__ = ["PolicyProblem", "check_policies"]


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One problem, located as precisely as the loader could."""

    file: str
    """The file where the problem is (a parent's path when the parent is broken)."""
    where: str
    """The dotted location inside the file (``limits.max_nodes``, ``deny[2]``)."""
    message: str
    """What is wrong and what is allowed instead."""
    line: int | None = None
    """1-based line of the offending key or table, when a text search found it."""

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{place}: {self.where}: {self.message}"


def _problem(path: Path, exc: PolicyError) -> PolicyProblem:
    if isinstance(exc, PolicyFileError):
        return PolicyProblem(str(exc.path), exc.where, exc.message, exc.line)
    # Errors not tied to a key (a missing file) still name the file that was asked for.
    return PolicyProblem(str(path), "file", str(exc))


def check_policies(paths: Iterable[Path]) -> tuple[PolicyProblem, ...]:
    """Every problem found in ``paths``, in the order given; empty when all are valid."""
    problems: list[PolicyProblem] = []
    for path in paths:
        try:
            load_policy(path)
        except PolicyError as exc:
            problems.append(_problem(path, exc))
    return tuple(problems)
