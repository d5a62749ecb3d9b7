"""Write the benign corpus additions tests/corpus/benign/ (run once; output committed).

The benign corpus is tests/fixtures/benign/ (scripts/make_benign_corpus.py: applications,
RNNs, attention, preprocessing, compiled models; no lambdas) plus this folder: KerasHub-style
blocks built locally from plain Keras layers (no downloads, no keras_hub), more layer
families, and the Lambda layers real projects write (``lambda x: x / 255.0``,
``lambda t: keras.ops.expand_dims(t, -1)``, ``lambda x: x[:, 0]``, ...). Every model is saved
by Keras itself (``model.save``) as ``<name>.keras`` (and, for some, ``<name>.h5``), next to
``<name>.expected.npz``: a fixed input batch and what the in-memory model Keras built
computed on it before saving, the reference the loader's output must match (stock Keras
cannot reload lambdas that use ``keras``/``ops``: its func_load globals lack them).

    KERAS_BACKEND=jax python scripts/make_corpus_benign.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import keras
import numpy as np
from keras import ops

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "corpus" / "benign"
SEED = 1234


def _seed() -> None:
    keras.utils.set_random_seed(SEED)
    keras.backend.clear_session()


# --- KerasHub-style blocks from plain layers ----------------------------------------------


def gpt_decoder_block() -> keras.Model:
    _seed()
    tokens = keras.Input((12,), dtype="int32", name="token_ids")
    positions = keras.Input((12,), dtype="int32", name="positions")
    x = keras.layers.Add(name="embeddings")([
        keras.layers.Embedding(50, 16, name="token_embedding")(tokens),
        keras.layers.Embedding(12, 16, name="position_embedding")(positions)])
    h = keras.layers.LayerNormalization(rms_scaling=True, name="pre_attention_norm")(x)
    h = keras.layers.MultiHeadAttention(2, 8, name="causal_attention")(
        h, h, use_causal_mask=True)
    x = keras.layers.Add(name="attention_residual")([x, h])
    h = keras.layers.LayerNormalization(rms_scaling=True, name="pre_ffn_norm")(x)
    h = keras.layers.Dense(32, activation="gelu", name="ffn_up")(h)
    h = keras.layers.Dense(16, name="ffn_down")(h)
    x = keras.layers.Add(name="ffn_residual")([x, h])
    logits = keras.layers.Dense(50, name="lm_head")(x)
    return keras.Model([tokens, positions], logits, name="gpt_decoder_block")


def bert_encoder_cls() -> keras.Model:
    _seed()
    tokens = keras.Input((10,), dtype="int32", name="token_ids")
    segments = keras.Input((10,), dtype="int32", name="segment_ids")
    x = keras.layers.Add(name="embeddings")([
        keras.layers.Embedding(40, 16, name="token_embedding")(tokens),
        keras.layers.Embedding(2, 16, name="segment_embedding")(segments)])
    x = keras.layers.LayerNormalization(epsilon=1e-12, name="embeddings_norm")(x)
    h = keras.layers.MultiHeadAttention(4, 4, name="self_attention")(x, x)
    x = keras.layers.LayerNormalization(epsilon=1e-12, name="attention_norm")(
        keras.layers.Add(name="attention_residual")([x, h]))
    cls = keras.layers.Lambda(lambda x: x[:, 0], name="cls_token")(x)
    pooled = keras.layers.Dense(16, activation="tanh", name="pooler")(cls)
    return keras.Model([tokens, segments], keras.layers.Dense(3, name="classifier")(pooled),
                       name="bert_encoder_cls")


def vit_patch_encoder() -> keras.Model:
    _seed()
    images = keras.Input((16, 16, 3), name="images")
    patches = keras.layers.Conv2D(16, 4, strides=4, name="patch_embedding")(images)
    x = keras.layers.Reshape((16, 16), name="flatten_patches")(patches)
    x = keras.layers.LayerNormalization(name="norm")(x)
    h = keras.layers.MultiHeadAttention(2, 8, name="attention")(x, x)
    x = keras.layers.Add(name="residual")([x, h])
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(images, keras.layers.Dense(5, name="head")(x), name="vit_patch_encoder")


def grouped_query_attention() -> keras.Model:
    _seed()
    x = keras.Input((8, 16), name="hidden")
    h = keras.layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2,
                                         name="gqa")(x, x)
    h = keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 8), bias_axes="d",
                                 name="einsum_projection")(h)
    return keras.Model(x, keras.layers.RMSNormalization(name="rms_norm")(h),
                       name="grouped_query_attention")


# --- more layer families --------------------------------------------------------------------


def resnet_bottleneck() -> keras.Model:
    _seed()
    inputs = keras.Input((8, 8, 16), name="features")
    x = keras.layers.Conv2D(4, 1, use_bias=False, name="reduce")(inputs)
    x = keras.layers.BatchNormalization(name="reduce_bn")(x)
    x = keras.layers.ReLU(name="reduce_relu")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(x)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU(name="conv_relu")(x)
    x = keras.layers.Conv2D(16, 1, use_bias=False, name="expand")(x)
    x = keras.layers.BatchNormalization(name="expand_bn")(x)
    x = keras.layers.Add(name="shortcut")([inputs, x])
    return keras.Model(inputs, keras.layers.ReLU(name="out_relu")(x), name="resnet_bottleneck")


def squeeze_excite() -> keras.Model:
    _seed()
    inputs = keras.Input((8, 8, 8), name="features")
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(inputs)
    s = keras.layers.Conv2D(2, 1, activation="relu", name="reduce")(s)
    s = keras.layers.Conv2D(8, 1, activation="hard_sigmoid", name="expand")(s)
    return keras.Model(inputs, keras.layers.Multiply(name="excite")([inputs, s]),
                       name="squeeze_excite")


def convnext_block() -> keras.Model:
    _seed()
    inputs = keras.Input((8, 8, 8), name="features")
    x = keras.layers.DepthwiseConv2D(7, padding="same", name="depthwise")(inputs)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    x = keras.layers.Dense(32, activation="gelu", name="pointwise_up")(x)
    x = keras.layers.Dense(8, name="pointwise_down")(x)
    return keras.Model(inputs, keras.layers.Add(name="residual")([inputs, x]),
                       name="convnext_block")


def unet_tiny() -> keras.Model:
    _seed()
    inputs = keras.Input((16, 16, 1), name="image")
    d = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="down_conv")(inputs)
    p = keras.layers.MaxPooling2D(name="down_pool")(d)
    b = keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu",
                                     name="bottleneck")(p)
    u = keras.layers.Conv2DTranspose(4, 2, strides=2, name="up_transpose")(b)
    u = keras.layers.Concatenate(name="skip")([u, d])
    u = keras.layers.UpSampling2D(1, name="identity_upsample")(u)
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid",
                                                   name="mask")(u), name="unet_tiny")


def conv1d_gru_text() -> keras.Model:
    _seed()
    return keras.Sequential([
        keras.Input((20,), dtype="int32", name="tokens"),
        keras.layers.Embedding(100, 8, name="embedding"),
        keras.layers.Conv1D(8, 3, activation="relu", name="conv"),
        keras.layers.MaxPooling1D(2, name="pool"),
        keras.layers.GRU(8, reset_after=True, name="gru"),
        keras.layers.Dense(2, activation="softmax", name="classes"),
    ], name="conv1d_gru_text")


def simple_rnn_time_distributed() -> keras.Model:
    _seed()
    return keras.Sequential([
        keras.Input((6, 4), name="sequence"),
        keras.layers.SimpleRNN(8, return_sequences=True, name="rnn"),
        keras.layers.TimeDistributed(keras.layers.Dense(3), name="per_step"),
        keras.layers.Flatten(name="flatten"),
    ], name="simple_rnn_time_distributed")


def conv_lstm() -> keras.Model:
    _seed()
    return keras.Sequential([
        keras.Input((3, 8, 2), name="frames"),
        keras.layers.ConvLSTM1D(4, 3, padding="same", name="conv_lstm"),
        keras.layers.GlobalMaxPooling1D(name="pool"),
        keras.layers.Dense(1, name="value"),
    ], name="conv_lstm")


def attention_layers() -> keras.Model:
    _seed()
    query = keras.Input((5, 8), name="query")
    value = keras.Input((7, 8), name="value")
    dot = keras.layers.Attention(use_scale=True, name="dot_attention")([query, value])
    additive = keras.layers.AdditiveAttention(name="additive_attention")([query, value])
    x = keras.layers.Concatenate(name="merge")([dot, additive])
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model([query, value], keras.layers.Dense(2, name="out")(x),
                       name="attention_layers")


def backend_preprocessing() -> keras.Model:
    """Preprocessing layers that need no TensorFlow (random ones are identity at inference)."""
    _seed()
    inputs = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = keras.layers.CenterCrop(8, 8, name="crop")(x)
    x = keras.layers.RandomFlip("horizontal", seed=SEED, name="flip")(x)
    x = keras.layers.RandomRotation(0.1, seed=SEED, name="rotate")(x)
    x = keras.layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0],
                                   name="normalize")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x),
                       name="backend_preprocessing")


def compiled_rmsprop_cce() -> keras.Model:
    _seed()
    model = keras.Sequential([
        keras.Input((6,), name="features"),
        keras.layers.Dense(8, activation="elu", kernel_initializer="he_normal",
                           kernel_constraint=keras.constraints.MaxNorm(2.0), name="hidden"),
        keras.layers.Dropout(0.2, name="dropout"),
        keras.layers.Dense(3, activation="softmax", name="classes"),
    ], name="compiled_rmsprop_cce")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.01, rho=0.8),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                  metrics=[keras.metrics.CategoricalAccuracy(name="acc"),
                           keras.metrics.Precision(name="precision")])
    rng = np.random.default_rng(SEED)
    labels = keras.utils.to_categorical(rng.integers(0, 3, size=(8,)), 3)
    model.fit(rng.normal(size=(8, 6)).astype("float32"), labels, epochs=1, batch_size=4,
              verbose=0, shuffle=False)
    return model


# --- the lambdas real projects write ---------------------------------------------------------


def lambda_scale_pixels() -> keras.Model:
    _seed()
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Lambda(lambda x: x / 255.0, name="scale")(inputs)
    x = keras.layers.Conv2D(2, 3, name="conv")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(x),
                       name="lambda_scale_pixels")


def lambda_expand_dims() -> keras.Model:
    _seed()
    inputs = keras.Input((10,), name="signal")
    x = keras.layers.Lambda(lambda t: keras.ops.expand_dims(t, -1), name="add_channel")(inputs)
    x = keras.layers.Conv1D(4, 3, name="conv")(x)
    return keras.Model(inputs, keras.layers.GlobalMaxPooling1D(name="pool")(x),
                       name="lambda_expand_dims")


def lambda_ops_mean_pool() -> keras.Model:
    _seed()
    inputs = keras.Input((6, 4), name="sequence")
    x = keras.layers.Dense(8, name="project")(inputs)
    x = keras.layers.Lambda(lambda x: ops.mean(x, axis=1), name="mean_pool")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x), name="lambda_ops_mean_pool")


def lambda_l2_normalize() -> keras.Model:
    _seed()
    inputs = keras.Input((5,), name="features")
    x = keras.layers.Dense(4, name="embedding")(inputs)
    outputs = keras.layers.Lambda(lambda x: x / ops.norm(x, axis=-1, keepdims=True),
                                  name="l2_normalize")(x)
    return keras.Model(inputs, outputs, name="lambda_l2_normalize")


def lambda_with_output_shape() -> keras.Model:
    _seed()
    inputs = keras.Input((4,), name="features")
    x = keras.layers.Lambda(lambda x: ops.concatenate([x, x * 2], axis=-1),
                            output_shape=lambda s: (s[0], s[-1] * 2), name="duplicate")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(x),
                       name="lambda_with_output_shape")


def lambda_closure_and_default() -> keras.Model:
    _seed()

    def scaler(factor: float) -> Callable[[object], object]:
        return lambda x: x * factor

    inputs = keras.Input((3,), name="features")
    x = keras.layers.Lambda(scaler(0.5), name="half")(inputs)
    x = keras.layers.Lambda(lambda x, axis=-1: ops.sum(x, axis=axis, keepdims=True),
                            name="sum_last")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x),
                       name="lambda_closure_and_default")


def lambda_tuple_split() -> keras.Model:
    _seed()
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    x = keras.layers.Lambda(lambda t: ops.concatenate([t[0], t[1]], axis=-1),
                            name="join")([a, b])
    x = keras.layers.Lambda(lambda x: ops.relu(x) * 2 + 1, name="relu_affine")(x)
    return keras.Model([a, b], keras.layers.Dense(1, name="out")(x), name="lambda_tuple_split")


MODELS: list[tuple[Callable[[], keras.Model], str, bool]] = [
    # (builder, description, also write legacy .h5)
    (gpt_decoder_block, "KerasHub-style GPT decoder block from plain layers: token + position "
     "Embedding, RMS LayerNormalization, causal MultiHeadAttention (use_causal_mask in the "
     "inbound call), gelu FFN, residual Adds, LM head", False),
    (bert_encoder_cls, "KerasHub-style BERT encoder: token + segment embeddings, "
     "MultiHeadAttention, post-norm, [CLS] pooling with Lambda(lambda x: x[:, 0])", False),
    (vit_patch_encoder, "KerasHub-style ViT: Conv2D patch embedding, Reshape, attention, "
     "pooling", True),
    (grouped_query_attention, "GroupQueryAttention, EinsumDense, RMSNormalization", False),
    (resnet_bottleneck, "ResNet bottleneck block: 1x1/3x3/1x1 Conv2D + BatchNormalization + "
     "ReLU + identity shortcut", True),
    (squeeze_excite, "squeeze-and-excitation block: GlobalAveragePooling2D(keepdims), 1x1 "
     "Conv2D, hard_sigmoid, Multiply", True),
    (convnext_block, "ConvNeXt block: DepthwiseConv2D 7x7, LayerNormalization, gelu MLP, "
     "residual", True),
    (unet_tiny, "tiny U-Net: Conv2D, MaxPooling2D, SeparableConv2D, Conv2DTranspose, skip "
     "Concatenate, UpSampling2D", True),
    (conv1d_gru_text, "Sequential text model: Embedding, Conv1D, MaxPooling1D, GRU", True),
    (simple_rnn_time_distributed, "SimpleRNN(return_sequences) + TimeDistributed(Dense)", True),
    (conv_lstm, "ConvLSTM1D over frames + GlobalMaxPooling1D", False),
    # No .h5: Keras 3.15.1 cannot reload its own legacy .h5 of Attention (the legacy loader
    # resolves score_mode "dot" to the function keras.layers.dot); kerasvet fails alike.
    (attention_layers, "Attention(use_scale) and AdditiveAttention on two inputs", False),
    (backend_preprocessing, "Rescaling(offset), CenterCrop, RandomFlip, RandomRotation, "
     "Normalization (no TensorFlow needed)", False),
    (compiled_rmsprop_cce, "compiled + 1 epoch: RMSprop, CategoricalCrossentropy("
     "label_smoothing), CategoricalAccuracy, Precision, he_normal, MaxNorm, Dropout", True),
    (lambda_scale_pixels, "Lambda(lambda x: x / 255.0) before a Conv2D", True),
    (lambda_expand_dims, "Lambda(lambda t: keras.ops.expand_dims(t, -1)) before a Conv1D", False),
    (lambda_ops_mean_pool, "Lambda(lambda x: ops.mean(x, axis=1)) as mean pooling", False),
    (lambda_l2_normalize, "Lambda(lambda x: x / ops.norm(x, axis=-1, keepdims=True))", False),
    (lambda_with_output_shape, "Lambda with an output_shape lambda: "
     "ops.concatenate([x, x * 2]) and lambda s: (s[0], s[-1] * 2)", False),
    (lambda_closure_and_default, "a closure lambda (x * factor, factor=0.5) and "
     "lambda x, axis=-1: ops.sum(x, axis=axis, keepdims=True)", False),
    (lambda_tuple_split, "Lambda on a list of two inputs (t[0], t[1]) and "
     "lambda x: ops.relu(x) * 2 + 1", False),
]


def fixed_inputs(model: keras.Model) -> list[np.ndarray]:
    """The same deterministic batch tests/integration/loader/loader_support.py draws."""
    rng = np.random.default_rng(1234)
    batch = []
    for tensor in model.inputs:
        shape = tuple(2 if i == 0 else (d or 4) for i, d in enumerate(tensor.shape))
        if "int" in str(tensor.dtype):
            batch.append(rng.integers(0, 2, size=shape).astype(str(tensor.dtype)))
        else:
            batch.append(rng.standard_normal(shape).astype("float32"))
    return batch


def outputs_of(model: keras.Model, batch: list[np.ndarray]) -> list[np.ndarray]:
    out = model(batch[0] if len(batch) == 1 else batch, training=False)
    return [np.asarray(ops.convert_to_numpy(o)) for o in keras.tree.flatten(out)]


def main() -> int:
    warnings.simplefilter("ignore")
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    entries = []
    for build, description, with_h5 in MODELS:
        model = build()
        name = model.name
        batch = fixed_inputs(model)
        expected = outputs_of(model, batch)
        files = [f"{name}.keras"]
        model.save(OUT / files[0])
        if with_h5:
            files.append(f"{name}.h5")
            model.save(OUT / files[1])
        np.savez(OUT / f"{name}.expected.npz",
                 **{f"input_{i}": a for i, a in enumerate(batch)},
                 **{f"output_{i}": a for i, a in enumerate(expected)})
        lambdas = sum(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
        entries.append({"name": name, "files": files, "expected": f"{name}.expected.npz",
                        "description": description, "lambdas": lambdas})
        print(f"  wrote {name}", file=sys.stderr)
    (OUT / "MANIFEST.json").write_text(json.dumps(
        {"generator": "scripts/make_corpus_benign.py", "keras_version": keras.__version__,
         "backend": keras.backend.backend(), "python": sys.version.split()[0],
         "models": entries}, indent=1) + "\n")
    print(f"wrote {len(entries)} models to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
