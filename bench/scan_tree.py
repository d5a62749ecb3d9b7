"""Scan a generated tree of >= 1000 model files with ``--jobs 1`` and with every core.

The tree is made in a temporary folder from the committed fixtures: bare configs, ``.keras``
zips and legacy ``.h5`` files, each copy with small variations (layers renamed, ``units``
scaled, so the files and the models differ in size), a few hostile configs from
``tests/fixtures/attacks/``, and some files that are no model at all. Each run is the real
command in a fresh process (``python -m kerasvet audit``), so start-up and worker spawning
are in the figures. ``modelscan`` and ``modelaudit`` are run on the same tree only when they
are installed; nothing is installed here. Nothing is asserted: read files/s and the ratio.

    python bench/scan_tree.py [--files N] [--repeat R] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py

from kerasvet.scan import default_jobs

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
HOSTILE = ["cve-2025-1550-os-system", "cve-2025-1550-subprocess-run", "cve-2025-8747-get-file",
           "cve-2025-9906-enable-unsafe", "cve-2026-1462-tfsmlayer", "absurd-units",
           "cve-2025-12058-vocabulary-path", "nested-builtins-exec-initializer",
           "torch-module-wrapper-pickle", "lambda-hidden-cache-import"]


def _layers(config: dict) -> list[dict]:
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else None
    return [layer for layer in layers or [] if isinstance(layer, dict)]


def vary(config: dict, rng: random.Random, index: int) -> dict:
    """Rename every layer (and every reference to it) and scale ``units``."""
    names = {}
    for layer in _layers(config):
        name = layer.get("config", {}).get("name") or layer.get("name")
        if isinstance(name, str):
            names[name] = f"{name}_v{index}"

    def walk(value: object, key: str | None = None) -> object:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        # Layer names sit under "name" or inside reference lists (keras_history,
        # inbound_nodes, input_layers); "activation": "relu" must stay as it is.
        if isinstance(value, str) and value in names and key in ("name", None):
            return names[value]
        if key == "units" and isinstance(value, int) and not isinstance(value, bool):
            return max(1, value * rng.choice((1, 2, 3, 4)) // 2)
        return value

    varied = walk(config)
    assert isinstance(varied, dict)
    return varied


def make_tree(folder: Path, files: int, seed: int = 5) -> dict[str, int]:
    """Write ``files`` model files (mixed formats) plus hostile and non-model files."""
    rng = random.Random(seed)
    configs = [json.loads(p.read_text()) for p in sorted((FIXTURES / "benign").glob(
        "*.config.json"))]
    zips = sorted((FIXTURES / "benign" / "files").glob("*.keras"))
    legacy = sorted((FIXTURES / "benign" / "files").glob("*.h5"))
    counts = {"json": 0, "keras": 0, "h5": 0, "hostile": 0, "not-a-model": 0}
    for index in range(files - len(HOSTILE)):
        shard = folder / f"team{index % 7}" / f"project{index % 23}"
        shard.mkdir(parents=True, exist_ok=True)
        kind = rng.choices(("json", "keras", "h5"), weights=(4, 4, 2))[0]
        if kind == "json":
            config = vary(rng.choice(configs), rng, index)
            (shard / f"model_{index}.json").write_text(json.dumps(config))
        elif kind == "keras":
            source = rng.choice(zips)
            with zipfile.ZipFile(source) as archive:
                members = {name: archive.read(name) for name in archive.namelist()}
            members["config.json"] = json.dumps(
                vary(json.loads(members["config.json"]), rng, index)).encode()
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in members.items():
                    archive.writestr(name, data)
            (shard / f"model_{index}.keras").write_bytes(buffer.getvalue())
        else:
            target = shard / f"model_{index}.h5"
            shutil.copy(rng.choice(legacy), target)
            with h5py.File(target, "r+") as file:
                raw = file.attrs["model_config"]
                text = raw.decode() if isinstance(raw, bytes) else str(raw)
                file.attrs["model_config"] = json.dumps(vary(json.loads(text), rng, index))
        counts[kind] += 1
    for index, name in enumerate(HOSTILE):
        shutil.copy(FIXTURES / "attacks" / f"{name}.json",
                    folder / f"team{index % 7}" / f"incoming_{name}.json")
        counts["hostile"] += 1
    for index in range(40):
        noise = folder / f"team{index % 7}" / f"notes_{index}.md"
        noise.write_text("# notes\n" * (index + 1))
        (folder / f"team{index % 7}" / f"package_{index}.json").write_text('{"name": "x"}')
        counts["not-a-model"] += 2
    return counts


def timed(command: list[str], repeat: int, env: dict[str, str]) -> tuple[float, str]:
    """Best wall time of ``repeat`` runs of a fresh process, and the last run's stdout."""
    best = float("inf")
    out = ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        best = min(best, time.perf_counter() - start)
        out = done.stdout
        if done.returncode not in (0, 1):
            raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return best, out


def peer(name: str, make_command: Callable[[Path], list[str]], tree: Path, files: int,
         env: dict[str, str]) -> None:
    """Run a peer scanner on the same tree when it is installed; say so when it is not."""
    executable = shutil.which(name)
    if executable is None:
        print(f"{name}: not installed, skipped (this script never installs it)")
        return
    start = time.perf_counter()
    done = subprocess.run(make_command(tree), capture_output=True, text=True, env=env,
                          check=False)
    seconds = time.perf_counter() - start
    print(f"{name}: {seconds:.2f} s, {files / seconds:.1f} files/s, "
          f"{seconds / files * 1e3:.2f} ms per file (exit {done.returncode})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="model files to generate")
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting (best kept)")
    parser.add_argument("--keep", type=Path, help="generate here and keep the tree")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="kerasvet-bench-"))
    tree = folder / "tree"
    try:
        start = time.perf_counter()
        counts = make_tree(tree, args.files)
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        print(f"tree: {sum(counts.values())} files ({counts}), {size / 2**20:.1f} MiB, "
              f"made in {time.perf_counter() - start:.1f} s")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
        env.pop("CI", None)
        cores = default_jobs()
        results = {}
        for jobs in sorted({1, cores}):
            command = [sys.executable, "-m", "kerasvet", "audit", "--root", str(tree),
                       "--format", "json", "--jobs", str(jobs), str(tree)]
            seconds, out = timed(command, args.repeat, env)
            summary = json.loads(out)["summary"]
            results[jobs] = seconds
            audited = summary["files"]
            print(f"kerasvet --jobs {jobs}: {seconds:.2f} s, {audited / seconds:.1f} files/s, "
                  f"{seconds / audited * 1e3:.2f} ms per file ({audited} audited, "
                  f"{summary['denied']} denied, skipped {summary['skipped']})")
        if cores > 1:
            print(f"speed-up with {cores} cores: {results[1] / results[cores]:.2f}x")
        else:
            print("one core only: no speed-up to measure")
        audited_files = counts["json"] + counts["keras"] + counts["h5"] + counts["hostile"]
        peer("modelscan", lambda t: ["modelscan", "-p", str(t)], tree, audited_files, env)
        peer("modelaudit", lambda t: ["modelaudit", "scan", str(t)], tree, audited_files, env)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
