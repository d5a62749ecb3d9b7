"""atheris harness for the strict marshal reader (not run in CI; see tests/fuzz/README.md).

    python tests/fuzz/atheris_marshal.py -atheris_runs=200000

For any bytes: ``read_code`` under both layout families raises only ``MarshalError``;
``examine`` (every CPython reading) never raises; ``lift`` of each surviving reading raises
only ``LiftError``; and ``decode_code_field`` of the bytes as text raises only
``MarshalError``. Anything else propagates to libFuzzer as a crash. Seeds: every lambda blob
the fixture interpreters (3.8-3.13) wrote, crafted ones included.
"""

from __future__ import annotations

import contextlib
import json

import atheris
from atheris_support import FIXTURES, prepare_argv, use_this_checkout

use_this_checkout()

with atheris.instrument_imports(include=["kerasvet"]):
    from kerasvet.lambdas.instructions import examine
    from kerasvet.lambdas.lift import lift
    from kerasvet.lambdas.marshal_reader import decode_code_field, read_code
    from kerasvet.lambdas.model import LayoutFamily, LiftError, MarshalError


def seeds() -> list[tuple[str, bytes]]:
    """Every blob of every fixture file, named by producer version and case id."""
    out = []
    for path in sorted((FIXTURES / "lambdas").glob("py*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            blob = decode_code_field(case["keras"]["code"])
            out.append((f"{path.stem}-{case['id']}", blob))
    return out


def one_input(data: bytes) -> None:
    for family in LayoutFamily:
        with contextlib.suppress(MarshalError):
            read_code(data, family)
    for reading in examine(data).readings:
        with contextlib.suppress(LiftError):
            lift(reading)
    with contextlib.suppress(MarshalError):
        decode_code_field(data.decode("latin-1"))


def main() -> None:
    atheris.Setup(prepare_argv("marshal", seeds()), one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
