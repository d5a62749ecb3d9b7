"""Shared test helpers: the shipped policies and real Keras-written configs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
BENIGN = FIXTURES / "benign"


@pytest.fixture(scope="session")
def default_policy():
    from kerasvet.policy import load_policy

    return load_policy("default")


@pytest.fixture(scope="session")
def strict_policy():
    from kerasvet.policy import load_policy

    return load_policy("strict")


def benign_configs() -> list[Path]:
    """Every real config Keras wrote for the benign corpus."""
    return sorted(BENIGN.glob("*.config.json"))


def load_benign(name: str) -> dict:
    return json.loads((BENIGN / f"{name}.config.json").read_text())
