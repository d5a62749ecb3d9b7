"""Audit properties over generated configs, containers and bytes (issue 7, item 3).

For every input: (a) ``kerasvet.audit`` returns a Report (or raises KerasvetError) and no
stage crashed into a KV001 finding; (b) no module the input names was imported and the
canary package never fired; (c) each run stays under ``TIME_CAP`` (memory: see
test_fuzz_caps.py); (d) two runs render the same JSON. Each property runs at the profile's
example count (2 000 in CI, derandomized).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ._support import DEFAULT, FUZZ, TIGHT, check_audit, finding_pairs
from .strategies import (
    EXAMPLES,
    FIXTURES,
    Config,
    Container,
    Shaped,
    configs,
    deep_trees,
    hdf5_files,
    keras_zips,
    lambda_configs,
    wide_trees,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # zipfile: duplicate names

LIMIT_RULES = frozenset({"KV204", "KV205"})


@FUZZ
@given(st.one_of(*[configs()] * 7, lambda_configs()))
def test_generated_configs(canary_package: Path, config: Config) -> None:
    """Valid, mutated, hostile and lambda-carrying configs."""
    check_audit(config.data, DEFAULT, [config.value])
    assert not canary_package.exists()


@FUZZ
@given(st.one_of(deep_trees(DEFAULT.limits.max_json_depth),
                 deep_trees(TIGHT.limits.max_json_depth).map(lambda s: (s, TIGHT)),
                 wide_trees(TIGHT.limits.max_nodes).map(lambda s: (s, TIGHT))))
def test_trees_near_and_beyond_the_limits(canary_package: Path,
                                          case: Shaped | tuple[Shaped, object]) -> None:
    """Deep and wide trees: exactly the expected limit finding, at its exact pointer."""
    shaped, policy = case if isinstance(case, tuple) else (case, DEFAULT)
    report = check_audit(shaped.config.data, policy, [shaped.config.value])  # type: ignore[arg-type]
    assert report is not None
    limits = {pair for pair in finding_pairs(report) if pair[0] in LIMIT_RULES}
    assert limits == ({shaped.expected} if shaped.expected else set())
    assert not canary_package.exists()


@FUZZ
@given(keras_zips())
def test_generated_keras_zips(canary_package: Path, container: Container) -> None:
    check_audit(container.data, DEFAULT, container.configs)
    assert not canary_package.exists()


@FUZZ
@given(hdf5_files())
def test_generated_hdf5_files(canary_package: Path, container: Container) -> None:
    check_audit(container.data, DEFAULT, container.configs)
    assert not canary_package.exists()


_REAL_FILES = tuple(p.read_bytes() for p in (
    EXAMPLES / "mlp.keras", EXAMPLES / "legacy_mlp.h5", EXAMPLES / "lambda_model.keras",
    FIXTURES / "attacks" / "cve-2025-1550-os-system.json",
    EXAMPLES / "small_mobilenet.json",
))


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    """A real artifact with 1-8 bytes set, a cut, or a span repeated."""
    data = bytearray(draw(st.sampled_from(_REAL_FILES)))
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data) - 1))
        kind = draw(st.integers(0, 5))
        if kind == 0:
            del data[i:]
            if not data:
                break
        elif kind == 1:
            data[i:i] = data[i:i + draw(st.integers(1, 256))]
        else:
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


@FUZZ
@given(st.one_of(st.binary(max_size=512), damaged_files(),
                 st.binary(max_size=64).map(lambda b: b"\x89HDF\r\n\x1a\n" + b),
                 st.binary(max_size=64).map(lambda b: b"PK\x03\x04" + b),
                 st.binary(max_size=64).map(lambda b: b"{" + b)))
def test_raw_and_damaged_bytes(canary_package: Path, data: bytes) -> None:
    check_audit(data, DEFAULT)
    assert not canary_package.exists()
