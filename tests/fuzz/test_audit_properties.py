"""Properties of the audit over generated input: a report every time, and deterministic."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasvet.audit import audit_artifact
from kerasvet.policy import load_policy

POLICY = load_policy("default")
BASE = json.loads((Path(__file__).resolve().parent.parent / "fixtures" / "attacks"
                   / "functional-graph-dangling.json").read_text())

NAMES = st.sampled_from(["Dense", "Lambda", "function", "__lambda__", "__numpy__",
                         "__typespec__", "TFSMLayer", "run", "Functional", "Sequential",
                         "D\u0435nse", "", "a>b", "__keras_tensor__"])
MODULES = st.sampled_from([None, "keras", "keras.layers", "keras.utils", "os", "builtins",
                           "keras.src.ops.numpy", "keras..layers", 7])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                    allow_infinity=False), st.text(max_size=20))


def nodes(children):
    return st.fixed_dictionaries(
        {"class_name": NAMES, "config": children},
        optional={"module": MODULES, "registered_name": st.one_of(st.none(), st.text(max_size=8)),
                  "name": st.text(max_size=12), "inbound_nodes": children},
    )


JSONISH = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=10), children, max_size=5),
        nodes(children),
    ),
    max_leaves=40,
)

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(JSONISH)
def test_any_json_config_yields_a_report(value):
    report = audit_artifact(json.dumps(value).encode(), POLICY)
    again = audit_artifact(json.dumps(value).encode(), POLICY)
    assert report == again
    assert report.verdict.value in {"allow", "deny"}


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_yield_a_report(data):
    report = audit_artifact(data, POLICY)
    assert report.findings or report.decisions


@FUZZ
@given(st.data())
def test_mutated_real_config_yields_a_report(data):
    text = bytearray(json.dumps(BASE).encode())
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(text) - 1))
        text[position] = data.draw(st.integers(0, 255))
    report = audit_artifact(bytes(text), POLICY)
    assert report.verdict.value in {"allow", "deny"}


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
@FUZZ
@given(st.lists(st.tuples(st.text(min_size=1, max_size=30), st.binary(max_size=200)),
                max_size=6))
def test_any_zip_yields_a_report(members):
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in members:
            try:
                archive.writestr(name, payload)
            except (ValueError, UnicodeEncodeError, IndexError):  # zipfile refuses the name
                continue
    report = audit_artifact(buffer.getvalue(), POLICY)
    assert report.verdict.value in {"allow", "deny"}
    if not any(name == "config.json" for name, _ in members):
        assert report.verdict.value == "deny"
