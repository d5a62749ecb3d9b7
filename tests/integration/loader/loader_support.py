"""Helpers shared by the loader tests: paths, fixed inputs, predictions, child processes.

Stock Keras with ``safe_mode=False`` (the reference for lambda models) only ever runs in a
child process, never in the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src"
FIXTURES = ROOT / "tests" / "fixtures"
BENIGN_FILES = FIXTURES / "benign" / "files"
KERAS2 = FIXTURES / "keras2"
EXAMPLES = ROOT / "examples"
ATTACKS = FIXTURES / "attacks"
MANIFEST = json.loads((ATTACKS / "MANIFEST.json").read_text())["fixtures"]
CANARY = Path("/tmp/kerasvet-canary")


def child_env() -> dict[str, str]:
    """The test environment for a child Python: jax backend, this checkout importable."""
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": path}


def run_python(script: str, timeout: int = 600) -> dict:
    """Run ``script`` in a fresh interpreter; its last stdout line must be a JSON object."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout, check=False, env=child_env())
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def fixed_inputs(model) -> list[np.ndarray]:
    """One deterministic batch of two for every model input (ints for integer inputs)."""
    rng = np.random.default_rng(1234)
    batch = []
    for tensor in model.inputs:
        shape = tuple(2 if i == 0 else (d or 4) for i, d in enumerate(tensor.shape))
        if "int" in str(tensor.dtype):
            batch.append(rng.integers(0, 5, size=shape).astype(str(tensor.dtype)))
        else:
            batch.append(rng.standard_normal(shape).astype("float32"))
    return batch


def predict(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs on ``inputs`` (inference mode), flattened to NumPy arrays."""
    import keras

    outputs = model(inputs[0] if len(inputs) == 1 else inputs, training=False)
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in keras.tree.flatten(outputs)]


def weights_of(model) -> list[np.ndarray]:
    """Every variable's value, in the model's order."""
    return [np.asarray(v.numpy()) for v in model.weights]


def as_keras_zip(config: bytes, directory: Path, name: str = "model.keras",
                 extra: dict[str, bytes] | None = None) -> Path:
    """A .keras zip holding ``config`` as config.json (and optional extra members)."""
    path = directory / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        archive.writestr("config.json", config)
        for member, data in (extra or {}).items():
            archive.writestr(member, data)
    return path
