"""Run one corpus fixture through every kerasvet entry point in a throw-away process.

``python tests/corpus/probe.py --serve`` is a warm parent: it imports kerasvet and warms its
own lazy imports once, then reads one JSON request per line from stdin and, for each,
forks ONE child that runs the fixture and exits. The parent answers one JSON line per
request. Forking a warm parent keeps a whole-corpus run to seconds instead of an interpreter
start-up per fixture, and the warm module set is the baseline for "new modules".

A child, before touching the fixture: caps its address space (RLIMIT_AS), sends its output
to a log file, moves into a fresh working directory (``<sandbox>/work``, the only place it
may write), points HOME and TMPDIR at private directories next to it (so ``~/.keras`` and
temporary files are observable and noise-free), lists the places a payload would write to,
and installs an audit hook that records every attempt to create, change or delete a file.
It then runs ``audit`` and ``load_model`` (artifacts, or a config wrapped in a .keras zip),
``model_from_json`` (JSON text) and ``deserialize_keras_object`` (the parsed dict) and writes
a JSON result: per entry point whether it refused and with which (rule, pointer) pairs, the
canary files that exist, the modules newly imported outside the policy's import set, the
write attempts outside the working directory and the files that appeared outside it. The
parent kills a child that outlives its timeout. A request with ``"control": true`` runs
stock Keras with ``safe_mode=False`` instead, to show the payload and the checks are live.
The test (tests/integration/
test_corpus_attacks.py) asserts everything.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

CANARY_NAME = "kerasvet-canary"
FIXED_CANARY = Path("/tmp") / CANARY_NAME
WRITE_EVENTS = frozenset({
    "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.truncate",
    "os.chmod", "os.chown", "os.utime", "shutil.copyfile", "shutil.copytree", "shutil.move",
    "shutil.rmtree", "shutil.make_archive", "shutil.unpack_archive", "tempfile.mkstemp",
    "tempfile.mkdtemp"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
KERAS_JSON = {"floatx": "float32", "epsilon": 1e-07, "backend": "jax",
              "image_data_format": "channels_last"}
"""What Keras writes to ``~/.keras/keras.json`` on first import; present beforehand so an
import of Keras is not mistaken for a payload writing there."""


# --- the warm parent ----------------------------------------------------------------------------


def warm_up(root: Path) -> None:
    """Import kerasvet's own lazy dependencies (loader, astroid, bandit, h5py) once."""
    import kerasvet
    import kerasvet.loader.api
    from kerasvet.loader.imports import allowed_imports
    from kerasvet.policy import load_policy

    allowed_imports(load_policy("default"))
    for sample in ("examples/lambda_model.keras", "examples/legacy_mlp.h5",
                   "tests/fixtures/keras2/lambda_double.h5", "examples/small_mobilenet.json",
                   "tests/fixtures/attacks/garbage-nan.json"):
        kerasvet.audit(root / sample)


def serve() -> int:
    """Answer one JSON line per request line until stdin closes."""
    root = Path(__file__).resolve().parents[2]
    warm_up(root)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(run_forked(request)), flush=True)
    return 0


def run_forked(request: dict[str, Any]) -> dict[str, Any]:
    """Fork a child for ``request``; wait at most its timeout; read what it wrote."""
    sandbox = Path(request["sandbox"])
    for sub in ("work", "home/.keras", "tmp", "probe"):
        (sandbox / sub).mkdir(parents=True, exist_ok=True)
    (sandbox / "home" / ".keras" / "keras.json").write_text(json.dumps(KERAS_JSON))
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child never returns into the server loop
        code = 1
        try:
            child(request)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = started + float(request["timeout"])
    status = None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = raw
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        else:
            select.select([], [], [], 0.01)
    result_file = sandbox / "probe" / "result.json"
    log_file = sandbox / "probe" / "log.txt"
    return {
        "timed_out": status is None,
        "exit_code": os.waitstatus_to_exitcode(status) if status is not None else None,
        "seconds": round(time.monotonic() - started, 3),
        "result": json.loads(result_file.read_text()) if result_file.exists() else None,
        "log": log_file.read_text(errors="replace")[-4000:] if log_file.exists() else "",
    }


# --- the child --------------------------------------------------------------------------------


def listing(path: Path, recursive: bool, skip: frozenset[Path] = frozenset()) -> set[str]:
    """Every entry under ``path`` (top level only unless ``recursive``), as strings."""
    if not path.is_dir():
        return set()
    if not recursive:
        try:
            return {str(entry) for entry in path.iterdir()}
        except OSError:
            return set()
    found = set()
    for directory, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if Path(directory, d) not in skip]
        found.update(str(Path(directory, name)) for name in [*dirs, *files])
    return found


def watched(sandbox: Path, real_home: Path) -> dict[str, set[str]]:
    """The places a payload would write to, listed now."""
    own = frozenset({sandbox / "work", sandbox / "probe"})
    return {
        "sandbox": listing(sandbox, True, own),  # cwd's parent, private HOME and TMPDIR
        "tmp": listing(Path("/tmp"), False),
        "home": listing(real_home, False),
        "home_keras": listing(real_home / ".keras", True),
    }


class WriteRecorder:
    """An audit hook that only records write-like events (it never refuses anything)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (*tuple(args), None, None)[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS)
            if writes and isinstance(path, (str, bytes, os.PathLike)):
                self.events.append((event, os.fsdecode(path)))
        elif event in WRITE_EVENTS:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)):
                    self.events.append((event, os.fsdecode(arg)))

    def outside(self, work: Path) -> list[list[str]]:
        """The recorded events whose path is not inside ``work``."""
        found = []
        for event, raw in self.events:
            path = Path(os.path.abspath(work / raw))
            if path != work and work not in path.parents:
                found.append([event, str(path)])
        return found


def findings_of(artifact: Any) -> list[list[str | None]]:
    """The artifact's distinct (rule id, JSON pointer) pairs."""
    pairs = {(f.rule.id, f.location.pointer) for f in artifact.findings}
    return [list(pair) for pair in sorted(pairs, key=lambda p: (p[0], p[1] or ""))]


def outcome(call: Any) -> dict[str, Any]:
    """How one entry point ended: refused (with its findings), an error, or a result."""
    from kerasvet import PolicyViolation

    try:
        value = call()
    except PolicyViolation as refused:
        (artifact,) = refused.report.artifacts
        return {"refused": True, "error": None, "findings": findings_of(artifact)}
    except Exception as exc:
        return {"refused": False, "error": f"{type(exc).__name__}: {exc}"[:500], "findings": []}
    return {"refused": False, "error": None, "findings": [],
            "returned": type(value).__name__}


def entry_points(fixture: Path, kind: str, work: Path) -> dict[str, dict[str, Any]]:
    """Run the fixture through each entry point that takes it."""
    import kerasvet

    data = fixture.read_bytes()
    results = {"audit": audit_outcome(fixture)}
    if kind == "config":
        wrapped = work / "wrapped.keras"
        with zipfile.ZipFile(wrapped, "w") as archive:
            archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
            archive.writestr("config.json", data)
        results["load_model"] = outcome(lambda: kerasvet.load_model(wrapped))
        text = data.decode("utf-8", "surrogatepass")
        results["model_from_json"] = outcome(lambda: kerasvet.model_from_json(text))
        try:
            config = json.loads(text)
        except (ValueError, RecursionError):
            config = None
        argument = config if isinstance(config, dict) else text
        results["deserialize_keras_object"] = outcome(
            lambda: kerasvet.deserialize_keras_object(argument))
        results["deserialize_keras_object"]["given"] = type(argument).__name__
    else:
        results["load_model"] = outcome(lambda: kerasvet.load_model(fixture))
    return results


def stock_keras_unsafe(fixture: Path) -> dict[str, Any]:
    """The positive control: plain ``keras.saving.load_model(..., safe_mode=False)``, which
    runs the payload (it only creates the canary in the working directory)."""
    import keras

    return outcome(lambda: keras.saving.load_model(fixture, safe_mode=False))


def audit_outcome(fixture: Path) -> dict[str, Any]:
    import kerasvet

    try:
        report = kerasvet.audit(fixture)
    except Exception as exc:
        return {"refused": False, "error": f"{type(exc).__name__}: {exc}"[:500], "findings": []}
    (artifact,) = report.artifacts
    return {"refused": report.verdict is kerasvet.Verdict.DENY, "error": None,
            "findings": findings_of(artifact)}


def child(request: dict[str, Any]) -> None:
    sandbox = Path(request["sandbox"]).resolve()
    work = sandbox / "work"
    log = os.open(sandbox / "probe" / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    memory = int(request["memory"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    sys.dont_write_bytecode = True  # no .pyc written next to Keras' sources on first import
    real_home = Path(os.path.expanduser("~"))
    os.environ.update(HOME=str(sandbox / "home"), TMPDIR=str(sandbox / "tmp"))
    os.environ.pop("KERAS_HOME", None)
    import tempfile

    tempfile.tempdir = None
    os.chdir(work)

    from kerasvet.loader.imports import allowed_imports
    from kerasvet.policy import load_policy

    allowed = allowed_imports(load_policy("default"))
    before_lists = watched(sandbox, real_home)
    before_modules = set(sys.modules)
    recorder = WriteRecorder()
    sys.addaudithook(recorder)

    if request.get("control"):
        results = {"keras_unsafe": stock_keras_unsafe(Path(request["fixture"]))}
    else:
        results = entry_points(Path(request["fixture"]), request["kind"], work)

    new_modules = sorted(set(sys.modules) - before_modules)
    after_lists = watched(sandbox, real_home)
    created = {place: sorted(after_lists[place] - before_lists[place]) for place in after_lists}
    canaries = sorted(str(p) for p in [FIXED_CANARY, *work.iterdir()]
                      if p.name.startswith(CANARY_NAME) and p.exists())
    result = {
        "entry_points": results,
        "canaries": canaries,
        "new_modules_outside_policy": [m for m in new_modules if m not in allowed
                                       and m.split(".")[0] != "kerasvet"],
        "keras_imported": any(m.split(".")[0] in {"keras", "jax", "tensorflow", "torch"}
                              for m in new_modules),
        "write_attempts_outside_work": recorder.outside(work),
        "created_outside_work": created,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    (sandbox / "probe" / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    if sys.argv[1:] != ["--serve"]:
        sys.exit("usage: python tests/corpus/probe.py --serve  (one JSON request per line)")
    sys.exit(serve())
