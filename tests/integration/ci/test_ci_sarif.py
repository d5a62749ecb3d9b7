"""SARIF: validates against the official 2.1.0 schema, points at the right file and node,
carries the whole catalogue, and keeps fingerprints stable."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
from ci_support import (
    ATTACKS,
    BENIGN,
    DENIED_CRITICAL,
    EXAMPLES,
    MANIFEST,
    ROOT,
    SCHEMA,
    unzip_keras,
)

from kerasvet.catalogue import RULES
from kerasvet.findings import Severity
from kerasvet.report.model import Report, ScanError
from kerasvet.report.sarif import (
    FINGERPRINT_KEY,
    SEVERITY_LEVELS,
    SRCROOT,
    fingerprint,
    report_to_sarif,
)

DOCS = "https://example.org/kerasvet/blob/v0.1.0/"


def _validator() -> jsonschema.Draft4Validator:
    """The vendored schema, with the two URI formats checked the way GitHub's upload does
    (jsonschema alone skips them without extra packages)."""
    checker = jsonschema.FormatChecker()

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        parts = urlsplit(str(value))
        return bool(parts.scheme) and " " not in str(value)

    @checker.checks("uri-reference")
    def _uri_reference(value: object) -> bool:
        text = str(value)
        first = text.split("/", 1)[0]
        return " " not in text and (":" not in first or bool(urlsplit(text).scheme))

    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft4Validator(schema, format_checker=checker)


@pytest.fixture(scope="module")
def corpus_sarif(tmp_path_factory) -> dict:
    """SARIF of one scan over the attack and benign corpora, in two worker processes."""
    from kerasvet.cli import main

    out = tmp_path_factory.mktemp("sarif") / "corpus.sarif"
    code = main(["audit", "--root", str(ROOT), "--format", "sarif", "--output", str(out),
                 "--docs-base", DOCS, "--jobs", "2", str(ATTACKS), str(BENIGN)])
    assert code == 1
    return json.loads(out.read_text())


def _results_by_uri(sarif: dict) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for result in sarif["runs"][0]["results"]:
        location = result["locations"][0]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        node = location["logicalLocations"][0]["fullyQualifiedName"]
        found.setdefault(uri, set()).add((result["ruleId"], node))
    return found


def test_corpus_sarif_validates_against_the_official_schema(corpus_sarif):
    errors = sorted(_validator().iter_errors(corpus_sarif), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []
    assert corpus_sarif["version"] == "2.1.0"


def test_the_validator_would_catch_a_relative_help_uri(corpus_sarif):
    broken = json.loads(json.dumps(corpus_sarif))
    broken["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "docs/rules/KV001.md"
    assert any(e.validator == "format" for e in _validator().iter_errors(broken))


@pytest.mark.parametrize("fixture", [f for f in MANIFEST if f["id"] != "garbage-top-level-list"],
                         ids=lambda f: f["id"])
def test_every_attack_result_names_its_file_and_node(corpus_sarif, fixture):
    """Exact (rule, member#pointer) pairs per artifact URI, from the attack manifest."""
    uri = f"tests/fixtures/attacks/{fixture['id']}.json"
    expected = {(rule, f"<json>#{pointer}") for rule, pointer in fixture["expect"]}
    assert _results_by_uri(corpus_sarif)[uri] == expected


def test_selected_locations_in_detail(corpus_sarif):
    results = {
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"]): r
        for r in corpus_sarif["runs"][0]["results"]
    }
    run = results[("tests/fixtures/attacks/cve-2025-1550-subprocess-run.json", "KV302")]
    (location,) = run["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uriBaseId"] == SRCROOT
    assert location["logicalLocations"] == [
        {"name": "/config/layers/2", "fullyQualifiedName": "<json>#/config/layers/2",
         "kind": "object"},
        {"name": "dense_1", "kind": "member"},
    ]
    assert run["level"] == "error"
    assert run["properties"]["disposition"] == "reported"
    vocabulary = results[("tests/fixtures/attacks/cve-2025-12058-vocabulary-path.json", "KV403")]
    assert vocabulary["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == \
        "<json>#/config/layers/1/config/vocabulary"
    initializer = results[("tests/fixtures/attacks/nested-builtins-exec-initializer.json",
                           "KV302")]
    assert initializer["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == \
        "<json>#/config/layers/1/config/kernel_initializer"


def test_benign_corpus_has_no_results_and_manifests_are_skipped(corpus_sarif):
    uris = set(_results_by_uri(corpus_sarif))
    assert not any(u.startswith("tests/fixtures/benign/") for u in uris)
    summary = corpus_sarif["runs"][0]["properties"]["summary"]
    # Both MANIFEST.json files and the top-level-list attack are JSON without class_name.
    assert summary["skipped"] == {"not-keras-json": 3}
    assert summary["denied"] == len(MANIFEST) - 1


def test_zip_members_and_unzipped_folders_name_the_member(tmp_path, kerasvet):
    shutil.copy(EXAMPLES / "lambda_import.keras", tmp_path / "lambda_import.keras")
    folder = unzip_keras(EXAMPLES / "lambda_import.keras", tmp_path / "unzipped")
    run = kerasvet("audit", "--root", tmp_path, "--format", "sarif", tmp_path)
    assert run.code == 1
    found = _results_by_uri(json.loads(run.out))
    node = ("KV505", "config.json#/config/layers/1/config/function")
    assert found["lambda_import.keras"] == {node}
    assert found[f"{folder.name}/config.json"] == {node}


def test_rules_are_the_whole_catalogue_with_index_and_help(corpus_sarif):
    rules = corpus_sarif["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in RULES]
    for descriptor, rule in zip(rules, RULES, strict=True):
        assert descriptor["helpUri"] == f"{DOCS}docs/rules/{rule.id}.md"
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert f"docs/rules/{rule.id}.md" in descriptor["help"]["text"]
        assert descriptor["defaultConfiguration"]["level"] == SEVERITY_LEVELS[rule.severity].level
    for result in corpus_sarif["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_no_help_uri_without_an_absolute_base(kerasvet, tmp_path):
    run = kerasvet("audit", "--root", ROOT, "--format", "sarif", DENIED_CRITICAL)
    rules = json.loads(run.out)["runs"][0]["tool"]["driver"]["rules"]
    assert all("helpUri" not in r for r in rules)
    assert kerasvet("audit", "--docs-base", "docs/", "--format", "sarif",
                    DENIED_CRITICAL).code == 2


def test_levels_follow_the_one_table(corpus_sarif):
    assert set(SEVERITY_LEVELS) == set(Severity)
    assert {SEVERITY_LEVELS[s].level for s in Severity if s.denies} == {"error"}
    for result in corpus_sarif["runs"][0]["results"]:
        severity = Severity.parse(result["properties"]["severity"])
        assert result["level"] == SEVERITY_LEVELS[severity].level


def test_fingerprints_are_stable_unique_and_ignore_the_message(corpus_sarif, tmp_path):
    from kerasvet.cli import main

    out = tmp_path / "again.sarif"
    main(["audit", "--root", str(ROOT), "--format", "sarif", "--output", str(out),
          "--jobs", "1", str(ATTACKS), str(BENIGN)])
    again = json.loads(out.read_text())

    def prints(sarif: dict) -> list[str]:
        return [r["partialFingerprints"][FINGERPRINT_KEY] for r in sarif["runs"][0]["results"]]

    assert prints(again) == prints(corpus_sarif)
    assert len(set(prints(corpus_sarif))) == len(prints(corpus_sarif))
    assert fingerprint("KV302", "a.json", "<json>", "/config/layers/2") == \
        fingerprint("KV302", "a.json", "<json>", "/config/layers/2")
    assert fingerprint("KV302", "a.json", "<json>", "/config/layers/2") != \
        fingerprint("KV302", "a.json", "<json>", "/config/layers/3")
    assert fingerprint("KV302", "a.json", "<json>", None) != \
        fingerprint("KV302", "a.json", "<json>", "")


def test_reworded_message_keeps_the_fingerprint(default_policy):
    from kerasvet.audit import audit_many

    report = audit_many([str(DENIED_CRITICAL)], default_policy)
    (artifact,) = report.artifacts
    (finding,) = artifact.findings
    reworded = replace(report, artifacts=(
        replace(artifact, findings=(replace(finding, message="something else"),)),))

    def first(r: Report) -> dict:
        return report_to_sarif(r)["runs"][0]["results"][0]

    assert first(reworded)["message"]["text"] != first(report)["message"]["text"]
    assert first(reworded)["partialFingerprints"] == first(report)["partialFingerprints"]


def test_unreadable_inputs_and_skipped_links_are_notifications(tmp_path, kerasvet):
    report = Report(kerasvet_version="0", policy_name="default", policy_sha256="0" * 64,
                    artifacts=(), root=str(tmp_path),
                    errors=(ScanError(str(tmp_path / "x y.keras"), "x y.keras",
                                      "Permission denied"),))
    sarif = report_to_sarif(report)
    invocation = sarif["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 2
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["locations"][0]["physicalLocation"]["artifactLocation"] == \
        {"uri": "x%20y.keras", "uriBaseId": SRCROOT}
    assert list(_validator().iter_errors(sarif)) == []

    shutil.copy(DENIED_CRITICAL, tmp_path / "real.json")
    os.symlink(tmp_path / "real.json", tmp_path / "link.json")
    run = kerasvet("audit", "--root", tmp_path, "--format", "sarif", tmp_path)
    notes = json.loads(run.out)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [(n["level"], n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
            for n in notes] == [("note", "link.json")]


def test_paths_outside_the_root_and_odd_names_stay_valid_uris(tmp_path, kerasvet):
    inner = tmp_path / "root"
    inner.mkdir()
    odd = tmp_path / "a dir" / "m:odel #1.json"
    odd.parent.mkdir()
    shutil.copy(DENIED_CRITICAL, odd)
    run = kerasvet("audit", "--root", inner, "--format", "sarif", odd)
    sarif = json.loads(run.out)
    assert list(_validator().iter_errors(sarif)) == []
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": "../a%20dir/m%3Aodel%20%231.json", "uriBaseId": SRCROOT}
    base = Path(sarif["runs"][0]["originalUriBaseIds"][SRCROOT]["uri"].removeprefix("file://"))
    assert base == inner
