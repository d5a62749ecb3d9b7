"""Per-version CPython opcode tables, read from the committed ``py3XX.json`` data files.

The JSON files are produced by ``scripts/generate_opcode_tables.py`` from each
interpreter's own ``opcode`` module, because kerasvet must decode bytecode written by other
Python versions than the one it runs on. This module only loads and indexes them; the rules
that are not in ``opcode`` (jump units, name-argument shifts) live in ``instructions.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Final

from kerasvet.lambdas.model import LayoutFamily

__all__ = ["SUPPORTED_VERSIONS", "OpcodeTable", "load_table"]

SUPPORTED_VERSIONS: Final = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
"""Producer versions we have tables for, oldest first."""

# Opcodes that exist in a version but can never appear in ``marshal.dumps`` output: the
# serialized co_code is the de-optimized copy (specialized and instrumented forms are mapped
# back), INTERPRETER_EXIT only lives in C trampolines, ENTER_EXECUTOR is a JIT hook, and
# CACHE is only ever a cache slot, never an instruction.
_NEVER_SERIALIZED: Final = frozenset({"CACHE", "RESERVED", "INTERPRETER_EXIT", "ENTER_EXECUTOR"})


@dataclass(frozen=True, slots=True)
class OpcodeTable:
    """Everything needed to split one version's ``co_code`` into instructions."""

    version: str
    """Producer version, ``"3.11"``."""
    python: str
    """Exact interpreter the table was generated from, ``"3.11.7"``."""
    magic: int
    """``importlib.util.MAGIC_NUMBER`` of that interpreter (first two bytes, little endian)."""
    family: LayoutFamily
    """Code-object layout this version writes."""
    extended_arg: int
    """Opcode number of EXTENDED_ARG."""
    opnames: tuple[str | None, ...]
    """256 entries: the name of each opcode valid in serialized code, else ``None``."""
    opmap: MappingProxyType[str, int]
    """Name to number for every real opcode (< 256) of this version, valid or not."""
    hasarg: frozenset[int]
    """Opcodes whose argument byte is meaningful (it must be zero otherwise)."""
    hasjrel: frozenset[int]
    """Relative jumps."""
    hasjabs: frozenset[int]
    """Absolute jumps (3.8-3.10 only)."""
    hasconst: frozenset[int]
    """Arguments index ``co_consts``."""
    hasname: frozenset[int]
    """Arguments index ``co_names`` (after the per-version shift)."""
    haslocal: frozenset[int]
    """Arguments index the fast locals."""
    hasfree: frozenset[int]
    """Arguments index cell and free variables."""
    hascompare: frozenset[int]
    """COMPARE_OP, whose argument indexes ``cmp_op``."""
    cache_entries: tuple[int, ...]
    """256 entries: inline cache code units following each opcode (0 before 3.11)."""
    cmp_op: tuple[str, ...]
    """Comparison operator names, indexed by COMPARE_OP's argument."""
    nb_ops: tuple[tuple[str, str], ...]
    """``(NB_name, symbol)`` pairs indexed by BINARY_OP's argument (3.11+)."""
    intrinsic_1: tuple[str, ...]
    """CALL_INTRINSIC_1 function names (3.12+)."""
    intrinsic_2: tuple[str, ...]
    """CALL_INTRINSIC_2 function names (3.12+)."""

    def number(self, name: str) -> int | None:
        """The opcode number of ``name`` in this version, if it is a real opcode here."""
        return self.opmap.get(name)


def _family(version: str) -> LayoutFamily:
    minor = int(version.split(".")[1])
    return LayoutFamily.PY311_ON if minor >= 11 else LayoutFamily.PY38_TO_310


@cache
def load_table(version: str) -> OpcodeTable:
    """Load the opcode table of producer ``version`` (one of :data:`SUPPORTED_VERSIONS`)."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"no opcode table for Python {version}")
    name = "py" + version.replace(".", "") + ".json"
    raw = json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
    opmap = {str(k): int(v) for k, v in raw["opmap"].items() if int(v) < 256}
    excluded = set(raw["specialized"]) | set(raw["instrumented"]) | _NEVER_SERIALIZED
    opnames: list[str | None] = [None] * 256
    for op_name, number in opmap.items():
        if op_name not in excluded:
            opnames[number] = op_name

    def ops(key: str) -> frozenset[int]:
        return frozenset(opmap[n] for n in raw.get(key, ()) if n in opmap)

    caches = [0] * 256
    for op_name, count in raw["inline_cache_entries"].items():
        if op_name in opmap:
            caches[opmap[op_name]] = int(count)
    return OpcodeTable(
        version=raw["version"],
        python=raw["python"],
        magic=int(raw["magic"]),
        family=_family(version),
        extended_arg=int(raw["extended_arg"]),
        opnames=tuple(opnames),
        opmap=MappingProxyType(opmap),
        hasarg=ops("hasarg"),
        hasjrel=ops("hasjrel"),
        hasjabs=ops("hasjabs"),
        hasconst=ops("hasconst"),
        hasname=ops("hasname"),
        haslocal=ops("haslocal"),
        hasfree=ops("hasfree"),
        hascompare=ops("hascompare"),
        cache_entries=tuple(caches),
        cmp_op=tuple(raw["cmp_op"]),
        nb_ops=tuple((str(a), str(b)) for a, b in raw.get("nb_ops", ())),
        intrinsic_1=tuple(raw.get("intrinsic_1", ())),
        intrinsic_2=tuple(raw.get("intrinsic_2", ())),
    )
