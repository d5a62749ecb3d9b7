"""Median cost of judging one serialized lambda, against a native baseline in the same run.

For every lambda of the committed corpus written by *this* interpreter's CPython version
(tests/fixtures/lambdas/py3XX.json), measures:

- ``read (all versions)``: strict base64 + marshal read + instruction decode under every
  supported CPython table (what the audit does, since files do not record a version);
- ``read (version-pinned)``: the same for the producer's version only;
- ``analyze (no astroid/bandit)`` and ``analyze (full)``: ``analyze_lambda`` end to end;
- the native baseline ``marshal.loads`` + ``dis.get_instructions``, measured in a child
  process (never in this one: native unmarshalling of untrusted bytes is exactly what
  kerasvet avoids; the corpus here is our own, written by this interpreter).

    python bench/lambda_cost.py [--repeat N]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kerasvet.lambdas.analyze import analyze_lambda
from kerasvet.lambdas.instructions import examine, read_as
from kerasvet.lambdas.marshal_reader import decode_code_field
from kerasvet.lambdas.model import LambdaError, LambdaForm
from kerasvet.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

CHILD = r"""
import base64, dis, json, marshal, statistics, sys, time
blobs = [base64.b64decode(code) for code in json.load(sys.stdin)]
repeat = int(sys.argv[1])
per_blob = []
for blob in blobs:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        code = marshal.loads(blob)
        for _ in dis.get_instructions(code):
            pass
        samples.append(time.perf_counter() - start)
    per_blob.append(statistics.median(samples))
print(json.dumps(statistics.median(per_blob)))
"""


def pinned(blob: bytes) -> object:
    try:
        return read_as(blob, VERSION)
    except LambdaError as exc:  # a refused reading costs what it costs, then denies
        return exc


def median_per_item(fn, items, repeat: int) -> float:
    per_item = []
    for item in items:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn(item)
            samples.append(time.perf_counter() - start)
        per_item.append(statistics.median(samples))
    return statistics.median(per_item)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    corpus = ROOT / "tests" / "fixtures" / "lambdas" / f"py3{sys.version_info.minor}.json"
    cases = [c for c in json.loads(corpus.read_text())["cases"] if c["group"] != "crafted"]
    configs = [c["keras"] for c in cases]
    blobs = [decode_code_field(c["code"]) for c in configs]
    lambdas = load_policy("default").lambdas
    analyze_lambda(configs[0], LambdaForm.KERAS3_LAYER, lambdas)  # warm astroid's caches

    rows = [
        ("read (all versions)", median_per_item(examine, blobs, args.repeat)),
        ("read (version-pinned)",
         median_per_item(pinned, blobs, args.repeat)),
        ("analyze (no astroid/bandit)", median_per_item(
            lambda c: analyze_lambda(c, LambdaForm.KERAS3_LAYER, lambdas, use_astroid=False,
                                     use_bandit=False), configs, max(args.repeat // 4, 3))),
        ("analyze (full)", median_per_item(
            lambda c: analyze_lambda(c, LambdaForm.KERAS3_LAYER, lambdas), configs,
            max(args.repeat // 4, 3))),
    ]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(args.repeat)],
        input=json.dumps([base64.b64encode(b).decode() for b in blobs]),
        capture_output=True, text=True, check=True, timeout=600,
    )
    native = float(child.stdout)
    print(f"CPython {VERSION}, {len(blobs)} lambdas from {corpus.relative_to(ROOT)}, "
          f"median per lambda of medians over {args.repeat} runs")
    print(f"{'native marshal.loads + dis (child process)':44} {native * 1e6:10.1f} us   1.0x")
    for name, seconds in rows:
        print(f"{name:44} {seconds * 1e6:10.1f} us {seconds / native:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
