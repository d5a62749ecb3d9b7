"""The safe loader: audit first, then build with a resolver and under a runtime guard.

Modules: ``model`` (the ``TRUST_EVERYTHING`` sentinel, guard events, errors), ``rules``
(KV6xx), ``vet`` (read once and audit), ``resolver`` (private copy, lambda and policy-object
substitution, registry checks), ``imports`` and ``_measured`` (the guard's import set),
``guard`` (the audit hook), ``build`` (the Keras side), ``api`` (the public functions) and
``measure`` (regenerates ``_measured``). Importing this package does not import Keras;
``kerasvet/__init__`` imports it only on first use of a loader name.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kerasvet.loader.api import (
        deserialize_keras_object,
        load_and_summarize,
        load_model,
        model_from_json,
    )
    from kerasvet.loader.model import (
        TRUST_EVERYTHING,
        CustomObjectNotAllowed,
        GuardEvent,
        LoaderError,
        LoadFailed,
        TrustEverything,
        UnsafeLoadRefused,
        UnsupportedArtifact,
    )

_API = frozenset({"deserialize_keras_object", "load_and_summarize", "load_model",
                  "model_from_json"})

__all__ = [
    "TRUST_EVERYTHING",
    "CustomObjectNotAllowed",
    "GuardEvent",
    "LoadFailed",
    "LoaderError",
    "TrustEverything",
    "UnsafeLoadRefused",
    "UnsupportedArtifact",
    "deserialize_keras_object",
    "load_and_summarize",
    "load_model",
    "model_from_json",
]


def __getattr__(name: str) -> object:
    """Import the loader's modules on first use: the rule catalogue imports
    ``kerasvet.loader.rules``, and that must not put the loader on the audit's start-up path."""
    if name not in __all__:
        raise AttributeError(f"module 'kerasvet.loader' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(
        "kerasvet.loader.api" if name in _API else "kerasvet.loader.model"
    )
    return getattr(module, name)
