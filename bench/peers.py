"""kerasvet against modelscan, modelaudit and plain Keras ``safe_mode`` on the same files.

One command, one run, one table. The corpus is made in a fresh work folder from the attack
folders (default ``tests/fixtures/attacks``) and the benign folders (default
``tests/fixtures/benign`` and ``tests/fixtures/keras2``), both searched recursively:

- every attack that is a bare config JSON is wrapped into a real ``.keras`` zip: the
  ``metadata.json`` and ``model.weights.h5`` members of a base model that Keras writes at
  the start of the run, with the attack as ``config.json`` (the form every tool reads);
  ``.keras`` and ``.h5`` attacks are presented as they are. In a folder with a MANIFEST.json
  only the files it lists count as attacks (the others are named and left out);
- benign ``.keras``/``.h5`` files are presented as they are, benign config JSON bare (a
  tool that cannot read bare JSON scores "unsupported" for it, never a false positive);
  the Keras-written base itself is one more benign file (the wrapping's control).

Then every tool sees every file:

- ``kerasvet``: ``python -m kerasvet audit --format json --jobs 1`` (this checkout's src);
- ``modelscan`` and ``modelaudit``: their own executables (``--modelscan``,
  ``--modelaudit``; installed in their own venv, never by this script), one run over the
  corpus folder, findings attributed to files from their JSON reports;
- plain Keras: ``keras.saving.load_model(path, safe_mode=True)`` (bare JSON:
  ``keras.saving.deserialize_keras_object(config, safe_mode=True)``), each file in its own
  child process with a timeout, a private empty ``/tmp`` and no network (``unshare``), so a
  payload that runs can only touch its canary there; the child reports whether it did.

Caught (attack) / flagged (benign) means: kerasvet's verdict for the file is ``deny``;
modelscan reports an issue of severity MEDIUM, HIGH or CRITICAL for it; modelaudit one of
severity ``warning`` or ``critical`` (its levels are critical/warning/info/debug); Keras
raises while reading or deserializing the config (before any weight is read), the canary
did not fire, and no function the config named was called (a raise from inside
``Lambda.call`` means Keras accepted the config and ran the attacker's function: a miss).
A scan error or an unsupported file is never a catch; for Keras, a raise because a module
is missing (``ModuleNotFoundError``, "requires TensorFlow") is an error, not a catch.

Time per file is given two ways: the median wall time of a fresh process per file over a
fixed sample (``--sample``, ``--repeat`` runs each; every Keras load is such a process
anyway), and one batch run's wall time divided by its files. Ratios are to kerasvet's
figure of the same kind in the same run. Nothing is asserted.

    KERAS_BACKEND=jax PYTHONPATH=src python bench/peers.py \\
        --modelscan /work/peers-venv/modelscan/bin/modelscan \\
        --modelaudit /work/peers-venv/modelaudit/bin/modelaudit \\
        [--attacks DIR ...] [--benign DIR ...] [--sample N] [--repeat R] [--details FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DEFAULT_ATTACKS = (FIXTURES / "attacks",)
DEFAULT_BENIGN = (FIXTURES / "benign", FIXTURES / "keras2")
MODEL_SUFFIXES = (".json", ".keras", ".h5", ".hdf5")
CANARY = "/tmp/kerasvet-canary"
FLAGGED, CLEAN, ERROR, UNSUPPORTED = "flagged", "clean", "error", "unsupported"
MODELSCAN_FLAGS = {"MEDIUM", "HIGH", "CRITICAL"}
MODELAUDIT_FLAGS = {"warning", "critical"}

BASE_SCRIPT = r"""
import sys
import keras
keras.utils.set_random_seed(0)
inputs = keras.Input((4,), name="input_layer")
hidden = keras.layers.Dense(3, activation="relu", name="dense")(inputs)
outputs = keras.layers.Dense(2, name="dense_1")(hidden)
keras.Model(inputs, outputs, name="base").save(sys.argv[1])
print(keras.__version__)
"""

# Runs inside a private mount and network namespace with an empty tmpfs on /tmp.
KERAS_CHILD = r"""
import json, os, sys, time, traceback
path, canary = sys.argv[1], sys.argv[2]
WEIGHT_STEPS = {"_load_state", "load_weights_from_hdf5_group", "_raise_loading_failure",
                "load_own_variables", "load_assets", "load_subset_weights_from_hdf5_group"}
import keras
keras.config.disable_traceback_filtering()  # keep Keras' own frames: they tell the stage
start = time.perf_counter()
result = {"loaded": False, "stage": None, "error": None}
try:
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as handle:
            config = json.loads(handle.read())
        keras.saving.deserialize_keras_object(config, safe_mode=True)
    else:
        keras.saving.load_model(path, safe_mode=True)
    result["loaded"] = True
except BaseException as exc:  # RecursionError, MemoryError, SystemExit: all are outcomes
    trace, link = [], exc
    while link is not None:  # the raise and every exception it was raised from or during
        trace += traceback.extract_tb(link.__traceback__)
        link = link.__cause__ or link.__context__
    frames = {frame.name for frame in trace}
    text = str(exc)
    # Lambda.call runs the deserialized function (also when Keras infers the output shape).
    called = any(f.filename.endswith("lambda_layer.py") and f.name == "call" for f in trace)
    weights = bool(frames & WEIGHT_STEPS) or text.startswith("Expected a model.weights")
    missing = isinstance(exc, ModuleNotFoundError) or "requires TensorFlow" in text
    result["stage"] = ("called" if called else "weights" if weights
                       else "dependency" if missing else "config")
    result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
result["load_ms"] = (time.perf_counter() - start) * 1e3
result["canary"] = os.path.exists(canary)
print("KERAS-RESULT " + json.dumps(result))
"""


@dataclass(frozen=True)
class Case:
    """One file of the corpus: where it came from and the file every tool is given."""

    name: str
    group: str  # "attack" or "benign"
    source: Path
    presented: Path
    form: str


@dataclass(frozen=True)
class Outcome:
    status: str  # FLAGGED, CLEAN, ERROR or UNSUPPORTED
    detail: str = ""


@dataclass(frozen=True)
class ToolRun:
    """A tool's outcome for every case, and its timings in milliseconds per file."""

    name: str
    version: str
    outcomes: dict[str, Outcome]
    fresh_ms: float | None
    batch_ms: float | None
    note: str = ""


def listed_in_manifest(folder: Path) -> set[str] | None:
    """File names a MANIFEST.json in ``folder`` declares (None when there is none)."""
    manifest = folder / "MANIFEST.json"
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    names: set[str] = set()
    for entry in data.get("fixtures", []):
        names.add(f"{entry['id']}.json" if "id" in entry else entry["file"])
    for entry in data.get("files", []):
        names.add(entry["file"])
    return names


def model_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in MODEL_SUFFIXES
                  and not p.name.startswith("MANIFEST"))


def wrap(config: bytes, base: Path, target: Path) -> None:
    """A real .keras zip: the Keras-written base's members, ``config`` as config.json."""
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = config if info.filename == "config.json" else source.read(info)
            out.writestr(info, data)


def build_corpus(attack_dirs: Sequence[Path], benign_dirs: Sequence[Path], base: Path,
                 corpus: Path) -> tuple[list[Case], list[Path]]:
    cases: list[Case] = []
    left_out: list[Path] = []
    seen: set[Path] = set()
    for group, folders in (("attack", attack_dirs), ("benign", benign_dirs)):
        (corpus / group).mkdir(parents=True, exist_ok=True)
        for folder in folders:
            for path in model_files(folder):
                if path.resolve() in seen:
                    continue
                seen.add(path.resolve())
                listed = listed_in_manifest(path.parent)
                if group == "attack" and listed is not None and path.name not in listed:
                    left_out.append(path)
                    continue
                stem = "__".join(path.relative_to(folder).parts)
                if path.suffix == ".json" and group == "attack":
                    presented = corpus / group / f"{Path(stem).stem}.keras"
                    wrap(path.read_bytes(), base, presented)
                    form = "config wrapped in .keras"
                else:
                    presented = corpus / group / stem
                    shutil.copyfile(path, presented)
                    form = "bare config JSON" if path.suffix == ".json" else path.suffix
                cases.append(Case(f"{group}/{presented.name}", group, path, presented, form))
    control = corpus / "benign" / "wrapping-base.keras"
    shutil.copyfile(base, control)
    cases.append(Case("benign/wrapping-base.keras", "benign", base, control,
                      "Keras-written base (.keras)"))
    return cases, left_out


def isolated(command: list[str], private_tmp: bool) -> list[str]:
    """The command in new network (and, for Keras, mount) namespaces: no network at all."""
    if not private_tmp:
        return ["unshare", "--user", "--map-root-user", "--net", *command]
    script = 'mount -t tmpfs tmpfs /tmp && mkdir /tmp/home && cd /tmp && exec "$@"'
    return ["unshare", "--user", "--map-root-user", "--mount", "--net", "sh", "-c", script,
            "sh", *command]


def namespaces_work() -> str | None:
    """None when unshare can give a child a private /tmp and no network, else why not."""
    if shutil.which("unshare") is None:
        return "`unshare` is not installed"
    done = subprocess.run(isolated(["true"], private_tmp=True), capture_output=True,
                          text=True, check=False)
    return None if done.returncode == 0 else f"unshare failed: {done.stderr.strip()[:200]}"


def wall(command: list[str], env: dict[str, str], cwd: Path,
         timeout: float) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, check=False)
    return time.perf_counter() - start, done


def fresh_median(make: Callable[[Path], list[str]], sample: Sequence[Case], repeat: int,
                 env: dict[str, str], cwd: Path) -> float:
    samples = []
    for _ in range(repeat):
        for case in sample:
            seconds, _ = wall(make(case.presented), env, cwd, timeout=900)
            samples.append(seconds)
    return statistics.median(samples) * 1e3


# --- kerasvet -------------------------------------------------------------------------

def kerasvet_command(files: Iterable[Path]) -> list[str]:
    return isolated([sys.executable, "-m", "kerasvet", "audit", "--format", "json",
                     "--jobs", "1", *map(str, files)], private_tmp=False)


def run_kerasvet(cases: Sequence[Case], sample: Sequence[Case], repeat: int,
                 env: dict[str, str], work: Path) -> ToolRun:
    seconds, done = wall(kerasvet_command(c.presented for c in cases), env, work, 1800)
    if done.returncode not in (0, 1):
        raise SystemExit(f"kerasvet failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    by_path = {Path(a["path"]).resolve(): a for a in report["artifacts"]}
    outcomes = {}
    for case in cases:
        artifact = by_path.get(case.presented.resolve())
        if artifact is None:
            outcomes[case.name] = Outcome(UNSUPPORTED, "not in the report")
            continue
        rules = sorted({f["rule"] for f in artifact.get("findings", [])})
        verdict = artifact.get("verdict")
        status = {"deny": FLAGGED, "allow": CLEAN}.get(verdict, ERROR)
        outcomes[case.name] = Outcome(status, " ".join(rules) if rules else str(verdict))
    fresh = fresh_median(lambda p: kerasvet_command([p]), sample, repeat, env, work)
    version = report.get("kerasvet_version", "?")
    return ToolRun("kerasvet", version, outcomes, fresh, seconds * 1e3 / len(cases),
                   f"in-process audit median {in_process_audit_ms(cases):,.1f} ms per file")


def in_process_audit_ms(cases: Sequence[Case]) -> float:
    """Median of three in-process audits per file (after one warm-up), no start-up."""
    from kerasvet import Policy, audit

    policy = Policy.load("default")
    audit(cases[0].presented, policy)
    samples = []
    for case in cases:
        for _ in range(3):
            start = time.perf_counter()
            audit(case.presented, policy)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


# --- modelscan ------------------------------------------------------------------------

def modelscan_command(executable: str, target: Path, output: Path) -> list[str]:
    return isolated([executable, "-p", str(target), "-r", "json", "-o", str(output)],
                    private_tmp=False)


def run_modelscan(executable: str, cases: Sequence[Case], sample: Sequence[Case],
                  repeat: int, env: dict[str, str], work: Path, corpus: Path) -> ToolRun:
    output = work / "modelscan.json"
    seconds, done = wall(modelscan_command(executable, corpus, output), env, work, 3600)
    if not output.is_file():
        raise SystemExit(f"modelscan wrote no report ({done.returncode}): "
                         f"{done.stderr[-2000:]}")
    report = json.loads(output.read_text())

    def case_of(source: str) -> str:
        return source.split(":", 1)[0]

    flagged: dict[str, set[str]] = {}
    for issue in report.get("issues", []):
        if issue.get("severity") in MODELSCAN_FLAGS:
            flagged.setdefault(case_of(issue["source"]), set()).add(
                f"{issue['severity']} {issue.get('operator')}")
    errors = {case_of(e["source"]): e.get("description", "") for e in report.get("errors", [])}
    scanned = set(report["summary"].get("scanned", {}).get("scanned_files", []))
    outcomes = {}
    for case in cases:
        key = case.name
        if key in flagged:
            outcomes[key] = Outcome(FLAGGED, ", ".join(sorted(flagged[key])))
        elif key in errors:
            outcomes[key] = Outcome(ERROR, errors[key][:120])
        elif key in scanned:
            outcomes[key] = Outcome(CLEAN)
        else:
            outcomes[key] = Outcome(UNSUPPORTED, "not scanned")
    fresh = fresh_median(lambda p: modelscan_command(executable, p, work / "one.json"),
                         sample, repeat, env, work)
    return ToolRun("modelscan", version_of([executable, "--version"], env), outcomes, fresh,
                   seconds * 1e3 / len(cases), f"exit {done.returncode} on the corpus")


# --- modelaudit -----------------------------------------------------------------------

def modelaudit_command(executable: str, target: Path, output: Path) -> list[str]:
    return isolated([executable, "scan", "--format", "json", "--output", str(output),
                     "--no-cache", str(target)], private_tmp=False)


def run_modelaudit(executable: str, cases: Sequence[Case], sample: Sequence[Case],
                   repeat: int, env: dict[str, str], work: Path, corpus: Path) -> ToolRun:
    output = work / "modelaudit.json"
    seconds, done = wall(modelaudit_command(executable, corpus, output), env, work, 3600)
    if not output.is_file():
        raise SystemExit(f"modelaudit wrote no report ({done.returncode}): "
                         f"{done.stderr[-2000:]}")
    report = json.loads(output.read_text())

    def case_of(location: str) -> str | None:
        path = location.split(" (", 1)[0].split(":", 1)[0]
        try:
            return Path(path).resolve().relative_to(corpus.resolve()).as_posix()
        except ValueError:
            return None

    flagged: dict[str, set[str]] = {}
    errors: dict[str, str] = {}
    for issue in report.get("issues", []):
        key = case_of(issue.get("location") or "")
        if key is None:
            continue
        message = issue.get("message", "")
        if issue.get("severity") in MODELAUDIT_FLAGS:
            flagged.setdefault(key, set()).add(
                f"{issue['severity']} {issue.get('rule_code') or message[:40]}")
        elif "error" in message.lower():
            errors.setdefault(key, message[:120])
    scanned = {case_of(p) for p in report.get("file_metadata", {})}
    outcomes = {}
    for case in cases:
        key = case.name
        if key in flagged:
            outcomes[key] = Outcome(FLAGGED, ", ".join(sorted(flagged[key])))
        elif key in errors:
            outcomes[key] = Outcome(ERROR, errors[key])
        elif key in scanned:
            outcomes[key] = Outcome(CLEAN)
        else:
            outcomes[key] = Outcome(UNSUPPORTED, "not scanned")
    fresh = fresh_median(lambda p: modelaudit_command(executable, p, work / "one.json"),
                         sample, repeat, env, work)
    return ToolRun("modelaudit", version_of([executable, "--version"], env), outcomes, fresh,
                   seconds * 1e3 / len(cases), f"exit {done.returncode} on the corpus")


# --- plain Keras ----------------------------------------------------------------------

def run_keras(python: str, cases: Sequence[Case], env: dict[str, str], work: Path,
              timeout: float) -> ToolRun:
    child = work / "keras_child.py"
    child.write_text(KERAS_CHILD)
    outcomes: dict[str, Outcome] = {}
    walls: list[float] = []
    fired: list[str] = []
    called: list[str] = []
    loads: list[float] = []
    for case in cases:
        command = isolated([python, str(child), str(case.presented), CANARY], private_tmp=True)
        child_env = {**env, "HOME": "/tmp/home", "TMPDIR": "/tmp"}
        try:
            seconds, done = wall(command, child_env, work, timeout)
        except subprocess.TimeoutExpired:
            walls.append(timeout)
            outcomes[case.name] = Outcome(ERROR, f"timeout after {timeout:.0f} s")
            continue
        walls.append(seconds)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("KERAS-RESULT ")]
        if not lines:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            outcomes[case.name] = Outcome(ERROR, f"exit {done.returncode}: {tail[:120]}")
            continue
        result = json.loads(lines[-1].removeprefix("KERAS-RESULT "))
        loads.append(result["load_ms"])
        if result["canary"]:
            fired.append(case.name)
            outcomes[case.name] = Outcome(CLEAN, f"CANARY FIRED; {result['error'] or 'loaded'}")
        elif result["stage"] == "called":
            called.append(case.name)
            outcomes[case.name] = Outcome(
                CLEAN, f"config accepted, the deserialized function was called: "
                f"{result['error']}")
        elif result["loaded"]:
            outcomes[case.name] = Outcome(CLEAN, "loaded")
        elif result["stage"] == "dependency":
            outcomes[case.name] = Outcome(ERROR, f"needs a missing module: {result['error']}")
        elif result["stage"] == "config":
            outcomes[case.name] = Outcome(FLAGGED, result["error"])
        else:
            outcomes[case.name] = Outcome(
                CLEAN if case.group == "attack" else ERROR,
                f"config accepted, weights step raised {result['error']}")
    version = version_of([python, "-c", "import keras; print(keras.__version__)"], env)
    note = (f"canary fired for {len(fired)} file(s)" + (f": {', '.join(fired)}" if fired else "")
            + f"; a deserialized function was called (then raised) for {len(called)}"
            + (f": {', '.join(called)}" if called else "")
            + f"; in-process load median {statistics.median(loads) if loads else 0:,.0f} ms")
    kinds: dict[str, int] = {}
    for case in cases:
        outcome = outcomes[case.name]
        if case.group == "attack" and outcome.status == FLAGGED:
            kind = outcome.detail.split(":", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
    note += "; attacks caught by exception: " + ", ".join(
        f"{kind} {count}" for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return ToolRun("keras safe_mode", version, outcomes, statistics.median(walls) * 1e3, None,
                   note)


def version_of(command: list[str], env: dict[str, str]) -> str:
    """The last word a ``--version`` prints (``modelscan, version 0.8.8`` gives 0.8.8)."""
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    words = done.stdout.split()
    return words[-1] if words else "?"


def pick_sample(cases: Sequence[Case], size: int) -> list[Case]:
    """A fixed, mixed sample: alternately attack and benign, small forms first."""
    attacks = [c for c in cases if c.group == "attack"]
    benign = sorted((c for c in cases if c.group == "benign"),
                    key=lambda c: (c.form, c.presented.stat().st_size))
    sample: list[Case] = []
    for index in range(size):
        pool = attacks if index % 2 == 0 else benign
        if pool:
            sample.append(pool[(index // 2 * 7) % len(pool)])
    return sample


def print_table(runs: Sequence[ToolRun], cases: Sequence[Case]) -> None:
    attacks = [c for c in cases if c.group == "attack"]
    benign = [c for c in cases if c.group == "benign"]
    reference = runs[0]

    def ratio(value: float | None, base: float | None) -> str:
        return f"{value / base:.1f}x" if value is not None and base else "-"

    def ms(value: float | None) -> str:
        return f"{value:,.0f}" if value is not None else "-"

    print()
    print("| tool | version | attacks caught | attacks missed | benign flagged | errors "
          "| unsupported | fresh process ms/file (median) | vs kerasvet | batch ms/file "
          "| vs kerasvet |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        status = [run.outcomes[c.name].status for c in cases]
        caught = sum(run.outcomes[c.name].status == FLAGGED for c in attacks)
        false_pos = sum(run.outcomes[c.name].status == FLAGGED for c in benign)
        print(f"| {run.name} | {run.version} | {caught}/{len(attacks)} "
              f"| {len(attacks) - caught} | {false_pos}/{len(benign)} "
              f"| {status.count(ERROR)} | {status.count(UNSUPPORTED)} "
              f"| {ms(run.fresh_ms)} | {ratio(run.fresh_ms, reference.fresh_ms)} "
              f"| {ms(run.batch_ms)} | {ratio(run.batch_ms, reference.batch_ms)} |")
    for run in runs:
        if run.note:
            print(f"{run.name}: {run.note}")


def print_matrix(runs: Sequence[ToolRun], cases: Sequence[Case]) -> None:
    mark = {FLAGGED: "X", CLEAN: ".", ERROR: "err", UNSUPPORTED: "n/a"}
    print()
    print("per file (X flagged, . passed, err error, n/a unsupported):")
    print(f"{'file':58} {'form':26} " + " ".join(f"{r.name[:10]:>10}" for r in runs))
    for case in cases:
        cells = " ".join(f"{mark[r.outcomes[case.name].status]:>10}" for r in runs)
        print(f"{case.name[:58]:58} {case.form[:26]:26} {cells}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attacks", type=Path, nargs="+", default=list(DEFAULT_ATTACKS))
    parser.add_argument("--benign", type=Path, nargs="+", default=list(DEFAULT_BENIGN))
    parser.add_argument("--modelscan", help="modelscan executable (its own venv)")
    parser.add_argument("--modelaudit", help="modelaudit executable (its own venv)")
    parser.add_argument("--keras-python", default=sys.executable,
                        help="Python with Keras 3 for the plain safe_mode loads")
    parser.add_argument("--sample", type=int, default=6,
                        help="files timed one per fresh process, per scanner")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the timing sample")
    parser.add_argument("--keras-timeout", type=float, default=180)
    parser.add_argument("--workdir", type=Path, help="make the corpus here and keep it")
    parser.add_argument("--details", type=Path, help="write every outcome as JSON here")
    args = parser.parse_args(argv)

    why_not = namespaces_work()
    if why_not is not None:
        raise SystemExit(f"cannot isolate the tools ({why_not}); nothing was run")
    if os.path.exists(CANARY):
        raise SystemExit(f"{CANARY} exists before the run; remove it first")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kerasvet-peers-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PROMPTFOO_DISABLE_TELEMETRY": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(
               filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    env.pop("CI", None)
    try:
        base = work / "base.keras"
        subprocess.run([args.keras_python, "-c", BASE_SCRIPT, str(base)], env=env,
                       check=True, capture_output=True, text=True)
        corpus = work / "corpus"
        cases, left_out = build_corpus(args.attacks, args.benign, base, corpus)
        forms: dict[str, int] = {}
        for case in cases:
            key = f"{case.group} {case.form}"
            forms[key] = forms.get(key, 0) + 1
        print(f"date {datetime.date.today()}, Python {sys.version.split()[0]}, "
              f"{os.cpu_count()} cores")
        print(f"corpus: {sum(c.group == 'attack' for c in cases)} attacks from "
              f"{', '.join(str(d) for d in args.attacks)}; "
              f"{sum(c.group == 'benign' for c in cases)} benign from "
              f"{', '.join(str(d) for d in args.benign)} + the wrapping base")
        for key, count in sorted(forms.items()):
            print(f"  {key}: {count}")
        if left_out:
            print(f"left out (in an attack folder, not in its MANIFEST.json): "
                  f"{', '.join(p.name for p in left_out)}")
        sample = pick_sample(cases, args.sample)
        print(f"timing sample ({len(sample)} files x {args.repeat}): "
              f"{', '.join(c.name for c in sample)}")

        runs = [run_kerasvet(cases, sample, args.repeat, env, work)]
        for name, executable, runner in (("modelscan", args.modelscan, run_modelscan),
                                         ("modelaudit", args.modelaudit, run_modelaudit)):
            if executable is None:
                print(f"{name}: no executable given (--{name}), left out of the table")
                continue
            runs.append(runner(executable, cases, sample, args.repeat, env, work, corpus))
        runs.append(run_keras(args.keras_python, cases, env, work, args.keras_timeout))
        if os.path.exists(CANARY):
            print(f"WARNING: {CANARY} exists after the run")
        print_table(runs, cases)
        print_matrix(runs, cases)
        if args.details:
            args.details.write_text(json.dumps({
                run.name: {"version": run.version, "fresh_ms": run.fresh_ms,
                           "batch_ms": run.batch_ms, "outcomes": {
                               name: [o.status, o.detail] for name, o in run.outcomes.items()}}
                for run in runs}, indent=1))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
