"""`[[tests]]` in policy files and `kerasvet policy test`: the shipped policies pass their own."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from kerasvet.cli import main
from kerasvet.errors import PolicyError
from kerasvet.policy import PolicyTest, load_policy, shipped_policy_names
from kerasvet.policy.load import SHIPPED_DIR
from kerasvet.policy.show import render_policy
from kerasvet.policy.testing import run_policy_tests

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

TFSM = ('{ module = "keras.layers", class_name = "TFSMLayer", '
        'config = { name = "saved", filepath = "/tmp/model" } }')
DENSE = '{ module = "keras.layers", class_name = "Dense", config = { name = "d", units = 4 } }'


def write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


GENERATED_ONLY = {"keras-builtins"}
"""Shipped policies that are pure generated allow-tables, extended by the others; no tests."""
TESTED = [name for name in shipped_policy_names() if name not in GENERATED_ONLY]


def test_shipped_policies_pass_their_own_tests(capsys):
    assert {"default", "strict", "applications", "keras-hub", "lambdas-reviewed"} <= set(TESTED)
    assert main(["policy", "test", *TESTED]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert out.splitlines()[-1].endswith(" passed, 0 failed")
    for name in TESTED:
        assert f"{name}: ok " in out


@pytest.mark.parametrize("name", TESTED)
def test_shipped_policies_carry_tests(name):
    policy = load_policy(name)
    assert len(policy.tests) >= 3
    assert {t.verdict for t in policy.tests} == {"allow", "deny"}
    assert any(t.config is not None for t in policy.tests)
    assert all(t.artifact is None or t.artifact.is_file() for t in policy.tests)


def test_artifact_paths_work_through_the_package_symlink():
    # SHIPPED_DIR is src/kerasvet/policies, a link to policies/: ../examples must still work.
    direct = load_policy(SHIPPED_DIR / "default.toml")
    assert all(t.artifact is None or t.artifact.is_file() for t in direct.tests)
    assert all(r.passed for r in run_policy_tests(direct))


def test_tests_are_not_inherited(tmp_path):
    path = write(tmp_path, """
        name = "child"
        extends = ["default"]
    """)
    assert load_policy(path).tests == ()
    assert main(["policy", "test", str(path)]) == 0


def test_pass_and_fail_lines_and_exit_code(tmp_path, capsys):
    shutil.copy(EXAMPLES / "mlp.keras", tmp_path / "mlp.keras")
    path = write(tmp_path, f"""
        name = "mine"
        extends = ["default"]

        [[tests]]
        name = "mlp"
        artifact = "mlp.keras"
        verdict = "allow"

        [[tests]]
        name = "tfsm"
        config = {TFSM}
        verdict = "deny"
        rules = ["KV302"]

        [[tests]]
        name = "wrong verdict"
        config = {TFSM}
        verdict = "allow"

        [[tests]]
        name = "wrong rules"
        config = {TFSM}
        verdict = "deny"
        rules = ["KV303"]

        [[tests]]
        name = "dense"
        config = {DENSE}
        verdict = "deny"
    """)
    assert main(["policy", "test", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "mine: ok mlp: allow []"
    assert lines[1] == "mine: ok tfsm: deny [KV302]"
    assert lines[2] == f"mine: FAIL wrong verdict: expected allow, got deny [KV302]  # {path}:16"
    assert lines[3].startswith("mine: FAIL wrong rules: expected deny [KV303], got deny [KV302]")
    assert lines[4].startswith("mine: FAIL dense: expected deny, got allow []")
    assert lines[5] == "2 passed, 3 failed"


def test_rules_omitted_checks_only_the_verdict(tmp_path):
    path = write(tmp_path, f"""
        name = "mine"
        extends = ["default"]

        [[tests]]
        name = "tfsm"
        config = {TFSM}
        verdict = "deny"
    """)
    (result,) = run_policy_tests(load_policy(path))
    assert result.passed
    assert result.rules == frozenset({"KV302"})


def test_effective_policy_is_used(tmp_path, capsys):
    # Under strict every lambda is KV500; the same file extending default allows it.
    for parent, expected in (("default", "allow"), ("strict", "deny")):
        shutil.copy(EXAMPLES / "lambda_model.keras", tmp_path / "lambda_model.keras")
        path = write(tmp_path, f"""
            name = "mine"
            extends = ["{parent}"]

            [[tests]]
            name = "lambda"
            artifact = "lambda_model.keras"
            verdict = "{expected}"
        """)
        assert main(["policy", "test", str(path)]) == 0, capsys.readouterr().out


def test_missing_artifact_exits_2(tmp_path, capsys):
    path = write(tmp_path, """
        name = "mine"

        [[tests]]
        name = "gone"
        artifact = "gone.keras"
        verdict = "allow"
    """)
    assert main(["policy", "test", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: tests[0].artifact:" in err
    assert "does not exist" in err


def test_invalid_policy_exits_2(tmp_path, capsys):
    assert main(["policy", "test", "no-such-policy"]) == 2
    assert "unknown policy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('name = "t"\nverdict = "allow"\nartifact = "a.keras"\nexpect = 1\n',
         "mine.toml:7: tests[0]: unknown key(s) 'expect'"),
        ('verdict = "allow"\nartifact = "a.keras"\n', "tests[0]: `name` is required"),
        ('name = "t"\nartifact = "a.keras"\n', "tests[0]: `verdict` is required"),
        ('name = "t"\nverdict = "maybe"\nartifact = "a.keras"\n',
         "tests[0].verdict: 'maybe' is not allow or deny"),
        ('name = "t"\nverdict = "allow"\n', "tests[0]: give exactly one of `artifact`"),
        (f'name = "t"\nverdict = "deny"\nartifact = "a.keras"\nconfig = {DENSE}\n',
         "tests[0]: give exactly one of `artifact`"),
        ('name = "t"\nverdict = "deny"\nconfig = "{}"\n', "tests[0].config:"),
        ('name = "t"\nverdict = "deny"\nartifact = "a.keras"\nrules = ["302"]\n',
         "tests[0].rules: '302' is not a rule id"),
        ('name = "t"\nverdict = "deny"\nartifact = "a.keras"\nrules = "KV302"\n',
         "tests[0].rules:"),
        ('name = "t"\nverdict = "allow"\nartifact = "a.keras"\nrules = ["KV302"]\n',
         "tests[0].rules: an allow verdict means no denying findings"),
    ],
)
def test_malformed_tests_are_rejected(tmp_path, capsys, body, expected):
    path = write(tmp_path, 'name = "mine"\n\n[[tests]]\n' + body)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert expected in str(info.value)
    assert main(["policy", "check", str(path)]) == 2
    assert main(["policy", "test", str(path)]) == 2


def test_duplicate_test_names_are_rejected(tmp_path):
    case = '[[tests]]\nname = "t"\nverdict = "allow"\nartifact = "a.keras"\n'
    path = write(tmp_path, 'name = "mine"\n' + case + case)
    expected = r"mine.toml:7: tests\[1\].name: 't' appears in two \[\[tests\]\] entries"
    with pytest.raises(PolicyError, match=expected):
        load_policy(path)


def test_model_and_show(tmp_path):
    path = write(tmp_path, f"""
        name = "mine"
        extends = ["strict"]

        [[tests]]
        name = "tfsm"
        config = {TFSM}
        verdict = "deny"
        rules = ["KV302"]

        [[tests]]
        name = "file"
        artifact = "sub/../model.keras"
        verdict = "allow"
    """)
    policy = load_policy(path)
    first, second = policy.tests
    assert isinstance(first, PolicyTest)
    assert first.config is not None
    assert first.config["class_name"] == "TFSMLayer"
    assert first.rules == frozenset({"KV302"})
    assert first.source == f"{path}:5"
    assert second.artifact == tmp_path.resolve() / "model.keras"
    assert second.rules is None
    text = render_policy(policy)
    assert "[[tests]]  2 tests of the top file (not inherited)" in text
    assert f'"tfsm": config = (inline) verdict=deny rules=["KV302"]  # {path}:5' in text
    assert f'"file": artifact = {json.dumps(str(second.artifact))} verdict=allow  # {path}:11' \
        in text
