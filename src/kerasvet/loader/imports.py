"""The import set of a load: the policy's modules plus Keras' measured lazy imports.

The runtime guard refuses every import outside this set while a model is built. It has two
parts, both data:

* the modules the policy names (class and function tables, lambda roots, ``[[custom]]``
  entries) and their parent
  packages, minus modules a deny rule covers entirely (importing a package runs its
  ``__init__`` first, so parents come with every module);
* what a benign load really imports once Keras is imported and the backend is warmed up:
  measured by ``python -m kerasvet.loader.measure`` over the test corpus and kept in
  ``kerasvet.loader._measured`` with the Keras, JAX and Python versions it was taken with.

Lazy imports of another Keras or JAX version may differ; a benign load refused with KV600
for an import names the module, and re-running the measurement refreshes the data.
"""

from __future__ import annotations

from collections.abc import Iterable

from kerasvet.loader._measured import MEASURED_IMPORTS
from kerasvet.policy import Policy

__all__ = ["allowed_imports", "policy_modules"]


def _with_parents(module: str) -> Iterable[str]:
    parts = module.split(".")
    return (".".join(parts[:i]) for i in range(1, len(parts) + 1))


def policy_modules(policy: Policy) -> frozenset[str]:
    """Modules the policy names, with their parent packages, except fully denied ones."""
    named = {*policy.classes, *policy.functions, *policy.lambdas.roots.values(),
             *(entry.module for entry in policy.custom.values())}
    modules = {parent for module in named for parent in _with_parents(module)}
    denied = {m for m in modules for rule in policy.deny
              if rule.names is None and rule.covers_module(m)}
    return frozenset(modules - denied)


def allowed_imports(policy: Policy) -> frozenset[str]:
    """Every module the guard lets a load under ``policy`` import."""
    return policy_modules(policy) | MEASURED_IMPORTS
