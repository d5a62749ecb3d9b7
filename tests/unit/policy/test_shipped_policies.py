"""The shipped policies: generated parts are current, and each does what its header says."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

import kerasvet
from kerasvet.lambdas.defaults import (
    DEFAULT_LAMBDA_CALLS,
    REVIEWED_EXTRA_CALLS,
    REVIEWED_LAMBDA_CALLS,
)
from kerasvet.policy import load_policy
from kerasvet.policy.model import LambdaMode

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "scripts"
FIXTURES = REPO / "tests" / "fixtures"
SHIPPED = FIXTURES / "shipped_policies"
HUB = FIXTURES / "keras_hub"
HAS_KERAS_HUB_SOURCE = importlib.util.find_spec("keras_hub") is not None
NO_HUB_REASON = ("keras_hub's files are not installed (pip install --no-deps keras-hub==0.32.0; "
                 "the drift check reads its source with ast and needs none of its dependencies)")
# CI installs them (.ci/run, the README's test command): there the check must run, not skip.
if not HAS_KERAS_HUB_SOURCE and os.environ.get("CI", "").lower() not in ("", "0", "false"):
    raise RuntimeError(f"CI must run the keras-hub drift check: {NO_HUB_REASON}")


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _regenerate_check(*only: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(SCRIPTS / "regenerate_policies.py"), "--check"]
    for name in only:
        args += ["--only", name]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def _pairs(path: Path, policy: str) -> list[tuple[str, str]]:
    """(rule id, JSON pointer) of the denying findings of one artifact."""
    (artifact,) = kerasvet.audit(path, policy=policy).artifacts
    return sorted((str(f.rule.id), str(f.location.pointer)) for f in artifact.findings
                  if f.denies)


# --- drift: the shipped files are what the generators write ---------------------------------


@pytest.mark.keras
def test_generated_parts_are_current():
    # keras-builtins, both lambda sections and the applications scan (40 constructors built
    # without weights in two worker processes), all in parallel.
    started = time.monotonic()
    result = _regenerate_check("builtins", "lambdas", "applications")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["builtins: ok", "lambdas: ok", "applications: ok"]
    print(f"drift check took {time.monotonic() - started:.1f} s")


@pytest.mark.skipif(not HAS_KERAS_HUB_SOURCE, reason=NO_HUB_REASON)
def test_keras_hub_part_is_current():
    result = _regenerate_check("keras-hub")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["keras-hub: ok"]


def test_lambda_section_drift_is_reported(tmp_path, monkeypatch, capsys):
    writer = _script("write_lambda_section")
    copy = tmp_path / "lambdas-reviewed.toml"
    text = (REPO / "policies" / "lambdas-reviewed.toml").read_text(encoding="utf-8")
    copy.write_text(text.replace('    "keras.ops.arctan",\n', ""), encoding="utf-8")
    monkeypatch.setattr(writer, "TARGETS", ((copy, writer.reviewed_section),))
    monkeypatch.setattr(sys, "argv", ["write_lambda_section.py", "--check"])
    assert writer.main() == 1
    assert f"{copy} is out of date" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["write_lambda_section.py"])
    assert writer.main() == 0
    assert copy.read_text(encoding="utf-8") == text


@pytest.mark.skipif(not HAS_KERAS_HUB_SOURCE, reason=NO_HUB_REASON)
def test_keras_hub_drift_is_reported(tmp_path, monkeypatch, capsys):
    generator = _script("generate_keras_hub_policy")
    copy = tmp_path / "keras-hub.toml"
    text = (REPO / "policies" / "keras-hub.toml").read_text(encoding="utf-8")
    entry = ('\n[[custom]]\nregistered_name = "keras_hub>BertBackbone"\n'
             'object = "keras_hub.src.models.bert.bert_backbone.BertBackbone"\n')
    assert entry in text
    copy.write_text(text.replace(entry, ""), encoding="utf-8")
    monkeypatch.setattr(generator, "OUTPUT", copy)
    assert generator.main(["--check"]) == 1
    captured = capsys.readouterr()
    assert '+registered_name = "keras_hub>BertBackbone"' in captured.out
    assert "is stale" in captured.err


def test_applications_splice_replaces_only_the_generated_block():
    generator = _script("generate_applications_policy")
    text = (REPO / "policies" / "applications.toml").read_text(encoding="utf-8")
    generated = generator.BEGIN + "[classes]\n" + generator.END
    spliced = generator.splice(text, generated)
    assert spliced.startswith(text[:text.index(generator.BEGIN)])
    assert spliced.endswith(text[text.index(generator.END) + len(generator.END):])
    assert generator.splice(spliced, generated) == spliced
    assert spliced != text


# --- applications ----------------------------------------------------------------------------


def test_applications_allows_only_what_applications_write():
    policy = load_policy("applications")
    default = load_policy("default")
    assert policy.lambdas.mode is LambdaMode.DENY
    assert not policy.custom
    assert set(policy.classes["keras.layers"]) < set(default.classes["keras.layers"])
    for absent in ("LSTM", "GRU", "Lambda", "Embedding", "MultiHeadAttention", "TFSMLayer"):
        assert absent not in policy.classes["keras.layers"]
    # The default's protections were copied in: every deny rule, and "*".name.
    assert len(policy.deny) == len(default.deny)
    assert policy.arguments["*"]["name"].max_length == 256


def test_an_mlp_with_an_lstm_is_refused_by_applications_not_by_default():
    path = SHIPPED / "mlp_lstm.keras"
    assert _pairs(path, "applications") == [
        ("KV300", "/config/layers/2"),
        ("KV300", "/config/layers/2/config/recurrent_initializer"),
    ]
    assert _pairs(path, "default") == []


# --- lambdas-reviewed ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "calls"), [("lambda_arctan", 1), ("lambda_ops_alias", 2)])
def test_added_calls_pass_reviewed_and_fail_default(name, calls):
    # One KV505 per call off the default's list (arctan; logaddexp and cosh).
    path = SHIPPED / f"{name}.keras"
    assert _pairs(path, "lambdas-reviewed") == []
    assert _pairs(path, "default") == [("KV505", "/config/layers/1/config/function")] * calls


def test_reviewed_still_denies_what_is_off_both_lists():
    path = SHIPPED / "lambda_zeros.keras"
    assert _pairs(path, "lambdas-reviewed") == [("KV505", "/config/layers/1/config/function")]


def test_reviewed_policy_carries_exactly_the_reviewed_calls():
    policy = load_policy("lambdas-reviewed")
    assert policy.lambdas.calls == frozenset(REVIEWED_LAMBDA_CALLS)
    assert set(REVIEWED_EXTRA_CALLS).isdisjoint(DEFAULT_LAMBDA_CALLS)
    assert load_policy("default").lambdas.calls == frozenset(DEFAULT_LAMBDA_CALLS)


HIGHER_ORDER = {"map", "scan", "associative_scan", "cond", "switch", "while_loop", "fori_loop",
                "vectorized_map", "vectorize", "custom_gradient"}
ALLOCATORS = {"zeros", "ones", "full", "empty", "empty_like", "arange", "eye", "linspace",
              "logspace", "geomspace", "tri", "identity", "array"}
CALLABLE_PARAMS = {"f", "fn", "fun", "func", "function", "body", "body_fun", "cond", "branches",
                   "true_fn", "false_fn", "loop_fn", "map_fn", "callback", "pyfunc"}


@pytest.mark.keras
def test_every_added_call_is_a_keras_op_that_takes_no_callable():
    keras = pytest.importorskip("keras")
    for qualified in REVIEWED_EXTRA_CALLS:
        module, _, name = qualified.rpartition(".")
        assert module == "keras.ops", qualified
        assert name not in HIGHER_ORDER | ALLOCATORS, qualified
        function = getattr(keras.ops, name)
        assert callable(function), qualified
        params = set(inspect.signature(function).parameters)
        assert not params & CALLABLE_PARAMS, (qualified, params)


# --- keras-hub -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bert_text_classifier", "gpt2_causal_lm", "bert_backbone"])
def test_keras_hub_models_pass_keras_hub_and_fail_default(name):
    path = HUB / f"{name}.keras"
    assert _pairs(path, "keras-hub") == []
    expected = {
        "bert_backbone": [("KV300", "")],
    }.get(name, [("KV300", ""), ("KV300", "/config/backbone"), ("KV300", "/config/preprocessor"),
                 ("KV300", "/config/preprocessor/config/tokenizer")])
    assert _pairs(path, "default") == expected


def test_keras_hub_entries_and_constraints():
    policy = load_policy("keras-hub")
    entry = policy.custom["keras_hub>BertBackbone"]
    assert (entry.module, entry.qualname) == ("keras_hub.src.models.bert.bert_backbone",
                                              "BertBackbone")
    assert "keras_hub>Bleu" not in policy.custom  # metrics take a tokenizer callable
    assert "keras_hub>upload_preset" not in policy.custom
    vocabulary = policy.arguments["keras_hub>BertTokenizer"]["vocabulary"]
    assert "string" not in vocabulary.types
    assert policy.arguments["keras_hub>RandomDeletion"]["skip_fn"].types == frozenset({"null"})
    # The default's protections are inherited.
    assert policy.arguments["*"]["name"].max_length == 256
    assert len(policy.deny) == len(load_policy("default").deny)


@pytest.mark.keras
def test_every_added_call_resolves_inside_keras():
    # What KV507 checks for each lambda: astroid finds each added name where keras.ops
    # really defines it. All in one probe, with a generous budget (one lambda gets 10 s).
    pytest.importorskip("keras")
    from kerasvet.lambdas.check import CallSite
    from kerasvet.lambdas.resolve import resolve_calls

    calls = [CallSite("ops" + q[len("keras.ops"):], "ops", q) for q in REVIEWED_EXTRA_CALLS]
    source = "lambda x: (" + ", ".join(f"{c.written}(x)" for c in calls) + ")"
    result = resolve_calls(calls, {"ops": "keras.ops"}, source, budget=120.0)
    assert result.reasons == ()
    resolved = dict(result.resolutions)
    assert sorted(resolved) == sorted(c.written for c in calls)
    assert all(value.startswith("keras.src.") for value in resolved.values())
    assert resolved["ops.arctan"] == "keras.src.ops.numpy.arctan"
