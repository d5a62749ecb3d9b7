"""The pre-commit hook, run by the real ``pre-commit`` against a temporary git repository.

The hook repository is a copy of this checkout committed in a temporary folder (never in
the working repository), so ``repo:`` + ``rev:`` resolve exactly as they do for users.
pre-commit builds the hook's environment with pip (``language: python``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from ci_support import BENIGN_FILES, DENIED_CRITICAL, ROOT

pytest.importorskip("pre_commit")

GIT = ["git", "-c", "user.name=kerasvet tests", "-c", "user.email=tests@kerasvet.invalid",
       "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=folder, capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.strip()


def _hook_repository(folder: Path) -> str:
    """Copy what ``pip install .`` needs and the hook manifest; commit it; return the rev."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "policies", folder / "policies", ignore=ignore)
    shutil.copytree(ROOT / "src", folder / "src", symlinks=True, ignore=ignore)
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", "hook under test")
    return _git(folder, "rev-parse", "HEAD")


def _pre_commit(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("PYTHONPATH", None)  # the hook must run the kerasvet pre-commit installed
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files",
                           "--color", "never"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def test_hook_audits_model_files_in_a_commit(tmp_path):
    hooks = tmp_path / "hook-repo"
    hooks.mkdir()
    rev = _hook_repository(hooks)
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n      - id: kerasvet-audit\n"
    )
    shutil.copy(BENIGN_FILES / "seq_lstm.keras", project / "good.keras")
    shutil.copy(DENIED_CRITICAL, project / "bad.json")
    (project / "package.json").write_text('{"name": "app"}')
    with h5py.File(project / "dense.weights.h5", "w") as weights:
        weights.create_dataset("kernel", data=np.zeros((2, 2)))
    (project / "notes.txt").write_text("not matched by the hook's files pattern\n")
    _git(project, "add", "-A")

    failed = _pre_commit(project, tmp_path / "pre-commit-home")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    out = failed.stdout
    assert re.search(r"kerasvet audit\.+Failed", out)
    assert "bad.json: DENIED" in out
    assert "KV302 denied-class" in out
    assert "good.keras: ALLOWED" in out
    assert "skipped 1 JSON file(s) without a top-level class_name" in out  # package.json
    assert "skipped 1 file(s) that are no Keras artifact by content" in out  # weights only
    assert "notes.txt" not in out

    # The project's own [tool.kerasvet] applies under pre-commit too (run from the repo root).
    (project / "fixtures").mkdir()
    _git(project, "mv", "bad.json", "fixtures/bad.json")
    (project / "pyproject.toml").write_text('[tool.kerasvet]\nexclude = ["fixtures"]\n')
    _git(project, "add", "-A")
    passed = _pre_commit(project, tmp_path / "pre-commit-home")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
