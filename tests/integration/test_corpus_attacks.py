"""The attack corpus: every fixture is refused by every entry point, and nothing fires.

The corpus is the base set (tests/fixtures/attacks/, scripts/make_attack_fixtures.py) plus
tests/corpus/attacks/ (scripts/make_corpus_attacks.py). Each fixture runs in its own forked
child of tests/corpus/probe.py (RLIMIT_AS, a timeout, a fresh working directory, private
HOME and TMPDIR); this test asserts, per fixture: ``audit``, ``load_model``,
``model_from_json`` and ``deserialize_keras_object`` refuse it with exactly the manifest's
(rule id, JSON pointer) pairs, no canary exists, no module outside the policy's import set
was imported (nor Keras itself: the refusal comes before Keras runs), and nothing was
written or created outside the working directory.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.keras

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "attacks"
BASE = ROOT / "tests" / "fixtures" / "attacks"
PROBE = ROOT / "tests" / "corpus" / "probe.py"
LAMBDA_CASES = ROOT / "tests" / "fixtures" / "lambdas" / "py311.json"
MEMORY_LIMIT = 3 << 30
"""RLIMIT_AS per child. A full Keras + JAX load peaks near 370 MB resident and runs under
2 GiB of address space; a refused fixture stays under 60 MB."""
TIMEOUT = 90.0
"""Seconds per child; a refused fixture takes well under one."""
PARSE_RULES = {"KV200", "KV201", "KV202", "KV203", "KV204", "KV205"}
"""Findings about the JSON text itself: ``json.loads`` has already changed (or dropped) what
they are about before ``deserialize_keras_object`` sees the dict."""


def _manifest(directory: Path) -> list[dict[str, Any]]:
    return json.loads((directory / "MANIFEST.json").read_text())["fixtures"]


def _with_paths() -> list[dict[str, Any]]:
    fixtures = []
    for entry in _manifest(BASE):
        fixtures.append({**entry, "path": BASE / f"{entry['id']}.json", "kind": "config",
                         "category": "base-set"})
    for entry in _manifest(CORPUS):
        fixtures.append({**entry, "path": CORPUS / entry["file"]})
    return fixtures


FIXTURES = _with_paths()


def pairs(findings: list[list[str | None]]) -> set[tuple[str, str | None]]:
    return {(rule, pointer) for rule, pointer in findings}


class Probe:
    """The warm probe server; one request (one forked child) per fixture."""

    def __init__(self) -> None:
        path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", ""))
                               if p)
        self.process = subprocess.Popen(
            [sys.executable, str(PROBE), "--serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": path,
                 "PYTHONDONTWRITEBYTECODE": "1"})
        assert self.read(120.0) == {"ready": True}

    def read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, "the probe server did not answer in time"
        line = self.process.stdout.readline()
        assert line, f"the probe server died (exit {self.process.poll()})"
        return json.loads(line)

    def run(self, fixture: dict[str, Any], sandbox: Path, control: bool = False
            ) -> dict[str, Any]:
        assert self.process.stdin is not None
        request = {"fixture": str(fixture["path"]), "kind": fixture["kind"],
                   "sandbox": str(sandbox), "timeout": TIMEOUT, "memory": MEMORY_LIMIT,
                   "control": control}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self.read(TIMEOUT + 30.0)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def probe():
    server = Probe()
    yield server
    server.close()


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["id"] for f in FIXTURES])
def test_attack_is_refused_everywhere_and_nothing_fires(fixture, probe, tmp_path):
    answer = probe.run(fixture, tmp_path)
    assert not answer["timed_out"], f"killed after {TIMEOUT} s"
    assert answer["exit_code"] == 0, answer["log"]
    result = answer["result"]
    expected = pairs(fixture["expect"])

    calls = result["entry_points"]
    assert set(calls) == ({"audit", "load_model"} if fixture["kind"] != "config" else
                          {"audit", "load_model", "model_from_json", "deserialize_keras_object"})
    for name in ("audit", "load_model", "model_from_json"):
        if name in calls:
            assert calls[name]["refused"], (name, calls[name])
            assert pairs(calls[name]["findings"]) == expected, name
    if "deserialize_keras_object" in calls:
        call = calls["deserialize_keras_object"]
        if call["given"] == "dict":
            assert call["refused"], call
            if not {rule for rule, _ in expected} & PARSE_RULES:
                assert pairs(call["findings"]) == expected
        else:  # not a JSON object: only a dict is a config, a string is never read as a path
            assert call["error"].startswith("TypeError"), call

    assert result["canaries"] == []
    assert result["new_modules_outside_policy"] == []
    assert result["keras_imported"] is False
    temp = tmp_path.resolve() / "tmp"
    # kerasvet's own bandit step writes and removes a source file under TMPDIR; anything
    # left there shows up in created_outside_work["sandbox"] below.
    writes = [(event, path) for event, path in result["write_attempts_outside_work"]
              if not Path(path).is_relative_to(temp)]
    assert writes == []
    created = result["created_outside_work"]
    assert created["sandbox"] == []
    assert created["home_keras"] == []
    # The real /tmp and home directory are shared with other processes on this machine, so
    # only a name a fixture could have chosen counts there.
    for place in ("tmp", "home"):
        assert [p for p in created[place] if Path(p).name.startswith("kerasvet-canary")] == []


def test_the_payload_and_the_probe_are_live(probe, tmp_path):
    """Positive control: stock Keras with safe_mode=False on the .h5 lambda fixture runs the
    payload, and the probe sees its canary (and Keras imported) where kerasvet sees none."""
    (fixture,) = [f for f in FIXTURES if f["id"] == "cve-2025-9905-h5-lambda"]
    answer = probe.run(fixture, tmp_path, control=True)
    assert answer["exit_code"] == 0, answer["log"]
    result = answer["result"]
    assert result["entry_points"]["keras_unsafe"]["returned"] == "Functional"
    assert result["canaries"] == [str(tmp_path.resolve() / "work" / "kerasvet-canary")]
    assert result["keras_imported"] is True


def test_every_fixture_file_has_a_manifest_entry_and_back():
    for directory, listed in (
        (BASE, {f"{e['id']}.json" for e in _manifest(BASE)}),
        (CORPUS, {e["file"] for e in _manifest(CORPUS)}),
    ):
        on_disk = {p.name for p in directory.iterdir() if p.name != "MANIFEST.json"}
        assert on_disk == listed, directory


def test_manifest_entries_are_complete_and_unique():
    ids = [f["id"] for f in FIXTURES]
    assert len(ids) == len(set(ids))
    for fixture in _manifest(CORPUS):
        assert {"id", "file", "kind", "category", "reference", "mechanism", "expect",
                "canary"} <= set(fixture), fixture["id"]
        assert fixture["reference"], fixture["id"]
        assert fixture["mechanism"], fixture["id"]
        assert fixture["expect"], fixture["id"]
        assert fixture["kind"] in {"config", "keras", "h5", "bytes"}
        if fixture["reference"] == "kerasvet-original":
            assert fixture["category"] == "original", fixture["id"]
            assert fixture["idea"], fixture["id"]
    originals = [f for f in FIXTURES if f.get("reference") == "kerasvet-original"]
    assert len(originals) >= 10


ADVISORIES = ["CVE-2024-3660", "CVE-2025-1550", "CVE-2025-8747", "CVE-2025-9906",
              "CVE-2025-9905", "keras-team/keras#21575", "CVE-2025-12058", "CVE-2025-12060",
              "CVE-2026-0897", "CVE-2026-1669", "CVE-2026-1462", "CVE-2026-12479",
              "CVE-2026-12481", "3.12.2 / 3.14.1 hang fix", "#23010", "KERAS-MFV-006"]
"""Every row of keras-serialization.md §8 that a config or an artifact can carry."""

REQUIRED = {
    # keras-serialization.md §6: one fixture per dangerous argument
    "keras3-lambda-dunder", "lambda-output-shape-bytecode", "keras2-mask-lambda",
    "lambda-arguments-function-node", "torch-module-wrapper-pickle", "cve-2026-1462-tfsmlayer",
    "cve-2025-12058-vocabulary-path", "cve-2025-12058-integer-lookup-path",
    "cve-2025-12058-vocabulary-url", "cve-2025-12058-idf-weights-path",
    "text-vectorization-callable-split", "text-vectorization-unknown-standardize",
    "jax-layer-callables", "flax-layer-module", "cve-2026-12479-layer-name-traversal",
    "functional-extra-kwarg",
    # the classes still open in Keras 3.15.1 (§3)
    "config-set-floatx", "open-config-set-epsilon", "open-config-set-image-data-format",
    "open-config-set-dtype-policy", "open-config-set-backend", "cve-2025-9906-enable-unsafe",
    "utils-set-random-seed", "datasets-download-at-load", "open-imdb-get-word-index",
    "open-cifar10-load-data", "keras-src-submodule-import", "open-submodule-keras-torchlayer",
    "open-submodule-keras_hub-backbone", "absurd-units", "size-conv-filters",
    "size-conv-kernel-size", "size-embedding-input-dim", "size-attention-heads",
    "size-batch-shape", "size-build-config-shape",
    # §7.7 container checks
    "zip-traversal-member", "zip-symlink-member", "zip-duplicate-config",
    "zip-unexpected-member", "zip-polyglot-prefix", "zip-bomb-config",
}


def test_corpus_covers_every_advisory_and_attack_class():
    references = " | ".join(f["reference"] for f in FIXTURES)
    assert [a for a in ADVISORIES if a not in references] == []
    ids = {f["id"] for f in FIXTURES}
    assert sorted(REQUIRED - ids) == []
    # lambda-analysis.md §7: every evasion the lambda corpus denies is an attack fixture too
    denied = {case["id"] for case in json.loads(LAMBDA_CASES.read_text())["cases"]
              if case["expect"]["verdict"] == "deny"}
    carried = {i.removeprefix("lambda-").replace("-", "_") for i in ids}
    if "lambda-keras2-module-field" in ids:  # the Keras 2 form of module_field_system
        carried.add("module_field_system")
    assert sorted(denied - carried) == []
