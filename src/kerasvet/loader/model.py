"""Types of the safe loader: the trust-everything sentinel, guard events and the error base.

Nothing here imports Keras: ``kerasvet.TRUST_EVERYTHING`` and the errors must be usable (and
catchable) by code that never loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kerasvet.errors import KerasvetError

__all__ = [
    "TRUST_EVERYTHING",
    "CustomObjectNotAllowed",
    "GuardEvent",
    "LoadFailed",
    "LoaderError",
    "TrustEverything",
    "UnsafeLoadRefused",
    "UnsupportedArtifact",
]


@dataclass(frozen=True, slots=True)
class TrustEverything:
    """The explicit opt-out: no audit, no resolver, no guard; Keras with ``safe_mode=False``.

    It is a type of its own, not a :class:`~kerasvet.policy.Policy`, so it can never be
    mistaken for a policy by ``audit`` or by the CLI, and the only way to get Keras' unsafe
    behaviour through kerasvet is to name this object in the call.
    """

    name: str = "trust-everything"
    """Shown in messages and summaries."""

    def __repr__(self) -> str:
        return "kerasvet.TRUST_EVERYTHING"


TRUST_EVERYTHING: Final = TrustEverything()
"""Pass as ``policy=`` to load exactly as ``keras.saving.load_model(..., safe_mode=False)``
would: for artifacts you made yourself, never for a stranger's."""


@dataclass(frozen=True, slots=True)
class GuardEvent:
    """One operation the runtime guard refused while a load was running."""

    event: str
    """The audit event name (``open``, ``import``, ``exec``, ``subprocess.Popen``, ...)."""
    detail: str
    """What was attempted, in words (``open('/tmp/x', 'w') for writing``)."""


class LoaderError(KerasvetError):
    """Base of the loader's own errors: the caller's request cannot be honoured as asked.

    A refused *artifact* is a :class:`~kerasvet.errors.PolicyViolation` (it carries the
    report); these errors are about the call itself or about Keras failing on a config the
    policy allowed.
    """


class UnsafeLoadRefused(LoaderError):
    """``safe_mode=False`` without ``policy=kerasvet.TRUST_EVERYTHING``."""


class CustomObjectNotAllowed(LoaderError):
    """A caller-supplied custom object is not an allowed class or function of the policy."""


class UnsupportedArtifact(LoaderError):
    """The artifact passed the audit but is not something this entry point can build
    (an unzipped folder, a bare config handed to ``load_model``, ...)."""


class LoadFailed(LoaderError):
    """Keras raised while building an allowed config or loading its weights.

    The original exception is chained (``__cause__``); no refusal by the runtime guard was
    involved (that would be a ``PolicyViolation``).
    """
