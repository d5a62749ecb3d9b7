"""kerasvet: a safe loader and static auditor for Keras model configs.

``audit`` reads an artifact once, walks every config node and judges it against an
allowlist policy; nothing the config names is ever imported while auditing. ``load_model``,
``deserialize_keras_object`` and ``model_from_json`` audit first and then build under the
resolver and the runtime guard (``kerasvet.loader``); they are imported on first use, so
``import kerasvet`` never imports Keras or the loader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from kerasvet.audit import audit
from kerasvet.engine import Decision, Verdict
from kerasvet.errors import (
    ArtifactNotFound,
    KerasvetError,
    PolicyError,
    PolicyViolation,
)
from kerasvet.findings import Finding, Location, Rule, Severity
from kerasvet.policy import Policy
from kerasvet.report import ArtifactReport, Report

if TYPE_CHECKING:
    from kerasvet.loader import (
        TRUST_EVERYTHING,
        deserialize_keras_object,
        load_model,
        model_from_json,
    )

_LOADER_EXPORTS = frozenset(
    {"TRUST_EVERYTHING", "deserialize_keras_object", "load_model", "model_from_json"}
)


def __getattr__(name: str) -> Any:
    """Import the loader on first use of one of its names (PEP 562)."""
    if name in _LOADER_EXPORTS:
        from kerasvet import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'kerasvet' has no attribute {name!r}")


__all__ = [
    "TRUST_EVERYTHING",
    "ArtifactNotFound",
    "ArtifactReport",
    "Decision",
    "Finding",
    "KerasvetError",
    "Location",
    "Policy",
    "PolicyError",
    "PolicyViolation",
    "Report",
    "Rule",
    "Severity",
    "Verdict",
    "__version__",
    "audit",
    "deserialize_keras_object",
    "load_model",
    "model_from_json",
]
