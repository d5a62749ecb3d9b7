#!/usr/bin/env python3
"""Write the benign corpus ``tests/fixtures/benign/``: real configs written by Keras 3.

Usage (from the repository root)::

    KERAS_BACKEND=jax python scripts/make_benign_corpus.py [--tf-python PYTHON]

Every ``<name>.config.json`` is the exact ``config.json`` text that ``.keras`` saving writes:
for the small models it is the ``config.json`` member of the ``.keras`` file Keras saved; for
the ``keras.applications`` models (built with ``weights=None`` inside a ``StatelessScope`` so no
weights are allocated) it is ``saving_lib._serialize_model_as_json(model)[0]``, the function
``.keras`` saving calls. ``files/`` holds the real ``.keras`` and legacy ``.h5`` files of the
small models when each is < 300 KB. ``MANIFEST.json`` lists every file.

The preprocessing model (StringLookup, IntegerLookup, TextVectorization, Hashing,
HashedCrossing) needs TensorFlow importable, because those Keras 3 layers use ``tf`` internally
whatever the backend. Without TensorFlow in this interpreter, pass ``--tf-python`` pointing at
a throw-away venv with the same Keras and jax plus ``tensorflow-cpu``; the script re-runs
itself there for that one model (``--only preprocessing``). Without either, that model is
skipped (its existing files are kept) and a warning is printed.

Seeds are fixed, but files are not byte-identical between runs, exactly as Keras writes
them: ``shared_object_id`` values are the Python ``id()`` of shared objects (e.g. the
``DTypePolicy``), and ``.keras`` zips carry ``date_saved`` and zip timestamps.

No Lambda layers here: lambdas belong to the hostile / refused examples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras.src.saving import saving_lib

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "benign"
FILES = OUT / "files"
MAX_FILE = 300 * 1024
MAX_TOTAL = 15 * 1024 * 1024
SEED = 1234

APPLICATIONS = [
    # (fixture name, constructor path, kwargs)
    ("resnet50", "ResNet50", {}),
    ("mobilenet_v2", "MobileNetV2", {}),
    ("efficientnet_b0", "EfficientNetB0", {}),
    ("densenet121", "DenseNet121", {}),
    ("convnext_tiny", "ConvNeXtTiny", {}),
    ("inception_resnet_v2", "InceptionResNetV2", {}),
    ("inception_v3", "InceptionV3", {}),
    ("xception", "Xception", {}),
    ("nasnet_mobile", "NASNetMobile", {}),
    ("vgg16", "VGG16", {}),
    ("efficientnet_v2_b0", "EfficientNetV2B0", {}),
    ("mobilenet_v3_small", "MobileNetV3Small", {}),
]


def _seed() -> None:
    keras.utils.set_random_seed(SEED)
    keras.backend.clear_session()


def _fit_once(model: keras.Model, x: object, y: object) -> None:
    """One tiny epoch so the optimizer is built and its variables get saved too."""
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)


# --- the small models --------------------------------------------------------------------------


def seq_lstm() -> keras.Model:
    _seed()
    return keras.Sequential(
        [
            keras.Input(shape=(10, 8), name="sequence"),
            keras.layers.LSTM(16, return_sequences=True, name="lstm_1"),
            keras.layers.LSTM(8, name="lstm_2"),
            keras.layers.Dense(1, name="regression"),
        ],
        name="seq_lstm",
    )


def functional_gru() -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(12, 6), name="sequence")
    x = keras.layers.GRU(16, dropout=0.1, recurrent_dropout=0.0, name="gru")(inputs)
    x = keras.layers.Dense(8, activation="tanh", name="hidden")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="functional_gru")


def bidirectional_lstm() -> keras.Model:
    _seed()
    return keras.Sequential(
        [
            keras.Input(shape=(20,), dtype="int32", name="tokens"),
            keras.layers.Embedding(200, 8, mask_zero=True, name="embedding"),
            keras.layers.Bidirectional(keras.layers.LSTM(8), name="bilstm"),
            keras.layers.Dense(1, activation="sigmoid", name="score"),
        ],
        name="bidirectional_lstm",
    )


def transformer_block() -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(16, 32), name="embeddings")
    attn = keras.layers.MultiHeadAttention(num_heads=2, key_dim=16, dropout=0.1,
                                           name="self_attention")(inputs, inputs)
    attn = keras.layers.Dropout(0.1, name="attn_dropout")(attn)
    x = keras.layers.Add(name="residual_1")([inputs, attn])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="norm_1")(x)
    ffn = keras.layers.Dense(64, activation="gelu", name="ffn_in")(x)
    ffn = keras.layers.Dense(32, name="ffn_out")(ffn)
    x = keras.layers.Add(name="residual_2")([x, ffn])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="norm_2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="transformer_block")


def compiled_adam_schedule() -> keras.Model:
    _seed()
    model = keras.Sequential(
        [
            keras.Input(shape=(6,), name="features"),
            keras.layers.Dense(12, activation="relu",
                               kernel_regularizer=keras.regularizers.L2(1e-4), name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="classes"),
        ],
        name="compiled_adam_schedule",
    )
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=1e-3, decay_steps=100, decay_rate=0.96, staircase=True)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
    )
    rng = np.random.default_rng(SEED)
    _fit_once(model, rng.normal(size=(8, 6)).astype("float32"), rng.integers(0, 3, size=(8,)))
    return model


def compiled_sgd_huber() -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(5,), name="features")
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, name="value")(x)
    model = keras.Model(inputs, outputs, name="compiled_sgd_huber")
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
        loss=keras.losses.Huber(delta=1.5),
        metrics=["mae", keras.metrics.RootMeanSquaredError(name="rmse")],
    )
    rng = np.random.default_rng(SEED)
    _fit_once(model, rng.normal(size=(8, 5)).astype("float32"),
              rng.normal(size=(8, 1)).astype("float32"))
    return model


def compiled_adamw_functions() -> keras.Model:
    _seed()
    model = keras.Sequential(
        [
            keras.Input(shape=(4,), name="features"),
            keras.layers.Dense(8, activation=keras.activations.silu, name="hidden"),
            keras.layers.Dense(1, activation="sigmoid", name="probability"),
        ],
        name="compiled_adamw_functions",
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=50),
            weight_decay=1e-4),
        loss=keras.losses.binary_crossentropy,  # function form -> builtins function node
        metrics=[keras.metrics.binary_accuracy, keras.metrics.AUC(name="auc")],
        weighted_metrics=["mse"],
    )
    rng = np.random.default_rng(SEED)
    _fit_once(model, rng.normal(size=(8, 4)).astype("float32"),
              rng.integers(0, 2, size=(8, 1)).astype("float32"))
    return model


def nested_model() -> keras.Model:
    _seed()
    encoder = keras.Sequential(
        [keras.Input(shape=(8,)), keras.layers.Dense(6, activation="relu", name="enc_dense")],
        name="encoder",
    )
    head_in = keras.Input(shape=(6,), name="head_in")
    head_out = keras.layers.Dense(2, activation="softmax", name="head_dense")(head_in)
    head = keras.Model(head_in, head_out, name="head")
    inputs = keras.Input(shape=(8,), name="features")
    outputs = head(encoder(inputs))
    return keras.Model(inputs, outputs, name="nested_model")


def mixed_precision() -> keras.Model:
    _seed()
    inputs = keras.Input(shape=(8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", dtype="mixed_float16", name="conv")(inputs)
    x = keras.layers.BatchNormalization(dtype="mixed_float16", name="bn")(x)
    x = keras.layers.Activation("relu", dtype="mixed_float16", name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(dtype="mixed_float16", name="pool")(x)
    x = keras.layers.Dense(4, dtype="mixed_float16", name="dense")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mixed_precision")


def mixed_precision_global() -> keras.Model:
    """Global ``mixed_float16`` policy: compile wraps the optimizer in LossScaleOptimizer."""
    _seed()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        inputs = keras.Input(shape=(6,), name="features")
        x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
        outputs = keras.layers.Dense(1, dtype="float32", name="value")(x)
        model = keras.Model(inputs, outputs, name="mixed_precision_global")
        model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()),
                      loss="mse")
    finally:
        keras.config.set_dtype_policy(previous)
    return model


def ops_on_kerastensors() -> keras.Model:
    _seed()
    x = keras.Input(shape=(4, 3), name="x")
    y = keras.Input(shape=(4, 3), name="y")
    s = x + y
    p = s * 0.5
    m = keras.ops.mean(p, axis=1)
    r = keras.ops.relu(m)
    c = keras.ops.concatenate([r, keras.ops.max(x, axis=1)], axis=-1)
    outputs = keras.layers.Dense(2, name="out")(c)
    return keras.Model([x, y], outputs, name="ops_on_kerastensors")


def preprocessing() -> keras.Model:
    """Needs TensorFlow importable (StringLookup & co. use tf whatever the backend)."""
    _seed()
    numeric = keras.Input(shape=(3,), name="numeric")
    image = keras.Input(shape=(16, 16, 3), name="image")
    color = keras.Input(shape=(1,), dtype="string", name="color")
    code = keras.Input(shape=(1,), dtype="int64", name="code")
    text = keras.Input(shape=(), dtype="string", name="text")
    bucket = keras.Input(shape=(1,), dtype="float32", name="bucket")
    tag = keras.Input(shape=(1,), dtype="string", name="tag")
    cross_a = keras.Input(shape=(1,), dtype="string", name="cross_a")
    cross_b = keras.Input(shape=(1,), dtype="int64", name="cross_b")

    n = keras.layers.Normalization(mean=[0.0, 1.0, 2.0], variance=[1.0, 4.0, 9.0],
                                   name="normalize")(numeric)
    i = keras.layers.Rescaling(1.0 / 255, name="rescale")(image)
    i = keras.layers.Resizing(8, 8, name="resize")(i)
    i = keras.layers.RandomFlip("horizontal", seed=SEED, name="flip")(i)
    i = keras.layers.GlobalAveragePooling2D(name="image_pool")(i)
    c = keras.layers.StringLookup(vocabulary=["red", "green", "blue"], output_mode="one_hot",
                                  name="color_lookup")(color)
    k = keras.layers.IntegerLookup(vocabulary=[10, 20, 30, 40], output_mode="multi_hot",
                                   name="code_lookup")(code)
    t = keras.layers.TextVectorization(vocabulary=["the", "cat", "sat", "mat"],
                                       output_mode="count", name="text_vectorize")(text)
    b = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], name="discretize")(bucket)
    b = keras.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot",
                                      name="bucket_onehot")(b)
    h = keras.layers.Hashing(num_bins=8, output_mode="one_hot", name="hash_tag")(tag)
    x = keras.layers.HashedCrossing(num_bins=8, output_mode="one_hot",
                                    name="cross")((cross_a, cross_b))
    features = keras.layers.Concatenate(name="features")(
        [n, i, keras.ops.cast(c, "float32"), keras.ops.cast(k, "float32"),
         keras.ops.cast(t, "float32"), b, keras.ops.cast(h, "float32"),
         keras.ops.cast(x, "float32")])
    outputs = keras.layers.Dense(1, name="score")(features)
    return keras.Model([numeric, image, color, code, text, bucket, tag, cross_a, cross_b],
                       outputs, name="preprocessing")


SMALL: list[tuple[str, Callable[[], keras.Model], str]] = [
    ("seq_lstm", seq_lstm, "Sequential: Input(10, 8) -> LSTM(16, seq) -> LSTM(8) -> Dense(1)"),
    ("functional_gru", functional_gru, "functional: GRU(16) -> Dense -> Dense softmax"),
    ("bidirectional_lstm", bidirectional_lstm,
     "Sequential: Embedding(mask_zero) -> Bidirectional(LSTM(8)) -> Dense sigmoid"),
    ("transformer_block", transformer_block,
     "functional transformer encoder block: MultiHeadAttention, Dropout, Add residuals, "
     "LayerNormalization, gelu FFN, GlobalAveragePooling1D"),
    ("compiled_adam_schedule", compiled_adam_schedule,
     "compiled + 1 epoch: Adam(ExponentialDecay), loss 'sparse_categorical_crossentropy', "
     "metrics ['accuracy', SparseTopKCategoricalAccuracy], L2 regularizer"),
    ("compiled_sgd_huber", compiled_sgd_huber,
     "compiled + 1 epoch: SGD(momentum, nesterov), loss keras.losses.Huber(), "
     "metrics ['mae', RootMeanSquaredError]"),
    ("compiled_adamw_functions", compiled_adamw_functions,
     "compiled + 1 epoch: AdamW(CosineDecay), loss keras.losses.binary_crossentropy "
     "(function), metrics [keras.metrics.binary_accuracy (function), AUC], "
     "weighted_metrics ['mse'], activation keras.activations.silu (function)"),
    ("nested_model", nested_model,
     "functional model calling a nested Sequential and a nested functional Model"),
    ("mixed_precision", mixed_precision, "layers with dtype='mixed_float16', float32 output"),
    ("mixed_precision_global", mixed_precision_global,
     "global mixed_float16 policy, compiled with LossScaleOptimizer(Adam), loss 'mse'"),
    ("ops_on_kerastensors", ops_on_kerastensors,
     "functional model with ops on KerasTensors: x + y, * 0.5, keras.ops.mean, "
     "keras.ops.relu, keras.ops.max, keras.ops.concatenate"),
]
PREPROCESSING = ("preprocessing", preprocessing,
                 "functional preprocessing model: Normalization, Rescaling, Resizing, RandomFlip, "
                 "StringLookup/IntegerLookup/TextVectorization with list vocabularies, "
                 "Discretization, CategoryEncoding, Hashing, HashedCrossing")
H5_MODELS = frozenset({"seq_lstm", "functional_gru", "transformer_block",
                       "compiled_adam_schedule", "compiled_sgd_huber", "nested_model",
                       "mixed_precision"})
"""Small models also written as legacy ``.h5`` (``model.save("x.h5")``). Not
``ops_on_kerastensors``: Keras 3.15.1 writes that .h5 but cannot load it back (the legacy
loader looks ops-as-layers such as ``Mean`` up in ``keras.layers`` and fails)."""


# --- writing -----------------------------------------------------------------------------------


def _entry(path: Path, kind: str, how: str) -> dict[str, object]:
    return {
        "file": path.relative_to(OUT).as_posix(),
        "kind": kind,
        "bytes": path.stat().st_size,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "python": platform.python_version(),
        "how": how,
    }


def write_small(name: str, build: Callable[[], keras.Model], desc: str,
                with_h5: bool) -> list[dict[str, object]]:
    entries = []
    model = build()
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / f"{name}.keras"
        model.save(saved)
        with zipfile.ZipFile(saved) as zf:
            config = zf.read("config.json")
        cfg_path = OUT / f"{name}.config.json"
        cfg_path.write_bytes(config)
        entries.append(_entry(cfg_path, "config.json",
                              f"{desc}; config.json member of the .keras file model.save() "
                              "wrote"))
        if saved.stat().st_size <= MAX_FILE:
            dest = FILES / f"{name}.keras"
            shutil.copyfile(saved, dest)
            entries.append(_entry(dest, "keras", f"{desc}; model.save('{name}.keras')"))
        else:
            print(f"  {name}.keras is {saved.stat().st_size} bytes: not kept", file=sys.stderr)
        if with_h5:
            h5 = Path(tmp) / f"{name}.h5"
            try:
                model.save(h5)
            except Exception as exc:
                print(f"  {name}.h5 could not be written: {exc}", file=sys.stderr)
            else:
                if h5.stat().st_size <= MAX_FILE:
                    dest = FILES / f"{name}.h5"
                    shutil.copyfile(h5, dest)
                    entries.append(_entry(dest, "h5", f"{desc}; model.save('{name}.h5') "
                                                      "(legacy HDF5)"))
    print(f"  wrote {name}", file=sys.stderr)
    return entries


def write_application(name: str, ctor: str) -> dict[str, object]:
    keras.backend.clear_session()
    fn = getattr(keras.applications, ctor)
    with keras.StatelessScope():  # weights=None and no weight allocation
        model = fn(weights=None)
    config_json, _ = saving_lib._serialize_model_as_json(model)
    path = OUT / f"{name}.config.json"
    path.write_text(config_json, encoding="utf-8")
    print(f"  wrote {name}", file=sys.stderr)
    return _entry(path, "config.json",
                  f"keras.applications.{ctor}(weights=None) with default input shape; "
                  "saving_lib._serialize_model_as_json(model)[0] (the config.json text "
                  ".keras saving writes)")


def _tf_available() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def preprocessing_entries(tf_python: str | None) -> list[dict[str, object]] | None:
    name, build, desc = PREPROCESSING
    if _tf_available():
        entries = write_small(name, build, desc, with_h5=False)
        import tensorflow as tf

        for e in entries:
            e["how"] = f"{e['how']}; built with tensorflow {tf.__version__} importable"
        return entries
    if tf_python:
        out = subprocess.run([tf_python, __file__, "--only", "preprocessing"],
                             check=True, capture_output=True, text=True)
        sys.stderr.write(out.stderr)
        return json.loads(out.stdout)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tf-python", help="python with keras 3 + jax + tensorflow-cpu, "
                                            "used for the preprocessing model only")
    parser.add_argument("--only", choices=["preprocessing"], help=argparse.SUPPRESS)
    parser.add_argument("--skip-applications", action="store_true",
                        help="keep the existing application configs")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    FILES.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")

    if args.only == "preprocessing":  # child mode, run by --tf-python
        entries = preprocessing_entries(None)
        if entries is None:
            raise SystemExit("tensorflow is not importable in this interpreter")
        print(json.dumps(entries))
        return 0

    manifest_path = OUT / "MANIFEST.json"
    old = {}
    if manifest_path.exists():
        old = {e["file"]: e for e in json.loads(manifest_path.read_text())["files"]}

    entries: list[dict[str, object]] = []
    for name, build, desc in SMALL:
        entries += write_small(name, build, desc, with_h5=name in H5_MODELS)
    pre = preprocessing_entries(args.tf_python)
    if pre is None:
        print("WARNING: tensorflow not importable and no --tf-python: keeping the existing "
              "preprocessing fixture", file=sys.stderr)
        pre = [e for f, e in old.items()
               if f.startswith(("preprocessing.", "files/preprocessing."))]
    entries += pre
    for name, ctor, _ in APPLICATIONS:
        if args.skip_applications and f"{name}.config.json" in old:
            entries.append(old[f"{name}.config.json"])
        else:
            entries.append(write_application(name, ctor))

    entries.sort(key=lambda e: str(e["file"]))
    listed = {str(e["file"]) for e in entries}
    for path in sorted(OUT.rglob("*")):
        rel = path.relative_to(OUT).as_posix()
        if path.is_file() and rel != "MANIFEST.json" and rel not in listed:
            print(f"  removing stale {rel}", file=sys.stderr)
            path.unlink()
    manifest = {
        "description": "Benign corpus: real configs and files written by Keras 3 "
                       "(see scripts/make_benign_corpus.py). Nothing here contains a lambda.",
        "generator": "scripts/make_benign_corpus.py",
        "keras_version": keras.__version__,
        "files": entries,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"tests/fixtures/benign: {len(entries)} files + MANIFEST.json, {total} bytes",
          file=sys.stderr)
    if total > MAX_TOTAL:
        print(f"WARNING: over the {MAX_TOTAL} byte budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
