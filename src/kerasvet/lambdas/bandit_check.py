"""Run bandit on a reconstructed lambda and turn its findings into KV508 reasons.

Why bandit at all, when the allowlist already decides: its findings are a second, familiar
signal in the audit record (it names ``os.system`` B605, ``eval`` B307, ``marshal.loads``
B302 the way security reviewers know them), and findings at or above the policy's
``bandit_severity`` deny. It is never the gate: it caught 4 of 21 malicious lambdas in
lambda-analysis.md section 8, so it can only add denials.

bandit has no public API that scans a string, so the source is written to a private
temporary directory and scanned through the public ``discover_files``/``run_tests`` path.
bandit *fails open* by design: a plugin that raises is logged and the file reports zero
issues. Here it fails closed instead: the manager runs with ``debug=True``, which makes the
tester re-raise, so a plugin error surfaces as a skipped file, and a skipped file (or any
exception) is a denial. ``# nosec`` is ignored (the source is ours and has no comments,
but the setting makes that independent of the source). bandit's log messages are dropped
while it runs, so a scan never prints to the caller's terminal.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from kerasvet.findings import Severity
from kerasvet.lambdas.model import LambdaReason

__all__ = ["bandit_reasons"]

_SEVERITIES: Final = {"LOW": Severity.LOW, "MEDIUM": Severity.MEDIUM, "HIGH": Severity.HIGH}


def bandit_reasons(source: str, threshold: Severity) -> tuple[LambdaReason, ...]:
    """KV508 reasons for every bandit finding on ``source``; never raises.

    Findings at or above ``threshold`` deny; the others are returned with ``denies=False``.
    A failure inside bandit is one denying reason.
    """
    try:
        issues, skipped = _scan(source)
    except Exception as exc:
        return (LambdaReason("KV508", f"bandit failed: {type(exc).__name__}: {exc}"),)
    reasons: list[LambdaReason] = []
    if skipped:
        reasons.append(LambdaReason("KV508", f"bandit could not scan the source ({skipped})"))
    for test_id, test_name, severity, confidence, text in issues:
        level = _SEVERITIES.get(severity.upper())
        label = severity.lower() if level is not None else "high"
        denies = level is None or level >= threshold
        reasons.append(LambdaReason(
            "KV508",
            f"bandit {test_id} ({test_name}), severity {severity.lower()}, confidence "
            f"{confidence.lower()}: {text}",
            severity=label,
            denies=denies,
        ))
    return tuple(reasons)


def _scan(source: str) -> tuple[list[tuple[str, str, str, str, str]], str]:
    """Scan ``source`` with a fresh manager; returns the issues and any skip reason."""
    from bandit.core import config as bandit_config
    from bandit.core import manager as bandit_manager

    with _quiet_bandit(), tempfile.TemporaryDirectory(prefix="kerasvet-bandit-") as tmp:
        path = os.path.join(tmp, "lambda_source.py")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source + "\n")
        manager: Any = bandit_manager.BanditManager(
            bandit_config.BanditConfig(), "file", debug=True, quiet=True, ignore_nosec=True,
        )
        manager.discover_files([path])
        if list(manager.files_list) != [path]:
            raise RuntimeError("bandit did not pick up the source file")
        manager.run_tests()
        skipped = "; ".join(str(reason) for _, reason in manager.get_skipped())
        issues = [
            (str(i.test_id), str(i.test), str(i.severity), str(i.confidence), str(i.text))
            for i in manager.get_issue_list()
        ]
    return issues, skipped


@contextmanager
def _quiet_bandit() -> Iterator[None]:
    """Keep bandit's log records away from the caller's handlers for one scan.

    A handler on the ``bandit`` logger (so Python's last-resort stderr handler stays quiet)
    and no propagation to the root logger; both are restored afterwards. Failures are not
    lost: with ``debug=True`` they come back as skipped files, hence as denials.
    """
    logger = logging.getLogger("bandit")
    sink = logging.NullHandler()
    saved = logger.propagate
    logger.addHandler(sink)
    logger.propagate = False
    try:
        yield
    finally:
        logger.propagate = saved
        logger.removeHandler(sink)
