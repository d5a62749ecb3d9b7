"""Trees: recursion, content sniffing, links never followed, excludes, parallel runs that
match serial ones, and one bad file never stopping the rest."""

from __future__ import annotations

import json
import os
import re
import shutil

import h5py
import numpy as np
from ci_support import (
    ATTACKS,
    BENIGN,
    BENIGN_FILES,
    DENIED_CRITICAL,
    ROOT,
    crashing_chunk,
)

from kerasvet.report.model import ArtifactReport, ScanError, Skipped, SkipReason
from kerasvet.scan import MIN_PARALLEL, Target, audit_target, discover, run_targets, scan


def _artifacts(run) -> dict[str, dict]:
    return {a["relative_path"]: a for a in run.json()["artifacts"]}


def test_tree_is_walked_and_judged_by_content(kerasvet, allowed_tree):
    run = kerasvet("audit", "--root", allowed_tree, "--format", "json", allowed_tree)
    artifacts = _artifacts(run)
    assert {path: a["format"] for path, a in artifacts.items()} == {
        "keras/gru.keras": "keras-zip",
        "keras/seq_lstm.keras": "keras-zip",
        "legacy/deeper/nested.h5": "hdf5",
        "legacy/seq_lstm.h5": "hdf5",
        "unzipped_model": "keras-dir",
        "vgg16.json": "config-json",
    }
    skipped = {(s["relative_path"], s["reason"]) for s in run.json()["skipped"]}
    assert skipped == {("package.json", "not-keras-json"), ("README.md", "not-a-model")}


def test_content_decides_not_the_name(kerasvet, tmp_path):
    shutil.copy(BENIGN_FILES / "seq_lstm.keras", tmp_path / "weights.bin")  # a Keras zip
    shutil.copy(BENIGN_FILES / "seq_lstm.h5", tmp_path / "model.dat")  # a legacy model
    shutil.copy(DENIED_CRITICAL, tmp_path / "config.txt")  # a hostile config
    with h5py.File(tmp_path / "dense.weights.h5", "w") as weights:  # weights only
        weights.create_dataset("kernel", data=np.zeros((2, 2)))
    np.savez(tmp_path / "arrays.npz", a=np.zeros(3))  # a zip without config.json
    (tmp_path / "garbage.keras").write_bytes(b"\x00not a model at all")
    run = kerasvet("audit", "--root", tmp_path, "--format", "json", tmp_path)
    artifacts = _artifacts(run)
    assert {p: (a["format"], a["verdict"]) for p, a in artifacts.items()} == {
        "weights.bin": ("keras-zip", "allow"),
        "model.dat": ("hdf5", "allow"),
        "config.txt": ("config-json", "deny"),
        "garbage.keras": ("unknown", "deny"),  # named as a model: audited, refused as KV100
    }
    assert [f["rule"] for f in artifacts["garbage.keras"]["findings"]] == ["KV100"]
    assert {(s["relative_path"], s["reason"]) for s in run.json()["skipped"]} == {
        ("dense.weights.h5", "not-a-model"), ("arrays.npz", "not-a-model")}


def test_named_files_are_always_audited_unless_by_content(kerasvet, allowed_tree):
    package = allowed_tree / "package.json"
    run = kerasvet("audit", "--root", allowed_tree, "--format", "json", package)
    assert run.code == 1
    assert [f["rule"] for f in run.json()["artifacts"][0]["findings"]] == ["KV207"]
    run = kerasvet("audit", "--root", allowed_tree, "--format", "json", "--by-content", package,
                   allowed_tree / "vgg16.json")
    assert run.code == 0
    assert list(_artifacts(run)) == ["vgg16.json"]
    assert run.json()["skipped"] == [{"path": str(package), "relative_path": "package.json",
                                      "reason": "not-keras-json"}]


def test_links_are_never_followed_and_are_reported(kerasvet, allowed_tree, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(DENIED_CRITICAL, outside / "evil.json")
    os.symlink(outside / "evil.json", allowed_tree / "linked.json")
    os.symlink(outside, allowed_tree / "linked_dir")
    os.mkfifo(allowed_tree / "pipe.json")
    run = kerasvet("audit", "--root", allowed_tree, allowed_tree)
    assert run.code == 0  # the hostile file behind the link was not read
    assert "skipped 2 symbolic link(s), not followed:" in run.out
    assert f"  {allowed_tree / 'linked.json'}" in run.out
    assert f"  {allowed_tree / 'linked_dir'}" in run.out
    assert "skipped 1 special file(s) (FIFO, socket, device):" in run.out
    assert re.search(r"\n  skipped symlink +2\n  skipped special-file +1\n", run.out)


def test_unzipped_keras_folder_is_one_artifact(kerasvet, allowed_tree):
    run = kerasvet("audit", "--root", allowed_tree, "--format", "json", allowed_tree)
    paths = set(_artifacts(run))
    assert "unzipped_model" in paths
    assert not any(p.startswith("unzipped_model/") for p in paths)
    named = kerasvet("audit", "--root", allowed_tree, "--format", "json",
                     allowed_tree / "unzipped_model")
    assert [a["format"] for a in named.json()["artifacts"]] == ["keras-dir"]


def test_exclude_globs_match_paths_folders_and_names(kerasvet, allowed_tree):
    def audited(*excludes: str) -> set[str]:
        flags = [x for glob in excludes for x in ("--exclude", glob)]
        run = kerasvet("audit", "--root", allowed_tree, "--format", "json", *flags,
                       allowed_tree)
        return set(_artifacts(run))

    everything = audited()
    assert audited("legacy") == everything - {"legacy/seq_lstm.h5", "legacy/deeper/nested.h5"}
    assert audited("legacy/deeper/*") == everything - {"legacy/deeper/nested.h5"}
    assert audited("*.keras", "*.json") == {"legacy/seq_lstm.h5", "legacy/deeper/nested.h5",
                                            "unzipped_model"}
    assert audited("unzipped_*") == everything - {"unzipped_model"}


def test_jobs_1_and_2_give_identical_reports(kerasvet, tmp_path):
    def report(jobs: str) -> str:
        run = kerasvet("audit", "--root", ROOT, "--format", "json", "--show-allowed",
                       "--jobs", jobs, ATTACKS, BENIGN)
        assert run.code == 1
        return run.out

    serial, parallel = report("1"), report("2")
    assert len(json.loads(serial)["artifacts"]) > MIN_PARALLEL
    assert serial == parallel


def test_a_crashing_worker_costs_one_file_a_finding_and_nothing_else(default_policy, tmp_path):
    for index in range(12):
        shutil.copy(BENIGN / "vgg16.config.json", tmp_path / f"model{index:02}.json")
    shutil.copy(BENIGN / "vgg16.config.json", tmp_path / "crash.json")
    found = discover([str(tmp_path)], str(tmp_path))
    outcomes = run_targets(found.targets, default_policy, 2, worker=crashing_chunk)
    assert [o.relative_path for o in outcomes] == [t.relative_path for t in found.targets]
    verdicts = {o.relative_path: (o.verdict.value, tuple(f.rule.id for f in o.findings))
                for o in outcomes if isinstance(o, ArtifactReport)}
    assert verdicts.pop("crash.json") == ("deny", ("KV001",))
    assert set(verdicts.values()) == {("allow", ())}
    assert len(verdicts) == 12


def test_an_unreadable_file_is_an_error_entry(default_policy, tmp_path):
    gone = Target(str(tmp_path / "gone.keras"), "gone.keras", by_content=True)
    outcome = audit_target(gone, default_policy)
    assert isinstance(outcome, ScanError)
    assert outcome.relative_path == "gone.keras"
    named = audit_target(Target(str(tmp_path / "gone.keras"), "gone.keras", by_content=False),
                         default_policy)
    assert isinstance(named, ScanError)


def test_progress_reaches_the_total(default_policy, allowed_tree):
    seen: list[tuple[int, int]] = []
    report = scan([str(allowed_tree)], default_policy, root=str(allowed_tree), jobs=1,
                  progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (8, 8)  # six artifacts and two skipped files
    assert len(report.artifacts) == 6
    assert all(isinstance(s, Skipped) for s in report.skipped)
    assert {s.reason for s in report.skipped} == {SkipReason.NOT_KERAS_JSON,
                                                  SkipReason.NOT_A_MODEL}


def test_text_summary_table(kerasvet, allowed_tree):
    shutil.copy(DENIED_CRITICAL, allowed_tree / "bad.json")
    run = kerasvet("audit", "--root", allowed_tree, allowed_tree)
    table = run.out[run.out.index("\nsummary\n"):]
    assert "  files                             7" in table
    assert "  allowed                           6" in table
    assert "  denied                            1" in table
    assert "  KV302            1           0      0" in table
    assert table.rstrip().endswith("result: failed (exit 1)")
