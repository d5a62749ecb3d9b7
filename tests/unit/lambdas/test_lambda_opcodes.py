"""The committed opcode tables load, match the research's magic numbers, and stay canonical."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from kerasvet.lambdas.model import LayoutFamily
from kerasvet.lambdas.opcodes import SUPPORTED_VERSIONS, load_table

MAGIC = {"3.8": 3413, "3.9": 3425, "3.10": 3439, "3.11": 3495, "3.12": 3531, "3.13": 3571}
LOAD_GLOBAL_CACHES = {"3.8": 0, "3.9": 0, "3.10": 0, "3.11": 5, "3.12": 4, "3.13": 4}


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_table_basics(version: str) -> None:
    table = load_table(version)
    assert table.version == version
    assert table.python.startswith(version + ".")
    assert table.magic == MAGIC[version]
    minor = int(version.split(".")[1])
    assert table.family is (LayoutFamily.PY311_ON if minor >= 11 else LayoutFamily.PY38_TO_310)
    assert table.extended_arg == (71 if version == "3.13" else 144)
    assert table.opnames[table.extended_arg] == "EXTENDED_ARG"
    assert len(table.opnames) == 256
    assert len(table.cache_entries) == 256
    assert table.cache_entries[table.opmap["LOAD_GLOBAL"]] == LOAD_GLOBAL_CACHES[version]


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_never_serialized_opcodes_are_not_valid(version: str) -> None:
    table = load_table(version)
    assert table.opnames[0] is None  # CACHE is a slot, never an instruction
    names = set(filter(None, table.opnames))
    assert not any(n.startswith("INSTRUMENTED_") for n in names)
    assert "ENTER_EXECUTOR" not in names
    assert "BINARY_OP_ADD_INT" not in names  # a specialization


def test_313_tables_carry_intrinsics_and_nb_ops() -> None:
    table = load_table("3.13")
    assert table.intrinsic_1[5] == "INTRINSIC_UNARY_POSITIVE"
    assert table.nb_ops[5] == ("NB_MULTIPLY", "*")
    assert table.cmp_op == ("<", "<=", "==", "!=", ">", ">=")
    assert load_table("3.8").cmp_op[8] == "is"


def test_unknown_version() -> None:
    with pytest.raises(ValueError, match="no opcode table"):
        load_table("3.7")


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_json_is_canonical(version: str) -> None:
    """What the generator writes: sorted keys, one-space indent, trailing newline."""
    name = "py" + version.replace(".", "") + ".json"
    text = resources.files("kerasvet.lambdas.opcodes").joinpath(name).read_text("utf-8")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=1) + "\n"
