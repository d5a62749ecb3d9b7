"""Every attack fixture is refused by all three entry points before anything is imported.

Each fixture goes through ``load_model`` (wrapped as config.json in a .keras zip),
``model_from_json`` (the exact text) and ``deserialize_keras_object`` (the dict ``json.loads``
makes of it, where it can). The refusal is a ``PolicyViolation`` whose report holds the
fixture's expected rules; no canary fires, and in a fresh process neither Keras nor any
module outside the policy's import set is imported by refusing the whole corpus.
"""

from __future__ import annotations

import json

import pytest
from loader_support import ATTACKS, CANARY, EXAMPLES, MANIFEST, as_keras_zip, run_python

import kerasvet
from kerasvet import PolicyViolation

pytestmark = pytest.mark.keras


def as_dict(text: bytes) -> dict | None:
    """What ``json.loads`` makes of a fixture, when that is a dict (else ``None``)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def rule_ids(refused: pytest.ExceptionInfo[PolicyViolation]) -> set[str]:
    (artifact,) = refused.value.report.artifacts
    return {f.rule.id for f in artifact.findings}


@pytest.mark.parametrize("fixture", MANIFEST, ids=[f["id"] for f in MANIFEST])
def test_attack_is_refused_by_every_entry_point(fixture, tmp_path):
    text = (ATTACKS / f"{fixture['id']}.json").read_bytes()
    expected = {rule for rule, _ in fixture["expect"]}

    with pytest.raises(PolicyViolation) as loaded:
        kerasvet.load_model(as_keras_zip(text, tmp_path))
    assert expected <= rule_ids(loaded)

    with pytest.raises(PolicyViolation) as from_json:
        kerasvet.model_from_json(text.decode("utf-8", "surrogatepass"))
    assert expected <= rule_ids(from_json)

    config = as_dict(text)
    if config is not None:
        # json.loads already collapsed duplicate keys or turned a huge float into inf; the
        # dict is refused for what it still carries.
        with pytest.raises(PolicyViolation):
            kerasvet.deserialize_keras_object(config)
    else:
        with pytest.raises(TypeError):  # only a dict is a config; nothing is read
            kerasvet.deserialize_keras_object(text.decode("utf-8", "surrogatepass"))
    assert not CANARY.exists()


def test_refusal_message_lists_every_denied_node(tmp_path):
    text = (ATTACKS / "cve-2025-1550-os-system.json").read_bytes()
    with pytest.raises(PolicyViolation) as refused:
        kerasvet.load_model(as_keras_zip(text, tmp_path))
    message = str(refused.value)
    assert "KV302 at config.json#/config/layers/2 layer 'dense_1'" in message
    assert "CVE-2025-1550" in message


def test_lambda_import_example_is_refused():
    with pytest.raises(PolicyViolation) as refused:
        kerasvet.load_model(EXAMPLES / "lambda_import.keras")
    assert "KV505" in rule_ids(refused)


CORPUS_IN_A_FRESH_PROCESS = """
import json, sys, zipfile, io, os
from pathlib import Path
import kerasvet
from kerasvet import PolicyViolation
from kerasvet.policy import load_policy
from kerasvet.loader.imports import allowed_imports

attacks = Path({attacks!r})
work = Path({work!r})
manifest = json.loads((attacks / "MANIFEST.json").read_text())["fixtures"]
# Warm kerasvet's own code first: the loader's modules (imported lazily by the package) and
# the lambda analyzer (astroid, bandit, imported by any audit of a lambda) are kerasvet's
# dependencies, not the attacks'.
import kerasvet.loader.api
kerasvet.audit({benign!r})
before = set(sys.modules)
refused = 0
for fixture in manifest:
    text = (attacks / (fixture["id"] + ".json")).read_bytes()
    path = work / (fixture["id"] + ".keras")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{{}}")
        archive.writestr("config.json", text)
    calls = [lambda: kerasvet.load_model(path),
             lambda: kerasvet.model_from_json(text.decode("utf-8", "surrogatepass"))]
    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        config = None
    if isinstance(config, dict):
        calls.append(lambda: kerasvet.deserialize_keras_object(config))
    for call in calls:
        try:
            call()
        except PolicyViolation:
            refused += 1
new = sorted(set(sys.modules) - before)
allowed = allowed_imports(load_policy("default"))
print(json.dumps({{
    "refused": refused,
    "new": new,
    "outside_policy": [m for m in new if m not in allowed and not m.startswith("kerasvet")],
    "keras_imported": any(m.split(".")[0] in ("keras", "jax", "tensorflow", "torch")
                          for m in sys.modules),
    "canary": os.path.exists({canary!r}),
}}))
"""


def test_refusing_the_corpus_imports_nothing_outside_the_policy(tmp_path):
    expected_calls = sum(
        3 if as_dict((ATTACKS / f"{fixture['id']}.json").read_bytes()) is not None else 2
        for fixture in MANIFEST)
    result = run_python(CORPUS_IN_A_FRESH_PROCESS.format(
        attacks=str(ATTACKS), work=str(tmp_path), canary=str(CANARY),
        benign=str(EXAMPLES / "lambda_model.keras")))
    assert result["refused"] == expected_calls
    assert result["outside_policy"] == []
    assert result["keras_imported"] is False  # refused before Keras is even imported
    assert result["canary"] is False
