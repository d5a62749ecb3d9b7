#!/usr/bin/env python3
"""Generate ``policies/keras-builtins.toml`` from Keras' own registry.

Usage (from the repository root, with Keras 3 installed)::

    KERAS_BACKEND=jax python scripts/generate_builtins_policy.py            # write
    KERAS_BACKEND=jax python scripts/generate_builtins_policy.py --check    # exit 1 + diff if stale

Nothing here is typed by hand except the *rules* (which families count, what is
excluded); every name comes from the installed Keras:

* ``[classes]``  exported serializable classes (``keras.src.api_export.REGISTERED_NAMES_TO_OBJS``,
  the pair Keras really writes, checked with ``serialize_keras_object`` where the class can be
  built without arguments), every alias path of a ``KerasSaveable`` class found by walking the
  public ``keras.*`` modules, the ops-as-layers of ``keras.src.ops.*``, the helper layers of
  ``keras.src.applications.*``, ``Functional``, and the torch backend's optimizer classes
  (found by parsing ``keras/src/backend/*/optimizer(s)`` with ``ast``; no torch/TF import).
* ``[functions]`` function nodes Keras resolves: canonical ``keras.activations`` /
  ``keras.losses`` / ``keras.metrics`` functions and the ``"builtins"`` pseudo-module
  (``serialization_lib.BUILTIN_MODULES`` lookups that yield a plain function).
* ``[names]``     bare strings resolved by each family's ``get()``.

Excluded on purpose (the hand-written denials in ``policies/default.toml`` explain them):
TFSMLayer, TorchModuleWrapper, JaxLayer, FlaxLayer, everything exported only under
keras.utils/config/datasets/saving/export/callbacks/visualization/distribution/random/
backend/legacy (except ``keras.random.SeedGenerator``, which seeded initializers really
write), the higher-order ops of ``keras.src.ops.core`` that call user callables, and the
``serialize``/``deserialize``/``get`` helpers.

``--check`` compares without writing. ``--scan-applications`` additionally builds every
``keras.applications`` model (weights=None, small inputs, inside a ``StatelessScope``) and fails
if any ``(module, class_name)`` pair they write is missing; it takes ~5 minutes and is the
default when writing, off by default with ``--check``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import importlib
import inspect
import io
import json
import os
import pkgutil
import sys
import types
import warnings
from collections import defaultdict
from collections.abc import Iterable
from contextlib import redirect_stdout
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"  # the output must not depend on the caller's backend
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "policies" / "keras-builtins.toml"
THIS = "scripts/generate_builtins_policy.py"

# --- exclusion rules -------------------------------------------------------------------------

EXCLUDED_CLASS_NAMES = frozenset({"TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
"""Exported classes that load external code or call deserialized callables."""

EXCLUDED_PUBLIC_PREFIXES = (
    "keras.utils",
    "keras.config",
    "keras.datasets",
    "keras.saving",
    "keras.export",
    "keras.callbacks",
    "keras.visualization",
    "keras.distribution",
    "keras.random",
    "keras.backend",
    "keras.legacy",
)
"""Public namespaces never allowed as a node module (denied by name in default.toml)."""

EXCLUDED_SOURCE_PREFIXES = (
    "keras.src.utils",
    "keras.src.export",
    "keras.src.callbacks",
    "keras.src.saving",
    "keras.src.distribution",
    "keras.src.legacy.saving",
    "keras.src.visualization",
    "keras.src.datasets",
)
"""Where a class is *defined*: excluded even when re-exported under an allowed namespace."""

SEED_GENERATOR = ("keras.random", "SeedGenerator")
"""The one keras.random class real configs carry (``RandomNormal(seed=SeedGenerator(..))``)."""

HIGHER_ORDER_OPS = frozenset(
    {"Map", "Scan", "AssociativeScan", "Cond", "Switch", "WhileLoop", "ForiLoop",
     "VectorizedMap", "CustomGradient"}
)
CALLABLE_PARAMS = frozenset(
    {"f", "fn", "fun", "func", "function", "body", "body_fun", "cond", "branches", "true_fn",
     "false_fn", "loop_fn", "map_fn", "call_fn", "init_fn", "callback"}
)
"""Parameter names that mark an op as taking a user callable."""

HELPER_FUNCTIONS = frozenset({"serialize", "deserialize", "get"})
"""Family helpers: they deserialize/look up arbitrary configs, never model functions."""

FUNCTION_MODULES = ("keras.activations", "keras.losses", "keras.metrics")

# --- helpers ---------------------------------------------------------------------------------


def _log(*args: object) -> None:
    print(*args, file=sys.stderr)


def _quiet(fn, *args, **kwargs):
    """Call ``fn`` with Keras' warnings and prints silenced."""
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _public_excluded(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in EXCLUDED_PUBLIC_PREFIXES)


def _source_excluded(cls: type) -> bool:
    mod = getattr(cls, "__module__", "") or ""
    return any(mod == p or mod.startswith(p + ".") for p in EXCLUDED_SOURCE_PREFIXES)


def walk_pairs(obj: object, acc: set[tuple[str, str]], fn_acc: set[tuple[str, str]]) -> None:
    """Collect ``(module, class_name)`` of every class node and function node in a config."""
    if isinstance(obj, dict):
        if "class_name" in obj and "config" in obj and "module" in obj:
            if obj["class_name"] == "function":
                fn_acc.add((str(obj["module"]), str(obj["config"])))
            elif not str(obj["class_name"]).startswith("__"):
                acc.add((str(obj["module"]), str(obj["class_name"])))
        for value in obj.values():
            walk_pairs(value, acc, fn_acc)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            walk_pairs(value, acc, fn_acc)


def serialized(obj: object) -> object:
    import keras

    return json.loads(json.dumps(_quiet(keras.saving.serialize_keras_object, obj)))


# --- the generator ---------------------------------------------------------------------------


class Builder:
    def __init__(self) -> None:
        import keras

        self.keras = keras
        from keras.src import api_export

        self.registry: dict[str, object] = dict(api_export.REGISTERED_NAMES_TO_OBJS)
        self.canonical: dict[object, str] = dict(api_export.REGISTERED_OBJS_TO_NAMES)
        self.classes: dict[str, set[str]] = defaultdict(set)
        self.functions: dict[str, set[str]] = defaultdict(set)
        self.names: dict[str, set[str]] = {}
        self.excluded: list[str] = []
        self.notes: list[str] = []
        self.verified = 0  # exported classes whose pair was checked with serialize_keras_object
        self.family_bases = self._family_bases()

    # families ------------------------------------------------------------------------------

    @staticmethod
    def _family_bases() -> tuple[type, ...]:
        from keras.src.constraints.constraints import Constraint
        from keras.src.distillation.distillation_loss import DistillationLoss
        from keras.src.dtype_policies.dtype_policy import DTypePolicy
        from keras.src.initializers.initializer import Initializer
        from keras.src.layers.layer import Layer
        from keras.src.losses.loss import Loss
        from keras.src.metrics.metric import Metric
        from keras.src.optimizers.base_optimizer import BaseOptimizer
        from keras.src.optimizers.multi_optimizer import OptimizerMap
        from keras.src.optimizers.schedules.learning_rate_schedule import LearningRateSchedule
        from keras.src.quantizers.quantization_config import QuantizationConfig
        from keras.src.quantizers.quantizers import Quantizer
        from keras.src.regularizers.regularizers import Regularizer

        # Layer covers every layer and model class (Model, Sequential, Functional, Distiller).
        # OptimizerMap is written inside MultiOptimizer configs; QuantizationConfig/Quantizer
        # inside quantized Dense/EinsumDense/Embedding configs; DistillationLoss inside
        # Distiller configs.
        return (Layer, Initializer, Regularizer, Constraint, Loss, Metric, BaseOptimizer,
                OptimizerMap, LearningRateSchedule, DTypePolicy, QuantizationConfig, Quantizer,
                DistillationLoss)

    def in_family(self, cls: object) -> bool:
        return (inspect.isclass(cls) and issubclass(cls, self.family_bases)
                and callable(getattr(cls, "from_config", None))
                and callable(getattr(cls, "get_config", None)))

    def add_class(self, module: str, name: str, why: str) -> None:
        if name in EXCLUDED_CLASS_NAMES:
            self.excluded.append(f"{module}.{name} ({why}: excluded class name)")
            return
        if (module, name) != SEED_GENERATOR and _public_excluded(module):
            self.excluded.append(f"{module}.{name} ({why}: excluded namespace)")
            return
        self.classes[module].add(name)

    # 1. exported classes -------------------------------------------------------------------

    def exported_classes(self) -> None:
        for api_name, obj in sorted(self.registry.items()):
            if not inspect.isclass(obj):
                continue
            module, _, name = api_name.rpartition(".")
            if (module, name) == SEED_GENERATOR:
                continue  # handled by the probes (added only if a real config writes it)
            if not self.in_family(obj):
                continue
            if _source_excluded(obj) or _public_excluded(module) or name in EXCLUDED_CLASS_NAMES:
                self.excluded.append(f"{api_name} (exported; excluded)")
                continue
            pair = (module, name)
            try:  # what Keras really writes, where the class is cheap to build
                instance = _quiet(obj)
            except Exception:
                instance = None
            if instance is not None and type(instance) is obj:
                try:
                    node = serialized(instance)
                except Exception:
                    node = None
                if isinstance(node, dict) and "module" in node:
                    self.verified += 1
                    written = (node["module"], node["class_name"])
                    if written != pair:
                        self.notes.append(f"{api_name} is written as {written}")
                        pair = written
            self.add_class(*pair, why="exported")

    # 2. alias paths ------------------------------------------------------------------------

    def public_modules(self) -> list[types.ModuleType]:
        keras = self.keras
        # Own recursion instead of pkgutil.walk_packages: that one imports every package
        # below keras.src (e.g. keras.src.backend.numpy), which clobbers backend attributes.
        names = ["keras"]
        todo = [keras]
        while todo:
            pkg = todo.pop()
            for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
                if info.name.startswith(("keras.src", "keras._")) or info.name.endswith("_test"):
                    continue
                names.append(info.name)
                if info.ispkg:
                    todo.append(importlib.import_module(info.name))
        # keras._legacy.layers is the canonical home of the tf.keras-compat layers
        # (AlphaDropout, RandomHeight, ...) that tf.keras-on-Keras-3 users write.
        mods = []
        for name in sorted(set(names)):
            try:
                mods.append(importlib.import_module(name))
            except Exception as exc:  # pragma: no cover - optional deps
                self.notes.append(f"could not import {name}: {exc}")
        return mods

    def alias_classes(self) -> None:
        """Every path a KerasSaveable class is exported under (Keras resolves non-canonical
        paths with ``importlib.import_module(module)`` + ``vars(mod)[name]``, which only
        accepts ``KerasSaveable`` subclasses; other aliases do not load and are not listed)."""
        from keras.src.saving.keras_saveable import KerasSaveable

        for mod in self.public_modules():
            if _public_excluded(mod.__name__):
                continue
            for attr in sorted(dir(mod)):
                obj = getattr(mod, attr, None)
                if not (inspect.isclass(obj) and issubclass(obj, KerasSaveable)):
                    continue
                if not self.in_family(obj) or _source_excluded(obj):
                    continue
                canonical = self.canonical.get(obj)
                if canonical is None or _public_excluded(canonical.rpartition(".")[0]):
                    continue  # not exported at all, or exported only under a denied namespace
                self.add_class(mod.__name__, attr, why="alias")

    # 3. ops-as-layers ----------------------------------------------------------------------

    def op_classes(self) -> None:
        import keras.src.ops as ops_pkg
        from keras.src.ops.function import Function
        from keras.src.ops.operation import Operation

        for info in pkgutil.walk_packages(ops_pkg.__path__, "keras.src.ops."):
            if info.name.endswith("_test"):
                continue
            mod = importlib.import_module(info.name)
            for name, obj in sorted(vars(mod).items()):
                if not (inspect.isclass(obj) and obj.__module__ == mod.__name__
                        and issubclass(obj, Operation)) or obj in (Operation, Function):
                    continue
                params: set[str] = set()
                for meth in ("__init__", "call", "compute_output_spec"):
                    with contextlib.suppress(TypeError, ValueError, AttributeError):
                        params |= set(inspect.signature(getattr(obj, meth)).parameters)
                takes_callable = sorted(params & CALLABLE_PARAMS)
                if name in HIGHER_ORDER_OPS or takes_callable:
                    self.excluded.append(
                        f"{mod.__name__}.{name} (higher-order op; callable params "
                        f"{takes_callable or '-'})")
                    continue
                self.add_class(mod.__name__, name, why="op")

    # 4. non-exported helper layers of keras.applications -----------------------------------

    def application_classes(self) -> None:
        import keras.src.applications as apps_pkg
        from keras.src.saving.keras_saveable import KerasSaveable

        for info in pkgutil.walk_packages(apps_pkg.__path__, "keras.src.applications."):
            if info.name.endswith("_test"):
                continue
            mod = importlib.import_module(info.name)
            for name, obj in sorted(vars(mod).items()):
                if (inspect.isclass(obj) and obj.__module__ == mod.__name__
                        and issubclass(obj, KerasSaveable) and self.in_family(obj)):
                    self.add_class(mod.__name__, name, why="application helper")

    # 5. backend optimizer classes (all backends, parsed, not imported) ---------------------

    def backend_optimizer_classes(self) -> None:
        import keras.src.backend as backend_pkg

        root = Path(backend_pkg.__file__).resolve().parent  # keras/src/backend
        src_parent = root.parent.parent.parent  # site-packages
        files = sorted(root.glob("*/optimizers/*.py")) + sorted(root.glob("*/optimizer.py"))
        for path in files:
            rel = path.relative_to(src_parent).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            module = ".".join(parts)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                if node.name.endswith("Optimizer"):
                    # JaxOptimizer, TFOptimizer, TorchOptimizer, TorchParallelOptimizer: backend
                    # base classes mixed into keras.optimizers.*; never written as a node.
                    self.excluded.append(f"{module}.{node.name} (backend optimizer base class)")
                    continue
                self.classes[module].add(node.name)

    # 6. probes: objects whose real serialization must be covered ---------------------------

    def probes(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        keras = self.keras
        pairs: set[tuple[str, str]] = set()
        fns: set[tuple[str, str]] = set()

        def add(obj: object) -> None:
            walk_pairs(serialized(obj), pairs, fns)

        # Functional model with ops on KerasTensors, seeded initializer, activation functions.
        a = keras.Input((4,), name="a")
        b = keras.Input((4,), name="b")
        init = keras.initializers.RandomNormal(seed=keras.random.SeedGenerator(1))
        h = keras.layers.Dense(3, activation=keras.activations.relu, kernel_initializer=init)(a + b)
        out = keras.ops.mean(h, axis=-1, keepdims=True)
        model = _quiet(keras.Model, [a, b], out)
        _quiet(model.compile, optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)),
            loss=keras.losses.huber, metrics=["accuracy", keras.metrics.binary_accuracy])
        add(model)
        add(keras.activations.relu)
        add(keras.losses.huber)
        # Quantized Dense writes QuantizationConfig/Quantizer nodes and a quantized policy.
        q = _quiet(keras.Sequential, [keras.Input((4,)), keras.layers.Dense(4)])
        try:
            _quiet(q.quantize, "int8")
            add(q)
        except Exception as exc:  # pragma: no cover - depends on Keras version
            self.notes.append(f"quantize probe failed: {exc}")
        add(keras.dtype_policies.DTypePolicyMap())
        add(keras.optimizers.MultiOptimizer(
            keras.optimizers.OptimizerMap(default_optimizer=keras.optimizers.Adam())))
        add(keras.mixed_precision.LossScaleOptimizer(keras.optimizers.SGD()))
        return pairs, fns

    # [functions] and [names] ---------------------------------------------------------------

    def function_tables(self) -> None:
        from keras.src.saving import serialization_lib

        for api_name, obj in sorted(self.registry.items()):
            module, _, name = api_name.rpartition(".")
            if module in FUNCTION_MODULES and isinstance(obj, types.FunctionType) \
                    and name not in HELPER_FUNCTIONS:
                self.functions[module].add(name)
        for family in sorted(serialization_lib.BUILTIN_MODULES):
            prefix = f"keras.{family}."
            for api_name, obj in self.registry.items():
                if not api_name.startswith(prefix):
                    continue
                name = api_name[len(prefix):]
                if "." in name or name in HELPER_FUNCTIONS:
                    continue
                if isinstance(obj, types.FunctionType):
                    self.functions["builtins"].add(name)

    def name_tables(self) -> None:
        from keras.src import (
            activations,
            constraints,
            initializers,
            losses,
            metrics,
            optimizers,
            regularizers,
        )

        tables = {
            "activations": set(activations.ALL_OBJECTS_DICT),
            "initializers": set(initializers.ALL_OBJECTS_DICT),
            "regularizers": set(regularizers.ALL_OBJECTS_DICT),
            "constraints": set(constraints.ALL_OBJECTS_DICT),
            # compile_utils.get_loss special-cases "crossentropy"/"ce" (case-insensitive).
            "losses": set(losses.ALL_OBJECTS_DICT) | {"crossentropy", "ce"},
            # compile_utils.get_metric special-cases "accuracy"/"acc" (case-insensitive);
            # tf.keras 2.x also special-cased "crossentropy"/"ce" for metrics.
            "metrics": set(metrics.ALL_OBJECTS_DICT) | {"accuracy", "acc", "crossentropy", "ce"},
            # optimizers.deserialize lower-cases class_name before the lookup, so both the
            # lower-case keys and the class names ("Adam", "SGD", "RMSprop") resolve.
            "optimizers": set(optimizers.ALL_OBJECTS_DICT)
            | {cls.__name__ for cls in optimizers.ALL_OBJECTS},
        }
        self.names = tables

    # application scan ----------------------------------------------------------------------

    def scan_applications(self) -> set[tuple[str, str]]:
        keras = self.keras
        pairs: set[tuple[str, str]] = set()
        fns: set[tuple[str, str]] = set()
        ctors = sorted(n for n, o in self.registry.items()
                       if n.startswith("keras.applications.") and inspect.isfunction(o)
                       and n.rpartition(".")[2][:1].isupper())
        for api_name in ctors:
            short = api_name.rpartition(".")[2]
            shape = {"NASNetLarge": (331, 331, 3), "NASNetMobile": (224, 224, 3)}.get(short)
            if shape is None:
                shape = (75, 75, 3) if short.startswith(("Inception", "Xception")) else (32, 32, 3)
            try:
                with keras.StatelessScope():
                    model = _quiet(self.registry[api_name], weights=None, input_shape=shape)
                walk_pairs(serialized(model), pairs, fns)
            except Exception as exc:
                self.notes.append(f"could not build {api_name}: {exc}")
            keras.backend.clear_session()
            _log(f"  scanned {api_name}")
        return pairs | {("function:" + m, n) for m, n in fns}

    # assemble ------------------------------------------------------------------------------

    def build(self) -> None:
        self.exported_classes()
        self.alias_classes()
        self.op_classes()
        self.application_classes()
        self.backend_optimizer_classes()
        self.function_tables()
        self.name_tables()
        pairs, fns = self.probes()
        for module, name in sorted(pairs):
            if name not in self.classes.get(module, ()):
                self.notes.append(f"probe adds {module}.{name}")
                self.add_class(module, name, why="probe")
        missing_fns = sorted(p for p in fns if p[1] not in self.functions.get(p[0], ()))
        if missing_fns:
            raise SystemExit(f"probe function nodes not covered: {missing_fns}")

    def missing(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for module, name in pairs:
            if module.startswith("function:"):
                if name not in self.functions.get(module[len("function:"):], ()):
                    out.append((module, name))
            elif name not in self.classes.get(module, ()):
                out.append((module, name))
        return sorted(out)

    def render(self) -> str:
        version = self.keras.__version__

        def array(values: Iterable[str]) -> str:
            items = sorted(values)
            return "[\n" + "".join(f'    "{v}",\n' for v in items) + "]"

        lines = [
            f"# Generated by {THIS} from keras {version}; do not edit.",
            f"# Regenerate with: KERAS_BACKEND=jax python {THIS}",
            f"# Check with:      KERAS_BACKEND=jax python {THIS} --check",
            "#",
            "# Allow-lists only: what Keras itself writes and resolves. Denials, argument rules",
            "# and limits are hand-written in policies/default.toml, which extends this file.",
            "# Function nodes resolve only through canonical export names (aliases such as",
            "# keras.activations.swish do not load as function nodes), so only those are listed.",
            "",
            'name = "keras-builtins"',
            f'description = "Keras {version} built-in classes, functions and names '
            f'(generated from Keras\' registry)"',
            "extends = []",
            "",
            "[classes]",
        ]
        for module in sorted(self.classes):
            lines.append(f'"{module}" = {array(self.classes[module])}')
        lines += ["", "[functions]"]
        for module in sorted(self.functions):
            lines.append(f'"{module}" = {array(self.functions[module])}')
        lines += ["", "[names]"]
        for table in sorted(self.names):
            lines.append(f"{table} = {array(self.names[table])}")
        return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 and print a diff if the file on disk is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    scan = parser.add_mutually_exclusive_group()
    scan.add_argument("--scan-applications", dest="scan", action="store_true", default=None,
                      help="build every keras.applications model and verify coverage (slow)")
    scan.add_argument("--no-scan-applications", dest="scan", action="store_false")
    args = parser.parse_args(argv)
    do_scan = args.scan if args.scan is not None else not args.check

    builder = Builder()
    builder.build()
    if do_scan:
        missing = builder.missing(builder.scan_applications())
        if missing:
            _log(f"keras.applications write pairs missing from the allowlist: {missing}")
            return 1
        _log("keras.applications scan: every written pair is covered")
    text = builder.render()

    n_classes = sum(len(v) for v in builder.classes.values())
    n_functions = sum(len(v) for v in builder.functions.values())
    n_names = sum(len(v) for v in builder.names.values())
    _log(f"keras {builder.keras.__version__}: classes={n_classes} in {len(builder.classes)} "
         f"modules, functions={n_functions} in {len(builder.functions)} modules, "
         f"names={n_names} in {len(builder.names)} tables")
    _log("  names: " + ", ".join(f"{k}={len(v)}" for k, v in sorted(builder.names.items())))
    _log(f"  exported classes checked against serialize_keras_object: {builder.verified}")
    _log(f"  excluded: {len(builder.excluded)} (set KERASVET_GEN_VERBOSE=1 to list them)")
    if os.environ.get("KERASVET_GEN_VERBOSE"):
        for line in builder.excluded + builder.notes:
            _log("  " + line)
    else:
        for line in builder.notes:
            _log("  note: " + line)

    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current == text:
            _log(f"{args.output} is up to date")
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"{args.output} (on disk)", tofile=f"{args.output} (generated)"))
        _log(f"{args.output} is stale; regenerate with: python {THIS}")
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    _log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
