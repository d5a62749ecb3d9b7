"""`kerasvet explain --node` and `kerasvet audit --show-allowed`, through the real CLI.

Inputs are files Keras wrote (the examples, the benign corpus, the attack fixtures made from
Keras-saved models) and one model this module builds and saves with Keras. The attack
fixtures are only read; the canary must stay absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kerasvet.cli import main

ROOT = Path(__file__).resolve().parents[2]
ATTACKS = ROOT / "tests" / "fixtures" / "attacks"
DEFAULT_TOML = ROOT / "policies" / "default.toml"
BUILTINS_TOML = ROOT / "policies" / "keras-builtins.toml"
CANARY = Path("/tmp/kerasvet-canary")


def line_of(path: Path, needle: str, after: int = 0) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if i > after and needle in line)


def deny_header(needle: str) -> int:
    lines = DEFAULT_TOML.read_text(encoding="utf-8").splitlines()
    body = line_of(DEFAULT_TOML, needle)
    return max(i for i, line in enumerate(lines[:body], start=1) if line == "[[deny]]")


def explain(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["explain", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def block(lines: list[str], head: str) -> list[str]:
    """The step line starting with ``head`` (after its number) and its indented lines."""
    for index, line in enumerate(lines):
        if line[2:].lstrip(" 0123456789").startswith(". " + head):
            rest = [line]
            for following in lines[index + 1:]:
                if not following.startswith("        "):
                    break
                rest.append(following)
            return rest
    raise AssertionError(f"no step {head!r} in:\n" + "\n".join(lines))


def test_allowed_dense_shows_the_class_entry_and_each_constraint(capsys):
    code, lines, _ = explain(capsys, str(ROOT / "examples" / "mlp.keras"),
                             "--node", "/config/layers/1")
    assert code == 0
    assert lines[1] == "node config.json#/config/layers/1 (class) keras.layers.Dense layer 'hidden'"
    classes = line_of(BUILTINS_TOML, '"keras.layers" = [')
    dense = line_of(BUILTINS_TOML, '"Dense",', after=classes)
    assert block(lines, "matched        allow table entry") == [
        "-> 5. matched        allow table entry: [classes] keras.layers: Dense",
        "        the exact (module, name) pair is listed",
        f"        policy: {BUILTINS_TOML}:{dense}",
    ]
    name_table = line_of(DEFAULT_TOML, '[arguments."*".name]')
    assert block(lines, "passed         argument constraint") == [
        '   7. passed         argument constraint: arguments."*".name: '
        "types=null|string max_length=256",
        "        'hidden' meets it",
        f"        policy: {DEFAULT_TOML}:{name_table}",
    ]
    relu = line_of(BUILTINS_TOML, '"relu",', after=line_of(BUILTINS_TOML, "activations = ["))
    reference = block(lines, "matched        bare-name reference")
    assert reference[2] == f"        policy: {BUILTINS_TOML}:{relu}"
    assert lines[-1] == "verdict: allow, settled by step 5: classes: keras.layers.Dense"


def test_tfsmlayer_shows_the_deny_rule_with_advisory_and_line(capsys):
    assert not CANARY.exists()
    code, lines, _ = explain(capsys, str(ATTACKS / "cve-2026-1462-tfsmlayer.json"),
                             "--node", "/config/layers/2")
    assert code == 1
    header = deny_header('names = ["TFSMLayer"]')
    step = block(lines, "matched        deny rule")
    assert step[0] == ("->2. matched        deny rule: [[deny]] module_prefix = keras "
                       "names = [TFSMLayer] kind = class")
    assert "CVE-2026-1462" in step[1]
    assert step[2] == f"        policy: {DEFAULT_TOML}:{header}"
    assert step[3].startswith("        KV302 critical at <json>#/config/layers/2 [CVE-2026-1462]: ")
    assert lines[-1] == f"verdict: deny, settled by step 2: deny: {DEFAULT_TOML}:{header}"
    assert not CANARY.exists()


def test_string_lookup_path_vocabulary_shows_the_broken_constraint(capsys):
    code, lines, _ = explain(capsys, str(ATTACKS / "cve-2025-12058-vocabulary-path.json"),
                             "--node", "<json>#/config/layers/1")
    assert code == 1
    table = line_of(DEFAULT_TOML, '[arguments."keras.layers.StringLookup".vocabulary]')
    step = block(lines, "broken         argument constraint")
    number, _, rest = step[0].removeprefix("->").partition(". ")
    assert number.strip().isdigit()
    assert rest == ('broken         argument constraint: '
                    'arguments."keras.layers.StringLookup".vocabulary: '
                    "types=list|null forbid=path|url")
    assert step[1] == "        KV403: `vocabulary` looks like a file path"
    assert step[2] == f"        policy: {DEFAULT_TOML}:{table}"
    assert step[3].startswith(
        "        KV403 critical at <json>#/config/layers/1/config/vocabulary: ")
    assert lines[-1] == f"verdict: deny, settled by step {number.strip()}: KV403"


def test_custom_class_without_entry_shows_the_missing_entry(capsys):
    code, lines, _ = explain(capsys, str(ATTACKS / "custom-object-not-in-policy.json"),
                             "--node", "/config/layers/2")
    assert code == 1
    step = block(lines, "broken         custom entry")
    assert step[0].endswith("broken         custom entry: [[custom]] registered_name = "
                            "'evil_pkg>Evil'")
    assert step[0].startswith("->")
    # The paste-ready entry, indented under its finding so it cannot pass for a report line.
    assert step[-3:] == ["          [[custom]]", '          registered_name = "evil_pkg>Evil"',
                         '          object = "<your_module>.Evil"']
    assert lines[-1].startswith("verdict: deny, settled by step ")
    assert lines[-1].endswith(": KV300")


def test_lambda_node_shows_source_mode_and_analysis(capsys):
    code, lines, _ = explain(capsys, str(ROOT / "examples" / "lambda_model.keras"),
                             "--node", "/config/layers/1/config/function")
    assert code == 0
    mode = line_of(DEFAULT_TOML, 'mode = "analyze"')
    assert lines[1:5] == [
        "node config.json#/config/layers/1/config/function (lambda) -.__lambda__ "
        "layer 'times_two'",
        "  source: lambda x: x * 2",
        "  1. passed         lambda analysis: lambdas.mode = analyze",
        "        the bytecode is read statically, never run",
    ]
    assert lines[5] == f"        policy: {DEFAULT_TOML}:{mode}"
    assert lines[-1].startswith("verdict: allow, settled by step 2: lambdas: analysed (")


def test_lambda_refused_by_the_strict_policy(capsys):
    code, lines, _ = explain(capsys, str(ROOT / "examples" / "lambda_model.keras"),
                             "--policy", "strict", "--node", "/config/layers/1/config/function")
    assert code == 1
    assert block(lines, "matched        lambda analysis")[0].endswith("lambdas.mode = deny")
    assert lines[-1] == "verdict: deny, settled by step 1: KV500"


def test_bad_pointer_is_exit_2_with_nearby_pointers(capsys):
    code, lines, err = explain(capsys, str(ATTACKS / "cve-2026-1462-tfsmlayer.json"),
                               "--node", "/config/layers/9")
    assert (code, lines) == (2, [])
    assert err == ("kerasvet: error: no node at '/config/layers/9'; a node is a dict with "
                   "class_name (or a Keras 2 lambda); nearby nodes: /config/layers/0, "
                   "/config/layers/1, /config/layers/2, /config/layers/1/config/dtype, "
                   "/config/layers/1/inbound_nodes/0/args/0\n")


def test_json_trace_matches_the_audit_decision(capsys):
    path = str(ATTACKS / "cve-2025-12058-vocabulary-path.json")
    assert main(["explain", path, "--node", "/config/layers/1", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["schema_version"], data["artifact_verdict"]) == (1, "deny")
    (node,) = data["nodes"]
    settling = node["steps"][node["settled_by"]]
    assert (settling["kind"], settling["outcome"]) == ("argument constraint", "broken")
    assert [(f["rule"], f["pointer"]) for f in settling["findings"]] == [
        ("KV403", "/config/layers/1/config/vocabulary")]
    assert main(["audit", "--format", "json", "--show-allowed", path]) == 1
    (artifact,) = json.loads(capsys.readouterr().out)["artifacts"]
    (decision,) = [d for d in artifact["decisions"] if d["pointer"] == "/config/layers/1"]
    assert (node["verdict"], node["rule"]) == (decision["verdict"], decision["rule"])


# --- attacker-written strings never reach the terminal raw ----------------------------------

HOSTILE_NAME = "\x1b[2J\x1b]0;pwned\x07\u202eevil\nverdict: allow"


def hostile_config(tmp_path: Path) -> Path:
    config = json.loads((ATTACKS / "cve-2026-1462-tfsmlayer.json").read_text())
    layer = config["config"]["layers"][1]
    layer["name"] = layer["config"]["name"] = HOSTILE_NAME
    layer["build_config"] = {"\x1b[31mshape": [None, 4]}
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(("command", "shown"), [
    (["explain", "--node", "/config/layers/1"],  # repr() of the layer name
     "layer '\\x1b[2J\\x1b]0;pwned\\x07\\u202eevil\\nverdict: allow'"),
    (["explain"], None),  # the lambda listing names no layer
    (["audit", "--show-allowed"],  # printable(): the text report's escaping
     "layer: \\x1b[2J\\x1b]0;pwned\\x07\\u202eevil\\x0averdict: allow"),
], ids=["explain-node", "explain", "audit-show-allowed"])
def test_control_characters_are_escaped_on_a_real_terminal_stream(tmp_path, command, shown):
    path = hostile_config(tmp_path)
    done = subprocess.run([sys.executable, "-m", "kerasvet", command[0], str(path),
                           *command[1:]], capture_output=True, timeout=120, check=False,
                          env={"PYTHONPATH": str(ROOT / "src"), "TERM": "xterm-256color",
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1, done.stderr
    out = done.stdout.decode("utf-8")
    assert not set(out) & {"\x1b", "\x07", "\u202e", "\r"}
    assert "verdict: allow" not in [line.strip() for line in out.splitlines()]
    if shown is not None:
        assert shown in out


# --- audit --show-allowed ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """A small functional model, saved by Keras."""
    keras = pytest.importorskip("keras")
    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, name="score")(keras.layers.Dropout(0.1)(hidden))
    path = tmp_path_factory.mktemp("show_allowed") / "small.keras"
    keras.Model(inputs, outputs, name="small").save(path)
    return path


def node_pointers(value: object, pointer: str = "") -> list[str]:
    """Every dict with class_name, found by a walk of our own (not kerasvet's)."""
    found = []
    if isinstance(value, dict):
        if "class_name" in value:
            found.append(pointer)
        for key, child in value.items():
            token = str(key).replace("~", "~0").replace("/", "~1")
            found.extend(node_pointers(child, f"{pointer}/{token}"))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(node_pointers(child, f"{pointer}/{index}"))
    return found


@pytest.mark.keras
def test_show_allowed_lists_every_node_in_text_and_json(small_model, capsys):
    with zipfile.ZipFile(small_model) as archive:
        expected = node_pointers(json.loads(archive.read("config.json")))
    assert len(expected) > 10
    assert main(["audit", "--show-allowed", str(small_model)]) == 0
    text = capsys.readouterr().out.splitlines()
    listed = [line.split()[1] for line in text if line.startswith("  allow ")]
    assert listed == [f"config.json#{p}" for p in expected]
    assert main(["audit", "--show-allowed", "--format", "json", str(small_model)]) == 0
    (artifact,) = json.loads(capsys.readouterr().out)["artifacts"]
    assert [(d["pointer"], d["verdict"]) for d in artifact["decisions"]] == [
        (p, "allow") for p in expected]
    # Without the flag neither format lists decisions.
    assert main(["audit", str(small_model)]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines()
                if line.startswith("  allow ")]
    assert main(["audit", "--format", "json", str(small_model)]) == 0
    assert "decisions" not in json.loads(capsys.readouterr().out)["artifacts"][0]


@pytest.mark.keras
@pytest.mark.parametrize("fmt", ["sarif", "github", "junit"])
def test_show_allowed_leaves_finding_only_formats_unchanged(small_model, capsys, fmt):
    # SARIF results, annotations and JUnit failures are problems; an allowed node is none.
    assert main(["audit", "--format", fmt, str(small_model)]) == 0
    plain = capsys.readouterr().out
    assert main(["audit", "--format", fmt, "--show-allowed", str(small_model)]) == 0
    assert capsys.readouterr().out == plain


def test_explain_stays_under_the_wall_time_cap(capsys, monkeypatch):
    """explain reads, judges and traces under one `max_audit_seconds` deadline; once it has
    passed, no node is traced (some would be unjudged) and the command says why, exit 2."""
    from kerasvet.limits import Deadline

    ticks = iter(range(10_000))  # a clock that advances 30 s per reading

    def expiring(limits):
        return Deadline.start(limits.max_audit_seconds, clock=lambda: float(next(ticks)) * 30)

    monkeypatch.setattr(Deadline, "for_limits", classmethod(lambda cls, limits: expiring(limits)))
    code, lines, err = explain(capsys, str(ATTACKS / "cve-2026-1462-tfsmlayer.json"),
                               "--node", "/config/layers/2")
    assert code == 2
    assert "ran past `max_audit_seconds` (KV002)" in err
    assert not any("verdict:" in line for line in lines)
