"""Fixtures for the CI-facing tests: run the command in-process, build small model trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ci_support import BENIGN, BENIGN_FILES, Run, unzip_keras

from kerasvet.cli import main


@pytest.fixture
def kerasvet(capsys):
    """Call ``kerasvet.cli.main`` in-process and capture what it printed."""

    def run(*args: object) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def allowed_tree(tmp_path) -> Path:
    """A tree of allowed models in every format, nested, with non-model files around."""
    tree = tmp_path / "models"
    (tree / "keras").mkdir(parents=True)
    (tree / "legacy" / "deeper").mkdir(parents=True)
    shutil.copy(BENIGN_FILES / "seq_lstm.keras", tree / "keras" / "seq_lstm.keras")
    shutil.copy(BENIGN_FILES / "functional_gru.keras", tree / "keras" / "gru.keras")
    shutil.copy(BENIGN_FILES / "seq_lstm.h5", tree / "legacy" / "seq_lstm.h5")
    shutil.copy(BENIGN_FILES / "nested_model.h5", tree / "legacy" / "deeper" / "nested.h5")
    shutil.copy(BENIGN / "vgg16.config.json", tree / "vgg16.json")
    unzip_keras(BENIGN_FILES / "mixed_precision.keras", tree / "unzipped_model")
    (tree / "package.json").write_text('{"name": "not-a-model", "version": "1.0.0"}')
    (tree / "README.md").write_text("# models\n")
    return tree
