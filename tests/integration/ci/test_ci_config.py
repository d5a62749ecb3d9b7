"""``[tool.kerasvet]``: found from the scan root upward, strict about keys, beaten by flags."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ci_support import DENIED_CRITICAL, ONLY_HIGH

from kerasvet.config import CONFIG_KEYS, ConfigError, FailOn, load_config, parse_config


def _project(folder: Path, table: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n{table}')
    return folder


@pytest.fixture
def project(allowed_tree, tmp_path) -> Path:
    """``tmp_path`` is a project: its pyproject configures kerasvet, models/ holds models."""
    shutil.copy(ONLY_HIGH, allowed_tree / "high.json")
    (allowed_tree / "ignored").mkdir()
    shutil.copy(DENIED_CRITICAL, allowed_tree / "ignored" / "bad.json")
    _project(tmp_path, '[tool.kerasvet]\npolicy = "strict"\nfail-on = "critical"\n'
                       'exclude = ["models/ignored"]\njobs = 1\n')
    return tmp_path


def _json(run) -> dict:
    return json.loads(run.out)


def test_settings_come_from_the_nearest_pyproject(kerasvet, project, monkeypatch):
    monkeypatch.chdir(project)
    run = kerasvet("audit", "--format", "json", "models")
    assert run.code == 0  # high.json has only high findings; fail-on is critical
    report = _json(run)
    assert report["policy"]["name"] == "strict"
    assert report["summary"]["fail_on"] == "critical"
    assert not any(a["relative_path"].startswith("models/ignored/")
                   for a in report["artifacts"])


def test_discovery_walks_up_from_the_root_and_passes_over_other_pyprojects(kerasvet, project):
    inner = _project(project / "models" / "keras", '[tool.black]\nline-length = 99\n')
    run = kerasvet("audit", "--root", inner, "--format", "json", project / "models")
    assert _json(run)["policy"]["name"] == "strict"
    assert load_config(inner).source == str(project / "pyproject.toml")


def test_flags_win_over_the_config(kerasvet, project):
    run = kerasvet("audit", "--root", project, "--policy", "default", "--fail-on", "high",
                   "--exclude", "nothing-matches", "--format", "json", project / "models")
    assert run.code == 1
    report = _json(run)
    assert report["policy"]["name"] == "default"
    assert report["summary"]["fail_on"] == "high"
    assert "models/ignored/bad.json" in {a["relative_path"] for a in report["artifacts"]}


def test_paths_in_the_config_are_relative_to_its_folder(kerasvet, project, tmp_path):
    policy = project / "policies" / "ours.toml"
    policy.parent.mkdir()
    policy.write_text('name = "ours"\nextends = ["default"]\n')
    baseline = project / "policies" / "baseline.json"
    baseline.write_text('{"version": 1, "entries": []}')
    _project(project, '[tool.kerasvet]\npolicy = "policies/ours.toml"\n'
                      'baseline = "policies/baseline.json"\n')
    config = load_config(project / "models")
    assert config.policy == str(policy)
    assert config.baseline == str(baseline)
    run = kerasvet("audit", "--root", project / "models", "--format", "json",
                   project / "models")
    assert _json(run)["policy"]["name"] == "ours"


@pytest.mark.parametrize(("table", "message"), [
    ('fail_on = "high"', "unknown key(s) in [tool.kerasvet]: fail_on"),
    ('fail-on = "severe"', "fail-on 'severe' is not one of"),
    ("jobs = 0", "jobs must be a positive integer"),
    ("jobs = true", "jobs must be a positive integer"),
    ('exclude = "tests"', "exclude must be a list of globs"),
    ('docs-base = "docs/"', "is not an absolute URI"),
    ("policy = 3", "policy must be a non-empty string"),
])
def test_bad_settings_exit_2(kerasvet, allowed_tree, table, message):
    _project(allowed_tree.parent, f"[tool.kerasvet]\n{table}\n")
    run = kerasvet("audit", "--root", allowed_tree, allowed_tree)
    assert run.code == 2
    assert message in run.err


def test_invalid_toml_exits_2(kerasvet, allowed_tree):
    (allowed_tree.parent / "pyproject.toml").write_text("[tool.kerasvet\n")
    run = kerasvet("audit", "--root", allowed_tree, allowed_tree)
    assert run.code == 2
    assert "cannot read" in run.err


def test_parse_accepts_every_documented_key(tmp_path):
    config = parse_config({"policy": "strict", "fail-on": "low", "baseline": "b.json",
                           "exclude": ["x/*"], "jobs": 3, "docs-base": "https://e.org/kv"},
                          tmp_path / "pyproject.toml")
    assert set(CONFIG_KEYS) == {"policy", "fail-on", "baseline", "exclude", "jobs",
                                "docs-base"}
    assert (config.policy, config.fail_on, config.jobs) == ("strict", FailOn.LOW, 3)
    assert config.baseline == str(tmp_path / "b.json")
    assert [(p.base, p.glob) for p in config.exclude] == [(str(tmp_path), "x/*")]
    assert config.docs_base == "https://e.org/kv/"
    with pytest.raises(ConfigError):
        parse_config(["not", "a", "table"], tmp_path / "pyproject.toml")
