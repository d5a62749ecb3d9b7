"""Shared constants and helpers for the CI-facing tests (importable by spawned workers)."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kerasvet.policy import Policy
from kerasvet.scan import Target, audit_chunk

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
ATTACKS = FIXTURES / "attacks"
BENIGN = FIXTURES / "benign"
BENIGN_FILES = BENIGN / "files"
KERAS2 = FIXTURES / "keras2"
EXAMPLES = ROOT / "examples"
SCHEMA = FIXTURES / "sarif" / "sarif-schema-2.1.0.json"
MANIFEST = json.loads((ATTACKS / "MANIFEST.json").read_text())["fixtures"]

DENIED_CRITICAL = ATTACKS / "cve-2025-1550-subprocess-run.json"
"""One KV302 (critical) at /config/layers/2, layer dense_1."""
ONLY_HIGH = ATTACKS / "absurd-units.json"
"""Only high findings: KV406 at /config/layers/2/config/units and KV405 at the root."""
ONLY_MEDIUM = KERAS2 / "lambda_double.h5"
"""Allowed, with one medium finding (KV502)."""


@dataclass(frozen=True)
class Run:
    """What one ``kerasvet`` invocation returned and printed."""

    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def unzip_keras(source: Path, folder: Path) -> Path:
    """An unzipped .keras folder (what ``save_model(..., zipped=False)`` writes)."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(source) as archive:
        archive.extractall(folder)
    return folder


def crashing_chunk(targets: tuple[Target, ...], policy: Policy) -> bytes:
    """A pool worker that dies, as a segfaulting parser would, on files named ``crash*``."""
    if any(Path(t.path).name.startswith("crash") for t in targets):
        os._exit(70)
    return audit_chunk(targets, policy)
