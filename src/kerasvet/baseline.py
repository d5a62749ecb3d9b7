"""Baselines: findings a person has reviewed and accepted, kept outside the artifacts.

An entry names the artifact by the sha256 of its bytes, plus the rule id and the JSON
pointer; it suppresses a finding only when all three match, so changing an artifact in any
way revives every finding in it. Inline suppression is impossible on purpose: the attacker
writes the artifact.

``--write-baseline`` records today's findings with ``reason`` set to ``PLACEHOLDER_REASON``,
and ``--baseline`` refuses a file that still holds it (or an empty reason): the reason is
what a reviewer reads later, so a person has to write it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from kerasvet.errors import KerasvetError
from kerasvet.findings import Pointer, RuleId, Severity
from kerasvet.report.model import Report, Suppression

__all__ = [
    "BASELINE_VERSION",
    "PLACEHOLDER_REASON",
    "Baseline",
    "BaselineEntry",
    "BaselineError",
    "apply_baseline",
    "baseline_from_report",
    "load_baseline",
    "parse_baseline",
    "render_baseline",
]

BASELINE_VERSION = 1
PLACEHOLDER_REASON = "TODO: a person must write why this finding is accepted"
"""Written by ``--write-baseline``; ``--baseline`` refuses entries that still carry it."""

_ENTRY_KEYS = frozenset({"sha256", "path", "rule", "pointer", "reason"})
_TOP_KEYS = frozenset({"version", "entries"})


class BaselineError(KerasvetError):
    """A baseline file is unreadable, malformed, or still holds placeholder reasons (exit 2)."""


@dataclass(frozen=True, slots=True)
class BaselineEntry:
    """One accepted finding."""

    sha256: str
    """Hash of the artifact's bytes when the finding was accepted."""
    path: str
    """Where the artifact was (relative to the scan root); for people, not for matching."""
    rule: RuleId
    """The rule that fired."""
    pointer: Pointer | None
    """The node's JSON pointer; ``None`` for container findings that have none."""
    reason: str
    """Why a person accepted it."""

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What a finding must match: artifact hash, rule id, pointer."""
        return (self.sha256, self.rule, self.pointer)


@dataclass(frozen=True, slots=True)
class Baseline:
    """A set of accepted findings."""

    entries: tuple[BaselineEntry, ...]
    """Sorted by path, rule, pointer."""

    def reasons(self) -> Mapping[tuple[str, str, str | None], str]:
        """Entry key to reason (the first entry wins when keys repeat)."""
        found: dict[tuple[str, str, str | None], str] = {}
        for entry in self.entries:
            found.setdefault(entry.key, entry.reason)
        return found


def _entry(raw: object, index: int, source: str) -> BaselineEntry:
    where = f"{source}: entries[{index}]"
    if not isinstance(raw, dict):
        raise BaselineError(f"{where} must be an object")
    keys = set(raw)
    if keys != _ENTRY_KEYS:
        missing, unknown = sorted(_ENTRY_KEYS - keys), sorted(keys - _ENTRY_KEYS)
        raise BaselineError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    for key in ("sha256", "path", "rule", "reason"):
        if not isinstance(raw[key], str):
            raise BaselineError(f"{where}: {key} must be a string")
    sha256 = raw["sha256"]
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise BaselineError(f"{where}: sha256 must be 64 lower-case hex digits")
    pointer = raw["pointer"]
    if pointer is not None and not isinstance(pointer, str):
        raise BaselineError(f"{where}: pointer must be a string or null")
    return BaselineEntry(sha256=sha256, path=raw["path"], rule=RuleId(raw["rule"]),
                         pointer=None if pointer is None else Pointer(pointer),
                         reason=raw["reason"])


def parse_baseline(text: str, source: str) -> Baseline:
    """Read a baseline strictly; refuse it while any reason is missing or the placeholder."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BaselineError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or set(data) != _TOP_KEYS:
        raise BaselineError(f'{source}: expected {{"version": 1, "entries": [...]}}')
    version = data["version"]
    if isinstance(version, bool) or version != BASELINE_VERSION:
        raise BaselineError(f"{source}: unsupported baseline version {data['version']!r}")
    if not isinstance(data["entries"], list):
        raise BaselineError(f"{source}: entries must be a list")
    entries = tuple(_entry(raw, i, source) for i, raw in enumerate(data["entries"]))
    unreviewed = [e for e in entries
                  if not e.reason.strip() or e.reason.strip() == PLACEHOLDER_REASON]
    if unreviewed:
        listed = "; ".join(f"{e.path} {e.rule} {e.pointer}" for e in unreviewed[:5])
        more = f" and {len(unreviewed) - 5} more" if len(unreviewed) > 5 else ""
        raise BaselineError(
            f"{source}: {len(unreviewed)} entr{'y has' if len(unreviewed) == 1 else 'ies have'}"
            f" no reason written by a person ({listed}{more}); replace each "
            f"{PLACEHOLDER_REASON!r} with why the finding is accepted"
        )
    return Baseline(entries=entries)


def load_baseline(path: str | Path) -> Baseline:
    """Read and check a baseline file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from exc
    return parse_baseline(text, str(path))


def apply_baseline(report: Report, baseline: Baseline | None) -> Report:
    """Mark the findings the baseline accepts; nothing is removed from the report."""
    if baseline is None:
        return report
    reasons = baseline.reasons()
    artifacts = []
    for artifact in report.artifacts:
        if artifact.sha256 is None:
            artifacts.append(artifact)  # nothing to match: such findings always count
            continue
        suppressions = []
        for index, finding in enumerate(artifact.findings):
            reason = reasons.get((artifact.sha256, finding.rule.id, finding.location.pointer))
            if reason is not None:
                suppressions.append(Suppression(index=index, reason=reason))
        artifacts.append(replace(artifact, suppressions=tuple(suppressions)))
    return replace(report, artifacts=tuple(artifacts))


def baseline_from_report(report: Report, fail_on: Severity,
                         previous: Baseline | None = None) -> tuple[Baseline, int]:
    """Entries for every finding at or above ``fail_on``, keeping the reasons of entries
    that still match ``previous``; also returns how many findings could not be recorded
    (their artifact has no hash: too large or unreadable, so they always count)."""
    reasons = previous.reasons() if previous is not None else {}
    entries: dict[tuple[str, str, str | None], BaselineEntry] = {}
    unhashed = 0
    for artifact in report.artifacts:
        path = artifact.relative_path if artifact.relative_path is not None else artifact.path
        for finding in artifact.findings:
            if finding.severity < fail_on:
                continue
            if artifact.sha256 is None:
                unhashed += 1
                continue
            key = (artifact.sha256, finding.rule.id, finding.location.pointer)
            entries.setdefault(key, BaselineEntry(
                sha256=artifact.sha256, path=path, rule=finding.rule.id,
                pointer=finding.location.pointer,
                reason=reasons.get(key, PLACEHOLDER_REASON),
            ))
    ordered = sorted(entries.values(),
                     key=lambda e: (e.path, e.rule, e.pointer or "", e.sha256))
    return Baseline(entries=tuple(ordered)), unhashed


def render_baseline(baseline: Baseline) -> str:
    """The baseline file's text: stable order, one key per line, for reviewable diffs."""
    data = {
        "version": BASELINE_VERSION,
        "entries": [
            {"sha256": e.sha256, "path": e.path, "rule": e.rule, "pointer": e.pointer,
             "reason": e.reason}
            for e in baseline.entries
        ],
    }
    return json.dumps(data, indent=2) + "\n"
