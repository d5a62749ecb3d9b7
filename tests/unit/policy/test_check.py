"""`kerasvet policy check`: one located message per broken file, exit 2; line finding."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kerasvet.cli import main
from kerasvet.policy import load_policy, shipped_policy_names
from kerasvet.policy.check import PolicyProblem, check_policies
from kerasvet.policy.lines import KeyLines
from kerasvet.policy.load import SHIPPED_DIR


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.mark.parametrize(
    ("text", "where", "line", "message"),
    [
        ('name = "x"\nbogus = 1\n', "top level", 2, "unknown key(s) 'bogus'"),
        ('name = "x"\n\n[limits]\nmax_nodes = 3\nmax_nodez = 1\n', "limits", 5,
         "unknown key(s) 'max_nodez'"),
        ('name = "x"\n[limits]\nmax_nodes = "many"\n', "limits.max_nodes", 3,
         "expected int, got str"),
        ('name = "x"\n[lambdas]\nmode = "sometimes"\n', "lambdas.mode", 3, "is not one of"),
        ('name = "x"\n[[deny]]\nmodule = "a"\nreason = "r"\n[[deny]]\nmodule = "b"\n'
         'reason = "r"\nkind = "both"\n', "deny[1].kind", 8, "is not class"),
        ('name = "x"\n[[deny]]\nmodule = "a"\nreason = "r"\n[[deny]]\nmodule = "b"\n'
         'reason = "r"\nwhy = 1\n', "deny[1]", 8, "unknown key(s) 'why'"),
        ('name = "x"\n[arguments."keras.layers.Dense".units]\ntypes = ["integer"]\n',
         "arguments.keras.layers.Dense.units.types", 3, "unknown type"),
        ('name = "x"\n[arguments."keras.layers.Dense"]\nunits = { minimum = 1 }\n',
         "arguments.keras.layers.Dense.units", 3, "unknown key(s) 'minimum'"),
        ('name = "x"\n[classes]\n"keras.layers" = "Dense"\n', "classes.keras.layers", 3,
         "expected list"),
        ('name = "x"\n[classes]\n"keras.layers.*" = ["Dense"]\n', "classes.keras.layers.*", 3,
         "is a prefix or wildcard; allow lists name exact modules"),
        ('name = "x"\n[functions]\n"keras." = ["relu"]\n', "functions.keras.", 3,
         "is a prefix or wildcard"),
        ('name = "x"\n[[deny]]\nmodule = "keras."\nreason = "r"\n', "deny[0].module", 3,
         "not a plain ASCII identifier"),
        ('name = "x"\n[arguments."*".name]\npattern = "[a-z"\n', "arguments.*.name.pattern", 3,
         "not a valid regular expression"),
        ('name = "x"\n[arguments."*".kernel_initializer]\nnodes = ["GlorotUniform"]\n',
         "arguments.*.kernel_initializer.nodes", 3, "is not `module.Class`"),
        ('name = "x"\n[arguments."*".name]\nmax_items = -1\n', "arguments.*.name.max_items", 3,
         "must not be negative"),
        ('name = "x"\n[arguments."*".name]\nmax_depth = "2"\n', "arguments.*.name.max_depth", 3,
         "expected int, got str"),
        ('name = "x"\nextends = ["no-such-policy"]\n', "extends", 2, "unknown policy"),
        ('name = "x"\nextends = ["missing.toml"]\n', "extends", 2, "does not exist"),
    ],
)
def test_malformed_policy_is_one_located_problem(tmp_path, capsys, text, where, line, message):
    path = write(tmp_path, "bad.toml", text)
    (problem,) = check_policies([path])
    assert (problem.file, problem.where, problem.line) == (str(path), where, line)
    assert message in problem.message
    assert main(["policy", "check", str(path)]) == 2
    out = capsys.readouterr().out
    assert out == f"{path}:{line}: {where}: {problem.message}\n"


def test_extends_cycle_names_the_file_and_line(tmp_path, capsys):
    a = write(tmp_path, "a.toml", 'name = "a"\nextends = ["b.toml"]\n')
    b = write(tmp_path, "b.toml", '# b\nname = "b"\nextends = ["a.toml"]\n')
    (problem,) = check_policies([a])
    assert (problem.file, problem.line, problem.where) == (str(b.resolve()), 3, "extends")
    assert "cycle" in problem.message
    assert main(["policy", "check", str(a)]) == 2
    assert f"{b.resolve()}:3: extends:" in capsys.readouterr().out


def test_broken_parent_is_reported_in_the_parent(tmp_path):
    write(tmp_path, "parent.toml", 'name = "p"\n[names]\nshapes = ["x"]\n')
    child = write(tmp_path, "child.toml", 'name = "c"\nextends = ["parent.toml"]\n')
    (problem,) = check_policies([child])
    assert (Path(problem.file).name, problem.where, problem.line) == ("parent.toml", "names", 3)


def test_invalid_toml_and_missing_file_name_the_file(tmp_path):
    broken = write(tmp_path, "broken.toml", "name = [unclosed\n")
    missing = tmp_path / "missing.toml"
    problems = check_policies([broken, missing])
    assert [(p.file, p.where) for p in problems] == [(str(broken), "syntax"),
                                                     (str(missing), "file")]
    assert "not valid TOML" in problems[0].message
    assert "does not exist" in problems[1].message


def test_every_file_is_checked_and_valid_files_exit_0(tmp_path, capsys):
    bad = write(tmp_path, "bad.toml", 'name = "x"\nbogus = 1\n')
    good = write(tmp_path, "good.toml", 'name = "y"\nextends = ["default"]\n')
    assert main(["policy", "check", str(bad), str(good), str(bad)]) == 2
    assert capsys.readouterr().out.count("bad.toml:2: top level:") == 2
    shipped = [str(SHIPPED_DIR / f"{n}.toml") for n in shipped_policy_names()]
    assert main(["policy", "check", str(good), *shipped]) == 0


def test_problem_without_line_omits_it():
    assert str(PolicyProblem("f.toml", "name", "required")) == "f.toml: name: required"


def test_key_lines_follow_headers_arrays_and_quoted_keys():
    lines = KeyLines.scan(textwrap.dedent("""\
        name = "x"
        [lambdas.roots]
        ops = "keras.ops"
        [[deny]]
        module = "a"  # comment
        [[deny]]
        module = "b"
        [classes]
        "keras.layers" = [
          "Dense",
        ]
        """))
    assert lines.find("name") == 1
    assert lines.find("lambdas") == 2
    assert lines.find("lambdas.roots.ops") == 3
    assert lines.find("deny[1].module") == 7
    assert lines.find("deny[1].reason") == 6  # missing key: its table
    assert lines.find("classes.keras.layers") == 9
    assert lines.find("nowhere") is None


def test_rule_sources_carry_the_line(tmp_path):
    path = write(tmp_path, "p.toml", """
        name = "p"
        extends = ["default"]

        [[deny]]
        module = "my_pkg"
        reason = "ours"

        [arguments."my_pkg.Layer"]
        size = { max = 4 }
        """)
    policy = load_policy(path)
    assert policy.deny[-1].source == f"{path}:4"
    assert policy.arguments["my_pkg.Layer"]["size"].source == f"{path}:9"
    first = policy.deny[0].source
    assert first.rsplit(":", 1)[0].endswith("default.toml")
    assert first.rsplit(":", 1)[1].isdigit()
