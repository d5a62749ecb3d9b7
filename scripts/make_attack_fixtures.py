"""Write the harmless attack fixtures in tests/fixtures/attacks/ (run once; output committed).

Each fixture is a config Keras would act on, patched from a base model that Keras 3 itself
wrote (or written by Keras outright, for the lambda cases). Nothing here is ever loaded:
the worst a fixture would do if a broken loader ran it is touch a canary file or contact
127.0.0.1 on a closed port. MANIFEST.json lists, per fixture, the advisory, the mechanism and
the exact (rule id, JSON pointer) pairs the default policy must report.

    KERAS_BACKEND=jax python scripts/make_attack_fixtures.py
"""

from __future__ import annotations

import base64
import copy
import json
import marshal
import os
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "attacks"
CANARY = "/tmp/kerasvet-canary"
CLOSED_PORT_URL = "http://127.0.0.1:9/kerasvet-canary"


def keras_config(model: keras.Model) -> dict:
    """The config.json text Keras writes into a .keras file, parsed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.keras"
        model.save(path)
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))


def base_model() -> dict:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="input_layer")
    hidden = keras.layers.Dense(3, activation="relu", name="dense")(inputs)
    outputs = keras.layers.Dense(2, name="dense_1")(hidden)
    return keras_config(keras.Model(inputs, outputs, name="base"))


def lambda_model() -> dict:
    inputs = keras.Input((4,), name="input_layer")
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    # Harmless when Keras calls it while building, but it reaches for a dunder attribute.
    outputs = keras.layers.Lambda(lambda x: x.__class__ and x, name="lambda")(hidden)
    return keras_config(keras.Model(inputs, outputs, name="with_lambda"))


def canary_code() -> str:
    """Bytecode of a lambda that would touch the canary if anything ever ran it."""
    fn = eval(f"lambda x: __import__('pathlib').Path({CANARY!r}).touch() or x")
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


def function_node(module: str, name: str) -> dict:
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


def replace_layer(config: dict, index: int, layer: dict) -> dict:
    result = copy.deepcopy(config)
    old = result["config"]["layers"][index]
    layer.setdefault("name", old["name"])
    layer.setdefault("inbound_nodes", old["inbound_nodes"])
    result["config"]["layers"][index] = layer
    return result


def patch(config: dict, pointer: str, value: object) -> dict:
    result = copy.deepcopy(config)
    *parents, last = pointer.strip("/").split("/")
    target = result
    for token in parents:
        target = target[int(token)] if isinstance(target, list) else target[token]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return result


def keras3_lambda_layer(function: object, **config: object) -> dict:
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": "lambda", "trainable": True, "function": function,
                       "arguments": {}, **config}}


def build() -> list[tuple[dict, object]]:
    base = base_model()
    L2 = "/config/layers/2"
    L1 = "/config/layers/1"
    fixtures: list[tuple[dict, object]] = []

    def add(ident, reference, mechanism, expect, config):
        fixtures.append(({"id": ident, "reference": reference, "mechanism": mechanism,
                          "expect": [list(e) for e in expect], "canary": CANARY}, config))

    add("cve-2024-3660-keras2-lambda", "CVE-2024-3660",
        "tf.keras Lambda with list-form marshalled bytecode (function_type lambda)",
        [("KV505", f"{L2}/config/function"), ("KV508", f"{L2}/config/function"),
         ("KV502", f"{L2}/config/module")],
        replace_layer(base, 2, {"class_name": "Lambda", "config": {
            "name": "dense_1", "trainable": True, "dtype": "float32",
            "function": [canary_code(), None, None], "function_type": "lambda",
            "module": "__main__", "output_shape": None, "output_shape_type": "raw",
            "output_shape_module": None, "arguments": {}}}))
    add("keras3-lambda-dunder", "lambda-analysis.md §7",
        "a Keras 3 Lambda layer written by Keras itself, reaching for x.__class__",
        [("KV505", f"{L2}/config/function")], lambda_model())
    add("cve-2025-1550-subprocess-run", "CVE-2025-1550",
        "a functional 'layer' naming subprocess.run, called with a command from inbound_nodes",
        [("KV302", L2)],
        replace_layer(base, 2, {"module": "subprocess", "class_name": "run", "config": {},
                                "registered_name": None,
                                "inbound_nodes": [{"args": [["true"]], "kwargs": {}}]}))
    add("cve-2025-1550-os-system", "CVE-2025-1550",
        "a node naming os.system",
        [("KV302", L2)],
        replace_layer(base, 2, {"module": "os", "class_name": "system",
                                "config": {"command": "true"}, "registered_name": None}))
    add("nested-builtins-exec-initializer", "protectai/modelscan PR #340",
        "builtins.exec hidden as a nested kernel_initializer, missed by top-level scanners",
        [("KV302", f"{L1}/config/kernel_initializer"),
         ("KV407", f"{L1}/config/kernel_initializer")],
        patch(base, f"{L1}/config/kernel_initializer",
              {"module": "builtins", "class_name": "exec", "config": {"source": "pass"},
               "registered_name": None}))
    add("cve-2025-8747-get-file", "CVE-2025-8747",
        "Lambda whose function is keras.utils.get_file, with origin/cache_dir in arguments",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(
            function_node("keras.utils", "get_file"),
            arguments={"origin": CLOSED_PORT_URL, "cache_dir": CANARY})))
    add("cve-2025-9906-enable-unsafe", "CVE-2025-9906",
        "Lambda calling keras.config.enable_unsafe_deserialization to switch safe mode off",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(
            function_node("keras.config", "enable_unsafe_deserialization"))))
    add("cve-2025-9906-global-state", "CVE-2025-9906",
        "Lambda calling global_state.set_global_attribute('safe_mode_saving', False)",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, {**keras3_lambda_layer(
            function_node("keras.src.backend.common.global_state", "set_global_attribute")),
            "inbound_nodes": [{"args": ["safe_mode_saving", False], "kwargs": {}}]}))
    add("cve-2025-9906-nested-load-model", "CVE-2025-9906",
        "Lambda calling keras.models.load_model on a second file",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(
            function_node("keras.models", "load_model"),
            arguments={"filepath": f"{CANARY}/second.keras", "safe_mode": False})))
    add("torch-module-wrapper-pickle", "keras-team/keras#21575",
        "TorchModuleWrapper whose `module` argument is a torch pickle",
        [("KV302", L2)],
        replace_layer(base, 2, {"module": "keras.layers", "class_name": "TorchModuleWrapper",
                                "registered_name": None,
                                "config": {"name": "dense_1", "module": "cGlja2xl"}}))
    add("cve-2025-12058-vocabulary-path", "CVE-2025-12058",
        "StringLookup whose vocabulary is a host file path read at load time",
        [("KV403", f"{L1}/config/vocabulary")],
        replace_layer(base, 1, {"module": "keras.layers", "class_name": "StringLookup",
                                "registered_name": None,
                                "config": {"name": "dense", "vocabulary": f"{CANARY}/vocab.txt",
                                           "num_oov_indices": 1}}))
    add("cve-2025-12058-vocabulary-url", "CVE-2025-12058",
        "TextVectorization whose vocabulary is a URL fetched at load time",
        [("KV403", f"{L1}/config/vocabulary")],
        replace_layer(base, 1, {"module": "keras.layers", "class_name": "TextVectorization",
                                "registered_name": None,
                                "config": {"name": "dense", "vocabulary": CLOSED_PORT_URL}}))
    add("cve-2025-12060-get-file-extract", "CVE-2025-12060",
        "keras.utils.get_file(extract=True) reached from a config (tar traversal)",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(
            function_node("keras.utils", "get_file"),
            arguments={"origin": CLOSED_PORT_URL, "extract": True, "cache_dir": CANARY})))
    add("cve-2026-1462-tfsmlayer", "CVE-2026-1462",
        "TFSMLayer loading an attacker SavedModel",
        [("KV302", L2)],
        replace_layer(base, 2, {"module": "keras.layers", "class_name": "TFSMLayer",
                                "registered_name": None,
                                "config": {"name": "dense_1", "filepath": f"{CANARY}/sm",
                                           "call_endpoint": "serve"}}))
    traversal = patch(patch(base, f"{L2}/name", "..\\..\\kerasvet-canary"),
                      f"{L2}/config/name", "..\\..\\kerasvet-canary")
    traversal["config"]["output_layers"] = ["..\\..\\kerasvet-canary", 0, 0]
    add("cve-2026-12479-layer-name-traversal", "CVE-2026-12479",
        "layer name used as an asset path component climbs out with ..\\",
        [("KV404", f"{L2}/name"), ("KV404", f"{L2}/config/name")], traversal)
    legacy_lambda = replace_layer(base, 2, {"class_name": "Lambda", "config": {
        "name": "dense_1", "function": {"class_name": "__lambda__", "config": {
            "code": canary_code(), "defaults": None, "closure": None}}}})
    add("cve-2026-12481-legacy-route-lambda", "CVE-2026-12481",
        "a layer without `module` goes to the legacy deserializer, which ran lambdas",
        [("KV505", f"{L2}/config/function"), ("KV508", f"{L2}/config/function")],
        legacy_lambda)
    cyclic = copy.deepcopy(base)
    history = cyclic["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]
    history["keras_history"] = ["dense_1", 0, 0]
    add("functional-graph-cycle", "keras-team/keras 3.12.2 / 3.14.1 hang fix",
        "inbound nodes form a cycle, which looped forever before Keras 3.12.2",
        [("KV209", "")], cyclic)
    dangling = copy.deepcopy(base)
    dangling["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"][
        "keras_history"] = ["ghost", 0, 0]
    add("functional-graph-dangling", "keras-team/keras 3.12.2 / 3.14.1 hang fix",
        "an inbound node names a layer that does not exist",
        [("KV209", f"{L2}/inbound_nodes/0/args/0")], dangling)
    add("config-set-floatx", "keras-serialization.md §3 (open in 3.15.1)",
        "global-state setter keras.config.set_floatx reached through a Lambda",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(function_node("keras.config", "set_floatx"))))
    add("utils-set-random-seed", "keras-serialization.md §3 (open in 3.15.1)",
        "keras.utils.set_random_seed reseeds Python, NumPy and the backend at load",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(
            function_node("keras.utils", "set_random_seed"))))
    add("datasets-download-at-load", "keras-serialization.md §3 (open in 3.15.1)",
        "keras.datasets.mnist.load_data downloads into ~/.keras/datasets at load",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(
            function_node("keras.datasets.mnist", "load_data"))))
    add("keras-src-submodule-import", "keras-serialization.md §3 (open in 3.15.1)",
        "a keras.src module path Keras would import_module() for its side effects",
        [("KV300", L2)],
        replace_layer(base, 2, {"module": "keras.src.backend.tensorflow.trainer",
                                "class_name": "TensorFlowTrainer", "config": {},
                                "registered_name": None}))
    add("jax-layer-callables", "keras-serialization.md §6",
        "JaxLayer whose call_fn is a deserialized callable",
        [("KV302", L2), ("KV303", f"{L2}/config/call_fn")],
        replace_layer(base, 2, {"module": "keras.layers", "class_name": "JaxLayer",
                                "registered_name": None,
                                "config": {"name": "dense_1",
                                           "call_fn": function_node("keras.utils", "get_file")}}))
    add("text-vectorization-callable-split", "keras-serialization.md §6",
        "TextVectorization whose split is a deserialized callable run on every input",
        [("KV400", f"{L1}/config/split")],
        replace_layer(base, 1, {"module": "keras.layers", "class_name": "TextVectorization",
                                "registered_name": None,
                                "config": {"name": "dense", "vocabulary": ["a", "b"],
                                           "split": function_node("keras.activations", "relu")}}))
    add("absurd-units", "CVE-2026-0897 (memory DoS, config side)",
        "a Dense layer with 10**12 units",
        [("KV406", f"{L2}/config/units"), ("KV405", "")],
        patch(base, f"{L2}/config/units", 10**12))
    add("typespec-node", "keras-serialization.md §2",
        "a __typespec__ node resolves TensorFlow classes by name",
        [("KV306", f"{L2}/config/units")],
        patch(base, f"{L2}/config/units",
              {"class_name": "__typespec__", "spec_name": "TensorSpec", "module": "tensorflow",
               "registered_name": None, "config": [[2], "float32"]}))
    add("numpy-object-dtype", "keras-serialization.md §2",
        "a __numpy__ node with dtype object",
        [("KV306", f"{L2}/config/units")],
        patch(base, f"{L2}/config/units",
              {"class_name": "__numpy__", "config": {"value": [1], "dtype": "object"}}))
    add("homoglyph-class-name", "promptfoo/modelaudit #1430 (prefix/lookalike names)",
        "a class name with a Cyrillic letter that looks like Dense",
        [("KV304", L2)],
        patch(base, f"{L2}/class_name", "D\u0435nse"))
    add("registered-name-mismatch", "keras-team/keras 3.15.0 _assert_no_registered_name",
        "a built-in class whose registered_name points at a process-wide registry entry",
        [("KV305", L2)],
        patch(base, f"{L2}/registered_name", "evil_pkg>Dense"))
    add("custom-object-not-in-policy", "keras-serialization.md §1.4 (module null)",
        "a custom class saved from __main__ with module null, identified by registered_name",
        [("KV300", L2)],
        replace_layer(base, 2, {"module": None, "class_name": "Evil",
                                "registered_name": "evil_pkg>Evil",
                                "config": {"name": "dense_1"}}))
    add("keras2-function-type-function", "keras-serialization.md §1.4",
        "tf.keras Lambda naming `system` by string with module `os` for its globals",
        [("KV501", f"{L2}/config/function"), ("KV502", f"{L2}/config/module"),
         ("KV400", f"{L2}/config/function")],
        replace_layer(base, 2, {"class_name": "Lambda", "config": {
            "name": "dense_1", "function": "system", "function_type": "function",
            "module": "os", "output_shape": None, "output_shape_type": "raw",
            "output_shape_module": None, "arguments": {}}}))
    add("higher-order-op-class", "keras-serialization.md §3",
        "an ops-as-layer Map that calls a deserialized callable",
        [("KV302", L2)],
        replace_layer(base, 2, {"module": "keras.src.ops.core", "class_name": "Map",
                                "registered_name": "Map", "config": {"name": "dense_1"}}))
    add("tensorflow-io-write-file", "keras-serialization.md §1.4; peers.md §4",
        "a function node under the tensorflow root that writes files",
        [("KV303", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(
            function_node("tensorflow.io", "write_file"),
            arguments={"filename": f"{CANARY}/x", "contents": "x"})))
    add("unknown-activation-name", "keras-serialization.md §2",
        "an activation string that is not a Keras built-in name",
        [("KV307", f"{L1}/config/activation")],
        patch(base, f"{L1}/config/activation", "os.system"))
    add("layers-deserialize-function", "keras-serialization.md §3 (open in 3.15.1)",
        "keras.layers.deserialize as a function node: a second deserializer entry point",
        [("KV301", f"{L2}/config/function")],
        replace_layer(base, 2, keras3_lambda_layer(function_node("keras.layers", "deserialize"))))
    add("text-vectorization-unknown-standardize", "keras-serialization.md §6",
        "TextVectorization with a standardize string Keras would look up as a callable",
        [("KV401", f"{L1}/config/standardize")],
        replace_layer(base, 1, {"module": "keras.layers", "class_name": "TextVectorization",
                                "registered_name": None,
                                "config": {"name": "dense", "vocabulary": ["a", "b"],
                                           "standardize": "lower_and_run_hook"}}))
    long_name = "n" * 300
    renamed = patch(patch(base, f"{L2}/name", long_name), f"{L2}/config/name", long_name)
    renamed["config"]["output_layers"] = [long_name, 0, 0]
    add("overlong-layer-name", "CVE-2026-12479 (asset path component)",
        "a 300-character layer name, over the policy's max_length for names",
        [("KV402", f"{L2}/config/name"), ("KV404", f"{L2}/name")], renamed)
    # Bytecode evasions from the lambda corpus (scripts/make_lambda_fixtures.py, CPython 3.11),
    # each placed in a Keras 3 Lambda layer of the base model.
    corpus = {case["id"]: case for case in json.loads(
        (OUT.parent / "lambdas" / "py311.json").read_text())["cases"]}
    for case_id, rule, mechanism in (
        ("hidden_cache_import", "KV503",
         "3.11 bytecode with IMPORT_NAME hidden in LOAD_GLOBAL's inline-cache words, "
         "invisible to dis"),
        ("oob_const", "KV503", "a LOAD_CONST index past the end of co_consts"),
        ("listcomp", "KV504", "a comprehension (nested code, a loop) inside the lambda"),
        ("closure_extra_value", "KV506",
         "a closure list longer than the code's free variables: smuggled data"),
    ):
        add(f"lambda-{case_id.replace('_', '-')}", "lambda-analysis.md §7", mechanism,
            [(rule, f"{L2}/config/function")],
            replace_layer(base, 2, keras3_lambda_layer(
                {"class_name": "__lambda__", "config": corpus[case_id]["keras"]})))
    shared = copy.deepcopy(base)
    for index, value in ((1, 111), (2, 111)):
        shared["config"]["layers"][index]["config"]["dtype"]["shared_object_id"] = value
    shared["config"]["layers"][2]["config"]["dtype"]["config"]["name"] = "float16"
    add("shared-object-mismatch", "keras-serialization.md §7.6",
        "two occurrences of one shared_object_id with different configs",
        [("KV208", f"{L2}/config/dtype")], shared)
    return fixtures


RAW_FIXTURES = {
    # Hand-written text: shapes a dict cannot express.
    "garbage-top-level-list": ("[1, 2, 3]", [("KV207", "")]),
    "garbage-class-name-type": ('{"class_name": 7, "config": {}}', [("KV206", "")]),
    "garbage-config-string": ('{"module": "keras.layers", "class_name": "Dense", '
                              '"config": "units=4"}', [("KV206", "")]),
    "garbage-duplicate-keys": ('{"class_name": "Sequential", "module": "keras", '
                               '"class_name": "Functional", "config": {}}', [("KV201", "")]),
    "garbage-nan": ('{"module": "keras.layers", "class_name": "Dense", '
                    '"config": {"units": NaN}}', [("KV202", "")]),
    "garbage-huge-int": ('{"module": "keras.layers", "class_name": "Dense", '
                         '"config": {"seed": ' + "9" * 40 + "}}",
                         [("KV203", "")]),
    "garbage-float-overflow": ('{"module": "keras.layers", "class_name": "Dense", '
                               '"config": {"l2": 1e999}}', [("KV203", "")]),
    "garbage-deep-nesting": ('{"class_name": "Sequential", "config": ' + "[" * 100_000
                             + "]" * 100_000 + "}", [("KV204", "")]),
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = []
    for meta, config in build():
        (OUT / f"{meta['id']}.json").write_text(json.dumps(config, indent=1) + "\n")
        manifest.append(meta)
    for ident, (text, expect) in RAW_FIXTURES.items():
        (OUT / f"{ident}.json").write_text(text + "\n")
        manifest.append({"id": ident, "reference": "garbage input", "canary": CANARY,
                         "mechanism": "malformed config text", "expect": [list(e) for e in expect]})
    (OUT / "MANIFEST.json").write_text(json.dumps(
        {"keras_version": keras.__version__, "python": sys.version.split()[0],
         "fixtures": manifest}, indent=1) + "\n")
    print(f"wrote {len(manifest)} fixtures to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
