"""Resource caps. Every cap is a policy setting with a safe default, enforced while reading."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Limits"]

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what an artifact may cost to read and to build."""

    max_artifact_bytes: int = 4096 * _MIB
    """Largest artifact (file, or sum of a directory's files) read at all."""
    max_config_bytes: int = 64 * _MIB
    """Largest config document (``config.json``, an HDF5 JSON attribute, a JSON string)."""
    max_zip_members: int = 1000
    """Most members a ``.keras`` zip may list."""
    max_compression_ratio: int = 100
    """Largest uncompressed/compressed size ratio of any zip member."""
    max_json_depth: int = 128
    """Deepest nesting of lists and objects in a config document."""
    max_json_values: int = 2_000_000
    """Most JSON values (of any kind) in one config document."""
    max_nodes: int = 100_000
    """Most config nodes (dicts with ``class_name``) in one artifact."""
    max_int_digits: int = 19
    """Longest integer literal, in decimal digits (sign excluded): about the 64-bit range."""
    max_string_length: int = 1 * _MIB
    """Longest string value in a config document."""
    max_dimension: int = 1 << 24
    """Largest single size argument (units, filters, vocabulary size, a shape entry)."""
    max_parameters: int = 2_000_000_000
    """Model-wide budget of trainable parameters estimated from the config."""
    max_hdf5_objects: int = 100_000
    """Most groups, datasets and links walked in one HDF5 file."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The setting names, as they appear in a policy's ``[limits]`` table."""
        return tuple(f.name for f in fields(cls))
