"""Reusable hypothesis strategies for the fuzz properties: configs, containers, marshal blobs.

Everything is cheap per example (no Keras, no disk): configs are drawn from the real
vocabulary of the benign corpus and then damaged, containers are built in memory with
``zipfile`` and h5py, and marshal blobs are either the fixture interpreters' real blobs
(mutated) or code objects this interpreter compiles from generated lambda sources.
"""

from __future__ import annotations

import copy
import io
import json
import marshal
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from hypothesis import strategies as st

from kerasvet.lambdas.marshal_reader import decode_code_field

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BENIGN = FIXTURES / "benign"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CANARY_PACKAGE = "kvfuzz_canary"
"""A harmless package the conftest puts on ``sys.path``; importing it writes a canary file."""

SMALL_MODEL_BYTES = 16 * 1024
"""Benign configs up to this size are mutated whole (each audits in a few milliseconds)."""
SMALL_NODE_BYTES = 2 * 1024
"""Real nodes up to this size form the vocabulary of valid nodes."""

# -- the real vocabulary ------------------------------------------------------------------


def _walk_nodes(value: object, in_layers: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every dict with ``class_name`` below ``value``, and whether it sits in a layers list."""
    stack: list[tuple[object, bool]] = [(value, in_layers)]
    while stack:
        item, layer = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item:
                yield item, layer
            for key, child in item.items():
                stack.append((child, key == "layers" and isinstance(child, list)))
        elif isinstance(item, list):
            stack.extend((child, layer) for child in item)


@cache
def small_models() -> tuple[dict[str, Any], ...]:
    """The benign corpus' small real configs, parsed."""
    paths = sorted(BENIGN.glob("*.config.json"))
    return tuple(json.loads(p.read_text()) for p in paths if p.stat().st_size <= SMALL_MODEL_BYTES)


@cache
def _vocabulary() -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    seen: set[str] = set()
    nodes: list[dict[str, Any]] = []
    layers: list[dict[str, Any]] = []
    for path in sorted(BENIGN.glob("*.config.json")):
        for node, in_layers in _walk_nodes(json.loads(path.read_text())):
            text = json.dumps(node, sort_keys=True)
            if len(text) > SMALL_NODE_BYTES or text in seen:
                continue
            seen.add(text)
            nodes.append(node)
            if in_layers:
                layers.append(node)
    return tuple(nodes), tuple(layers)


def real_nodes() -> tuple[dict[str, Any], ...]:
    """Every distinct small node Keras wrote in the benign corpus (layers, initializers...)."""
    return _vocabulary()[0]


def real_layers() -> tuple[dict[str, Any], ...]:
    """The real nodes that were entries of a ``layers`` list."""
    return _vocabulary()[1]


# -- hostile vocabulary --------------------------------------------------------------------

HOSTILE_MODULES = (
    "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "importlib", "runpy",
    "pickle", "marshal", "ctypes", "shutil", "socket", "sys", "code", "pty",
    "keras.src.utils", "keras.src.saving.saving_lib", "keras.src.utils.file_utils",
    "keras.utils", "keras.saving", "keras.models", "keras.src.layers.core.lambda_layer",
    "kerasx.layers", "keras_x.layers", "keras.layersx", "keras.layers.os", ".keras.layers",
    "keras.layers.", "keras..layers", "keras/layers", "KERAS.LAYERS", "keras.layers ",
    "keras.layers\x00", "keras.layers\x00os", "k\u0435ras.layers", "keras.l\u0430yers",
    "\uff4b\uff45\uff52\uff41\uff53.layers", "keras.layers\u200b", "keras.lay\u0435rs",
    "tensorflow", "tensorflow.io", "torch", "jax", "numpy", "np", "tf.io.gfile",
    CANARY_PACKAGE, f"{CANARY_PACKAGE}.layers", f"keras.{CANARY_PACKAGE}",
    "m" * 5000, "a." * 300 + "b",
)
"""Module strings a hostile config may carry: dangerous modules, prefix collisions with
``keras``, homoglyphs (Cyrillic, fullwidth), NUL, zero-width space, very long names."""

HOSTILE_CLASSES = (
    "system", "Popen", "run", "check_output", "eval", "exec", "compile", "__import__",
    "getattr", "setattr", "open", "load_model", "get_file", "TFSMLayer", "Lambda",
    "TorchModuleWrapper", "JaxLayer", "function", "__lambda__", "__numpy__", "__typespec__",
    "__tensor__", "__keras_tensor__", "D\u0435nse", "Dense\x00", "Dense ", "dense", "DENSE",
    "Dense\u200b", "\uff24ense", "<lambda>", "__class__", "__subclasses__", "os.system",
    "keras.layers.Dense", "builtins>eval", f"{CANARY_PACKAGE}.Evil", f"{CANARY_PACKAGE}>Evil",
    "", " ", "x" * 10_000,
)
"""Class (and function) names: dangerous callables, Keras' special markers, look-alikes."""

HOSTILE_REGISTERED = (
    None, "", "os>system", "builtins>eval", "keras>Dense", "Custom>Dense",
    f"{CANARY_PACKAGE}>Evil", "keras.src.utils>get_file", ">", ">>", "a>b>c", "\x00>x",
)

HOSTILE_STRINGS = (
    "../../../../etc/passwd", "/etc/passwd", "..", "../", "C:\\Windows\\system32\\cmd.exe",
    "\\\\server\\share\\x", "~/.ssh/id_rsa", "file:///etc/passwd", "http://127.0.0.1:1/x",
    "https://example.invalid/model.h5", "gs://bucket/vocab.txt", "s3://b/k", "data:,x",
    "\x1b[31mred\x1b[0m", "\x1b]8;;http://x\x07link\x1b]8;;\x07", "\x1b[2J\x1b[H", "\r",
    "\ud800", "\udfff", "a\ud800b", "\x00", "a\x00b", "\u202eevil", "\ufeff", "\u0000" * 3,
    "%s%s%n", "{0.__class__.__mro__}", "${jndi:ldap://x}", "__import__('os').system('x')",
    "lambda: 0", "<script>", "'; DROP", "\\u0000", "x" * 70_000, "\u00e9" * 4000,
    f"{CANARY_PACKAGE}.layers.Evil", f"{CANARY_PACKAGE}>Evil", "kvfuzz_canary",
)
"""Strings for any leaf: paths, URLs, ``..``, ANSI and OSC escapes, lone surrogates, NUL,
bidi overrides, format strings, canary references, long strings."""

HOSTILE_NUMBERS = (
    0, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64,
    10**19 - 1, 10**19, 10**20, -(10**25), 10**100, 1 << 24, (1 << 24) + 1,
    1e308, -1e308, 5e-324, -0.0, 0.1, True, False,
)
"""Numbers near the 64-bit range, ``max_int_digits`` (19) and ``max_dimension`` (2**24)."""

RAW_TOKENS = (
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 25, "-" + "9" * 20,
    "9" * 5000, "1.0e-400", "0" * 30 + "1",
)
"""JSON text no ``json.dumps`` of a Python value writes: non-finite, overflowing, huge."""

RETYPES: tuple[object, ...] = (
    None, 7, -1, 1.5, True, "", "x", [], {}, ["a"], {"a": 1}, [None], {"class_name": "Dense"},
)
"""Values a key is retyped to."""

JSONISH_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS),
)

NODE_KEYS = ("module", "class_name", "config", "registered_name", "name", "build_config",
             "compile_config", "inbound_nodes", "shared_object_id")

# -- configs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """A generated config and its serialised bytes (with raw tokens spliced into the text)."""

    value: object
    data: bytes


_RAW_MARK = "\u0001kvraw{}\u0001"


def to_json_bytes(value: object, raw: tuple[str, ...] = ()) -> bytes:
    """JSON bytes of ``value``; each ``_RAW_MARK`` string leaf becomes the raw token."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for index, token in enumerate(raw):
        text = text.replace(json.dumps(_RAW_MARK.format(index), ensure_ascii=False), token, 1)
    return text.encode("utf-8", "surrogatepass")


def _slots(value: object) -> list[tuple[Any, Any]]:
    """Every (container, key) pair below ``value``, in document order, iteratively."""
    out: list[tuple[Any, Any]] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in item:
                out.append((item, key))
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            for index in range(len(item)):
                out.append((item, index))
            stack.extend(reversed(item))
    return out


def _node_slots(value: object) -> list[dict[str, Any]]:
    return [node for node, _ in _walk_nodes(value)]


MUTATIONS = ("remove", "retype", "swap", "module", "class", "registered", "string", "number",
             "raw", "rename", "wrap", "duplicate", "canary-node")


def _canary_node(draw: st.DrawFn) -> dict[str, Any]:
    """A node that names the canary package in every way Keras would resolve it."""
    return copy.deepcopy(draw(st.sampled_from((
        {"module": CANARY_PACKAGE, "class_name": "Evil", "config": {}, "registered_name": None},
        {"module": f"{CANARY_PACKAGE}.layers", "class_name": "Dense", "config": {"units": 1}},
        {"class_name": "function", "config": "Evil", "module": CANARY_PACKAGE},
        {"class_name": "function", "config": f"{CANARY_PACKAGE}.Evil", "module": "builtins"},
        {"class_name": f"{CANARY_PACKAGE}>Evil", "config": {}, "registered_name":
         f"{CANARY_PACKAGE}>Evil", "module": None},
        {"module": "keras.layers", "class_name": "Dense", "config": {
            "units": 2, "activation": f"{CANARY_PACKAGE}.relu",
            "kernel_initializer": {"module": CANARY_PACKAGE, "class_name": "Init",
                                   "config": {}}}},
        {"module": "keras.layers", "class_name": "Lambda", "config": {
            "name": "l", "function": {"class_name": "function", "module": CANARY_PACKAGE,
                                      "config": "evil"}}},
    ))))


@st.composite
def canary_nodes(draw: st.DrawFn) -> dict[str, Any]:
    """One node naming the canary package (see ``_canary_node``)."""
    return _canary_node(draw)


def mutate(
    draw: st.DrawFn, value: object, max_mutations: int = 4
) -> tuple[object, tuple[str, ...]]:
    """Apply 1..``max_mutations`` structural mutations to a deep copy of ``value``."""
    value = copy.deepcopy(value)
    raw: list[str] = []
    for _ in range(draw(st.integers(1, max_mutations))):
        kind = draw(st.sampled_from(MUTATIONS))
        nodes = _node_slots(value)
        if kind in ("remove", "retype", "module", "class", "registered", "rename", "wrap",
                    "duplicate", "canary-node") and nodes:
            node = nodes[draw(st.integers(0, len(nodes) - 1))]
            if kind == "remove" and node:
                del node[draw(st.sampled_from(sorted(node)))]
            elif kind == "retype":
                node[draw(st.sampled_from(NODE_KEYS))] = copy.deepcopy(
                    draw(st.sampled_from(RETYPES)))
            elif kind == "module":
                node["module"] = draw(st.sampled_from(HOSTILE_MODULES))
            elif kind == "class":
                node["class_name"] = draw(st.sampled_from(HOSTILE_CLASSES))
            elif kind == "registered":
                node["registered_name"] = draw(st.sampled_from(HOSTILE_REGISTERED))
            elif kind == "rename" and node:
                old = draw(st.sampled_from(sorted(node)))
                node[draw(st.sampled_from((*NODE_KEYS, "Class_name", "class_name\x00",
                                           "modul", "")))] = node.pop(old)
            elif kind == "wrap":
                inner = dict(node)
                node.clear()
                node.update({"module": "keras.layers", "class_name": "TimeDistributed",
                             "config": {"name": "td", "layer": inner}})
            elif kind == "duplicate":
                config = node.get("config")
                if isinstance(config, dict):
                    config["layers"] = [copy.deepcopy(node)]
            elif kind == "canary-node":
                node.setdefault("config", {})
                if isinstance(node["config"], dict):
                    node["config"]["kvfuzz"] = _canary_node(draw)
            continue
        slots = _slots(value)
        if not slots:
            continue
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        if kind == "swap" and isinstance(container, dict) and len(container) > 1:
            other = draw(st.sampled_from(sorted(container, key=str)))
            container[key], container[other] = container[other], container[key]
        elif kind == "string":
            container[key] = draw(st.sampled_from(HOSTILE_STRINGS))
        elif kind == "number":
            container[key] = draw(st.sampled_from(HOSTILE_NUMBERS))
        elif kind == "raw":
            container[key] = _RAW_MARK.format(len(raw))
            raw.append(draw(st.sampled_from(RAW_TOKENS)))
    return value, tuple(raw)


def sequential(layers: list[dict[str, Any]], name: str = "sequential") -> dict[str, Any]:
    """A Keras 3 Sequential model node around ``layers`` (the shape ``model.get_config`` has)."""
    return {
        "module": "keras", "class_name": "Sequential", "registered_name": None,
        "config": {"name": name, "trainable": True, "dtype": "float32", "layers": layers},
    }


@st.composite
def valid_nodes(draw: st.DrawFn) -> dict[str, Any]:
    """One real node from the benign corpus, unaltered."""
    return copy.deepcopy(draw(st.sampled_from(real_nodes())))


@st.composite
def valid_configs(draw: st.DrawFn) -> Config:
    """A real small model, or a Sequential of real layers; Keras wrote every node of it."""
    if draw(st.booleans()):
        value: object = copy.deepcopy(draw(st.sampled_from(small_models())))
    else:
        layers = draw(st.lists(st.sampled_from(real_layers()), min_size=1, max_size=6))
        value = sequential(copy.deepcopy(layers))
    return Config(value, to_json_bytes(value))


@st.composite
def mutated_configs(draw: st.DrawFn) -> Config:
    """A valid config with keys removed, swapped, renamed or retyped, hostile names and
    strings, raw non-JSON-value tokens, wrappers and canary nodes."""
    base = draw(valid_configs()).value
    value, raw = mutate(draw, base)
    return Config(value, to_json_bytes(value, raw))


@st.composite
def hostile_nodes(draw: st.DrawFn) -> Config:
    """A small model whose one layer is entirely hostile: module, class, registration, args."""
    config = draw(st.dictionaries(
        st.sampled_from(("name", "units", "function", "activation", "path", "filepath",
                         "vocabulary", "origin", "module", "fn", "call_fn", "layer")),
        st.one_of(JSONISH_SCALARS, canary_nodes()), max_size=4))
    node = {"module": draw(st.sampled_from(HOSTILE_MODULES)),
            "class_name": draw(st.sampled_from(HOSTILE_CLASSES)),
            "registered_name": draw(st.sampled_from(HOSTILE_REGISTERED)),
            "config": config}
    value = sequential([node])
    return Config(value, to_json_bytes(value))


@dataclass(frozen=True)
class Shaped:
    """A generated tree and the limit finding its shape must produce, if any."""

    config: Config
    expected: tuple[str, str] | None
    """(rule id, JSON pointer) of the one limit finding expected, or ``None``."""


def _chain(depth: int) -> tuple[dict[str, Any], str]:
    """A Sequential whose one Dense layer holds a list nested so the whole document reaches
    ``depth``; returns the value and the pointer of its deepest list."""
    leaf: object = [0]
    root_depth = 5  # root dict, config, layers list, the Dense node, its config
    pointer = "/config/layers/0/config/deep"
    levels = max(depth - root_depth, 1)
    for _ in range(levels - 1):
        leaf = [leaf]
    node = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": "dense", "units": 1, "deep": leaf}}
    return sequential([node]), pointer


@st.composite
def deep_trees(draw: st.DrawFn, max_depth: int) -> Shaped:
    """Lists nested to just under, at and just beyond ``max_depth`` (and far beyond).

    Depth counts the root as 1, so the first value over the cap sits at ``max_depth``
    pointer segments: that exact pointer must carry KV204.
    """
    depth = draw(st.one_of(st.integers(max_depth - 3, max_depth + 3),
                           st.sampled_from((2 * max_depth, 900))))
    value, pointer = _chain(depth)
    if depth <= max_depth:
        return Shaped(Config(value, to_json_bytes(value)), None)
    extra = max_depth - pointer.count("/")
    return Shaped(Config(value, to_json_bytes(value)), ("KV204", pointer + "/0" * extra))


@st.composite
def wide_trees(draw: st.DrawFn, max_nodes: int) -> Shaped:
    """A Sequential of ``max_nodes - 3 .. max_nodes + 3`` plain Dense layers (and far more).

    The root is node 1, so layer ``max_nodes - 1`` is the first node over the cap.
    """
    count = draw(st.one_of(st.integers(max_nodes - 4, max_nodes + 2),
                           st.sampled_from((2 * max_nodes,))))
    layers = [{"module": "keras.layers", "class_name": "Dense", "registered_name": None,
               "config": {"name": f"d{i}", "units": 1}} for i in range(count)]
    value = sequential(layers)
    expected = None
    if count + 1 > max_nodes:
        expected = ("KV205", f"/config/layers/{max_nodes - 1}")
    return Shaped(Config(value, to_json_bytes(value)), expected)


def configs() -> st.SearchStrategy[Config]:
    """Every kind of generated config, valid ones the rarest."""
    return st.one_of(valid_configs(), mutated_configs(), mutated_configs(), hostile_nodes())


# -- .keras zip containers ----------------------------------------------------------------


@cache
def real_keras_members() -> tuple[tuple[str, bytes], ...]:
    """The members of the smallest real .keras file Keras wrote (examples/mlp.keras)."""
    with zipfile.ZipFile(EXAMPLES / "mlp.keras") as archive:
        return tuple((info.filename, archive.read(info)) for info in archive.infolist())


@cache
def zeros_deflated(size: int) -> bytes:
    """``size`` zero bytes, deflated: a compression-ratio bomb, computed once."""
    return zlib.compress(bytes(size), 9)


MEMBER_NAMES = (
    "config.json", "metadata.json", "model.weights.h5", "model.weights.npz",
    "assets/vocab.txt", "assets/", "assets/../config.json", "../config.json", "/config.json",
    "config.json/", "CONFIG.JSON", "Config.json", "config.json\x00x", "config\\json",
    "a\\..\\b", "C:/x", "x\x01y", "\u202econfig.json", "config.json ", "./config.json",
    "evil.py", "__init__.py", "model.weights.h5.bak", "a" * 300,
)

COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


@dataclass(frozen=True)
class Container:
    """Generated container bytes and the config documents written into it."""

    data: bytes
    configs: tuple[object, ...]


def _patch_central_sizes(data: bytes, size: int) -> bytes:
    """Rewrite every central-directory entry's uncompressed size (a declared-size lie)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at != -1 and at + 28 <= len(out):
        out[at + 24:at + 28] = struct.pack("<I", size & 0xFFFFFFFF)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


@st.composite
def keras_zips(draw: st.DrawFn) -> Container:
    """A .keras zip: the real members or generated ones, odd names, duplicates, symlinks,
    every compression method, bombs, lying sizes, prefixes, suffixes and comments."""
    real = dict(real_keras_members())
    members: list[tuple[str, bytes, int, bool]] = []
    configs_written: list[object] = []
    if draw(st.booleans()):
        config = draw(configs())
        configs_written.append(config.value)
        members.append(("config.json", config.data, zipfile.ZIP_STORED, False))
    else:
        members.append(("config.json", real["config.json"], zipfile.ZIP_STORED, False))
        configs_written.append(json.loads(real["config.json"]))
    if draw(st.booleans()):
        members.append(("metadata.json", real["metadata.json"], zipfile.ZIP_STORED, False))
    if draw(st.booleans()):
        members.append(("model.weights.h5", real["model.weights.h5"], zipfile.ZIP_STORED,
                        False))
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(MEMBER_NAMES))
        payload = draw(st.one_of(
            st.binary(max_size=64), st.sampled_from(tuple(real.values())),
            st.just(b"{}"), st.just(bytes(64 << 10)),
        ))
        members.append((name, payload, draw(st.sampled_from(COMPRESSIONS)),
                        draw(st.integers(0, 5)) == 0))
    order = draw(st.permutations(range(len(members))))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in order:
            name, payload, method, symlink = members[index]
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            if symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                payload = b"/etc/passwd"
            try:
                archive.writestr(info, payload)
            except (ValueError, UnicodeEncodeError):
                continue
        if draw(st.integers(0, 7)) == 0:
            _write_raw_deflated(archive, "assets/bomb.bin", BOMB_SIZE)
        if draw(st.integers(0, 7)) == 0:
            archive.comment = draw(st.binary(max_size=64))
    data = buffer.getvalue()
    if draw(st.integers(0, 9)) == 0:
        data = _patch_central_sizes(data, draw(st.sampled_from((0, 1, 2**31, 2**32 - 1))))
    if draw(st.integers(0, 9)) == 0:
        data = draw(st.sampled_from((b"\x89HDF\r\n\x1a\n", b"#!/bin/sh\n", b"{}"))) + data
    if draw(st.integers(0, 9)) == 0:
        data = data + draw(st.binary(min_size=1, max_size=32))
    return Container(data, tuple(configs_written))


BOMB_SIZE = 8 << 20
"""Uncompressed size of the zip bomb member: 8 MiB of zeros, about 8 KiB deflated."""


def _write_raw_deflated(archive: zipfile.ZipFile, name: str, size: int) -> None:
    """Append a member whose body is a precomputed deflate stream of ``size`` zero bytes."""
    raw = zeros_deflated(size)[2:-4]  # zlib wrapper off: zip members carry raw deflate
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.CRC = zeros_crc(size)
    info.file_size = size
    info.compress_size = len(raw)
    assert archive.fp is not None
    info.header_offset = archive.fp.tell()
    archive.fp.write(info.FileHeader())
    archive.fp.write(raw)
    archive.filelist.append(info)
    archive.NameToInfo[name] = info
    archive.start_dir = archive.fp.tell()
    archive._didModify = True  # type: ignore[attr-defined]


@cache
def zeros_crc(size: int) -> int:
    """CRC-32 of ``size`` zero bytes, computed once."""
    return zlib.crc32(bytes(size))


# -- HDF5 files written by h5py in memory -------------------------------------------------


@cache
def real_legacy_configs() -> tuple[str, ...]:
    """The ``model_config`` attributes of the Keras 2 HDF5 fixtures, as text."""
    out = []
    for path in sorted((FIXTURES / "keras2").glob("*.h5")):
        with h5py.File(path, "r") as file:
            value = file.attrs.get("model_config")
            out.append(value.decode() if isinstance(value, bytes) else str(value))
    return tuple(out)


_DTYPES: tuple[Callable[[], Any], ...] = (
    lambda: np.dtype("<f4"), lambda: np.dtype("<i8"), lambda: np.dtype("?"),
    lambda: np.dtype("<f2"), lambda: np.dtype("<c8"), lambda: np.dtype("S5"),
    lambda: np.dtype("V8"), lambda: np.dtype([("a", "<i4"), ("b", "<f8")]),
    lambda: h5py.enum_dtype({"A": 0, "B": 1}, basetype="i1"), lambda: h5py.ref_dtype,
    lambda: h5py.vlen_dtype(np.dtype("<i4")), lambda: h5py.string_dtype(),
    lambda: np.dtype(("<f4", (2,))),
)
"""Plain numbers first, then every odd class: opaque, compound, enum, reference, vlen,
variable-length strings, array types."""

HDF5_FEATURES = ("dataset", "attribute", "soft-link", "external-link", "hard-cycle",
                 "external-storage", "virtual", "shape-bomb", "group")


def _sample(file: Any, dtype: Any) -> Any:
    """A one-element array of ``dtype`` (references point at the root group)."""
    if dtype.kind != "O":
        return np.zeros((1,), dtype=dtype)
    if h5py.check_dtype(ref=dtype) is not None:
        return np.array([file.ref], dtype=dtype)
    if h5py.check_dtype(vlen=dtype) is not None and h5py.check_dtype(vlen=dtype) is not str:
        element = np.empty((1,), dtype=object)
        element[0] = np.array([1, 2], dtype="<i4")
        return element
    return np.array(["x"], dtype=dtype)


def _hdf5_feature(draw: st.DrawFn, file: Any, index: int) -> None:
    kind = draw(st.sampled_from(HDF5_FEATURES))
    group = file.require_group(draw(st.sampled_from(("model_weights", "optimizer_weights",
                                                     "model_weights/dense/dense", "x"))))
    name = f"f{index}"
    dtype = draw(st.sampled_from(_DTYPES))()
    if kind == "dataset":
        group.create_dataset(name, shape=(draw(st.integers(0, 3)),), dtype=dtype)
    elif kind == "attribute":
        group.attrs.create(name, data=_sample(file, dtype), dtype=dtype)
    elif kind == "soft-link":
        group[name] = h5py.SoftLink(draw(st.sampled_from(("/nowhere", "/", "/model_weights"))))
    elif kind == "external-link":
        group[name] = h5py.ExternalLink(draw(st.sampled_from(("/etc/passwd", "../x.h5"))), "/")
    elif kind == "hard-cycle":
        group[name] = file["/"]
    elif kind == "external-storage":
        group.create_dataset(name, shape=(4,), dtype="<f4", external=[("/etc/passwd", 0, 16)])
    elif kind == "virtual":
        layout = h5py.VirtualLayout(shape=(4,), dtype="<i4")
        layout[:] = h5py.VirtualSource("/etc/passwd", "data", shape=(4,))
        group.create_virtual_dataset(name, layout, fillvalue=0)
    elif kind == "shape-bomb":
        group.create_dataset(name, shape=(1 << 20, 1 << 20), dtype="<f4", chunks=(1, 1))
    else:
        group.require_group(name).attrs["weight_names"] = np.array([b"a", b"b"])


def _set_attribute(file: Any, name: str, value: object) -> None:
    """Set a root attribute; text with NUL (which h5py's variable-length strings refuse) is
    written as a fixed-length string instead, as another writer could."""
    try:
        file.attrs[name] = value
    except ValueError:
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        assert isinstance(raw, bytes)
        file.attrs[name] = np.bytes_(raw)


@st.composite
def hdf5_files(draw: st.DrawFn) -> Container:
    """A legacy .h5 model: ``model_config`` (real, generated or oddly typed), links,
    datasets and attributes of odd types, external storage, virtual datasets, shape bombs."""
    configs_written: list[object] = []
    choice = draw(st.integers(0, 5))
    if choice == 0:
        text: object = draw(st.sampled_from(real_legacy_configs()))
        configs_written.append(json.loads(str(text)))
    elif choice < 4:
        config = draw(configs())
        configs_written.append(config.value)
        text = config.data
    else:
        text = draw(st.sampled_from((7, np.array([b"{}", b"{}"]), b"\xff\xfe", "[]", None)))
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        if text is not None:
            if isinstance(text, bytes):
                text = np.void(text) if draw(st.integers(0, 9)) == 0 else text
            _set_attribute(file, "model_config", text)
        _set_attribute(file, "keras_version", draw(st.sampled_from(("2.15.0", "3.5.0", "\x00"))))
        file.attrs["backend"] = "tensorflow"
        for index in range(draw(st.integers(0, 4))):
            _hdf5_feature(draw, file, index)
    return Container(buffer.getvalue(), tuple(configs_written))


# -- marshal blobs -------------------------------------------------------------------------


@cache
def real_lambda_cases() -> tuple[tuple[str, str, bytes], ...]:
    """(case id, lambda source, blob) of every fixture blob CPython 3.8-3.13 wrote."""
    out = []
    for path in sorted((FIXTURES / "lambdas").glob("py*.json")):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            out.append((case["id"], case["source"], decode_code_field(case["keras"]["code"])))
    return tuple(out)


def real_blobs() -> tuple[bytes, ...]:
    """Every lambda blob the fixture interpreters wrote, crafted ones too."""
    return tuple(blob for _, _, blob in real_lambda_cases())


BLOB_MUTATIONS = ("flip", "set", "truncate", "insert", "delete", "int32", "duplicate",
                  "splice", "type-code")
_TYPE_CODES = b"NFT.ilgysutaAzZ()>cr0SIfx[{<?:" + bytes([0xE3, 0xF3, 0xFA, 0xE9, 0xA9, 0xDA])


@st.composite
def mutated_blobs(draw: st.DrawFn) -> bytes:
    """A real blob damaged 1-4 times: bit flips, bytes, cuts, inserted and repeated spans,
    int32 fields set to edge values, spans of another blob, and marshal type codes."""
    blobs = real_blobs()
    blob = bytearray(draw(st.sampled_from(blobs)))
    for _ in range(draw(st.integers(1, 4))):
        if not blob:
            break
        i = draw(st.integers(0, len(blob) - 1))
        kind = draw(st.sampled_from(BLOB_MUTATIONS))
        if kind == "flip":
            blob[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            blob[i] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del blob[i:]
        elif kind == "insert":
            blob[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del blob[i:i + draw(st.integers(1, 8))]
        elif kind == "int32":
            value = draw(st.sampled_from((-1, -(2**31), 2**31 - 1, 1 << 20, 4096, 255, 256, 0)))
            blob[i:i + 4] = struct.pack("<i", value)
        elif kind == "duplicate":
            j = draw(st.integers(i, min(len(blob), i + 64)))
            blob[i:i] = blob[i:j]
        elif kind == "splice":
            other = draw(st.sampled_from(blobs))
            j = draw(st.integers(0, len(other)))
            blob[i:] = other[j:]
        else:
            blob[i] = draw(st.sampled_from(_TYPE_CODES))
    return bytes(blob)


_LEAVES = st.sampled_from((
    "x", "y", "0", "1", "-1", "2.5", "1e300", "'s'", "b'b'", "None", "True", "...", "1j",
    str(2**70), str(-(2**200)), "'\\x00'", "'\u00e9'", "()", "(1, (2, (3,)))", "ops", "np",
    "tf", "K", "keras", "__import__", "getattr", "os", "__builtins__", "print", "len",
))
_OPERATORS = ("+", "-", "*", "/", "//", "%", "**", "@", "&", "|", "^", "<<", ">>", "and",
              "or", "<", "<=", "==", "!=", "is", "is not", "in", "not in")


def _combine(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, inner)
    return st.one_of(
        st.builds(lambda ab, op: f"({ab[0]} {op} {ab[1]})", pair, st.sampled_from(_OPERATORS)),
        st.builds(lambda a, u: f"({u}{a})", inner, st.sampled_from(("-", "~", "not ", "+"))),
        st.builds(lambda ab: f"{ab[0]}[{ab[1]}]", pair),
        st.builds(lambda a: f"{a}[1:-1:2]", inner),
        st.builds(lambda a, n: f"{a}.{n}", inner,
                  st.sampled_from(("shape", "dtype", "T", "ndim", "__class__", "system",
                                   "mean", "__globals__"))),
        st.builds(lambda ab: f"{ab[0]}({ab[1]})", pair),
        st.builds(lambda ab: f"{ab[0]}({ab[1]}, axis=-1)", pair),
        st.builds(lambda ab: f"({ab[0]}, {ab[1]})", pair),
        st.builds(lambda abc: f"({abc[0]} if {abc[1]} else {abc[2]})",
                  st.tuples(inner, inner, inner)),
        st.builds(lambda a: f"({a} in {{1, 2, 'a'}})", inner),
        st.builds(lambda a: f"[{a} for z in x]", inner),
        st.builds(lambda a: f"(lambda z: {a})", inner),
        st.builds(lambda a: f"f'{{{a}}}'", inner),
        st.builds(lambda a: f"(w := {a})", inner),
        st.builds(lambda ab: f"{ab[0]}(*{ab[1]})", pair),
    )


LAMBDA_EXPRESSIONS = st.recursive(_LEAVES, _combine, max_leaves=8)
LAMBDA_SIGNATURES = st.sampled_from(("x", "x, y=1", "x, *a", "x, *, k=2", "x, **kw", "",
                                     "x, y=(1, 2), /", "x=None"))


def compile_lambda(signature: str, expression: str) -> Any | None:
    """This interpreter's code object for ``lambda <signature>: <expression>``, or None when
    the text is not valid Python (compiled only, never run)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "perhaps you missed a comma?" and the like
            module = compile(f"lambda {signature}: {expression}", "<kvfuzz>", "eval")
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        return None
    for const in module.co_consts:
        if hasattr(const, "co_code"):
            return const
    return None


@dataclass(frozen=True)
class SynthesizedBlob:
    """A blob this interpreter's ``marshal.dumps`` wrote for a generated lambda."""

    source: str
    blob: bytes
    code: Any
    """The native code object (for comparing fields; never executed)."""


@st.composite
def synthesized_blobs(draw: st.DrawFn) -> SynthesizedBlob:
    """Generated lambda sources (operators, calls, attributes, comprehensions, nested
    lambdas, f-strings, walrus, big ints, sets) compiled and marshalled here."""
    signature = draw(LAMBDA_SIGNATURES)
    expression = draw(LAMBDA_EXPRESSIONS)
    code = compile_lambda(signature, expression)
    if code is None:
        code = compile_lambda("x", "x")
    return SynthesizedBlob(f"lambda {signature}: {expression}", marshal.dumps(code), code)


def lambda_layer(blob: bytes, name: str = "lambda") -> dict[str, Any]:
    """A Keras 3 ``Lambda`` layer node carrying ``blob`` as Keras writes it (base64 lines)."""
    import base64

    return {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": name, "trainable": True, "dtype": "float32", "arguments": {},
                   "function": {"class_name": "__lambda__", "config": {
                       "code": base64.encodebytes(blob).decode("ascii"),
                       "defaults": None, "closure": None}}},
    }


@st.composite
def lambda_configs(draw: st.DrawFn) -> Config:
    """A Sequential whose Lambda layer carries a synthesized or a damaged real blob."""
    blob = draw(st.one_of(mutated_blobs(), mutated_blobs(), mutated_blobs(),
                          synthesized_blobs().map(lambda s: s.blob),
                          st.sampled_from(real_blobs())))
    value = sequential([lambda_layer(blob)])
    return Config(value, to_json_bytes(value))
