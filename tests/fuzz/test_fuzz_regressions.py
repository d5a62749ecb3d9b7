"""Inputs the fuzzers found, kept as exact regression tests."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import h5py
import pytest

import kerasvet
from kerasvet.artifact.hdf5 import vlen_length_problem

from ._support import DEFAULT, finding_pairs
from .strategies import EXAMPLES, FIXTURES

REGRESSIONS = Path(__file__).resolve().parent / "regressions"


def _findings(report: kerasvet.Report) -> list[tuple[str, str | None, str | None]]:
    return [(f.rule.id, f.location.pointer, f.location.detail)
            for a in report.artifacts for f in a.findings]


def test_atheris_vlen_length_bomb_is_refused_before_hdf5_reads_it() -> None:
    """atheris_reader.py, run 1: compiled_adam_schedule.h5 with training_config's 4-byte
    length set to 4 177 525 884. h5py's read allocated ~4 GiB and spent 13 s in C (the
    harness timed out at 10 s, RSS 2 GiB) before HDF5 noticed the object size mismatch."""
    data = (REGRESSIONS / "hdf5-vlen-length-bomb.h5").read_bytes()
    started = time.perf_counter()
    report = kerasvet.audit(data, DEFAULT)
    assert time.perf_counter() - started < 1.0
    assert _findings(report) == [("KV116", None, "offset 1120")]


def _patched_training_config(length: int) -> bytes:
    """A legacy model file whose ``training_config`` descriptor declares ``length`` bytes."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        file.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                                 "config": {"name": "s", "layers": []}})
        file.attrs["training_config"] = "x" * 900
    data = bytearray(buffer.getvalue())
    gcol = data.index(b"GCOL")
    descriptors = [m.start() - 4 for m in re.finditer(re.escape(gcol.to_bytes(8, "little")),
                                                      data)
                   if int.from_bytes(data[m.start() - 4:m.start()], "little") == 900]
    assert len(descriptors) == 1
    data[descriptors[0]:descriptors[0] + 4] = length.to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize("length", [901, 1 << 20, 0xFFFFFFFF])
def test_any_vlen_length_beyond_its_heap_object_is_refused(length: int) -> None:
    data = _patched_training_config(length)
    report = kerasvet.audit(data, DEFAULT)
    assert finding_pairs(report) == {("KV116", None)}
    assert "declares" in report.artifacts[0].findings[0].message


def test_a_vlen_length_within_its_object_is_read() -> None:
    report = kerasvet.audit(_patched_training_config(900), DEFAULT)
    assert "KV116" not in {rule for rule, _ in finding_pairs(report)}


@pytest.mark.parametrize("path", sorted([*FIXTURES.glob("**/*.h5"), *EXAMPLES.glob("*.h5")]),
                         ids=lambda p: p.name)
def test_no_real_hdf5_file_trips_the_vlen_check(path: Path) -> None:
    assert vlen_length_problem(path.read_bytes()) is None


@pytest.mark.parametrize(("document", "pointer"), [
    ({"module": "keras", "class_name": {"name": "x"}, "config": "x"}, ""),
    ({"class_name": ["a"], "config": 7}, ""),
    ({"module": "keras", "class_name": "Sequential",
      "config": {"name": "s", "layers": [{"class_name": {"a": 1}, "config": []}]}},
     "/config/layers/0"),
])
def test_an_unhashable_class_name_is_a_schema_finding(document: dict[str, object],
                                                      pointer: str) -> None:
    """test_fuzz_audit.py found it: a dict class_name beside a non-dict config reached a
    set lookup in the tree walk (TypeError -> KV001) instead of the KV206 schema check."""
    report = kerasvet.audit(json.dumps(document).encode(), DEFAULT)
    assert ("KV206", pointer) in finding_pairs(report)
    assert "KV001" not in {rule for rule, _ in finding_pairs(report)}


TRUNCATED_SUPERBLOCK = bytes.fromhex(
    "894844460d0a1a0a0000000000080800040010d10000000000"
    "0058000000000000040010d100000000000058000000000000"
)
"""test_fuzz_audit.py's raw-bytes property: a 50-byte HDF5 superblock cut short."""


def test_a_truncated_hdf5_file_reads_the_same_after_another_file() -> None:
    """h5py's file-object driver ignores a short read, so HDF5 parsed its buffer's stale
    bytes past the end: 'unknown symbol table entry cache type' on the first audit,
    'truncated file' after a real .h5 had been read. MemoryFile now zero-fills."""
    first = kerasvet.audit(TRUNCATED_SUPERBLOCK, DEFAULT)
    kerasvet.audit(EXAMPLES / "legacy_mlp.h5", DEFAULT)
    again = kerasvet.audit(TRUNCATED_SUPERBLOCK, DEFAULT)
    assert first == again
    assert _findings(first) == [("KV116", None, "/")]
    assert "truncated file" in first.artifacts[0].findings[0].message
