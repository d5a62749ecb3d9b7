"""The benign corpus: every real model Keras wrote is allowed, and loads like plain Keras.

The corpus is tests/fixtures/benign/ (configs and files, scripts/make_benign_corpus.py), the
tf.keras 2 files of tests/fixtures/keras2/, the examples, and tests/corpus/benign/
(scripts/make_corpus_benign.py: KerasHub-style blocks, more layer families, real-project
lambdas). A false positive is a denying finding or a non-allow verdict under the default
policy; there must be none, and the only other findings above info are the known ones.
Each tests/corpus/benign model loaded by kerasvet must compute what the model Keras built in
memory computed before saving (the stored ``.expected.npz``); the lambda-free ones must also
have exactly the layers and weights ``keras.saving.load_model`` gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kerasvet import Severity, Verdict, audit

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "benign"
FIXTURES = ROOT / "tests" / "fixtures"
MODELS = json.loads((CORPUS / "MANIFEST.json").read_text())["models"]
CORPUS_FILES = [(model, CORPUS / name) for model in MODELS for name in model["files"]]


def benign_artifacts() -> list[Path]:
    """Every benign artifact of the repository, each a model Keras (or tf.keras) wrote."""
    keras2 = [p for p in (FIXTURES / "keras2").iterdir() if p.suffix in {".h5", ".json"}
              and p.name != "MANIFEST.json"]
    examples = [p for p in (ROOT / "examples").iterdir()
                if p.suffix in {".keras", ".h5", ".json"} and p.name != "lambda_import.keras"]
    return sorted([*(FIXTURES / "benign").glob("*.config.json"),
                   *(FIXTURES / "benign" / "files").iterdir(), *keras2, *examples,
                   *(path for _, path in CORPUS_FILES)])


KNOWN_WARNINGS = {
    "tests/fixtures/keras2/lambda_double.h5": ["KV502 /config/layers/1/config/module"],
}
"""Non-denying findings above info that are right: every tf.keras 2 lambda carries a
``module`` key (``__main__`` here) naming the globals it would see (KV502, medium)."""


def judged(path: Path, policy) -> tuple[list[str], list[str]]:
    """What the default policy says against ``path``: (denials, other findings above info)."""
    (artifact,) = audit(path, policy).artifacts
    denials = [f"{f.rule.id} {f.location.pointer}: {f.message}" for f in artifact.findings
               if f.denies]
    if artifact.verdict is not Verdict.ALLOW and not denials:
        denials.append(f"verdict {artifact.verdict.value}")
    if not artifact.decisions:
        denials.append("no decisions: the model was not really audited")
    warnings = [f"{f.rule.id} {f.location.pointer}" for f in artifact.findings
                if f.severity > Severity.INFO and not f.denies]
    return denials, warnings


def test_benign_corpus_has_no_false_positives(default_policy):
    artifacts = benign_artifacts()
    offenders, warned = {}, {}
    for path in artifacts:
        denials, warnings = judged(path, default_policy)
        name = path.relative_to(ROOT).as_posix()
        if denials:
            offenders[name] = denials
        if warnings:
            warned[name] = warnings
    print(f"benign corpus: {len(artifacts)} artifacts, {len(offenders)} false positives")
    assert offenders == {}, f"{len(offenders)} false positive(s): {offenders}"
    assert warned == KNOWN_WARNINGS


def test_benign_corpus_is_large_and_covers_what_the_issue_names():
    models = {p.name.split(".")[0] for p in benign_artifacts()}
    assert len(models) >= 30
    assert {"resnet50", "convnext_tiny", "transformer_block", "bidirectional_lstm",
            "preprocessing", "compiled_adam_schedule", "gpt_decoder_block", "bert_encoder_cls",
            "lambda_scale_pixels", "lambda_expand_dims"} <= models
    sources = {source for model in MODELS if model["lambdas"] for source in (
        "lambda x: x / 255.0", "lambda t: keras.ops.expand_dims(t, -1)", "lambda x: x[:, 0]")
        if source in model["description"]}
    assert len(sources) == 3


def _outputs(model, batch: list[np.ndarray]) -> list[np.ndarray]:
    import keras

    out = model(batch[0] if len(batch) == 1 else batch, training=False)
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in keras.tree.flatten(out)]


@pytest.mark.keras
@pytest.mark.parametrize(("model", "path"), CORPUS_FILES, ids=[p.name for _, p in CORPUS_FILES])
def test_corpus_model_loads_and_predicts_like_keras(model, path):
    import keras

    import kerasvet

    reference = np.load(CORPUS / model["expected"])
    batch = [reference[f"input_{i}"] for i in range(len(
        [k for k in reference.files if k.startswith("input_")]))]
    expected = [reference[f"output_{i}"] for i in range(len(reference.files) - len(batch))]
    ours = kerasvet.load_model(path)
    for mine, theirs in zip(_outputs(ours, batch), expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)
    if not model["lambdas"]:  # stock Keras (safe mode) loads these too: the same model
        plain = keras.saving.load_model(path)
        assert [layer.name for layer in ours.layers] == [layer.name for layer in plain.layers]
        for mine, theirs in zip(ours.weights, plain.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(mine.numpy()), np.asarray(theirs.numpy()))
