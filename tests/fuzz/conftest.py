"""Fuzz fixtures: a canary package on ``sys.path`` and an audit warm-up.

The canary package ``kvfuzz_canary`` is harmless: importing it (or its ``layers``
submodule) only writes a file next to it. Generated configs name it as module, class,
registered name, function and activation; every property asserts it never fired.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .strategies import CANARY_PACKAGE, EXAMPLES, FIXTURES

_ROOTS = ("ops.", "np.", "tf.", "K.", "keras.")
_CANARY_CODE = """
from pathlib import Path
Path(__file__).resolve().parent.parent.joinpath("CANARY_FIRED").write_text(__name__)
"""


@pytest.fixture(scope="session", autouse=True)
def canary_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Put the canary package first on ``sys.path``; fail the session if it ever fired."""
    root = tmp_path_factory.mktemp("canary")
    package = root / CANARY_PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text(_CANARY_CODE)
    (package / "layers.py").write_text(_CANARY_CODE)
    sys.path.insert(0, str(root))
    try:
        yield root / "CANARY_FIRED"
    finally:
        sys.path.remove(str(root))
    assert not (root / "CANARY_FIRED").exists(), "the canary package was imported"


@pytest.fixture(scope="session", autouse=True)
def warmed_up() -> None:
    """Audit one artifact of each kind first, so kerasvet's own lazy imports are done
    before any property records which modules an audit imports."""
    import kerasvet

    from .strategies import lambda_layer, real_lambda_cases, sequential, to_json_bytes

    # A Lambda per real fixture lambda that uses a root (ops, np, tf, K, keras): astroid's
    # first look at each root parses that package's source once per process (seconds).
    seen: set[str] = set()
    layers = []
    for case_id, source, blob in real_lambda_cases():
        if case_id not in seen and any(root in source for root in _ROOTS):
            seen.add(case_id)
            layers.append(lambda_layer(blob, f"l{len(layers)}"))
    kerasvet.audit(to_json_bytes(sequential(layers)))
    for path in (EXAMPLES / "mlp.keras", EXAMPLES / "legacy_mlp.h5",
                 EXAMPLES / "lambda_model.keras", EXAMPLES / "lambda_import.keras",
                 EXAMPLES / "small_mobilenet.json",
                 FIXTURES / "keras2" / "lambda_double.h5"):
        kerasvet.audit(path)
