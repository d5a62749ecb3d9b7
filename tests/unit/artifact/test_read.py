"""The artifact readers on real Keras files and on hand-built attack containers.

Every attack test asserts the exact (rule id, member, detail) triples, in order, so a reader
that reports the right rule at the wrong place (or one extra finding) fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import h5py
import numpy as np
import pytest

from kerasvet.artifact.model import Artifact, ArtifactFormat, ConfigRole
from kerasvet.artifact.read import read_artifact
from kerasvet.errors import ArtifactNotFound
from kerasvet.limits import Limits

LIMITS = Limits()
A = "<artifact>"
W = "model.weights.h5"

CONFIG = {
    "module": "keras",
    "class_name": "Sequential",
    "config": {"name": "sequential", "layers": []},
    "registered_name": None,
}
CONFIG_BYTES = json.dumps(CONFIG).encode()
METADATA_BYTES = json.dumps(
    {"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"}
).encode()


def triples(artifact: Artifact) -> list[tuple[str, str, str | None]]:
    return [(f.rule.id, f.location.member, f.location.detail) for f in artifact.findings]


def h5_bytes(build: Callable[[Any], None] | None = None, *, legacy: bool = False) -> bytes:
    """A small HDF5 file shaped like Keras weights (or a legacy model), plus ``build``'s edits."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        if legacy:
            f.attrs["model_config"] = json.dumps(CONFIG)
            f.attrs["keras_version"] = "3.15.1"
            group = f.create_group("model_weights/dense/dense")
        else:
            group = f.create_group("layers/dense/vars")
        group.create_dataset("0", data=np.zeros((4, 3), dtype="float32"))
        group.create_dataset("1", data=np.zeros((3,), dtype="float32"))
        if build is not None:
            build(f)
    return buffer.getvalue()


def zip_bytes(
    members: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    *,
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some tests
        with zipfile.ZipFile(buffer, "w", compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return buffer.getvalue()


def keras_zip(
    *extra: tuple[str | zipfile.ZipInfo, bytes],
    weights: bytes | None = None,
    config: bytes = CONFIG_BYTES,
    metadata: bytes = METADATA_BYTES,
) -> bytes:
    """Members in the order Keras writes them, then ``extra``."""
    return zip_bytes(
        [
            ("metadata.json", metadata),
            ("config.json", config),
            (W, h5_bytes() if weights is None else weights),
            *extra,
        ]
    )


def set_zip_flag(data: bytes, name: str, flag: int) -> bytes:
    """Set a general-purpose flag bit on one member in both its local and central headers."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
        start_dir = zf.start_dir
    local_flags = info.header_offset + 6
    struct.pack_into("<H", out, local_flags, struct.unpack_from("<H", out, local_flags)[0] | flag)
    at = start_dir
    while out[at : at + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<3H", out, at + 28)
        if bytes(out[at + 46 : at + 46 + name_len]).decode() == name:
            flags = struct.unpack_from("<H", out, at + 8)[0]
            struct.pack_into("<H", out, at + 8, flags | flag)
        at += 46 + name_len + extra_len + comment_len
    return bytes(out)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- real Keras files


@pytest.fixture(scope="session")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small models written by Keras 3 itself (jax backend)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    from keras.src.saving import saving_lib

    root = tmp_path_factory.mktemp("keras")
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="out")(hidden)
    functional = keras.Model(inputs, outputs, name="functional")
    sequential = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="dense")], name="sequential"
    )
    low_precision = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, dtype="bfloat16"),
            keras.layers.Dense(2, dtype="float16"),
        ],
        name="low_precision",
    )
    compiled = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="compiled")
    compiled.compile(optimizer="adam", loss="mse")
    files = {
        "functional.keras": root / "functional.keras",
        "compiled.keras": root / "compiled.keras",
        "model.h5": root / "model.h5",
        "compiled.h5": root / "compiled.h5",
        "npz.keras": root / "npz.keras",
        "folder": root / "folder",
        "model.json": root / "model.json",
        "bf16.keras": root / "bf16.keras",
        "bf16.h5": root / "bf16.h5",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        functional.save(files["functional.keras"])
        compiled.save(files["compiled.keras"])
        sequential.save(files["model.h5"])
        compiled.save(files["compiled.h5"])
        saving_lib.save_model(sequential, files["npz.keras"], weights_format="npz")
        keras.saving.save_model(functional, files["folder"], zipped=False)
        low_precision.save(files["bf16.keras"])
        low_precision.save(files["bf16.h5"])
    files["model.json"].write_text(functional.to_json())
    return files


@pytest.mark.keras
@pytest.mark.parametrize("name", ["functional.keras", "compiled.keras"])
def test_keras_zip_written_by_keras_is_clean(keras_files: dict[str, Path], name: str) -> None:
    path = keras_files[name]
    artifact = read_artifact(path, LIMITS)
    assert artifact.format is ArtifactFormat.KERAS_ZIP
    assert triples(artifact) == []
    assert [(d.member, d.role) for d in artifact.documents] == [("config.json", ConfigRole.MODEL)]
    assert artifact.weights_member == W
    assert artifact.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    document = artifact.documents[0].value
    assert isinstance(document, dict)
    assert document["class_name"] in {"Functional", "Sequential"}


@pytest.mark.keras
@pytest.mark.parametrize("name", ["bf16.keras", "bf16.h5"])
def test_bfloat16_weights_are_not_mistaken_for_pickles(
    keras_files: dict[str, Path], name: str
) -> None:
    # h5py stores ml_dtypes numbers (bfloat16) as 2-byte opaque elements.
    artifact = read_artifact(keras_files[name], LIMITS)
    assert triples(artifact) == []
    assert len(artifact.documents) == 1


@pytest.mark.keras
def test_legacy_h5_written_by_keras_is_clean(keras_files: dict[str, Path]) -> None:
    artifact = read_artifact(keras_files["model.h5"], LIMITS)
    assert artifact.format is ArtifactFormat.HDF5
    assert triples(artifact) == []
    assert [(d.member, d.role) for d in artifact.documents] == [("model_config", ConfigRole.MODEL)]
    assert artifact.weights_member == "model_weights"


@pytest.mark.keras
def test_compiled_legacy_h5_has_model_and_training_documents(
    keras_files: dict[str, Path],
) -> None:
    artifact = read_artifact(keras_files["compiled.h5"], LIMITS)
    assert triples(artifact) == []
    assert [(d.member, d.role) for d in artifact.documents] == [
        ("model_config", ConfigRole.MODEL),
        ("training_config", ConfigRole.TRAINING),
    ]
    training = artifact.documents[1].value
    assert isinstance(training, dict)
    assert "optimizer_config" in training


@pytest.mark.keras
def test_unzipped_folder_written_by_keras_is_clean(keras_files: dict[str, Path]) -> None:
    folder = keras_files["folder"]
    artifact = read_artifact(folder, LIMITS)
    assert artifact.format is ArtifactFormat.KERAS_DIR
    assert triples(artifact) == []
    assert [d.member for d in artifact.documents] == ["config.json"]
    assert artifact.weights_member == W
    lines = sorted(
        f"{p.relative_to(folder).as_posix()}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n"
        for p in folder.rglob("*")
        if p.is_file()
    )
    assert artifact.sha256 == hashlib.sha256("".join(lines).encode()).hexdigest()


@pytest.mark.keras
def test_npz_weights_written_by_keras_are_pickled_object_arrays(
    keras_files: dict[str, Path],
) -> None:
    # Keras 3.15 writes each variable dict as an object (pickled) .npy; np.load refuses them
    # without allow_pickle, and so do we.
    artifact = read_artifact(keras_files["npz.keras"], LIMITS)
    assert artifact.weights_member == "model.weights.npz"
    assert triples(artifact) == [
        ("KV117", "model.weights.npz", "__root__.npy"),
        ("KV117", "model.weights.npz", "layers/dense.npy"),
    ]
    assert [d.member for d in artifact.documents] == ["config.json"]


@pytest.mark.keras
def test_model_to_json_as_file_text_and_bytes(keras_files: dict[str, Path]) -> None:
    path = keras_files["model.json"]
    text = path.read_text()
    for source in (path, text, text.encode()):
        artifact = read_artifact(source, LIMITS)
        # Keras 3's to_json() is the bare config; only Keras 2 added keras_version/backend.
        assert artifact.format is ArtifactFormat.CONFIG_JSON
        assert triples(artifact) == []
        assert [(d.member, d.role) for d in artifact.documents] == [("<json>", ConfigRole.MODEL)]
        assert artifact.sha256 == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.keras
def test_format_comes_from_content_not_extension(
    keras_files: dict[str, Path], tmp_path: Path
) -> None:
    zip_named_h5 = tmp_path / "model.h5"
    shutil.copyfile(keras_files["functional.keras"], zip_named_h5)
    h5_named_keras = tmp_path / "model.keras"
    shutil.copyfile(keras_files["model.h5"], h5_named_keras)

    as_zip = read_artifact(zip_named_h5, LIMITS)
    assert as_zip.format is ArtifactFormat.KERAS_ZIP
    assert [d.member for d in as_zip.documents] == ["config.json"]
    as_h5 = read_artifact(h5_named_keras, LIMITS)
    assert as_h5.format is ArtifactFormat.HDF5
    assert [d.member for d in as_h5.documents] == ["model_config"]


@pytest.mark.keras
def test_bytes_source_is_sniffed_like_a_file(keras_files: dict[str, Path]) -> None:
    data = keras_files["functional.keras"].read_bytes()
    artifact = read_artifact(data, LIMITS)
    assert artifact.format is ArtifactFormat.KERAS_ZIP
    assert triples(artifact) == []
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.keras
def test_reading_does_not_import_a_framework(keras_files: dict[str, Path]) -> None:
    src = Path(__file__).resolve().parents[3] / "src"
    code = (
        "import sys\n"
        "from kerasvet.artifact.read import read_artifact\n"
        "from kerasvet.limits import Limits\n"
        "artifact = read_artifact(sys.argv[1], Limits())\n"
        "assert not artifact.findings, artifact.findings\n"
        "loaded = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "print(','.join(loaded) or 'none')\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", code, str(keras_files["functional.keras"])],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


# --------------------------------------------------------------------------- sources and paths


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound):
        read_artifact(tmp_path / "nope.keras", LIMITS)


def test_fifo_raises_instead_of_blocking(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    fifo = tmp_path / "model.keras"
    os.mkfifo(fifo)
    with pytest.raises(ArtifactNotFound):
        read_artifact(fifo, LIMITS)


def test_hand_built_keras_zip_is_clean(tmp_path: Path) -> None:
    artifact = read_artifact(str(write(tmp_path, "m.keras", keras_zip())), LIMITS)
    assert artifact.format is ArtifactFormat.KERAS_ZIP
    assert triples(artifact) == []
    assert [d.value for d in artifact.documents] == [CONFIG]
    assert artifact.weights_member == W


def test_json_text_source() -> None:
    text = "  \n" + json.dumps(CONFIG)
    artifact = read_artifact(text, LIMITS)
    assert artifact.format is ArtifactFormat.CONFIG_JSON
    assert [(d.member, d.value) for d in artifact.documents] == [("<json>", CONFIG)]
    assert artifact.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_keras2_style_to_json_output_is_model_json() -> None:
    text = json.dumps({**CONFIG, "keras_version": "2.15.0", "backend": "tensorflow"})
    artifact = read_artifact(text.encode(), LIMITS)
    assert artifact.format is ArtifactFormat.MODEL_JSON
    assert triples(artifact) == []
    assert [(d.member, d.role) for d in artifact.documents] == [("<json>", ConfigRole.MODEL)]


def test_json_text_with_duplicate_key_has_no_document() -> None:
    artifact = read_artifact('{"class_name": "A", "class_name": "B"}', LIMITS)
    assert triples(artifact) == [("KV201", "<json>", None)]
    assert artifact.documents == ()


def test_dict_source_gets_the_same_checks_as_text() -> None:
    artifact = read_artifact(CONFIG, LIMITS)
    assert artifact.format is ArtifactFormat.PYTHON_DICT
    assert triples(artifact) == []
    assert [d.value for d in artifact.documents] == [CONFIG]
    assert artifact.sha256 == hashlib.sha256(json.dumps(CONFIG).encode()).hexdigest()

    proxy = read_artifact(MappingProxyType({"config": MappingProxyType({"units": 1})}), LIMITS)
    assert [d.value for d in proxy.documents] == [{"config": {"units": 1}}]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ({"config": {"rate": float("nan")}}, "KV202"),
        ({"config": {"fn": object()}}, "KV200"),
        ({"config": {(1, 2): "tuple key"}}, "KV200"),
        ({1: "int key", "1": "same key once stringified"}, "KV201"),
    ],
)
def test_bad_dicts(value: dict[Any, Any], rule: str) -> None:
    artifact = read_artifact(value, LIMITS)
    assert artifact.format is ArtifactFormat.PYTHON_DICT
    assert triples(artifact) == [(rule, "<json>", None)]
    assert artifact.documents == ()


def test_deeply_nested_dict_is_a_finding_not_a_crash() -> None:
    value: dict[str, Any] = {}
    node = value
    for _ in range(sys.getrecursionlimit() + 100):
        node["c"] = {}
        node = node["c"]
    artifact = read_artifact(value, LIMITS)
    assert [t[0] for t in triples(artifact)] == ["KV204"]


def test_unsupported_source_type() -> None:
    artifact = read_artifact(42, LIMITS)  # type: ignore[arg-type]
    assert artifact.format is ArtifactFormat.UNKNOWN
    assert triples(artifact) == [("KV100", A, None)]


def test_reader_bug_becomes_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("kerasvet.artifact.read.read_keras_zip", broken)
    artifact = read_artifact(keras_zip(), LIMITS)
    assert triples(artifact) == [("KV001", A, None)]
    assert artifact.documents == ()


def test_unknown_bytes() -> None:
    artifact = read_artifact(b"GIF89a not a model", LIMITS)
    assert artifact.format is ArtifactFormat.UNKNOWN
    assert triples(artifact) == [("KV100", A, "offset 0")]


def test_file_over_the_size_cap_is_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, "m.keras", keras_zip())
    artifact = read_artifact(path, Limits(max_artifact_bytes=100))
    assert artifact.format is ArtifactFormat.UNKNOWN
    assert triples(artifact) == [("KV101", A, None)]
    assert artifact.sha256 is None


# --------------------------------------------------------------------------- zip attacks


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../x", [("KV104", A, "../x"), ("KV107", A, "../x")]),
        ("/x", [("KV104", A, "/x"), ("KV107", A, "/x")]),
        ("C:/x", [("KV104", A, "C:/x"), ("KV107", A, "C:/x")]),
        ("assets/..\\..\\evil.py", [("KV104", A, "assets/..\\..\\evil.py")]),
        ("assets/\u202eevil", [("KV104", A, "assets/\u202eevil")]),
        ("assets//x", [("KV104", A, "assets//x")]),
        ("assets/./x", [("KV104", A, "assets/./x")]),
        ("evil.py", [("KV107", A, "evil.py")]),
        ("assets/vocabulary.txt", []),
    ],
)
def test_member_names(tmp_path: Path, name: str, expected: list[tuple[str, str, str]]) -> None:
    artifact = read_artifact(write(tmp_path, "m.keras", keras_zip((name, b"x"))), LIMITS)
    assert triples(artifact) == expected
    assert len(artifact.documents) == 1


def test_nul_in_member_name(tmp_path: Path) -> None:
    # zipfile cuts names at NUL when writing, so patch the bytes; readers that cut at NUL
    # (zipfile too) see "assets/a" while others see the full name.
    data = keras_zip(("assets/a#.txt", b"x")).replace(b"assets/a#.txt", b"assets/a\x00.txt")
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == [("KV104", A, "assets/a\x00.txt")]


def test_symlink_member(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("assets/link")
    link.external_attr = 0o120777 << 16
    artifact = read_artifact(write(tmp_path, "m.keras", keras_zip((link, b"/etc/passwd"))), LIMITS)
    assert triples(artifact) == [("KV105", A, "assets/link")]


def test_fifo_member(tmp_path: Path) -> None:
    fifo = zipfile.ZipInfo("assets/pipe")
    fifo.external_attr = 0o010644 << 16
    artifact = read_artifact(write(tmp_path, "m.keras", keras_zip((fifo, b""))), LIMITS)
    assert triples(artifact) == [("KV105", A, "assets/pipe")]


def test_duplicate_config_member_keras_reads_the_last(tmp_path: Path) -> None:
    evil = json.dumps({"class_name": "Evil", "config": {}}).encode()
    data = keras_zip(("config.json", evil))
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == [("KV106", A, "config.json")]
    assert [d.value for d in artifact.documents] == [json.loads(evil)]


def test_duplicate_after_case_folding_and_normalisation(tmp_path: Path) -> None:
    data = keras_zip(
        ("assets/Vocab.txt", b"a"),
        ("assets/vocab.txt", b"b"),
        ("assets/caf\u00e9", b"c"),
        ("assets/cafe\u0301", b"d"),
    )
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == [
        ("KV106", A, "assets/vocab.txt"),
        ("KV106", A, "assets/cafe\u0301"),
    ]


def test_deflate_bomb_member(tmp_path: Path) -> None:
    bomb = zipfile.ZipInfo("assets/zeros.bin")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    artifact = read_artifact(
        write(tmp_path, "m.keras", keras_zip((bomb, bytes(10 * 1024 * 1024)))), LIMITS
    )
    assert triples(artifact) == [("KV103", A, "assets/zeros.bin")]


def test_too_many_members_stops_before_zipfile(tmp_path: Path) -> None:
    data = keras_zip(*((f"assets/{i}", b"") for i in range(5)))
    artifact = read_artifact(write(tmp_path, "m.keras", data), Limits(max_zip_members=4))
    assert triples(artifact) == [("KV102", A, None)]
    assert artifact.documents == ()


def test_missing_config(tmp_path: Path) -> None:
    data = zip_bytes([("metadata.json", METADATA_BYTES), (W, h5_bytes())])
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == [("KV109", A, "config.json")]
    assert artifact.documents == ()


def test_oversized_config_is_not_read(tmp_path: Path) -> None:
    artifact = read_artifact(
        write(tmp_path, "m.keras", keras_zip()), Limits(max_config_bytes=len(CONFIG_BYTES) - 1)
    )
    assert triples(artifact) == [("KV101", A, "config.json")]
    assert artifact.documents == ()


def test_encrypted_config_is_not_read(tmp_path: Path) -> None:
    data = set_zip_flag(keras_zip(), "config.json", 0x1)
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == [("KV110", A, "config.json")]
    assert artifact.documents == ()


def test_crc_error_in_config(tmp_path: Path) -> None:
    data = bytearray(keras_zip())
    at = bytes(data).index(CONFIG_BYTES)
    data[at + 2] ^= 0x20  # flip the case of one letter inside a key
    artifact = read_artifact(write(tmp_path, "m.keras", bytes(data)), LIMITS)
    assert triples(artifact) == [("KV110", A, "config.json")]
    assert artifact.documents == ()


def test_broken_metadata_is_reported_but_not_used(tmp_path: Path) -> None:
    data = keras_zip(metadata=b'{"keras_version": "3", "keras_version": "4"}')
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == [("KV201", "metadata.json", None)]
    assert [d.member for d in artifact.documents] == ["config.json"]


def test_config_with_duplicate_keys_is_left_out(tmp_path: Path) -> None:
    data = keras_zip(config=b'{"class_name": "Sequential", "class_name": "Evil"}')
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == [("KV201", "config.json", None)]
    assert artifact.documents == ()


def test_prefix_before_the_zip(tmp_path: Path) -> None:
    data = b"#!/bin/sh\necho pwned\nexit 0\n" + keras_zip()
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert artifact.format is ArtifactFormat.KERAS_ZIP
    assert triples(artifact) == [("KV108", A, "offset 0")]
    assert [d.member for d in artifact.documents] == ["config.json"]


def test_bytes_after_the_zip(tmp_path: Path) -> None:
    clean = keras_zip()
    artifact = read_artifact(write(tmp_path, "m.keras", clean + b"trailer"), LIMITS)
    assert triples(artifact) == [("KV108", A, f"offset {len(clean)}")]


def test_json_zip_polyglot(tmp_path: Path) -> None:
    text = json.dumps(CONFIG).encode()
    data = text + keras_zip()
    artifact = read_artifact(write(tmp_path, "model.json", data), LIMITS)
    assert artifact.format is ArtifactFormat.CONFIG_JSON
    with pytest.raises(UnicodeDecodeError) as undecodable:
        data.decode("utf-8")
    assert triples(artifact) == [
        ("KV108", A, f"offset {len(data) - 22}"),
        ("KV200", "<json>", f"byte {undecodable.value.start}"),
    ]
    assert artifact.documents == ()


def test_hdf5_zip_polyglot(tmp_path: Path) -> None:
    data = h5_bytes(legacy=True) + keras_zip()
    artifact = read_artifact(write(tmp_path, "model.h5", data), LIMITS)
    assert artifact.format is ArtifactFormat.HDF5
    assert triples(artifact) == [("KV108", A, f"offset {len(data) - 22}")]


def test_zip_that_is_also_an_hdf5_model(tmp_path: Path) -> None:
    # An asset whose data starts at offset 512 is an HDF5 "user block" file: h5py (and so
    # Keras, for a name ending in .h5) opens the zip as a legacy model with another config.
    hidden = h5_bytes(legacy=True)
    name = "assets/" + "a" * (512 - 30 - len("assets/"))
    data = zip_bytes(
        [
            (name, hidden),
            ("metadata.json", METADATA_BYTES),
            ("config.json", CONFIG_BYTES),
            (W, h5_bytes()),
        ]
    )
    path = write(tmp_path, "model.h5", data)
    with h5py.File(path, "r") as f:
        assert "model_config" in f.attrs  # the attack works on h5py
    artifact = read_artifact(path, LIMITS)
    assert artifact.format is ArtifactFormat.KERAS_ZIP
    assert triples(artifact) == [("KV108", A, "offset 512")]


def test_hidden_bytes_between_members(tmp_path: Path) -> None:
    data = keras_zip()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        weights_at = zf.getinfo(W).header_offset
    gap = b"HIDDEN"
    spliced = data[:weights_at] + gap + data[weights_at:]
    # Shift the central directory's offsets for the weights member and the directory itself.
    out = bytearray(spliced)
    eocd = len(out) - 22
    cd_offset = struct.unpack_from("<L", out, eocd + 16)[0] + len(gap)
    struct.pack_into("<L", out, eocd + 16, cd_offset)
    at = cd_offset
    while out[at : at + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<3H", out, at + 28)
        offset = struct.unpack_from("<L", out, at + 42)[0]
        if offset >= weights_at:
            struct.pack_into("<L", out, at + 42, offset + len(gap))
        at += 46 + name_len + extra_len + comment_len
    artifact = read_artifact(write(tmp_path, "m.keras", bytes(out)), LIMITS)
    assert triples(artifact) == [("KV110", A, f"offset {weights_at}")]


def test_empty_and_garbage_zips(tmp_path: Path) -> None:
    empty = read_artifact(write(tmp_path, "empty.keras", zip_bytes([])), LIMITS)
    assert triples(empty) == [("KV109", A, "config.json")]
    truncated = keras_zip()[:200]
    broken = read_artifact(write(tmp_path, "broken.keras", truncated), LIMITS)
    assert broken.format is ArtifactFormat.KERAS_ZIP
    assert triples(broken) == [("KV110", A, None)]


# --------------------------------------------------------------------------- HDF5 attacks


def _external_link(f: Any) -> None:
    f["layers/dense/vars/2"] = h5py.ExternalLink("/etc/passwd", "/")


def _soft_link(f: Any) -> None:
    f["layers/dense/vars/2"] = h5py.SoftLink("/layers/dense/vars/0")


def _shape_bomb(f: Any) -> None:
    f.create_dataset("layers/dense/vars/2", shape=(1 << 30,), dtype="float32")


def _pickled_attribute(f: Any) -> None:
    f["layers/dense/vars"].attrs["name"] = np.void(b"\x80\x04cos\nsystem\n.")


def _hard_link_cycle(f: Any) -> None:
    f["layers/dense/vars/loop"] = f["layers"]


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (_external_link, [("KV111", W, "/layers/dense/vars/2")]),
        (_soft_link, [("KV112", W, "/layers/dense/vars/2")]),
        (_shape_bomb, [("KV115", W, "/layers/dense/vars/2")]),
        (_pickled_attribute, [("KV117", W, "/layers/dense/vars@name")]),
        (_hard_link_cycle, []),
    ],
)
def test_weights_attacks(
    tmp_path: Path, build: Callable[[Any], None], expected: list[tuple[str, str, str]]
) -> None:
    artifact = read_artifact(write(tmp_path, "m.keras", keras_zip(weights=h5_bytes(build))), LIMITS)
    assert triples(artifact) == expected
    assert [d.member for d in artifact.documents] == ["config.json"]


def test_external_storage_dataset(tmp_path: Path) -> None:
    harmless = write(tmp_path, "harmless.bin", bytes(64))

    def build(f: Any) -> None:
        f.create_dataset(
            "layers/dense/vars/2", shape=(16,), dtype="float32", external=[(str(harmless), 0, 64)]
        )

    artifact = read_artifact(write(tmp_path, "m.keras", keras_zip(weights=h5_bytes(build))), LIMITS)
    assert triples(artifact) == [("KV113", W, "/layers/dense/vars/2")]
    assert artifact.findings[0].value == repr(str(harmless))


def test_virtual_dataset(tmp_path: Path) -> None:
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f.create_dataset("data", data=np.arange(4, dtype="float32"))

    def build(f: Any) -> None:
        layout = h5py.VirtualLayout(shape=(4,), dtype="float32")
        layout[:] = h5py.VirtualSource(str(source), "data", shape=(4,))
        f.create_virtual_dataset("layers/dense/vars/2", layout)

    artifact = read_artifact(write(tmp_path, "m.keras", keras_zip(weights=h5_bytes(build))), LIMITS)
    assert triples(artifact) == [("KV114", W, "/layers/dense/vars/2")]


def test_object_cap(tmp_path: Path) -> None:
    def build(f: Any) -> None:
        for i in range(20):
            f.create_group(f"many/{i}")

    artifact = read_artifact(
        write(tmp_path, "m.keras", keras_zip(weights=h5_bytes(build))),
        Limits(max_hdf5_objects=10),
    )
    assert [(rule, member) for rule, member, _ in triples(artifact)] == [("KV116", W)]


def test_weights_that_are_not_hdf5(tmp_path: Path) -> None:
    artifact = read_artifact(write(tmp_path, "m.keras", keras_zip(weights=b"not hdf5")), LIMITS)
    assert triples(artifact) == [("KV116", W, "/")]


def test_legacy_h5_attacks(tmp_path: Path) -> None:
    def build(f: Any) -> None:
        f["model_weights/ext"] = h5py.ExternalLink("/etc/passwd", "/")
        f.create_dataset("optimizer_weights/bomb", shape=(1 << 28,), dtype="float64")
        f.attrs["training_config"] = '{"loss": "mse", "loss": "mae"}'

    artifact = read_artifact(write(tmp_path, "model.h5", h5_bytes(build, legacy=True)), LIMITS)
    assert artifact.format is ArtifactFormat.HDF5
    assert triples(artifact) == [
        ("KV111", A, "/model_weights/ext"),
        ("KV115", A, "/optimizer_weights/bomb"),
        ("KV201", "training_config", None),
    ]
    assert [d.member for d in artifact.documents] == ["model_config"]
    assert artifact.weights_member == "model_weights"


def test_global_heap_that_would_hang_the_hdf5_library(tmp_path: Path) -> None:
    # A free-space record of size 0 in the heap holding model_config makes HDF5 (2.0.0) spin
    # forever when the string is read; h5py must never be handed such a file.
    data = bytearray(h5_bytes(legacy=True))
    start = data.index(b"GCOL")
    position = start + 16
    while int.from_bytes(data[position : position + 2], "little") != 0:
        size = int.from_bytes(data[position + 8 : position + 16], "little")
        position += 16 + -(-size // 8) * 8
    data[position + 8 : position + 16] = bytes(8)
    artifact = read_artifact(write(tmp_path, "m.h5", bytes(data)), LIMITS)
    assert triples(artifact) == [("KV116", A, f"offset {start}")]
    assert artifact.documents == ()


def test_legacy_h5_without_model_config(tmp_path: Path) -> None:
    artifact = read_artifact(write(tmp_path, "w.h5", h5_bytes()), LIMITS)
    assert triples(artifact) == [("KV109", A, "model_config")]
    assert artifact.documents == ()


def test_legacy_model_config_that_is_not_a_string(tmp_path: Path) -> None:
    def build(f: Any) -> None:
        del f.attrs["model_config"]
        f.attrs["model_config"] = np.arange(3)

    artifact = read_artifact(write(tmp_path, "m.h5", h5_bytes(build, legacy=True)), LIMITS)
    assert triples(artifact) == [("KV200", "model_config", None)]
    assert artifact.documents == ()


# --------------------------------------------------------------------------- npz weights


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_npz_with_plain_arrays_is_clean(tmp_path: Path) -> None:
    data = zip_bytes(
        [
            ("metadata.json", METADATA_BYTES),
            ("config.json", CONFIG_BYTES),
            ("model.weights.npz", npz_bytes(kernel=np.zeros((4, 3), "float32"))),
        ]
    )
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == []
    assert artifact.weights_member == "model.weights.npz"


def test_npz_shape_bomb_and_stray_member(tmp_path: Path) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (1 << 30,)}
    )
    npz = zip_bytes([("bomb.npy", header.getvalue()), ("notes.txt", b"hi")])
    data = zip_bytes([("config.json", CONFIG_BYTES), ("model.weights.npz", npz)])
    artifact = read_artifact(write(tmp_path, "m.keras", data), LIMITS)
    assert triples(artifact) == [
        ("KV107", "model.weights.npz", "notes.txt"),
        ("KV115", "model.weights.npz", "bomb.npy"),
    ]


# --------------------------------------------------------------------------- unzipped folders


def make_folder(root: Path) -> Path:
    root.mkdir()
    (root / "metadata.json").write_bytes(METADATA_BYTES)
    (root / "config.json").write_bytes(CONFIG_BYTES)
    (root / W).write_bytes(h5_bytes())
    return root


def test_hand_built_folder_is_clean(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    (folder / "assets").mkdir()
    (folder / "assets" / "vocab.txt").write_text("a\nb\n")
    artifact = read_artifact(folder, LIMITS)
    assert artifact.format is ArtifactFormat.KERAS_DIR
    assert triples(artifact) == []
    assert [d.value for d in artifact.documents] == [CONFIG]


def test_folder_with_symlinks(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    (folder / "assets").mkdir()
    os.symlink("/etc/passwd", folder / "assets" / "link")
    os.symlink(folder / "config.json", folder / "assets" / "config_link")
    artifact = read_artifact(folder, LIMITS)
    assert triples(artifact) == [
        ("KV105", A, "assets/config_link"),
        ("KV105", A, "assets/link"),
    ]


def test_folder_whose_config_is_a_symlink(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    (folder / "config.json").unlink()
    secret = write(tmp_path, "elsewhere.json", CONFIG_BYTES)
    os.symlink(secret, folder / "config.json")
    artifact = read_artifact(folder, LIMITS)
    assert triples(artifact) == [("KV105", A, "config.json"), ("KV109", A, "config.json")]
    assert artifact.documents == ()


def test_folder_with_unexpected_entries_and_weights_attack(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    (folder / W).write_bytes(h5_bytes(_external_link))
    (folder / "payload.py").write_text("import os")
    (folder / "extra").mkdir()
    (folder / "extra" / "a.txt").write_text("a")
    artifact = read_artifact(folder, LIMITS)
    assert triples(artifact) == [
        ("KV107", A, "extra"),
        ("KV107", A, "payload.py"),
        ("KV111", W, "/layers/dense/vars/2"),
    ]


def test_folder_over_the_size_cap(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    artifact = read_artifact(folder, Limits(max_artifact_bytes=1000))
    assert triples(artifact) == [("KV101", A, None)]
    assert artifact.documents == ()
    assert artifact.sha256 is None
