"""The Keras side of the loader: build a planned config and load weights from memory.

These functions mirror Keras 3.15's own loaders (``saving_lib._load_model_from_fileobj`` and
``legacy_h5_format.load_model_from_hdf5``) step for step, with three differences:

* the config is the resolver's private copy of the *vetted* document, never a second parse
  of the file; Keras' own loaders cannot take a config, which is why they are not called;
* weights come from the artifact bytes already in memory: the ``.keras`` weights member is
  read from the in-memory zip into a ``BytesIO`` (what Keras itself does when memory
  allows), an ``.npz`` member through the in-memory zip, a legacy ``.h5`` file through h5py
  over a read-only memory file. Keras never receives a path, so nothing is extracted and no
  temporary file exists;
* Keras runs in a custom-object scope holding exactly the resolver's objects and in its own
  ``SafeModeScope(True)``, which also overrides a process where someone called
  ``keras.config.enable_unsafe_deserialization()`` (CVE-2025-9906).

Keras is untyped: its modules are handled as ``Any`` at this boundary only.
"""

from __future__ import annotations

import importlib
import io
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from kerasvet.artifact.keras_zip import WEIGHTS_H5, WEIGHTS_NPZ
from kerasvet.artifact.sniff import MemoryFile
from kerasvet.loader.model import LoaderError
from kerasvet.loader.resolver import Plan

__all__ = [
    "KerasApi",
    "build_config",
    "build_keras_zip",
    "build_legacy_hdf5",
    "keras_api",
    "keras_scopes",
]


_INTERNALS = (
    "saving.saving_lib",
    "saving.serialization_lib",
    "saving.object_registration",
    "legacy.saving.legacy_h5_format",
    "legacy.saving.saving_utils",
    "legacy.saving.saving_options",
    "legacy.saving.json_utils",
)
"""Keras-internal modules (under ``keras.src``) the loader calls, as Keras' loaders do."""


@dataclass(frozen=True, slots=True)
class KerasApi:
    """The Keras modules the loader uses (public and internal), imported before the guard."""

    keras: Any
    """The ``keras`` package."""
    saving_lib: Any
    """``keras.src.saving.saving_lib``: weight stores and ``_load_state``."""
    serialization_lib: Any
    """``keras.src.saving.serialization_lib``: the deserializer and its scopes."""
    object_registration: Any
    """``keras.src.saving.object_registration``: scopes and the global registry."""
    legacy_h5: Any
    """``keras.src.legacy.saving.legacy_h5_format``: legacy weight loading."""
    saving_utils: Any
    """``keras.src.legacy.saving.saving_utils``: the legacy model builder."""
    saving_options: Any
    """``keras.src.legacy.saving.saving_options``: the legacy-config option scope."""
    json_utils: Any
    """``keras.src.legacy.saving.json_utils``: the legacy JSON decoder."""

    @property
    def registry(self) -> dict[str, object]:
        """The process-wide custom-object registry (``keras.saving.get_custom_objects()``)."""
        registry: dict[str, object] = self.object_registration.GLOBAL_CUSTOM_OBJECTS
        return registry


def keras_api() -> KerasApi:
    """Import Keras and warm up its backend, outside the runtime guard.

    Importing Keras and initialising the backend (JAX reads plugin entry points, probes
    devices and imports its compiler bindings on first use) are the trusted environment,
    not the model: doing them here keeps the guard's import set to what building a model
    needs. Raises ``LoaderError`` when Keras is not usable.
    """
    try:
        keras = importlib.import_module("keras")
        modules = {name: importlib.import_module(f"keras.src.{name}") for name in _INTERNALS}
    except Exception as exc:
        raise LoaderError(
            f"Keras 3 cannot be imported ({type(exc).__name__}: {exc}); install the "
            "[keras] extra and set KERAS_BACKEND (jax, torch or tensorflow)"
        ) from exc
    # One tensor and one variable assigned from NumPy (how weights arrive): the backend's
    # first-use imports and device set-up happen here, before the guard.
    warm = keras.ops.convert_to_tensor(np.zeros((1,), "float32"))
    variable = keras.Variable(np.zeros((1,), "float32"), trainable=False)
    variable.assign(np.ones((1,), "float32"))
    variable.assign(warm)
    return KerasApi(
        keras=keras,
        saving_lib=modules["saving.saving_lib"],
        serialization_lib=modules["saving.serialization_lib"],
        object_registration=modules["saving.object_registration"],
        legacy_h5=modules["legacy.saving.legacy_h5_format"],
        saving_utils=modules["legacy.saving.saving_utils"],
        saving_options=modules["legacy.saving.saving_options"],
        json_utils=modules["legacy.saving.json_utils"],
    )


@contextmanager
def keras_scopes(api: KerasApi, scope: dict[str, object]) -> Iterator[None]:
    """Keras' custom-object scope set to exactly ``scope`` (it replaces, not merges, the
    caller's scope) and Keras' own safe mode forced on."""
    with api.object_registration.CustomObjectScope(scope), \
            api.serialization_lib.SafeModeScope(True):
        yield


def _deserialize(api: KerasApi, config: object, scope: dict[str, object]) -> Any:
    return api.serialization_lib.deserialize_keras_object(
        config, custom_objects=scope, safe_mode=True)


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def _member(data: bytes, archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes. A stored member (what Keras writes) is sliced straight out of the
    artifact: the reader already checked its CRC over these very bytes, and ``data`` is
    immutable. ``BytesIO`` then shares the slice instead of copying it again."""
    info = archive.getinfo(name)
    if info.compress_type == zipfile.ZIP_STORED and info.file_size == info.compress_size:
        header = _LOCAL_HEADER.unpack_from(data, info.header_offset)
        start = info.header_offset + _LOCAL_HEADER.size + header[10] + header[11]
        if header[0] == b"PK\x03\x04" and start + info.file_size <= len(data):
            return data[start:start + info.file_size]
    return archive.read(name)


def build_keras_zip(api: KerasApi, plan: Plan, data: bytes, compile: bool) -> Any:
    """A ``.keras`` zip: the planned ``config.json``, then weights from the in-memory zip."""
    config = plan.documents["config.json"]
    if not isinstance(config, dict):
        raise LoaderError("config.json is not an object")
    if not compile:
        config["compile_config"] = None  # what Keras does for compile=False
    with api.serialization_lib.ObjectSharingScope():
        model = _deserialize(api, config, plan.scope)
    saving_lib = api.saving_lib
    with zipfile.ZipFile(MemoryFile(memoryview(data))) as archive:
        names = set(archive.namelist())
        if WEIGHTS_H5 in names:
            weights = _member(data, archive, WEIGHTS_H5)
            store = saving_lib.H5IOStore(io.BytesIO(weights), mode="r")
        elif WEIGHTS_NPZ in names:
            store = saving_lib.NpzIOStore(WEIGHTS_NPZ, archive=archive, mode="r")
        else:
            raise LoaderError(f"Expected a {WEIGHTS_H5} or {WEIGHTS_NPZ} member.")
        failed: set[int] = set()
        errors: dict[int, object] = {}
        try:
            saving_lib._load_state(
                model, weights_store=store, assets_store=None, inner_path="",
                visited_saveables=set(), failed_saveables=failed, error_msgs=errors,
            )
        finally:
            store.close()
    if failed:
        saving_lib._raise_loading_failure(errors)
    return model


def build_legacy_hdf5(api: KerasApi, plan: Plan, data: bytes, compile: bool) -> Any:
    """A legacy ``.h5`` model (Keras 3 or tf.keras 2): Keras' legacy reader's steps, with the
    planned ``model_config``/``training_config`` and h5py over the bytes in memory."""
    model_config = plan.documents.get("model_config")
    training_config = plan.documents.get("training_config")
    legacy, saving_utils = api.legacy_h5, api.saving_utils
    with h5py.File(MemoryFile(memoryview(data)), "r") as file:
        with api.saving_options.keras_option_scope(use_legacy_config=True):
            model = saving_utils.model_from_config(model_config, custom_objects=plan.scope)
            legacy.load_weights_from_hdf5_group(
                api.saving_lib.safe_get_h5_group(file, "model_weights"), model)
        if not compile or training_config is None:
            return model
        model.compile(**saving_utils.compile_args_from_training_config(
            training_config, plan.scope))
        saving_utils.try_build_compiled_arguments(model)
        if "optimizer_weights" in file:
            _legacy_optimizer_weights(api, model, file)
    return model


def _legacy_optimizer_weights(api: KerasApi, model: Any, file: Any) -> None:
    """Restore optimizer state as Keras' legacy reader does (fresh state when it cannot)."""
    optimizers = api.keras.optimizers
    try:
        if isinstance(model.optimizer, optimizers.Optimizer):
            model.optimizer.build(model._trainable_variables)
        else:
            model.optimizer._create_all_weights(model._trainable_variables)
    except (NotImplementedError, AttributeError):
        return
    values = api.legacy_h5.load_optimizer_weights_from_hdf5_group(file)
    try:
        model.optimizer.set_weights(values)
    except ValueError:
        return  # Keras logs a warning and keeps a freshly initialised optimizer


def build_config(api: KerasApi, plan: Plan, member: str, legacy: bool) -> Any:
    """A bare config (``deserialize_keras_object``, ``model_from_json``): Keras 3 grammar
    through Keras' deserializer, a Keras 2 / legacy document through the legacy builder."""
    config = plan.documents[member]
    if legacy:
        with api.saving_options.keras_option_scope(use_legacy_config=True):
            return api.saving_utils.model_from_config(config, custom_objects=plan.scope)
    return _deserialize(api, config, plan.scope)
