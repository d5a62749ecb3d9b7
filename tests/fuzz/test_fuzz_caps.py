"""Property (c): peak memory and wall time of one audit stay within bounds set by the input.

Every generated kind (configs, lambda configs, trees, zips, HDF5 files, raw bytes) in one
property, 2 000 examples in CI. The readers may cost memory in proportion to the bytes they
are given, never to a size the input merely *declares*: a zip member's uncompressed size
(up to ``max_compression_ratio`` = 100 times its bytes, and here an 8 MiB bomb), an HDF5
dataset's shape (a 4 TiB shape bomb), an integer's digit count. Measured here: peaks of
2-200 KiB for inputs of 20 B - 90 KB (about 130 bytes per input byte at most, for tiny
inputs with a fixed ~80 KiB floor). The bound, 4 MiB + 16 bytes per input byte, is 20 times
the worst measured and still below the 8 MiB bomb for every input this suite generates
(< 250 KB), so inflating the bomb, or allocating any declared size, fails it.

tracemalloc sees Python and numpy allocations, not the HDF5 library's own ``malloc``; a C
allocation of a declared size shows up as time instead (the 4 GiB variable-length string
the atheris harness found took 13 s), which ``TIME_CAP`` bounds.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

import kerasvet

from ._support import DEFAULT, FUZZ, TIME_CAP
from .strategies import (
    BOMB_SIZE,
    configs,
    deep_trees,
    hdf5_files,
    keras_zips,
    lambda_configs,
    wide_trees,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MEMORY_FLOOR = 4 << 20
MEMORY_PER_INPUT_BYTE = 16


def memory_cap(size: int) -> int:
    """Bytes one audit of a ``size``-byte input may allocate at its peak."""
    return MEMORY_FLOOR + MEMORY_PER_INPUT_BYTE * size


INPUTS = st.one_of(
    configs().map(lambda c: c.data),
    lambda_configs().map(lambda c: c.data),
    deep_trees(DEFAULT.limits.max_json_depth).map(lambda s: s.config.data),
    wide_trees(DEFAULT.limits.max_nodes // 1000).map(lambda s: s.config.data),
    keras_zips().map(lambda c: c.data),
    hdf5_files().map(lambda c: c.data),
    st.binary(max_size=512),
)


def test_the_bomb_breaks_the_bound() -> None:
    """The cap is below what inflating the zip bomb would cost, for any generated size."""
    assert memory_cap(250_000) < BOMB_SIZE


@FUZZ
@given(INPUTS)
def test_memory_and_time_stay_bounded(data: bytes) -> None:
    tracemalloc.start()
    try:
        started = time.perf_counter()
        report = kerasvet.audit(data, DEFAULT)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(report, kerasvet.Report)
    assert peak <= memory_cap(len(data)), (peak, len(data))
    assert seconds < TIME_CAP * 2, seconds  # tracemalloc roughly doubles the cost
