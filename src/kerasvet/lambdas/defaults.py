"""The reviewed default allowlist for serialized lambdas, as plain data.

``policies/default.toml`` is generated from these values, and the tests build their
``LambdaPolicy`` from them, so the shipped policy and the tested one cannot drift apart.

What was kept out, and why (lambda-analysis.md sections 6 and 7):

* anything that takes a callable (``keras.ops.map``/``scan``/``cond``/``while_loop``,
  ``tf.map_fn``, ``tf.py_function``, ``np.vectorize``): a lambda could pass it something that
  runs later, outside the checked expression;
* anything that reads or writes files or pickles (``np.load``, ``np.save``, ``tf.io.*``);
* anything that changes global state (``keras.config.*``, ``tf.config.*``, random seeds);
* allocators whose size comes from constants alone (``zeros``, ``ones``, ``full``,
  ``arange``, ``eye``): every allowed function works on an input tensor, so a lambda cannot
  conjure a huge array out of nothing (``tile``/``repeat``/``pad``/``reshape`` can still
  enlarge a tensor: resource use is bounded by the caller's limits, not by this list);
* builtins ``range`` and ``isinstance``: ``isinstance`` is useless when builtins may only
  be called and never used as values (no type to pass), and ``range`` only adds a way to
  spin the CPU in ``sum(range(10**15))`` at load time.

``K`` is bound to ``keras.ops`` here (it meant ``keras.backend`` in Keras 2): the loader binds
the names itself, so the alias means what this table says, whatever the lambda's author meant.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEFAULT_BANDIT_SEVERITY",
    "DEFAULT_LAMBDA_ATTRIBUTES",
    "DEFAULT_LAMBDA_BUILTINS",
    "DEFAULT_LAMBDA_CALLS",
    "DEFAULT_LAMBDA_ROOTS",
    "KERAS_OPS_CALLS",
    "NUMPY_CALLS",
    "REVIEWED_EXTRA_CALLS",
    "REVIEWED_LAMBDA_CALLS",
    "TENSORFLOW_CALLS",
]

DEFAULT_LAMBDA_ROOTS: Final[tuple[tuple[str, str], ...]] = (
    ("K", "keras.ops"),
    ("keras", "keras"),
    ("np", "numpy"),
    ("ops", "keras.ops"),
    ("tf", "tensorflow"),
)
"""Global name a lambda may use -> the module the loader binds it to."""

DEFAULT_LAMBDA_BUILTINS: Final[tuple[str, ...]] = (
    "abs", "bool", "float", "int", "len", "list", "max", "min", "round", "sum", "tuple",
)
"""Builtins a lambda may call (never use as values)."""

DEFAULT_LAMBDA_ATTRIBUTES: Final[tuple[str, ...]] = ("T", "dtype", "ndim", "shape")
"""Attributes a lambda may read on values (tensors, arguments, closure values)."""

DEFAULT_BANDIT_SEVERITY: Final = "low"
"""bandit findings at or above this severity deny the lambda."""

_KERAS_OPS: Final = (
    # activations
    "elu", "gelu", "hard_sigmoid", "hard_silu", "leaky_relu", "log_sigmoid", "log_softmax",
    "relu", "relu6", "selu", "sigmoid", "silu", "softmax", "softplus", "softsign", "swish",
    "tanh",
    # element-wise math
    "abs", "absolute", "add", "ceil", "cos", "divide", "equal", "erf", "exp", "expm1",
    "floor", "floor_divide", "greater", "greater_equal", "less", "less_equal", "log",
    "log1p", "logical_and", "logical_not", "logical_or", "maximum", "minimum", "mod",
    "multiply", "negative", "not_equal", "power", "reciprocal", "round", "rsqrt", "sign",
    "sin", "sqrt", "square", "subtract", "true_divide",
    # reductions
    "all", "any", "argmax", "argmin", "cumprod", "cumsum", "logsumexp", "max", "mean",
    "median", "min", "norm", "normalize", "prod", "std", "sum", "var",
    # shapes, indexing, combination
    "broadcast_to", "cast", "clip", "concatenate", "convert_to_tensor", "dot", "einsum",
    "expand_dims", "flip", "matmul", "moveaxis", "one_hot", "ones_like", "pad", "repeat",
    "reshape", "roll", "shape", "slice", "sort", "split", "squeeze", "stack",
    "stop_gradient", "swapaxes", "take", "take_along_axis", "tensordot", "tile", "top_k",
    "transpose", "where", "zeros_like", "argsort",
)

_NUMPY: Final = (
    "abs", "absolute", "add", "all", "any", "argmax", "argmin", "argsort", "broadcast_to",
    "ceil", "clip", "concatenate", "cos", "cumprod", "cumsum", "divide", "dot", "einsum",
    "equal", "exp", "expand_dims", "expm1", "flip", "floor", "floor_divide", "greater",
    "greater_equal", "less", "less_equal", "log", "log1p", "logical_and", "logical_not",
    "logical_or", "matmul", "max", "maximum", "mean", "median", "min", "minimum", "mod",
    "moveaxis", "multiply", "negative", "not_equal", "ones_like", "pad", "power", "prod",
    "reciprocal", "repeat", "reshape", "roll", "round", "sign", "sin", "sort", "split",
    "sqrt", "square", "squeeze", "stack", "std", "subtract", "sum", "swapaxes", "take",
    "take_along_axis", "tanh", "tensordot", "tile", "transpose", "true_divide", "var",
    "where", "zeros_like", "linalg.norm",
)

_TENSORFLOW: Final = (
    # tf.*
    "abs", "add", "argmax", "argmin", "cast", "clip_by_value", "concat", "cos", "cumsum",
    "divide", "equal", "exp", "expand_dims", "gather", "greater", "less", "matmul",
    "maximum", "minimum", "multiply", "negative", "norm", "one_hot", "ones_like", "pad",
    "pow", "reduce_all", "reduce_any", "reduce_logsumexp", "reduce_max", "reduce_mean",
    "reduce_min", "reduce_prod", "reduce_sum", "reshape", "reverse", "round", "shape",
    "sigmoid", "sign", "sin", "split", "sqrt", "square", "squeeze", "stack",
    "stop_gradient", "subtract", "tanh", "tile", "transpose", "where", "zeros_like",
    # tf.math.*
    "math.abs", "math.add", "math.argmax", "math.argmin", "math.ceil", "math.cumsum",
    "math.divide", "math.exp", "math.floor", "math.l2_normalize", "math.log",
    "math.log1p", "math.maximum", "math.minimum", "math.multiply", "math.pow",
    "math.reduce_logsumexp", "math.reduce_max", "math.reduce_mean", "math.reduce_min",
    "math.reduce_prod", "math.reduce_std", "math.reduce_sum", "math.reduce_variance",
    "math.round", "math.rsqrt", "math.sigmoid", "math.sign", "math.softplus", "math.sqrt",
    "math.square", "math.subtract", "math.tanh",
    # tf.nn.*
    "nn.elu", "nn.gelu", "nn.l2_normalize", "nn.leaky_relu", "nn.log_softmax", "nn.relu",
    "nn.relu6", "nn.selu", "nn.sigmoid", "nn.silu", "nn.softmax", "nn.softplus",
    "nn.tanh",
)

KERAS_OPS_CALLS: Final[tuple[str, ...]] = tuple(sorted(f"keras.ops.{n}" for n in _KERAS_OPS))
"""``keras.ops`` functions: element-wise, reductions and shape manipulation."""

NUMPY_CALLS: Final[tuple[str, ...]] = tuple(sorted(f"numpy.{n}" for n in _NUMPY))
"""The numpy counterparts."""

TENSORFLOW_CALLS: Final[tuple[str, ...]] = tuple(sorted(f"tensorflow.{n}" for n in _TENSORFLOW))
"""The TensorFlow counterparts (``tf``, ``tf.math``, ``tf.nn``)."""

DEFAULT_LAMBDA_CALLS: Final[tuple[str, ...]] = tuple(
    sorted({*KERAS_OPS_CALLS, *NUMPY_CALLS, *TENSORFLOW_CALLS})
)
"""Every fully-qualified callable a lambda may call under the default policy."""

# --- The wider list of the shipped `lambdas-reviewed` policy ---------------------------------
# Reviewed one by one against the same rules as above: each takes tensors (and plain numbers,
# axes or shapes) and returns tensors; none takes a callable, reads or writes anything, touches
# global state, or allocates from constants alone (``zeros``/``full``/``arange``/``eye``/
# ``linspace``/``tri`` stay out, and so does ``empty_like``, whose result is uninitialised
# memory). ``keras.ops.map``/``scan``/``vectorized_map``/``cond``/``while_loop``/``vectorize``
# are never on it.
#
# ``keras.activations.*`` is left out although every activation function is pure: astroid needs
# about 24 s to resolve any name under ``keras.activations`` in a fresh process (it reads the
# whole package), past the per-lambda budget of the KV507 check, so each such lambda would be
# denied anyway. The same functions are on the list under ``keras.ops`` (``keras.ops.celu``,
# ``keras.ops.hard_swish``, ...), which astroid resolves in about 2 s.

_REVIEWED_KERAS_OPS: Final = (
    # trigonometric and hyperbolic
    "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cosh", "sinh",
    "tan", "deg2rad", "rad2deg", "hypot", "sinc",
    # exponentials, logarithms, special functions
    "cbrt", "exp2", "log10", "log2", "logaddexp", "logaddexp2", "erfc", "erfinv",
    # element-wise
    "fabs", "fmod", "trunc", "signbit", "heaviside", "nan_to_num", "isfinite", "isinf", "isnan",
    "isclose", "logical_xor", "divide_no_nan", "fmax", "fmin",
    # activations and normalisations
    "celu", "glu", "hard_shrink", "hard_swish", "hard_tanh", "soft_shrink", "sparse_plus",
    "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink", "threshold",
    "batch_normalization", "layer_normalization", "rms_normalization", "moments",
    # reductions and statistics
    "amax", "amin", "average", "count_nonzero", "nanmax", "nanmean", "nanmin", "nansum",
    "ptp", "quantile", "percentile", "trace", "diagonal", "diff",
    # products, shapes and layout
    "cross", "inner", "outer", "vdot", "ravel", "hstack", "vstack", "fliplr", "flipud",
    "rot90", "tril", "triu", "unstack", "array_split", "depth_to_space", "space_to_depth",
    "full_like", "copy",
    # pooling and losses on given tensors
    "average_pool", "max_pool", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)

REVIEWED_EXTRA_CALLS: Final[tuple[str, ...]] = tuple(
    sorted(f"keras.ops.{n}" for n in _REVIEWED_KERAS_OPS)
)
"""What ``lambdas-reviewed`` adds to the default call list (reached through the ``keras``,
``ops`` and ``K`` roots)."""

REVIEWED_LAMBDA_CALLS: Final[tuple[str, ...]] = tuple(
    sorted({*DEFAULT_LAMBDA_CALLS, *REVIEWED_EXTRA_CALLS})
)
"""Every callable a lambda may call under ``lambdas-reviewed`` (default plus the extras)."""
