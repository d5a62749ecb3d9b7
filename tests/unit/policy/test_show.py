"""`kerasvet policy show`: the flattened policy, each rule with the file:line it came from."""

from __future__ import annotations

import textwrap
from pathlib import Path

from kerasvet.cli import main
from kerasvet.policy import load_policy
from kerasvet.policy.show import render_policy

CHILD = """\
# A user policy: the default plus one custom layer.
name = "mine"
extends = ["default"]

[limits]
max_nodes = 500

[lambdas]
mode = "deny"

[classes]
"my_pkg.layers" = ["MyLayer", "Other"]

[[deny]]
module = "my_pkg.layers"
names = ["Other"]
reason = "Other reads files"

[arguments."my_pkg.layers.MyLayer".size]
types = ["int"]
min = 1
max = 64
reason = "memory"
"""


def child(tmp_path: Path) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(textwrap.dedent(CHILD))
    return path


def line_with(text: str, needle: str) -> str:
    (line,) = [line for line in text.splitlines() if needle in line]
    return line


def test_every_rule_names_its_file_and_line(tmp_path):
    path = child(tmp_path)
    text = render_policy(load_policy(path))
    assert text.startswith("policy mine  sha256=")
    assert line_with(text, "max_nodes =").endswith(f"max_nodes = 500  # {path}:6")
    assert line_with(text, "max_int_digits =").endswith("# built-in default")
    assert line_with(text, "mode =").endswith(f'mode = "deny"  # {path}:9')
    deny = line_with(text, "module = my_pkg.layers names=[Other]")
    assert deny.endswith(f"kind=any  # {path}:14")
    argument = line_with(text, "my_pkg.layers.MyLayer.size:")
    assert argument.endswith(f"types=int min=1 max=64  # {path}:19")
    assert line_with(text, "  my_pkg.layers: 2").endswith(f"# {path}:12")
    # Inherited rules point into the parent files.
    assert "default.toml:" in line_with(text, "names=[TFSMLayer]")
    assert "keras-builtins.toml:" in line_with(text, "  keras.layers: ")


def test_module_added_to_by_several_files_lists_each(tmp_path):
    path = tmp_path / "more.toml"
    path.write_text('name = "more"\nextends = ["default"]\n[classes]\n"keras.layers" = ["X"]\n')
    line = line_with(render_policy(load_policy(path)), "  keras.layers: ")
    assert "keras-builtins.toml:" in line
    assert line.endswith(f", {path}:4")


def test_full_lists_every_name(tmp_path):
    policy = load_policy(child(tmp_path))
    short, full = render_policy(policy), render_policy(policy, full=True)
    assert "    MyLayer" not in short.splitlines()
    assert "    MyLayer" in full.splitlines()
    assert "    Dense" in full.splitlines()


def test_cli_show_by_name_and_file(tmp_path, capsys):
    assert main(["policy", "show", "strict"]) == 0
    assert capsys.readouterr().out.startswith("policy strict  sha256=")
    assert main(["policy", "show", str(child(tmp_path)), "--full"]) == 0
    assert "    MyLayer" in capsys.readouterr().out.splitlines()
    assert main(["policy", "show", "no-such-policy"]) == 2
    assert "unknown policy" in capsys.readouterr().err
