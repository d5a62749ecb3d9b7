"""`kerasvet.audit` takes a path, bytes, a dict or a JSON string and returns one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kerasvet
from kerasvet import ArtifactNotFound, PolicyError, Verdict

ROOT = Path(__file__).resolve().parent.parent.parent
CONFIG = ROOT / "tests" / "fixtures" / "benign" / "resnet50.config.json"
ATTACK = ROOT / "tests" / "fixtures" / "attacks" / "cve-2026-1462-tfsmlayer.json"


@pytest.mark.parametrize("kind", ["path", "str-path", "bytes", "dict", "json-text"])
def test_every_source_kind_gives_the_same_verdicts(kind, default_policy):
    def as_source(path: Path):
        return {
            "path": path,
            "str-path": str(path),
            "bytes": path.read_bytes(),
            "dict": json.loads(path.read_text()),
            "json-text": path.read_text(),
        }[kind]

    allowed = kerasvet.audit(as_source(CONFIG), default_policy)
    assert allowed.verdict is Verdict.ALLOW
    assert len(allowed.artifacts[0].decisions) > 800
    denied = kerasvet.audit(as_source(ATTACK), default_policy)
    assert [(f.rule.id, f.location.pointer) for f in denied.artifacts[0].findings] == [
        ("KV302", "/config/layers/2")
    ]


def test_default_policy_is_used_when_none_is_given():
    report = kerasvet.audit(CONFIG)
    assert report.policy_name == "default"
    assert len(report.policy_sha256) == 64


def test_policy_by_name_and_by_path(tmp_path):
    assert kerasvet.audit(CONFIG, "strict").policy_name == "strict"
    own = tmp_path / "own.toml"
    own.write_text('name = "own"\nextends = ["default"]\n')
    assert kerasvet.audit(CONFIG, own).policy_name == "own"


def test_missing_path_and_bad_policy_raise_kerasvet_errors(tmp_path):
    with pytest.raises(ArtifactNotFound):
        kerasvet.audit(tmp_path / "missing.keras")
    with pytest.raises(PolicyError):
        kerasvet.audit(CONFIG, "no-such-policy")
    assert issubclass(ArtifactNotFound, kerasvet.KerasvetError)


def test_unsupported_source_type_is_a_finding_not_a_crash(default_policy):
    report = kerasvet.audit(12345, default_policy)  # type: ignore[arg-type]
    assert report.verdict is Verdict.DENY
    assert [f.rule.id for f in report.artifacts[0].findings] == ["KV100"]


def test_refusal_message_lists_every_denied_node(default_policy):
    report = kerasvet.audit(ATTACK, default_policy)
    message = report.refusal_message()
    assert "KV302" in message
    assert "/config/layers/2" in message
    assert "dense_1" in message
    error = kerasvet.PolicyViolation(report)
    assert error.report is report
    assert "CVE-2026-1462" in str(error)
