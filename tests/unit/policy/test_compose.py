"""Composition: `[remove]` takes inherited entries out explicitly; an exact allow written
after a broad deny rule wins over it, while a deny naming the object always wins."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kerasvet.audit import audit_artifact
from kerasvet.errors import PolicyError
from kerasvet.policy import load_policy
from kerasvet.policy.check import check_policies
from kerasvet.policy.model import DenyKind
from kerasvet.policy.show import render_policy

LSTM = {"module": "keras.layers", "class_name": "LSTM", "registered_name": None,
        "config": {"name": "lstm", "units": 4}}
DENSE = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": {"name": "dense", "units": 4}}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def denying(report: object) -> set[tuple[str, str]]:
    return {(f.rule.id, f.location.pointer) for f in report.findings  # type: ignore[attr-defined]
            if f.denies}


def test_remove_takes_an_inherited_class_out(tmp_path: Path, default_policy) -> None:
    path = write(tmp_path, "no-rnn.toml", """\
        name = "no-rnn"
        extends = ["default"]

        [remove.classes]
        "keras.layers" = ["LSTM", "GRU"]
        """)
    policy = load_policy(path)
    assert default_policy.allows_class("keras.layers", "LSTM")
    assert not policy.allows_class("keras.layers", "LSTM")
    assert not policy.allows_class("keras.layers", "GRU")
    assert policy.allows_class("keras.layers", "Dense")
    assert denying(audit_artifact(LSTM, policy)) == {("KV300", "")}
    assert denying(audit_artifact(DENSE, policy)) == set()
    assert [(r.shown, r.source) for r in policy.removed] == [
        ("classes: keras.layers.GRU", f"{path.resolve()}:5"),
        ("classes: keras.layers.LSTM", f"{path.resolve()}:5"),
    ]
    shown = render_policy(policy)
    assert f"classes: keras.layers.LSTM  # {path.resolve()}:5" in shown


def test_remove_covers_every_union_section(tmp_path: Path) -> None:
    write(tmp_path, "parent.toml", """\
        name = "parent"
        extends = ["default"]

        [[custom]]
        registered_name = "acme>Block"
        object = "acme.layers.Block"

        [arguments."keras.layers.Dense".units]
        max = 64
        """)
    path = write(tmp_path, "child.toml", """\
        name = "child"
        extends = ["parent.toml"]

        [remove]
        custom = ["acme>Block"]

        [remove.functions]
        "keras.activations" = ["relu"]

        [remove.names]
        activations = ["relu"]

        [remove.arguments]
        "keras.layers.Dense" = ["units"]

        [remove.lambdas]
        calls = ["keras.ops.abs"]
        builtins = ["len"]
        attributes = ["T"]
        roots = ["np"]
        """)
    parent = load_policy(tmp_path / "parent.toml")
    child = load_policy(path)
    assert parent.custom_object("acme>Block") is not None
    assert child.custom_object("acme>Block") is None
    assert parent.allows_function("keras.activations", "relu")
    assert not child.allows_function("keras.activations", "relu")
    assert "relu" in parent.names["activations"]
    assert "relu" not in child.names["activations"]
    assert "units" in parent.arguments["keras.layers.Dense"]
    assert "units" not in child.arguments["keras.layers.Dense"]
    assert "keras.ops.abs" in parent.lambdas.calls
    assert "keras.ops.abs" not in child.lambdas.calls
    assert "len" not in child.lambdas.builtins
    assert "T" not in child.lambdas.attributes
    assert "np" in parent.lambdas.roots
    assert "np" not in child.lambdas.roots
    # A grandchild may add back what its parent removed.
    again = write(tmp_path, "again.toml", """\
        name = "again"
        extends = ["child.toml"]

        [functions]
        "keras.activations" = ["relu"]
        """)
    assert load_policy(again).allows_function("keras.activations", "relu")


@pytest.mark.parametrize(("body", "where", "message"), [
    ('[remove.classes]\n"keras.layers" = ["NoSuchLayer"]\n', "remove.classes.keras.layers",
     "removes classes: keras.layers.NoSuchLayer, which no parent policy allows"),
    ('[remove]\ncustom = ["acme>Nothing"]\n', "remove.custom",
     "removes custom: acme>Nothing, which no parent policy allows"),
    ('[remove.lambdas]\ncalls = ["os.system"]\n', "remove.lambdas.calls",
     "removes lambdas.calls: os.system, which no parent policy allows"),
    ('[remove.classes]\n"keras.layers" = ["LSTM"]\n\n[classes]\n"keras.layers" = ["LSTM"]\n',
     "remove.classes.keras.layers", "removes and adds classes: keras.layers.LSTM"),
    ('[remove]\nclasses_ = 1\n', "remove", "unknown key(s) 'classes_'"),
    ('[remove.lambdas]\nmode = ["deny"]\n', "remove.lambdas", "unknown key(s) 'mode'"),
    ('[remove.classes]\n"keras.*" = ["Dense"]\n', "remove.classes.keras.*",
     "is a prefix or wildcard"),
])
def test_bad_removals_are_one_clear_error(tmp_path: Path, body: str, where: str,
                                          message: str) -> None:
    path = write(tmp_path, "bad.toml", 'name = "bad"\nextends = ["default"]\n\n' + body)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert f": {where}: " in str(caught.value)
    assert message in str(caught.value)
    (problem,) = check_policies([path])
    assert (problem.where, problem.line) == (where, 5), problem
    assert message in problem.message


def test_exact_allow_in_a_child_wins_over_a_broad_deny(tmp_path: Path, default_policy) -> None:
    # default denies `module_prefix = "keras.utils"` (no names): a child that names one
    # object there is more specific, so its allow wins; `policy show` lists the exception.
    assert default_policy.deny_rule_for("keras.utils", "Sequence", DenyKind.CLASS) is not None
    path = write(tmp_path, "seq.toml", """\
        name = "seq"
        extends = ["default"]

        [classes]
        "keras.utils" = ["Sequence"]
        """)
    policy = load_policy(path)
    assert policy.deny_rule_for("keras.utils", "Sequence", DenyKind.CLASS) is None
    assert policy.deny_exception("keras.utils", "Sequence", DenyKind.CLASS) == \
        f"{path.resolve()}:5"
    # Only that object: the rest of the module stays denied.
    assert policy.deny_rule_for("keras.utils", "get_file", DenyKind.FUNCTION) is not None
    node = {"module": "keras.utils", "class_name": "Sequence", "registered_name": None,
            "config": {}}
    assert denying(audit_artifact(node, default_policy)) == {("KV302", "")}
    report = audit_artifact(node, policy)
    assert denying(report) == set()
    (decision,) = report.decisions
    assert decision.rule == (f"classes: keras.utils.Sequence (exact allow at "
                             f"{path.resolve()}:5, over a broad deny rule)")
    assert "class keras.utils.Sequence allowed over module_prefix = keras.utils" in \
        render_policy(policy)


def test_deny_that_names_the_object_beats_any_allow(tmp_path: Path) -> None:
    # Equal specificity: default's `names = ["TFSMLayer"]` rule wins over a child's allow.
    path = write(tmp_path, "tfsm.toml", """\
        name = "tfsm"
        extends = ["default"]

        [classes]
        "keras.layers" = ["TFSMLayer"]
        """)
    policy = load_policy(path)
    assert policy.deny_rule_for("keras.layers", "TFSMLayer", DenyKind.CLASS) is not None
    assert policy.deny_exceptions == {}
    node = {"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
            "config": {"name": "t", "filepath": "/m"}}
    assert denying(audit_artifact(node, policy)) == {("KV302", "")}


def test_an_allow_in_the_same_or_an_earlier_file_never_overrides(tmp_path: Path) -> None:
    # A broad deny written next to (or below) an allow of the same object denies it: only a
    # later file's allow is a deliberate exception.
    same = write(tmp_path, "same.toml", """\
        name = "same"

        [classes]
        "acme.layers" = ["Block"]

        [[deny]]
        module_prefix = "acme"
        reason = "nothing from acme"
        """)
    policy = load_policy(same)
    assert policy.deny_rule_for("acme.layers", "Block", DenyKind.CLASS) is not None
    child = write(tmp_path, "child.toml", """\
        name = "child"
        extends = ["same.toml"]

        [[deny]]
        module_prefix = "acme.layers"
        reason = "and nothing from acme.layers, whatever a parent allows"
        """)
    assert load_policy(child).deny_rule_for("acme.layers", "Block", DenyKind.CLASS) is not None


def test_a_sibling_merged_later_is_no_exception(tmp_path: Path) -> None:
    # Only a file that extends the deny rule's file knows about the rule; an unrelated
    # policy merged after it (here a sibling in one `extends` list) does not override it.
    write(tmp_path, "no-acme.toml", """\
        name = "no-acme"

        [[deny]]
        module_prefix = "acme"
        reason = "nothing from acme"
        """)
    write(tmp_path, "acme-allow.toml", """\
        name = "acme-allow"

        [classes]
        "acme.layers" = ["Block"]
        """)
    siblings = write(tmp_path, "siblings.toml", """\
        name = "siblings"
        extends = ["no-acme.toml", "acme-allow.toml"]
        """)
    policy = load_policy(siblings)
    assert policy.deny_exceptions == {}
    assert policy.deny_rule_for("acme.layers", "Block", DenyKind.CLASS) is not None
    # A grandchild of the rule's file (through `siblings`) may make the exception itself.
    child = write(tmp_path, "child.toml", """\
        name = "child"
        extends = ["siblings.toml"]

        [classes]
        "acme.layers" = ["Block"]
        """)
    policy = load_policy(child)
    assert policy.deny_rule_for("acme.layers", "Block", DenyKind.CLASS) is None
    assert policy.deny_exception("acme.layers", "Block", DenyKind.CLASS) == \
        f"{child.resolve()}:5"
