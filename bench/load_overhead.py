"""Overhead of ``kerasvet.load_model`` over ``keras.saving.load_model`` on the same file.

Saves one application model (``weights=None``: random weights, real sizes) to a temporary
``.keras`` file, loads it once with each loader to warm both up, then alternates the two
loaders ``--repeat`` times and prints the medians and their ratio. kerasvet's time includes
everything it adds: reading and auditing the file, the resolver's private copy, the guard,
and the Keras build and weight load from memory. The audit alone (``kerasvet.audit`` on the
same file: read, hash, container and HDF5 checks, policy engine) is timed as well, so the
ratio can be split into the audit's share and the loader's. Nothing is asserted; the issue's
target is a ratio of at most 1.10.

    KERAS_BACKEND=jax PYTHONPATH=src python bench/load_overhead.py [--model resnet50] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

MODELS = {
    "resnet50": lambda keras: keras.applications.ResNet50(weights=None),
    "mobilenet_v2": lambda keras: keras.applications.MobileNetV2(weights=None),
    "efficientnet_b0": lambda keras: keras.applications.EfficientNetB0(weights=None),
}


def timed(load: Callable[[], object]) -> float:
    start = time.perf_counter()
    load()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet50")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    import keras

    import kerasvet

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{args.model}.keras"
        model = MODELS[args.model](keras)
        model.save(path)
        size = path.stat().st_size
        params = model.count_params()
        del model
        policy = kerasvet.Policy.load("default")
        loaders = {
            "keras.saving.load_model": lambda: keras.saving.load_model(path),
            "kerasvet.load_model": lambda: kerasvet.load_model(path, policy=policy),
            "  of which the audit": lambda: kerasvet.audit(path, policy),
        }
        for load in loaders.values():
            load()  # warm-up: first-use costs of the backend and of the lambda analyzer
        times: dict[str, list[float]] = {name: [] for name in loaders}
        for _ in range(args.repeat):
            for name, load in loaders.items():
                times[name].append(timed(load))

    keras_median = statistics.median(times["keras.saving.load_model"])
    ours_median = statistics.median(times["kerasvet.load_model"])
    print(f"{args.model}: {params:,} parameters, {size / 1e6:.1f} MB .keras file, "
          f"{args.repeat} alternating loads each (Python {sys.version.split()[0]}, "
          f"Keras {keras.__version__}, backend {keras.backend.backend()})")
    for name, samples in times.items():
        print(f"  {name:26s} median {statistics.median(samples) * 1000:8.1f} ms   "
              f"min {min(samples) * 1000:8.1f} ms")
    audit_median = statistics.median(times["  of which the audit"])
    print(f"  ratio kerasvet / keras: {ours_median / keras_median:.3f} (target <= 1.10); "
          f"without the audit: {(ours_median - audit_median) / keras_median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
