"""Policy files: strict parsing, `extends` merging, clear errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kerasvet.errors import PolicyError
from kerasvet.policy import DenyKind, LambdaMode, Policy, load_policy, shipped_policy_names


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_policies_load_and_extend(default_policy, strict_policy):
    assert {"default", "strict", "keras-builtins"} <= set(shipped_policy_names())
    assert default_policy.name == "default"
    assert default_policy.lambdas.mode is LambdaMode.ANALYZE
    assert strict_policy.lambdas.mode is LambdaMode.DENY
    assert "keras.ops.mean" in default_policy.lambdas.calls
    assert default_policy.lambdas.roots["ops"] == "keras.ops"
    assert default_policy.allows_class("keras.layers", "Dense")
    assert default_policy.sources[-1].endswith("default.toml")
    assert default_policy.sources[0].endswith("keras-builtins.toml")
    # strict inherits the default's allow rules and denials but has smaller caps.
    assert strict_policy.allows_class("keras.layers", "Dense")
    assert strict_policy.limits.max_json_depth < default_policy.limits.max_json_depth
    assert len(strict_policy.deny) == len(default_policy.deny)
    assert strict_policy.sha256 != default_policy.sha256


def test_policy_load_classmethod_accepts_name_and_path():
    by_name = Policy.load("default")
    by_path = Policy.load(Path(by_name.sources[-1]))
    assert by_name.sha256 == by_path.sha256


def test_allow_rules_are_exact_pairs(default_policy):
    assert not default_policy.allows_class("keras.layer", "Dense")
    assert not default_policy.allows_class("keras.layers.Dense", "Dense")
    assert not default_policy.allows_class("keras", "Dense")
    assert not default_policy.allows_class("keras.layers", "dense")


def test_user_policy_extends_by_relative_path(tmp_path):
    write(tmp_path, "base.toml", """
        name = "base"
        [classes]
        "my_pkg.layers" = ["MyLayer"]
    """)
    child = write(tmp_path, "child.toml", """
        name = "child"
        extends = ["base.toml", "default"]
        [limits]
        max_nodes = 10
        [arguments."my_pkg.layers.MyLayer".units]
        types = ["int"]
        max = 64
    """)
    policy = load_policy(child)
    assert policy.allows_class("my_pkg.layers", "MyLayer")
    assert policy.allows_class("keras.layers", "Dense")
    assert policy.limits.max_nodes == 10
    assert policy.arguments["my_pkg.layers.MyLayer"]["units"].maximum == 64
    assert policy.deny_rule_for("keras.layers", "TFSMLayer", DenyKind.CLASS) is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\nbogus = 1\n', "unknown key"),
        ('[classes]\n"keras.layers" = ["Dense"]\n', "name"),
        ('name = "x"\n[limits]\nmax_nodes = "ten"\n', "expected int"),
        ('name = "x"\n[limits]\nmax_nodes = 0\n', "positive"),
        ('name = "x"\n[limits]\nmax_potatoes = 3\n', "unknown key"),
        ('name = "x"\n[lambdas]\nmode = "allow-all"\n', "not one of"),
        ('name = "x"\n[classes]\n"keras.layers" = ["D\u0435nse"]\n', "plain ASCII"),
        ('name = "x"\n[classes]\n"keras..layers" = ["Dense"]\n', "plain ASCII"),
        ('name = "x"\n[[deny]]\nmodule = "os"\n', "reason"),
        ('name = "x"\n[[deny]]\nreason = "r"\n', "exactly one"),
        ('name = "x"\n[arguments."keras.layers.Dense".units]\ntypes = ["integer"]\n',
         "unknown type"),
        ('name = "x"\n[arguments."keras.layers.Dense".units]\nforbid = ["everything"]\n',
         "unknown pattern"),
        ('name = "x"\nextends = ["no-such-policy"]\n', "unknown policy"),
        ('name = "x"\nextends = ["missing.toml"]\n', "does not exist"),
        ("name = [unclosed\n", "not valid TOML"),
    ],
)
def test_malformed_policies_are_clear_errors(tmp_path, text, message):
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_extends_cycle_is_an_error(tmp_path):
    write(tmp_path, "a.toml", 'name = "a"\nextends = ["b.toml"]\n')
    write(tmp_path, "b.toml", 'name = "b"\nextends = ["a.toml"]\n')
    with pytest.raises(PolicyError, match="cycle"):
        load_policy(tmp_path / "a.toml")


def test_missing_policy_file_is_an_error(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
