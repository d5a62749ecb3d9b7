"""The runtime guard: what it refuses while a load is active, and that it is inert outside.

The headline test weakens the policy on purpose (it allows ``io.open`` as a function): the
static audit then allows a config that opens a canary file for writing, and only the
runtime guard stands between the config and the write.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import linecache
import os
import socket
import subprocess
import sys
import threading
import types

import pytest
from loader_support import ATTACKS, as_keras_zip, run_python

import kerasvet
from kerasvet import Policy, PolicyViolation
from kerasvet.loader.guard import GuardRefusal, GuardState, guarded

pytestmark = pytest.mark.keras

WEAKENED = """\
name = "weakened"
description = "The default policy plus io.open: deliberately harmful, for the guard test."
extends = ["default"]

[functions]
"io" = ["open"]
"""


def writes_canary(canary) -> dict:
    """A functional model whose Lambda calls ``io.open(<canary>, mode="w")`` while Keras
    rebuilds the graph (``inputs`` passed by keyword, so the call is eager)."""
    config = json.loads((ATTACKS / "cve-2025-8747-get-file.json").read_text())
    layer = config["config"]["layers"][2]
    layer["config"]["function"] = {"module": "io", "class_name": "function",
                                   "config": "open", "registered_name": None}
    layer["config"]["arguments"] = {"mode": "w"}
    layer["inbound_nodes"] = [{"args": [], "kwargs": {"inputs": str(canary)}}]
    config["config"]["output_layers"] = ["dense", 0, 0]
    return config


@pytest.fixture
def weakened(tmp_path) -> Policy:
    path = tmp_path / "weakened.toml"
    path.write_text(WEAKENED)
    return Policy.load(path)


def guard_refusals(refused: pytest.ExceptionInfo[PolicyViolation]) -> list[str]:
    (artifact,) = refused.value.report.artifacts
    return [f.message for f in artifact.findings if f.rule.id == "KV600"]


def test_weakened_policy_passes_statically_but_the_guard_stops_the_write(tmp_path, weakened):
    canary = tmp_path / "canary"
    config = writes_canary(canary)
    assert kerasvet.audit(config, weakened).allowed  # the policy lets it through

    entry_points = {
        "deserialize_keras_object": lambda: kerasvet.deserialize_keras_object(
            config, policy=weakened),
        "model_from_json": lambda: kerasvet.model_from_json(json.dumps(config),
                                                            policy=weakened),
        "load_model": lambda: kerasvet.load_model(
            as_keras_zip(json.dumps(config).encode(), tmp_path), policy=weakened),
    }
    for name, call in entry_points.items():
        with pytest.raises(PolicyViolation) as refused:
            call()
        messages = guard_refusals(refused)
        assert messages == [f"the runtime guard refused open({str(canary)!r}, 'w') for writing"]
        assert not canary.exists(), name


STOCK_KERAS_WITH_THE_SAME_BINDING = """
import io, json, keras
config = json.loads({config!r})
layer = config["config"]["layers"][2]["config"]
layer["function"] = {{"class_name": "function", "config": "io_open", "module": None,
                     "registered_name": None}}
keras.saving.deserialize_keras_object(config, custom_objects={{"io_open": io.open}})
print(json.dumps({{"ok": True}}))
"""


def test_the_same_binding_without_the_guard_writes_the_canary(tmp_path):
    """Control: Keras given the same function (as the resolver binds it) does write."""
    canary = tmp_path / "canary"
    config = json.dumps(writes_canary(canary))
    assert run_python(STOCK_KERAS_WITH_THE_SAME_BINDING.format(config=config)) == {"ok": True}
    assert canary.exists()


# -- the guard on its own ----------------------------------------------------------------


def fresh_stdlib_module() -> str:
    for name in ("tabnanny", "this", "wave", "sndhdr", "xdrlib", "mailcap", "nntplib"):
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            return name
    pytest.skip("no unimported stdlib module left in this process")


def state() -> GuardState:
    return GuardState(allowed_imports=frozenset(), lambda_dumps=frozenset())


@pytest.mark.parametrize("operation", [
    "write", "read", "system", "popen", "socket", "import_module", "import_statement",
    "exec", "compile", "function", "thread",
])
def test_guard_refuses_inside_a_load(operation, tmp_path):
    if operation == "thread" and sys.version_info < (3, 12):
        pytest.skip("CPython raises no audit event for a thread start before 3.12")
    existing = tmp_path / "existing.txt"
    existing.write_text("data")
    module = fresh_stdlib_module() if operation.startswith("import") else ""
    actions = {
        "write": lambda: (tmp_path / "new.txt").open("w"),
        "read": existing.read_text,
        "system": lambda: os.system("true"),
        "popen": lambda: subprocess.Popen(["true"]),
        "socket": lambda: socket.create_connection(("127.0.0.1", 9), timeout=1),
        "import_module": lambda: importlib.import_module(module),
        "import_statement": lambda: __import__(module),
        "exec": lambda: exec("x = 1", {}),
        "compile": lambda: compile("1 + 1", "<attacker>", "eval"),
        "function": lambda: types.FunctionType((lambda: 1).__code__, {}),
        "thread": lambda: threading.Thread(target=lambda: None).start(),
    }
    with guarded(state()) as active, pytest.raises(GuardRefusal):
        actions[operation]()
    assert len(active.refusals) >= 1
    assert not (tmp_path / "new.txt").exists()
    if module:
        assert module not in sys.modules


def test_guard_allows_parsing_and_source_lines_for_warnings():
    with guarded(state()) as active:
        ast.parse("lambda x: x * 2")
        linecache.clearcache()
        assert linecache.getline(json.__file__, 1)
    assert active.refusals == []


def test_refusals_are_recorded_even_when_the_exception_is_swallowed(tmp_path):
    with guarded(state()) as active, contextlib.suppress(Exception):  # careless library code
        (tmp_path / "swallowed.txt").write_text("x")
    assert [e.event for e in active.refusals] == ["open"]


def test_guard_is_inert_outside_a_load_and_in_other_threads(tmp_path):
    with guarded(state()):
        pass  # installs the hook for the rest of the process
    (tmp_path / "outside.txt").write_text("ok")  # no load active: nothing is judged
    ready, done = threading.Event(), threading.Event()

    def other_thread() -> None:
        ready.wait(10)
        (tmp_path / "other-thread.txt").write_text("ok")
        done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()  # started before the load: its context has no guard state
    with guarded(state()):
        ready.set()
        assert done.wait(10)
    worker.join()
    assert (tmp_path / "other-thread.txt").read_text() == "ok"


def test_recording_state_does_not_raise(tmp_path):
    recording = GuardState(allowed_imports=frozenset(), lambda_dumps=frozenset(),
                           enforce=False)
    with guarded(recording):
        (tmp_path / "recorded.txt").write_text("x")
    assert [e.event for e in recording.refusals] == ["open"]
