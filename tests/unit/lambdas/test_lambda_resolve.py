"""astroid resolution: aliases that lie are denied, missing frameworks are notes."""

from __future__ import annotations

import base64
import importlib.util
import marshal
import uuid
from pathlib import Path

import pytest

from kerasvet.lambdas.analyze import analyze_lambda
from kerasvet.lambdas.check import CallSite
from kerasvet.lambdas.defaults import DEFAULT_LAMBDA_CALLS, DEFAULT_LAMBDA_ROOTS
from kerasvet.lambdas.model import LambdaForm, LambdaReason
from kerasvet.lambdas.resolve import resolve_calls

from ._support import default_lambda_policy

HAS_KERAS = importlib.util.find_spec("keras") is not None
HAS_NUMPY = importlib.util.find_spec("numpy") is not None
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None


def _package(root: Path, files: dict[str, str]) -> str:
    """A fresh package on disk (unique name: astroid caches modules by name)."""
    name = f"kvfake_{uuid.uuid4().hex[:12]}"
    package = root / name
    package.mkdir()
    for filename, text in files.items():
        (package / filename).write_text(text.replace("PKG", name), encoding="utf-8")
    return name


def test_alias_that_reexports_another_function(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # `from PKG import ops` gives the package attribute `ops`, which the package rebinds to
    # another module; the allowlisted PKG.ops.relu itself is harmless.
    name = _package(tmp_path, {
        "__init__.py": "from PKG import evil as ops\n",
        "ops.py": "def relu(x):\n    return x\n",
        "evil.py": "def relu(x):\n    return x\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    call = CallSite("ops.relu", "ops", f"{name}.ops.relu")
    result = resolve_calls([call], {"ops": f"{name}.ops"}, "lambda x: ops.relu(x)")
    assert result.reasons == (LambdaReason(
        "KV507", f"ops.relu resolves to {name}.evil.relu, but the allowed {name}.ops.relu is "
                 f"{name}.ops.relu"),)
    assert dict(result.resolutions) == {}


def test_allowed_name_that_is_really_os_system(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    name = _package(tmp_path, {"__init__.py": "", "ops.py": "from os import system\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    call = CallSite("ops.system", "ops", f"{name}.ops.system")
    result = resolve_calls([call], {"ops": f"{name}.ops"}, "lambda x: ops.system(x)")
    assert result.reasons == (LambdaReason(
        "KV507", f"ops.system ({name}.ops.system) resolves to posix.system, outside {name}"),)


def test_honest_alias_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _package(tmp_path, {
        "__init__.py": "from PKG import ops\n",
        "ops.py": "from PKG._impl import relu\n",
        "_impl.py": "def relu(x):\n    return x\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    call = CallSite("ops.relu", "ops", f"{name}.ops.relu")
    result = resolve_calls([call], {"ops": f"{name}.ops"}, "lambda x: ops.relu(x)")
    assert result.reasons == ()
    assert dict(result.resolutions) == {"ops.relu": f"{name}._impl.relu"}
    assert result.notes == ()


def test_uninstalled_framework_is_a_note() -> None:
    calls = [CallSite("zz.f", "zz", "kerasvet_absent_xyz.f"),
             CallSite("zz.g", "zz", "kerasvet_absent_xyz.g")]
    result = resolve_calls(calls, {"zz": "kerasvet_absent_xyz"}, "lambda x: zz.f(zz.g(x))")
    assert result.reasons == ()
    assert result.notes == (
        "kerasvet_absent_xyz is not installed: astroid did not resolve zz.f, zz.g",)


def test_uninferable_name_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _package(tmp_path, {"__init__.py": "relu = undefined_thing\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    call = CallSite("m.relu", "m", f"{name}.relu")
    result = resolve_calls([call], {"m": name}, "lambda x: m.relu(x)")
    assert result.reasons == ()
    assert result.notes == (f"astroid could not infer m.relu ({name}.relu); not resolved",)


def test_time_budget_denies() -> None:
    call = CallSite("zz.f", "zz", "kerasvet_absent_xyz.f")
    result = resolve_calls([call], {"zz": "kerasvet_absent_xyz"}, "lambda x: zz.f(x)",
                           budget=-1.0)
    assert result.reasons == (LambdaReason(
        "KV507", "astroid did not finish resolving the calls within -1 s"),)


def test_astroid_failure_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    import astroid

    def boom(*args: object, **kwargs: object) -> object:
        raise MemoryError("parse")

    monkeypatch.setattr(astroid, "parse", boom)
    call = CallSite("m.f", "m", "json.dumps")
    result = resolve_calls([call], {"m": "json"}, "lambda x: m.dumps(x)")
    assert result.reasons == (LambdaReason(
        "KV507", "astroid failed while resolving the calls: MemoryError: parse"),)


def test_no_calls_resolves_nothing() -> None:
    assert resolve_calls([], {}, "lambda x: x").reasons == ()


def test_analyzer_denies_a_lying_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _package(tmp_path, {
        "__init__.py": "from PKG import evil as ops\n",
        "ops.py": "def relu(x):\n    return x\n",
        "evil.py": "def relu(x):\n    return x\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    policy = default_lambda_policy(roots={"ops": f"{name}.ops"},
                                   calls=frozenset({f"{name}.ops.relu"}))
    fn = eval("lambda x: ops.relu(x)")  # test-side: only creates the lambda
    code = base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")
    node = {"code": code, "defaults": None, "closure": None}
    analysis = analyze_lambda(node, LambdaForm.KERAS3_LAYER, policy)
    assert not analysis.allowed
    assert [r.rule for r in analysis.reasons] == ["KV507"]
    assert analysis.source == "lambda x: ops.relu(x)"
    without = analyze_lambda(node, LambdaForm.KERAS3_LAYER, policy, use_astroid=False)
    assert without.allowed


@pytest.mark.skipif(not (HAS_KERAS and HAS_NUMPY), reason="needs Keras and numpy sources")
def test_every_default_call_resolves_inside_its_package() -> None:
    """The shipped allowlist, resolved against the installed Keras and numpy: no KV507."""
    roots = dict(DEFAULT_LAMBDA_ROOTS)
    alias_of = {"keras.ops": "ops", "numpy": "np", "tensorflow": "tf"}
    calls = []
    for qualified in DEFAULT_LAMBDA_CALLS:
        for module, alias in alias_of.items():
            if qualified.startswith(module + "."):
                calls.append(CallSite(alias + qualified[len(module):], alias, qualified))
    source = "lambda x: (" + ", ".join(f"{c.written}(x)" for c in calls) + ")"
    result = resolve_calls(calls, roots, source, budget=120.0)
    assert result.reasons == ()
    resolved = dict(result.resolutions)
    keras_calls = [c for c in calls if c.alias == "ops"]
    assert all(resolved[c.written].startswith("keras.src.") for c in keras_calls)
    assert resolved["ops.mean"] == "keras.src.ops.numpy.mean"
    assert resolved["np.mean"].startswith("numpy.")
    if not HAS_TENSORFLOW:
        assert result.notes[0].startswith("tensorflow is not installed: ")
