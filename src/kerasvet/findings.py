"""The finding model shared by every stage: rules, severities, locations and findings.

Rules are declared once, as data, in the module that emits them; a finding points at a rule
and at a symbolic location (artifact member + JSON pointer + layer name).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

__all__ = [
    "Finding",
    "Location",
    "Pointer",
    "Rule",
    "RuleId",
    "Severity",
    "escape_pointer_token",
    "join_pointer",
]

RuleId = NewType("RuleId", str)
"""A stable rule id such as ``KV302``; never reused once published."""

Pointer = NewType("Pointer", str)
"""An RFC 6901 JSON pointer into the config document (``""`` is the root)."""


class Severity(enum.IntEnum):
    """How serious a finding is; high and critical deny, the rest inform."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        """The lower-case name used in reports and on the command line."""
        return self.name.lower()

    @property
    def denies(self) -> bool:
        """Whether a finding of this severity refuses the artifact."""
        return self >= Severity.HIGH

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read a severity name as written in a policy or on the command line."""
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None


@dataclass(frozen=True, slots=True)
class Rule:
    """One check kerasvet can report, declared once next to the code that emits it."""

    id: RuleId
    """Stable id, ``KV`` plus three digits; the family is the first digit."""
    slug: str
    """Short kebab-case name, also the anchor of the rule's docs page."""
    summary: str
    """One sentence saying what the rule refuses or reports."""
    severity: Severity
    """Default severity of the findings this rule emits."""
    remediation: str
    """What a person can do about a finding of this rule."""

    @property
    def docs_path(self) -> str:
        """Path of the rule's page inside the repository."""
        return f"docs/rules/{self.id}.md"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is: symbolic (member, pointer, layer) plus an optional concrete detail."""

    member: str
    """The part of the artifact that holds the problem: ``config.json``, ``model.weights.h5``,
    ``model_config`` (an HDF5 attribute) or ``<artifact>`` for the container itself."""
    pointer: Pointer | None = None
    """JSON pointer of the offending value inside the member's JSON, when there is one."""
    layer: str | None = None
    """Name of the enclosing layer, when the value sits inside one."""
    detail: str | None = None
    """A concrete position: a zip member name, an HDF5 object path, a byte offset."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One reported problem; findings are never edited after creation."""

    rule: Rule
    """The rule that fired."""
    location: Location
    """The primary location."""
    message: str
    """What is wrong, in words that name the offending value."""
    severity: Severity
    """Severity after policy overrides (starts as the rule's default)."""
    value: str | None = None
    """A short, printable rendering of the offending value."""
    reference: str | None = None
    """Advisory or CVE this finding relates to, when there is one."""

    @classmethod
    def of(
        cls,
        rule: Rule,
        location: Location,
        message: str,
        *,
        value: object = None,
        reference: str | None = None,
    ) -> Finding:
        """Build a finding at the rule's default severity, rendering ``value`` safely."""
        return cls(
            rule=rule,
            location=location,
            message=message,
            severity=rule.severity,
            value=None if value is None else render_value(value),
            reference=reference,
        )

    @property
    def denies(self) -> bool:
        """Whether this finding refuses the artifact."""
        return self.severity.denies


_VALUE_LIMIT = 120


def render_value(value: object) -> str:
    """A bounded, single-line, ASCII-safe rendering of attacker data for reports."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, (dict, list)):
        text = type(value).__name__ + f" of {len(value)} item(s)"
    else:
        text = repr(value)
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    if len(text) > _VALUE_LIMIT:
        text = text[: _VALUE_LIMIT - 3] + "..."
    return text


def escape_pointer_token(token: str | int) -> str:
    """Escape one reference token as RFC 6901 requires (``~`` then ``/``)."""
    if isinstance(token, int):
        return str(token)
    return token.replace("~", "~0").replace("/", "~1")


def join_pointer(parent: str, token: str | int) -> Pointer:
    """Append one token to a pointer."""
    return Pointer(f"{parent}/{escape_pointer_token(token)}")
