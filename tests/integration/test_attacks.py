"""Every attack shape of keras-serialization.md §6-§8 is refused with exact findings.

The fixtures are made by scripts/make_attack_fixtures.py; each is audited as a bare
config.json, inside a real .keras zip, as bytes and (where JSON allows) as a dict. Auditing
never runs anything, so the canary must stay absent.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from kerasvet import Verdict, audit

ATTACKS = Path(__file__).resolve().parent.parent / "fixtures" / "attacks"
MANIFEST = json.loads((ATTACKS / "MANIFEST.json").read_text())["fixtures"]
CANARY = Path("/tmp/kerasvet-canary")


def findings_of(report) -> set[tuple[str, str]]:
    (artifact,) = report.artifacts
    return {(f.rule.id, f.location.pointer) for f in artifact.findings}


def as_keras_zip(text: bytes, directory: Path) -> Path:
    path = directory / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        archive.writestr("config.json", text)
    return path


@pytest.mark.parametrize("fixture", MANIFEST, ids=[f["id"] for f in MANIFEST])
def test_attack_is_refused_with_exact_findings(fixture, default_policy, tmp_path):
    assert not CANARY.exists()
    source = ATTACKS / f"{fixture['id']}.json"
    text = source.read_bytes()
    expected = {(rule, pointer) for rule, pointer in fixture["expect"]}
    for subject in (source, as_keras_zip(text, tmp_path), text):
        report = audit(subject, default_policy)
        assert report.verdict is Verdict.DENY
        assert findings_of(report) == expected, subject
    assert not CANARY.exists()


LAMBDA_RULES = {"KV503", "KV504", "KV505", "KV506", "KV507", "KV508"}


@pytest.mark.parametrize(
    "fixture",
    [f for f in MANIFEST if {rule for rule, _ in f["expect"]} & LAMBDA_RULES],
    ids=lambda f: f["id"],
)
def test_strict_policy_refuses_lambdas_without_reading_them(fixture, strict_policy):
    report = audit(ATTACKS / f"{fixture['id']}.json", strict_policy)
    pointers = {pointer for rule, pointer in fixture["expect"] if rule in LAMBDA_RULES}
    found = findings_of(report)
    assert {("KV500", pointer) for pointer in pointers} <= found
    assert not {rule for rule, _ in found} & LAMBDA_RULES


def test_every_fixture_names_a_reference_and_a_mechanism():
    ids = [f["id"] for f in MANIFEST]
    assert len(ids) == len(set(ids))
    for fixture in MANIFEST:
        assert fixture["reference"]
        assert fixture["mechanism"]
        assert fixture["expect"]
