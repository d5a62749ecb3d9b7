"""Whole trees: find the model artifacts in folders by content, audit them in parallel, and
gather one report.

How a file found by walking a folder is judged (a path named on the command line is always
audited, whatever it holds, unless ``--by-content`` asks for the same judgement):

- Symbolic links are never followed (a link could pull in files from outside the tree);
  FIFOs, sockets and devices are never opened. Both are listed as skipped.
- A folder holding ``config.json`` and ``model.weights.h5`` (or ``.npz``) is an unzipped
  ``.keras`` model: it is audited as one artifact and not walked into. ``.git``, ``.hg``
  and ``.svn`` are version-control storage and are not walked.
- Otherwise the first bytes decide (``kerasvet.artifact.sniff``), whatever the name:
  a zip is audited when its central directory lists ``config.json`` (what Keras opens);
  an HDF5 file when its root carries a ``model_config`` attribute (what Keras builds from;
  weights-only files are passed over); JSON when the top level is an object with a
  ``class_name`` key (what ``model_from_json`` needs). Content that matches none of these
  is audited only when the name ends in ``.keras``, ``.h5``, ``.hdf5`` or ``.json``, so a
  zip behind a prefix or a garbled model still gets a verdict.
- When a check cannot decide (a parse error, a zip listing over the member cap, an HDF5
  heap that would hang the library), the file is audited: undecided means audited.

Each file is audited in a worker process (``spawn``, so nothing is inherited by accident);
one file that breaks its worker becomes a KV001 finding on that file, and the rest go on.
"""

from __future__ import annotations

import copyreg
import io
import json
import mmap
import multiprocessing
import os
import pickle
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any

from kerasvet import __version__
from kerasvet.artifact.model import ArtifactFormat
from kerasvet.artifact.rules import INTERNAL_ERROR
from kerasvet.artifact.sniff import (
    READ_FLAGS_NO_LINKS,
    MemoryFile,
    Sniffed,
    count_central_entries,
    find_end_record,
)
from kerasvet.artifact.sniff import sniff as sniff_bytes
from kerasvet.audit import audit_artifact
from kerasvet.baseline import Baseline, apply_baseline
from kerasvet.config import ExcludePattern
from kerasvet.engine import Verdict
from kerasvet.errors import ArtifactNotFound, KerasvetError
from kerasvet.findings import Finding, Location, Severity
from kerasvet.limits import Limits
from kerasvet.policy import Policy
from kerasvet.report.model import ArtifactReport, Report, ScanError, Skipped, SkipReason

__all__ = [
    "MIN_PARALLEL",
    "Discovery",
    "Outcome",
    "Progress",
    "Target",
    "Worker",
    "audit_chunk",
    "audit_target",
    "default_jobs",
    "discover",
    "is_excluded",
    "relative_path",
    "run_targets",
    "scan",
]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".json")
"""Names Keras loads models from; content that sniffs as nothing is still audited under them."""
VCS_FOLDERS = frozenset({".git", ".hg", ".svn"})
KERAS_DIR_CONFIG = "config.json"
KERAS_DIR_WEIGHTS = ("model.weights.h5", "model.weights.npz")
MIN_PARALLEL = 8
"""Fewer files than this are audited in-process: starting workers would cost more."""
_CHUNK_MAX = 16
_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    """One path to audit."""

    path: str
    """The path to open."""
    relative_path: str
    """The path relative to the scan root, POSIX separators."""
    by_content: bool
    """Judged by content before auditing: found by walking a folder, or named while
    ``by_content`` was asked for (pre-commit names every ``.json`` file it sees)."""


@dataclass(frozen=True, slots=True)
class Discovery:
    """What walking the given paths found."""

    targets: tuple[Target, ...]
    """Paths to audit, in walk order, each once."""
    skipped: tuple[Skipped, ...]
    """Links and special files passed over."""
    errors: tuple[ScanError, ...]
    """Folders that could not be listed."""


Outcome = ArtifactReport | Skipped | ScanError
"""What auditing one target gives."""

Progress = Callable[[int, int], None]
"""Called with (targets done, targets in all) as results arrive."""


def default_jobs() -> int:
    """Every core this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def relative_path(path: str, root: str) -> str:
    """``path`` relative to ``root`` with POSIX separators (absolute on another drive)."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, root)
    except ValueError:  # pragma: no cover - Windows paths on two drives
        relative = absolute
    return relative.replace(os.sep, "/")


def is_excluded(path: str, patterns: Sequence[ExcludePattern]) -> bool:
    """Whether a glob matches the path relative to its base, a parent folder of it, or one
    of its names (``..`` and ``.`` never match)."""
    absolute = os.path.abspath(path)
    for pattern in patterns:
        parts = relative_path(absolute, pattern.base).split("/")
        for index, part in enumerate(parts):
            if part in ("..", "."):
                continue
            prefix = "/".join(parts[: index + 1])
            if fnmatchcase(prefix, pattern.glob) or fnmatchcase(part, pattern.glob):
                return True
    return False


def _is_keras_dir(folder: str) -> bool:
    join = os.path.join
    return os.path.lexists(join(folder, KERAS_DIR_CONFIG)) and any(
        os.path.lexists(join(folder, name)) for name in KERAS_DIR_WEIGHTS
    )


def _walk(folder: str, root: str, exclude: Sequence[ExcludePattern], targets: list[Target],
          skipped: list[Skipped], errors: list[ScanError]) -> None:
    """Walk iteratively, sorted by name, never following links."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            errors.append(ScanError(current, relative_path(current, root),
                                    f"cannot list the folder: {exc.strerror or exc}"))
            continue
        folders = []
        for entry in entries:
            path = entry.path
            if is_excluded(path, exclude):
                continue
            relative = relative_path(path, root)
            if entry.is_symlink():
                skipped.append(Skipped(path, relative, SkipReason.SYMLINK))
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in VCS_FOLDERS:
                    continue
                if _is_keras_dir(path):
                    targets.append(Target(path, relative, by_content=True))
                else:
                    folders.append(path)
            elif entry.is_file(follow_symlinks=False):
                targets.append(Target(path, relative, by_content=True))
            else:
                skipped.append(Skipped(path, relative, SkipReason.SPECIAL))
        stack.extend(reversed(folders))


def discover(paths: Sequence[str], root: str, exclude: Sequence[ExcludePattern] = (),
             *, by_content: bool = False) -> Discovery:
    """Expand folders into targets; a missing path raises ``ArtifactNotFound``. Named files
    are audited whatever they hold unless ``by_content``."""
    targets: list[Target] = []
    skipped: list[Skipped] = []
    errors: list[ScanError] = []
    for path in paths:
        if not os.path.exists(path):
            raise ArtifactNotFound(f"no such file or directory: {path}")
        if is_excluded(path, exclude):
            continue
        if os.path.isdir(path) and not _is_keras_dir(path):
            _walk(path, root, exclude, targets, skipped, errors)
        else:
            targets.append(Target(path, relative_path(path, root), by_content=by_content))
    seen: set[str] = set()
    unique = []
    for target in targets:
        key = os.path.abspath(target.path)
        if key not in seen:
            seen.add(key)
            unique.append(target)
    return Discovery(tuple(unique), tuple(skipped), tuple(errors))


def _zip_lists_config(view: memoryview, limits: Limits) -> bool:
    """Whether ``zipfile`` (hence Keras) would find ``config.json`` in this zip."""
    import zipfile

    record = find_end_record(view)
    if record is None:
        return False  # zipfile refuses it, so Keras cannot open it either
    if count_central_entries(view, record, limits.max_zip_members) > limits.max_zip_members:
        return True  # too many members to list cheaply: let the audit refuse it
    with zipfile.ZipFile(MemoryFile(view)) as archive:
        return KERAS_DIR_CONFIG in archive.namelist()


def _hdf5_has_model_config(view: memoryview) -> bool:
    """Whether the root group carries ``model_config`` (weights-only files do not)."""
    import h5py
    from h5py import h5a

    from kerasvet.artifact.hdf5 import global_heap_problem

    if global_heap_problem(view) is not None:
        return True  # would hang the HDF5 library: the audit reports it
    with h5py.File(MemoryFile(view), "r") as file:
        return bool(h5a.exists(file.id, b"model_config"))


def _json_is_keras(view: memoryview, limits: Limits) -> bool:
    if len(view) > limits.max_config_bytes:
        return True  # the audit reports the size
    value = json.loads(view.tobytes())
    return isinstance(value, dict) and "class_name" in value


def _classify(path: str, limits: Limits) -> SkipReason | None:
    """``None`` when a walked file should be audited, else why it is passed over."""
    try:
        fd = os.open(path, READ_FLAGS_NO_LINKS)
    except OSError as exc:
        raise ArtifactNotFound(f"cannot open {path!r}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return SkipReason.SPECIAL
        kind = sniff_bytes(handle.read(_HEAD)) if info.st_size else Sniffed.UNKNOWN
        if kind is Sniffed.UNKNOWN:
            named = os.path.basename(path).lower().endswith(MODEL_SUFFIXES)
            return None if named else SkipReason.NOT_A_MODEL
        try:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    if kind is Sniffed.ZIP:
                        keep = _zip_lists_config(view, limits)
                    elif kind is Sniffed.HDF5:
                        keep = _hdf5_has_model_config(view)
                    else:
                        keep = _json_is_keras(view, limits)
                finally:
                    view.release()
        except Exception:  # undecided means audited: the audit turns it into findings
            return None
        if keep:
            return None
        return SkipReason.NOT_KERAS_JSON if kind is Sniffed.JSON else SkipReason.NOT_A_MODEL


def audit_target(target: Target, policy: Policy) -> Outcome:
    """Audit one target; an unreadable path is an error entry, never an exception."""
    try:
        if target.by_content and not os.path.isdir(target.path):
            reason = _classify(target.path, policy.limits)
            if reason is not None:
                return Skipped(target.path, target.relative_path, reason)
        report = audit_artifact(target.path, policy)
    except (KerasvetError, OSError) as exc:
        return ScanError(target.path, target.relative_path, str(exc))
    return replace(report, relative_path=target.relative_path)


def _proxy(items: dict[object, object]) -> MappingProxyType[object, object]:
    return MappingProxyType(items)


def _reduce_proxy(proxy: MappingProxyType[object, object]) -> tuple[object, ...]:
    return (_proxy, (dict(proxy),))


def _dumps(value: object) -> bytes:
    """Pickle a result; read-only mappings in lambda analyses go as dicts and come back
    read-only (a dispatch table on this one pickler, not a global ``copyreg`` entry)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    table: dict[type, Any] = dict(copyreg.dispatch_table)
    table[MappingProxyType] = _reduce_proxy
    pickler.dispatch_table = table
    pickler.dump(value)
    return buffer.getvalue()


def audit_chunk(targets: tuple[Target, ...], policy: Policy) -> bytes:
    """The worker: a top-level function, so ``spawn`` can import it by name. Returns the
    pickled outcomes of ``targets``, in order."""
    return _dumps(tuple(audit_target(target, policy) for target in targets))


def _crashed(target: Target) -> ArtifactReport:
    """The verdict on a file whose audit killed its worker process: refused."""
    finding = Finding.of(INTERNAL_ERROR, Location(member="<artifact>"),
                         "the worker process auditing this file died (a crash in a parser "
                         "library, or memory exhausted)")
    return ArtifactReport(path=target.path, sha256=None, format=ArtifactFormat.UNKNOWN,
                          verdict=Verdict.DENY, findings=(finding,), decisions=(), lambdas=(),
                          relative_path=target.relative_path)


Worker = Callable[[tuple[Target, ...], Policy], bytes]
"""What a pool process runs: ``audit_chunk``, or a stand-in in tests."""


def _ready() -> bool:
    """A no-op task: a pool that cannot run it is broken by its start-up, not by a file."""
    return True


def _pool_pass(targets: Sequence[Target], indices: Sequence[int], policy: Policy, workers: int,
               size: int, outcomes: list[Outcome | None], progress: Progress | None,
               worker: Worker) -> list[int] | None:
    """Run ``indices`` through one pool; returns those left without an outcome if it broke,
    or ``None`` when its processes could not even start (a ``__main__`` that ``spawn``
    cannot re-import, say)."""
    chunks = [list(indices[i : i + size]) for i in range(0, len(indices), size)]
    done = sum(o is not None for o in outcomes)
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            try:
                pool.submit(_ready).result()
            except BrokenProcessPool:
                return None
            futures: dict[Future[bytes], list[int]] = {
                pool.submit(worker, tuple(targets[i] for i in chunk), policy): chunk
                for chunk in chunks
            }
            for future in as_completed(futures):
                try:
                    # Our own worker's bytes, never the artifact's: safe to unpickle.
                    results = pickle.loads(future.result())  # noqa: S301
                except BrokenProcessPool:
                    continue
                for index, outcome in zip(futures[future], results, strict=True):
                    outcomes[index] = outcome
                done += len(results)
                if progress is not None:
                    progress(done, len(outcomes))
    except BrokenProcessPool:
        pass
    return [i for i in indices if outcomes[i] is None]


def _serial(targets: Sequence[Target], indices: Sequence[int], policy: Policy,
            outcomes: list[Outcome | None], progress: Progress | None) -> None:
    done = sum(o is not None for o in outcomes)
    for index in indices:
        outcomes[index] = audit_target(targets[index], policy)
        done += 1
        if progress is not None:
            progress(done, len(outcomes))


def run_targets(targets: Sequence[Target], policy: Policy, jobs: int,
                progress: Progress | None = None, worker: Worker = audit_chunk) -> list[Outcome]:
    """Audit every target, in order; in ``jobs`` spawned processes when there are enough."""
    outcomes: list[Outcome | None] = [None] * len(targets)
    pending: list[int] | None = list(range(len(targets)))
    if jobs > 1 and len(targets) >= MIN_PARALLEL:
        size = max(1, min(_CHUNK_MAX, len(targets) // (jobs * 4)))
        pending = _pool_pass(targets, range(len(targets)), policy, jobs, size, outcomes,
                             progress, worker)
        # A worker died: redo the rest one file at a time in a single worker, so the first
        # file without a result when it dies again is the one that killed it.
        while pending:
            left = _pool_pass(targets, pending, policy, 1, 1, outcomes, progress, worker)
            if left is None or not left:
                pending = left
                break
            outcomes[left[0]] = _crashed(targets[left[0]])
            pending = left[1:]
        if pending is None:  # no worker could start: audit here rather than not at all
            pending = [i for i, o in enumerate(outcomes) if o is None]
    if pending:
        _serial(targets, pending, policy, outcomes, progress)
    # Every target gets an outcome: one left without would be a file silently not audited.
    return [o if o is not None else _crashed(targets[i]) for i, o in enumerate(outcomes)]


def scan(
    paths: Sequence[str],
    policy: Policy,
    *,
    root: str,
    exclude: Sequence[ExcludePattern] = (),
    jobs: int = 1,
    fail_on: Severity = Severity.HIGH,
    baseline: Baseline | None = None,
    by_content: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Audit files and trees under one policy; ``jobs`` worker processes when it pays."""
    absolute_root = os.path.abspath(root)
    found = discover(paths, absolute_root, exclude, by_content=by_content)
    outcomes = run_targets(found.targets, policy, jobs, progress)
    report = Report(
        kerasvet_version=__version__,
        policy_name=policy.name,
        policy_sha256=policy.sha256,
        artifacts=tuple(o for o in outcomes if isinstance(o, ArtifactReport)),
        root=absolute_root,
        fail_on=fail_on,
        errors=(*found.errors, *(o for o in outcomes if isinstance(o, ScanError))),
        skipped=(*found.skipped, *(o for o in outcomes if isinstance(o, Skipped))),
    )
    return apply_baseline(report, baseline)
