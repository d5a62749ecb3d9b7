"""Every resource cap at its edge, set through a real policy file that extends ``default``.

For each ``Limits`` field there is an artifact whose cost is exactly ``cap``: at ``cap`` the
artifact is allowed and the cap's rule does not fire; at ``cap - 1`` the artifact is denied
with exactly the cap's finding, at the member, pointer and detail where it was hit. The
expected places are worked out from the artifact itself (the document walked in order, the
zip's own member list, Keras' own parameter count), never read back from kerasvet.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest

from kerasvet.artifact.read import read_artifact
from kerasvet.audit import Source, analyse_artifact, audit_artifact
from kerasvet.engine import Verdict
from kerasvet.limits import Deadline, Limits
from kerasvet.policy import Policy, load_policy
from kerasvet.report.model import ArtifactReport

A = "<artifact>"
J = "<json>"
LONG_NAME = "d" * 200
"""The Dense layer's name: the one longest string of the config, under the 256 name cap."""

Place = tuple[str, str, str | None, str | None]
"""(rule id, member, JSON pointer, detail) of one finding."""


@dataclass(frozen=True)
class Models:
    """Artifacts Keras wrote once per session, and what Keras says about them."""

    keras_file: bytes
    legacy_h5: bytes
    config: bytes
    lambda_config: bytes
    parameters: int


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import keras

    folder = tmp_path_factory.mktemp("limit-models")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(37, name=LONG_NAME)])
    model.save(folder / "m.keras")
    model.save(folder / "m.h5")
    doubled = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2.0)])
    return Models(
        keras_file=(folder / "m.keras").read_bytes(),
        legacy_h5=(folder / "m.h5").read_bytes(),
        config=model.to_json().encode(),
        lambda_config=doubled.to_json().encode(),
        parameters=model.count_params(),
    )


@dataclass(frozen=True)
class Edge:
    """An artifact that costs exactly ``cap`` of one limit."""

    source: Source
    cap: int
    over: tuple[Place, ...]
    """The denying findings at ``cap - 1``, in report order."""
    run: Callable[[Source, Policy], ArtifactReport] = field(default=audit_artifact)


def policy_with(folder: Path, name: str, value: int, lambdas: str = "") -> Policy:
    path = folder / f"{name}-{value}.toml"
    path.write_text(f'name = "edge"\nextends = ["default"]\n\n[limits]\n{name} = {value}\n'
                    + lambdas)
    return load_policy(path)


def places(report: ArtifactReport) -> list[Place]:
    return [(f.rule.id, f.location.member, f.location.pointer, f.location.detail)
            for f in report.findings if f.denies]


# --- Independent views of a JSON document -------------------------------------------------


def containers(value: object, pointer: str = "", depth: int = 1
               ) -> Iterator[tuple[str, int, object]]:
    """Every list and object in document order (the root first), with pointer and depth."""
    if isinstance(value, (dict, list)):
        yield pointer, depth, value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            yield from containers(child, f"{pointer}/{key}", depth + 1)


def strings(value: object, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Every string, as (pointer of the string, or of the object for a key, text)."""
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield pointer, key
            yield from strings(child, f"{pointer}/{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from strings(child, f"{pointer}/{index}")


def integers(value: object) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, (dict, list)):
        for child in value.values() if isinstance(value, dict) else value:
            yield from integers(child)


def pointer_of_key(value: object, key: str) -> str:
    (found,) = [f"{p}/{key}" for p, _, c in containers(value) if isinstance(c, dict) and key in c]
    return found


# --- The edges, one builder per Limits field ----------------------------------------------


def members(keras_file: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(keras_file)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(parts: dict[str, bytes], deflated: frozenset[str] = frozenset()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            method = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
            archive.writestr(name, data, compress_type=method)
    return buffer.getvalue()


def artifact_bytes(m: Models) -> list[Edge]:
    return [Edge(m.keras_file, len(m.keras_file), (("KV101", A, None, None),)),
            Edge(m.legacy_h5, len(m.legacy_h5), (("KV101", A, None, None),))]


def config_bytes(m: Models) -> list[Edge]:
    config = members(m.keras_file)["config.json"]
    with h5py.File(io.BytesIO(m.legacy_h5), "r") as legacy:
        model_config = legacy.attrs["model_config"].encode()
    return [
        Edge(m.keras_file, len(config), (("KV101", A, None, "config.json"),)),
        # The HDF5 attribute is sized from the file's global heap before it is read.
        Edge(m.legacy_h5, len(model_config), (("KV101", "model_config", "", "before reading"),)),
        Edge(m.config, len(m.config), (("KV101", J, "", None),)),
    ]


def zip_members(m: Models) -> list[Edge]:
    return [Edge(m.keras_file, len(members(m.keras_file)), (("KV102", A, None, None),))]


def compression_ratio(m: Models) -> list[Edge]:
    deflated = rezip(members(m.keras_file), frozenset({"config.json"}))
    with zipfile.ZipFile(io.BytesIO(deflated)) as archive:
        info = archive.getinfo("config.json")
    ratio = info.file_size / info.compress_size
    assert ratio != int(ratio)  # so ceil(ratio) - 1 is below it
    assert ratio > 2  # and still a positive cap
    return [Edge(deflated, math.ceil(ratio), (("KV103", A, None, "config.json"),))]


def json_depth(m: Models) -> list[Edge]:
    value = json.loads(m.config)
    deepest = max(depth for _, depth, _ in containers(value))
    first = next(p for p, depth, _ in containers(value) if depth == deepest)
    return [Edge(m.config, deepest, (("KV204", J, first, None),))]


def json_values(m: Models) -> list[Edge]:
    value = json.loads(m.config)
    count = sum(len(c) for _, _, c in containers(value))  # type: ignore[arg-type]
    return [Edge(m.config, count, (("KV205", J, "", None),))]


def nodes(m: Models) -> list[Edge]:
    value = json.loads(m.config)
    found = [p for p, _, c in containers(value) if isinstance(c, dict) and "class_name" in c]
    return [Edge(m.config, len(found), (("KV205", J, found[-1], None),))]


def int_digits(m: Models) -> list[Edge]:
    digits = max(len(str(abs(i))) for i in integers(json.loads(m.config)))
    return [Edge(m.config, digits, (("KV203", J, "", None),))]


def string_length(m: Models) -> list[Edge]:
    texts = list(strings(json.loads(m.config)))
    longest = max(len(text) for _, text in texts)
    (holder,) = [p for p, text in texts if len(text) == longest]
    assert longest == len(LONG_NAME)
    return [Edge(m.config, longest, (("KV205", J, holder, None),))]


def dimension(m: Models) -> list[Edge]:
    units = pointer_of_key(json.loads(m.config), "units")
    return [Edge(m.config, 37, (("KV406", J, units, None),))]


def parameters(m: Models) -> list[Edge]:
    assert m.parameters == 4 * 37 + 37
    return [Edge(m.config, m.parameters, (("KV405", J, "", None),))]


def hdf5_objects(m: Models) -> list[Edge]:
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        f.create_group("a").create_dataset("x", data=np.zeros(3, "float32"))
    parts = members(m.keras_file)
    parts["model.weights.h5"] = weights.getvalue()
    # Charged: the root's one link, then "/a"'s one link; no attributes anywhere.
    return [Edge(rezip(parts), 2, (("KV116", "model.weights.h5", None, "/a"),))]


def lambda_code(m: Models) -> list[Edge]:
    value = json.loads(m.lambda_config)
    (node,) = [(p, c) for p, _, c in containers(value)
               if isinstance(c, dict) and c.get("class_name") == "__lambda__"]
    code = node[1]["config"]["code"]  # type: ignore[index]
    return [Edge(m.lambda_config, len(code), (("KV503", J, node[0], None),))]


class SteppedClock:
    """Reads ``start`` once (when the deadline is set), then ``start + elapsed`` forever."""

    def __init__(self, elapsed: float) -> None:
        self.elapsed = elapsed
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return 100.0 if self.reads == 1 else 100.0 + self.elapsed


def audit_after(elapsed: float) -> Callable[[Source, Policy], ArtifactReport]:
    """The audit pipeline under the policy's own cap, on a clock that has run ``elapsed``."""

    def run(source: Source, policy: Policy) -> ArtifactReport:
        deadline = Deadline.start(policy.limits.max_audit_seconds, SteppedClock(elapsed))
        artifact = read_artifact(source, policy.limits, deadline)
        return analyse_artifact(artifact, policy, "<bytes>", deadline)

    return run


def audit_seconds(m: Models) -> list[Edge]:
    return [Edge(m.keras_file, 5, (("KV002", A, None, None),), run=audit_after(5.0))]


CASES: dict[str, Callable[[Models], list[Edge]]] = {
    "max_artifact_bytes": artifact_bytes,
    "max_config_bytes": config_bytes,
    "max_zip_members": zip_members,
    "max_compression_ratio": compression_ratio,
    "max_json_depth": json_depth,
    "max_json_values": json_values,
    "max_nodes": nodes,
    "max_int_digits": int_digits,
    "max_string_length": string_length,
    "max_dimension": dimension,
    "max_parameters": parameters,
    "max_hdf5_objects": hdf5_objects,
    "max_lambda_code_chars": lambda_code,
    "max_audit_seconds": audit_seconds,
}


def test_every_limit_has_an_edge_case() -> None:
    # A new cap must come with its own under/over case here before it can ship.
    assert list(CASES) == list(Limits.names())


@pytest.mark.parametrize("name", list(CASES))
def test_at_the_cap_the_artifact_is_allowed(name: str, models: Models, tmp_path: Path) -> None:
    for edge in CASES[name](models):
        report = edge.run(edge.source, policy_with(tmp_path, name, edge.cap))
        assert report.verdict is Verdict.ALLOW, (name, places(report))
        fired = {f.rule.id for f in report.findings}
        assert fired.isdisjoint(rule for rule, *_ in edge.over), (name, fired)


@pytest.mark.parametrize("name", list(CASES))
def test_one_below_the_cap_the_cap_denies(name: str, models: Models, tmp_path: Path) -> None:
    for edge in CASES[name](models):
        report = edge.run(edge.source, policy_with(tmp_path, name, edge.cap - 1))
        assert report.verdict is Verdict.DENY
        assert places(report) == list(edge.over), name
