"""Audit time against plain ``json.loads`` on the same bytes, in one process.

Picks the largest real application config in tests/fixtures/benign (or the file given),
runs both many times, and prints medians and their ratio. The machine is shared and noisy:
read the ratio, not the seconds. Target: audit <= 3x json.loads.

    python bench/audit_vs_json.py [CONFIG.json] [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path

from kerasvet.audit import audit_artifact
from kerasvet.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    path = args.config or max((ROOT / "tests/fixtures/benign").glob("*.config.json"),
                              key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    policy = load_policy("default")
    report = audit_artifact(data, policy)
    assert report.allowed, [f.message for f in report.findings]
    # Warm both paths once, then interleave nothing: each is measured in its own loop.
    json.loads(data)
    baseline = median_seconds(lambda: json.loads(data), args.repeat)
    audited = median_seconds(lambda: audit_artifact(data, policy), args.repeat)
    nodes = len(report.decisions)
    print(f"file: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({len(data):,} bytes, {nodes} nodes)")
    print(f"json.loads median: {baseline * 1e3:.2f} ms over {args.repeat} runs")
    print(f"kerasvet audit median: {audited * 1e3:.2f} ms over {args.repeat} runs")
    print(f"ratio audit/json.loads: {audited / baseline:.2f}x (target <= 3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
