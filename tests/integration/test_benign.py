"""Real models Keras wrote are allowed by the default policy with nothing above info."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerasvet import Severity, Verdict, audit

ROOT = Path(__file__).resolve().parent.parent.parent
BENIGN = ROOT / "tests" / "fixtures" / "benign"
KERAS2 = ROOT / "tests" / "fixtures" / "keras2"
EXAMPLES = ROOT / "examples"

CONFIGS = sorted(BENIGN.glob("*.config.json"))
FILES = sorted((BENIGN / "files").glob("*"))
KERAS2_FILES = sorted(p for p in KERAS2.glob("*") if p.suffix in {".h5", ".json"}
                      and p.name != "MANIFEST.json" and not p.name.startswith("lambda"))
APPLICATIONS = {"resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121", "convnext_tiny",
                "inception_resnet_v2"}


def test_corpus_covers_what_the_issue_names():
    names = {p.name.split(".")[0] for p in CONFIGS}
    assert names >= APPLICATIONS, APPLICATIONS - names
    assert len(CONFIGS) >= 20
    assert {p.suffix for p in FILES} == {".keras", ".h5"}
    assert len(KERAS2_FILES) >= 4


@pytest.mark.parametrize("path", CONFIGS + FILES + KERAS2_FILES,
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_benign_model_is_allowed(path, default_policy):
    report = audit(path, default_policy)
    (artifact,) = report.artifacts
    loud = [(f.rule.id, f.location.pointer, f.message) for f in artifact.findings
            if f.severity > Severity.INFO]
    assert loud == []
    assert artifact.verdict is Verdict.ALLOW
    assert artifact.decisions, "a model with no nodes was not really audited"


def test_examples_are_allowed_except_the_importing_lambda(default_policy):
    verdicts = {}
    for path in sorted(EXAMPLES.glob("*")):
        if path.suffix in {".keras", ".h5", ".json"}:
            verdicts[path.name] = audit(path, default_policy).verdict
    assert verdicts.pop("lambda_import.keras") is Verdict.DENY
    assert len(verdicts) >= 5
    assert set(verdicts.values()) == {Verdict.ALLOW}


def test_keras_written_lambda_is_allowed_with_its_source(default_policy, strict_policy):
    report = audit(EXAMPLES / "lambda_model.keras", default_policy)
    (record,) = report.artifacts[0].lambdas
    assert record.verdict is Verdict.ALLOW
    assert record.source == "lambda x: x * 2"
    assert "3.11" in record.versions
    strict = audit(EXAMPLES / "lambda_model.keras", strict_policy)
    assert {(f.rule.id, f.location.pointer) for f in strict.artifacts[0].findings} == {
        ("KV500", "/config/layers/1/config/function")
    }


def test_importing_lambda_is_denied_with_its_source(default_policy):
    report = audit(EXAMPLES / "lambda_import.keras", default_policy)
    (record,) = report.artifacts[0].lambdas
    assert record.verdict is Verdict.DENY
    assert record.source == "lambda x: __import__('math').floor(2.0) * x"
    assert {f.rule.id for f in report.artifacts[0].findings if f.denies} == {"KV505"}


def test_keras2_lambda_model(default_policy, strict_policy):
    report = audit(KERAS2 / "lambda_double.h5", default_policy)
    (artifact,) = report.artifacts
    assert artifact.verdict is Verdict.ALLOW
    sources = {r.pointer: r.source for r in artifact.lambdas}
    assert "lambda x: x * 2" in sources.values()
    strict = audit(KERAS2 / "lambda_double.h5", strict_policy).artifacts[0]
    assert strict.verdict is Verdict.DENY
    assert {f.rule.id for f in strict.findings if f.denies} == {"KV500"}
