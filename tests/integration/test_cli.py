"""The `kerasvet audit` command: exit codes, formats, and no Keras import while auditing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kerasvet.cli import main
from kerasvet.report.formats import FORMATS, OutputFormat

ROOT = Path(__file__).resolve().parent.parent.parent
ATTACKS = ROOT / "tests" / "fixtures" / "attacks"
BENIGN = ROOT / "tests" / "fixtures" / "benign"
DENIED = ATTACKS / "cve-2025-1550-subprocess-run.json"


def benign_file() -> Path:
    return sorted(BENIGN.glob("*.config.json"))[0]


def test_allowed_artifact_exits_0(capsys):
    assert main(["audit", str(benign_file())]) == 0
    assert "ALLOWED" in capsys.readouterr().out


def test_denied_artifact_exits_1_and_names_everything(capsys):
    assert main(["audit", str(benign_file()), str(DENIED)]) == 1
    out = capsys.readouterr().out
    assert "DENIED" in out
    assert "KV302" in out
    assert "/config/layers/2" in out
    assert "subprocess.run" in out
    assert "docs/rules/KV302.md" in out


def test_missing_path_exits_2(capsys, tmp_path):
    assert main(["audit", str(tmp_path / "nope.keras")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_policy_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nsurprise = true\n')
    assert main(["audit", "--policy", str(bad), str(benign_file())]) == 2
    assert "unknown key" in capsys.readouterr().err


def test_unknown_policy_name_exits_2(capsys):
    assert main(["audit", "--policy", "no-such", str(benign_file())]) == 2
    assert "unknown policy" in capsys.readouterr().err


def test_bad_flag_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--frobnicate", str(benign_file())])
    assert exc.value.code == 2


def test_json_report_shape(capsys):
    assert main(["audit", "--format", "json", str(DENIED)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"kerasvet_version", "policy", "artifacts", "schema_version"}
    assert set(data["policy"]) == {"name", "sha256"}
    (artifact,) = data["artifacts"]
    assert set(artifact) >= {"path", "sha256", "format", "verdict", "findings", "lambdas"}
    assert artifact["verdict"] == "deny"
    (finding,) = artifact["findings"]
    assert finding["rule"] == "KV302"
    assert finding["severity"] == "critical"
    assert finding["pointer"] == "/config/layers/2"
    assert finding["layer"] == "dense_1"
    assert "CVE-2025-1550" in finding["message"]


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_renders(fmt, tmp_path):
    out = tmp_path / "report"
    assert main(["audit", "--format", fmt.value, "--output", str(out), str(DENIED)]) == 1
    assert "KV302" in out.read_text()
    assert fmt in FORMATS


def test_rules_lists_the_catalogue(capsys):
    assert main(["rules"]) == 0
    assert "KV302" in capsys.readouterr().out


def test_audit_imports_neither_keras_nor_what_the_config_names(tmp_path):
    """Run the audit of every attack fixture in a fresh interpreter and inspect sys.modules."""
    canary_module = tmp_path / "kerasvet_canary_module.py"
    canary_module.write_text("raise SystemExit('imported!')\n")
    config = json.loads(benign_file().read_text())
    config["config"]["layers"][1]["module"] = "kerasvet_canary_module"
    named = tmp_path / "names_canary.json"
    named.write_text(json.dumps(config))
    script = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from kerasvet.cli import main\n"
        f"paths = {[str(p) for p in sorted(ATTACKS.glob('*.json'))] + [str(named)]!r}\n"
        "paths = [p for p in paths if not p.endswith('MANIFEST.json')]\n"
        "code = main(['audit', '--format', 'json', '--output', '/dev/null', *paths])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "    {'keras', 'tensorflow', 'torch', 'jax', 'tf_keras', 'kerasvet_canary_module'})\n"
        "print(json.dumps({'code': code, 'bad': bad}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 1, "bad": []}


def test_explain_prints_each_lambda_with_its_source(capsys):
    path = ROOT / "examples" / "lambda_import.keras"
    assert main(["explain", str(path)]) == 1
    out = capsys.readouterr().out
    assert "lambda x: __import__('math').floor(2.0) * x" in out
    assert "KV505" in out
    assert "/config/layers/1/config/function" in out


def test_explain_one_node(capsys):
    path = ROOT / "examples" / "lambda_model.keras"
    assert main(["explain", str(path), "--node", "/config/layers/1"]) == 0
    out = capsys.readouterr().out
    assert "keras.layers.Lambda" in out
    assert "classes: keras.layers.Lambda" in out
    assert main(["explain", str(path), "--node", "/nope"]) == 2


@pytest.mark.keras
def test_load_prints_the_summary(capsys):
    assert main(["load", str(ROOT / "examples" / "mlp.keras")]) == 0
    out = capsys.readouterr().out
    assert "Total params" in out


@pytest.mark.keras
def test_load_refuses_a_denied_model(capsys):
    assert main(["load", str(ROOT / "examples" / "lambda_import.keras")]) == 1
    err = capsys.readouterr().err
    assert "KV505" in err
    assert "/config/layers/1/config/function" in err


def test_load_missing_path_exits_2(capsys, tmp_path):
    assert main(["load", str(tmp_path / "nope.keras")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_error_messages_escape_terminal_controls(capsys, tmp_path):
    # A file name (in a scanned tree, an attacker's) with an ANSI clear-screen and a bidi
    # override must reach the terminal spelled out, not acted on.
    hostile = tmp_path / "model\x1b[2J\u202e.keras"
    assert main(["audit", str(hostile)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "\u202e" not in err
    assert "\\x1b[2J" in err
