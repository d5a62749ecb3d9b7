"""Types produced by the artifact readers: the parsed config documents and container findings."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kerasvet.findings import Finding

__all__ = ["Artifact", "ArtifactFormat", "ConfigDocument", "ConfigRole"]


class ArtifactFormat(enum.Enum):
    """What the reader found, decided from the content, never from the file name."""

    KERAS_ZIP = "keras-zip"
    KERAS_DIR = "keras-dir"
    HDF5 = "hdf5"
    CONFIG_JSON = "config-json"
    MODEL_JSON = "model-json"
    PYTHON_DICT = "python-dict"
    UNKNOWN = "unknown"


class ConfigRole(enum.Enum):
    """Which config a document is; the tree walks each with the grammar its role implies."""

    MODEL = "model"
    """The model config (``config.json``, ``model_config``, ``to_json()`` output)."""
    TRAINING = "training"
    """A legacy HDF5 ``training_config`` (optimizer, loss, metrics)."""


@dataclass(frozen=True, slots=True)
class ConfigDocument:
    """One parsed JSON document taken from the artifact."""

    member: str
    """Where it came from: ``config.json``, ``model_config``, ``training_config``, ``<json>``."""
    role: ConfigRole
    """Model config or legacy training config."""
    value: object
    """The parsed JSON value, exactly as the strict parser built it."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """The result of reading one artifact: its documents plus what the container check found.

    A reader never raises on hostile content: anything wrong is a finding here, and a
    document that could not be parsed is simply absent (the finding says why).
    """

    format: ArtifactFormat
    """The detected format."""
    sha256: str | None
    """Hash of the artifact's bytes (of ``config.json`` for a directory, ``None`` for a dict)."""
    documents: tuple[ConfigDocument, ...]
    """Config documents, model config first."""
    findings: tuple[Finding, ...]
    """Container and JSON findings raised while reading."""
    weights_member: str | None = None
    """Name of the weights member (``model.weights.h5``) when the container has one."""
