"""Generate src/kerasvet/lambdas/opcodes/py3XX.json, one opcode table per CPython version.

Why generated: the lambda reader must decode bytecode of *other* Python versions than the
one kerasvet runs on, so it cannot use its own ``opcode``/``dis`` modules. Each table is
taken from the real interpreter of that version, reading only its own ``opcode`` module and
``importlib.util.MAGIC_NUMBER``; the output is sorted and deterministic, and committed.

Usage:
    python scripts/generate_opcode_tables.py                 # every pyenv 3.8-3.13 found
    python scripts/generate_opcode_tables.py /path/python3.X ...
    python3.X scripts/generate_opcode_tables.py --emit       # child mode: JSON on stdout

The child part runs under 3.8 too, so this file keeps to 3.8 syntax.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from typing import Any

OUT_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "src", "kerasvet", "lambdas", "opcodes",
)
PYENV_GLOB = "/root/.pyenv/versions/3.*/bin/python"
WANTED = {(3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13)}


def _names(opcode: Any, ops: list[int]) -> list[str]:
    """Opcode numbers to names, dropping numbers that have no name in ``opmap``."""
    named = {v: k for k, v in opcode.opmap.items()}
    return sorted({named[o] for o in ops if o in named})


def emit() -> dict[str, Any]:
    """Describe the running interpreter's opcode module as plain JSON data."""
    import importlib.util
    import opcode

    opmap = dict(opcode.opmap)
    version = "{}.{}".format(*sys.version_info[:2])
    table: dict[str, Any] = {
        "version": version,
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "magic": int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little"),
        "have_argument": opcode.HAVE_ARGUMENT,
        "extended_arg": opcode.EXTENDED_ARG,
        "opmap": opmap,
        "hasjrel": _names(opcode, opcode.hasjrel),
        "hasjabs": _names(opcode, opcode.hasjabs),
        "hasconst": _names(opcode, opcode.hasconst),
        "hasname": _names(opcode, opcode.hasname),
        "haslocal": _names(opcode, opcode.haslocal),
        "hasfree": _names(opcode, opcode.hasfree),
        "hascompare": _names(opcode, opcode.hascompare),
        "cmp_op": list(opcode.cmp_op),
    }
    if hasattr(opcode, "hasarg"):
        table["hasarg"] = _names(opcode, opcode.hasarg)
    else:
        # Before 3.12 "takes an argument" is exactly "opcode >= HAVE_ARGUMENT".
        table["hasarg"] = sorted(n for n, o in opmap.items() if o >= opcode.HAVE_ARGUMENT)
    caches: dict[str, int] = {}
    entries = getattr(opcode, "_inline_cache_entries", None)
    if isinstance(entries, dict):  # 3.13: keyed by name
        caches = {n: c for n, c in entries.items() if c and n in opmap}
    elif entries is not None:  # 3.11, 3.12: a list indexed by opcode
        named = {v: k for k, v in opmap.items()}
        caches = {named[o]: c for o, c in enumerate(entries) if c and o in named}
    table["inline_cache_entries"] = caches
    specialized: list[str] = []
    if hasattr(opcode, "_specialized_instructions"):
        specialized = list(opcode._specialized_instructions)
    elif hasattr(opcode, "_specialized_opmap"):
        specialized = list(opcode._specialized_opmap)
    table["specialized"] = sorted(specialized)
    if hasattr(opcode, "_nb_ops"):
        table["nb_ops"] = [list(pair) for pair in opcode._nb_ops]
    if hasattr(opcode, "_intrinsic_1_descs"):
        table["intrinsic_1"] = list(opcode._intrinsic_1_descs)
    if hasattr(opcode, "_intrinsic_2_descs"):
        table["intrinsic_2"] = list(opcode._intrinsic_2_descs)
    min_instr = getattr(opcode, "MIN_INSTRUMENTED_OPCODE", None)
    table["instrumented"] = sorted(
        n for n, o in opmap.items()
        if n.startswith("INSTRUMENTED_") or (min_instr is not None and min_instr <= o < 256)
    )
    table["pseudo"] = sorted(n for n, o in opmap.items() if o >= 256)
    return table


def interpreters(argv: list[str]) -> list[str]:
    """The interpreters to run: the arguments, or one pyenv build per wanted version."""
    if argv:
        return argv
    found: dict[str, str] = {}
    for path in sorted(glob.glob(PYENV_GLOB)):
        version = os.path.basename(os.path.dirname(os.path.dirname(path)))
        parts = tuple(int(p) for p in version.split(".")[:2])
        if parts in WANTED:
            found["{}.{}".format(*parts)] = path
    return [found[k] for k in sorted(found, key=lambda v: tuple(map(int, v.split("."))))]


def main(argv: list[str]) -> int:
    """Run the child mode under every interpreter and write one JSON file per version."""
    if argv[:1] == ["--emit"]:
        json.dump(emit(), sys.stdout, sort_keys=True)
        return 0
    os.makedirs(OUT_DIR, exist_ok=True)
    for python in interpreters(argv):
        out = subprocess.run(
            [python, "-I", os.path.abspath(__file__), "--emit"],
            check=True, capture_output=True, text=True,
        ).stdout
        table = json.loads(out)
        name = "py{}.json".format(table["version"].replace(".", ""))
        path = os.path.join(OUT_DIR, name)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(table, fh, sort_keys=True, indent=1)
            fh.write("\n")
        print("{}: {} ({})".format(python, path, table["python"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
