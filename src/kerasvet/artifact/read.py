"""Read an artifact exactly once and return its config documents plus container findings.

The format comes from the content (magic bytes, the first JSON byte), never from a file name:
a zip named ``model.h5`` is audited as the zip Keras would open if it were renamed. Hostile
or malformed content never raises; only a path that cannot be opened does.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping

from kerasvet.artifact import rules
from kerasvet.artifact.hdf5 import ARTIFACT, read_legacy_hdf5
from kerasvet.artifact.json_strict import parse_json_document
from kerasvet.artifact.keras_dir import read_keras_dir
from kerasvet.artifact.keras_zip import read_keras_zip
from kerasvet.artifact.model import Artifact, ArtifactFormat, ConfigDocument, ConfigRole
from kerasvet.artifact.sniff import (
    READ_FLAGS,
    Sniffed,
    describe_error,
    find_end_record,
    hdf5_signature_offsets,
    sniff,
)
from kerasvet.errors import ArtifactNotFound
from kerasvet.findings import Finding, Location, Pointer, Rule
from kerasvet.limits import Deadline, DeadlineExceeded, Limits

__all__ = ["JSON_MEMBER", "read_artifact", "read_file_once"]

JSON_MEMBER = "<json>"
"""Member name of a config given as JSON text, a JSON file or a dict."""

_CHUNK = 1 << 20
_MODEL_JSON_KEYS = ("keras_version", "backend")


def read_artifact(
    source: str | os.PathLike[str] | bytes | Mapping[str, object],
    limits: Limits,
    deadline: Deadline | None = None,
) -> Artifact:
    """Read ``source`` (a path, file bytes, JSON text or a config dict) into an ``Artifact``.

    Raises ``ArtifactNotFound`` only when a path does not exist or cannot be opened; every
    problem with the content itself is a finding. An unexpected error inside a reader is a
    KV001 finding too, so a parser bug refuses the artifact instead of crashing the caller.
    Running past ``deadline`` (by default ``max_audit_seconds`` from now) is a KV002.
    """
    clock = deadline if deadline is not None else Deadline.for_limits(limits)
    try:
        return _dispatch(source, limits, clock)
    except ArtifactNotFound:
        raise
    except DeadlineExceeded as exc:
        return _refused(rules.AUDIT_TIMEOUT, str(exc), exc.deadline.seconds)
    except Exception as exc:
        return _refused(rules.INTERNAL_ERROR,
                        f"reading the artifact stopped on an internal error: "
                        f"{describe_error(exc)}")


def _refused(rule: Rule, message: str, value: object = None) -> Artifact:
    """An artifact of unknown format with one finding that says why it was not read."""
    return Artifact(
        format=ArtifactFormat.UNKNOWN, sha256=None, documents=(),
        findings=(Finding.of(rule, Location(member=ARTIFACT), message, value=value),),
    )


def _dispatch(
    source: str | os.PathLike[str] | bytes | Mapping[str, object],
    limits: Limits,
    deadline: Deadline,
) -> Artifact:
    deadline.check("starting to read the artifact")
    if isinstance(source, Mapping):
        return _read_mapping(source, limits, deadline)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _read_bytes(bytes(source), limits, deadline)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return _read_json_text(source, limits, deadline)
    if isinstance(source, (str, os.PathLike)):
        return _read_path(source, limits, deadline)
    return _refused(
        rules.UNRECOGNISED_FORMAT,
        f"cannot audit a {type(source).__name__}: pass a path, bytes, JSON text or a dict",
        type(source).__name__,
    )


def _too_large(size: int, limits: Limits) -> Artifact:
    return Artifact(
        format=ArtifactFormat.UNKNOWN,
        sha256=None,
        documents=(),
        findings=(
            Finding.of(
                rules.TOO_LARGE,
                Location(member=ARTIFACT),
                f"the artifact is {size} bytes, over the cap of {limits.max_artifact_bytes}",
                value=size,
            ),
        ),
    )


def _read_path(source: str | os.PathLike[str], limits: Limits, deadline: Deadline) -> Artifact:
    """Stat, then read the file once through one descriptor (or walk a folder)."""
    path = os.fsdecode(os.fspath(source))
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        raise ArtifactNotFound(f"cannot open {path!r}: {exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        try:
            folder = read_keras_dir(path, limits, deadline)
        except OSError as exc:
            raise ArtifactNotFound(f"cannot read the folder {path!r}: {exc}") from exc
        return Artifact(
            format=ArtifactFormat.KERAS_DIR,
            sha256=folder.sha256,
            documents=folder.documents,
            findings=folder.findings,
            weights_member=folder.weights_member,
        )
    if not stat.S_ISREG(info.st_mode):
        raise ArtifactNotFound(f"{path!r} is not a regular file or folder")
    if info.st_size > limits.max_artifact_bytes:
        return _too_large(info.st_size, limits)
    data = read_file_once(path, limits)
    if isinstance(data, int):
        return _too_large(data, limits)
    return _read_bytes(data, limits, deadline)


def read_file_once(path: str, limits: Limits) -> bytes | int:
    """The file's bytes, or its size when it is (or grew) over the cap.

    The descriptor is opened non-blocking and re-checked with ``fstat``, so a path swapped
    for a FIFO after the ``stat`` cannot hang the read; the first read is sized by ``fstat``
    so no cap-sized buffer is ever allocated up front.
    """
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError as exc:
        raise ArtifactNotFound(f"cannot open {path!r}: {exc}") from exc
    try:
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ArtifactNotFound(f"{path!r} is not a regular file")
            if info.st_size > limits.max_artifact_bytes:
                return info.st_size
            data = handle.read(info.st_size + 1)
            if len(data) <= info.st_size:
                return data
            parts = [data]
            total = len(data)
            while chunk := handle.read(_CHUNK):
                total += len(chunk)
                if total > limits.max_artifact_bytes:
                    return total
                parts.append(chunk)
            return b"".join(parts)
    except OSError as exc:
        raise ArtifactNotFound(f"cannot read {path!r}: {exc}") from exc


def _read_bytes(data: bytes, limits: Limits, deadline: Deadline) -> Artifact:
    """Sniff file content and dispatch to the matching reader."""
    if len(data) > limits.max_artifact_bytes:
        return _too_large(len(data), limits)
    digest = hashlib.sha256(data).hexdigest()
    buf = memoryview(data)
    kind = sniff(buf)
    if kind is Sniffed.UNKNOWN and find_end_record(buf) is not None:
        kind = Sniffed.ZIP  # a zip behind a prefix: zipfile (and so Keras) still opens it
    if kind is Sniffed.ZIP:
        archive = read_keras_zip(buf, limits, deadline)
        return Artifact(
            format=ArtifactFormat.KERAS_ZIP,
            sha256=digest,
            documents=archive.documents,
            findings=archive.findings,
            weights_member=archive.weights_member,
        )
    if kind is Sniffed.HDF5:
        polyglot = _polyglot_findings(buf, check_hdf5_userblock=False)
        legacy = read_legacy_hdf5(buf, limits, deadline)
        return Artifact(
            format=ArtifactFormat.HDF5,
            sha256=digest,
            documents=legacy.documents,
            findings=(*polyglot, *legacy.findings),
            weights_member=legacy.weights_member,
        )
    if kind is Sniffed.JSON:
        polyglot = _polyglot_findings(buf, check_hdf5_userblock=True)
        return _json_artifact(data, digest, polyglot, None, limits, deadline)
    return Artifact(
        format=ArtifactFormat.UNKNOWN,
        sha256=digest,
        documents=(),
        findings=(
            Finding.of(
                rules.UNRECOGNISED_FORMAT,
                Location(member=ARTIFACT, detail="offset 0"),
                "the content is not a zip, an HDF5 file or a JSON object",
                value=bytes(buf[:8]),
            ),
        ),
    )


def _polyglot_findings(buf: memoryview, *, check_hdf5_userblock: bool) -> tuple[Finding, ...]:
    """A file that starts as one format but also parses as a zip (or HDF5) is a polyglot."""
    found: list[Finding] = []
    record = find_end_record(buf)
    if record is not None:
        found.append(
            Finding.of(
                rules.ZIP_PREFIX,
                Location(member=ARTIFACT, detail=f"offset {record.position}"),
                f"the file also ends in a zip end record (offset {record.position}), so a zip "
                "reader such as Keras' .keras loader sees a different artifact",
            )
        )
    if check_hdf5_userblock:
        for offset in hdf5_signature_offsets(buf):
            found.append(
                Finding.of(
                    rules.ZIP_PREFIX,
                    Location(member=ARTIFACT, detail=f"offset {offset}"),
                    f"an HDF5 superblock at offset {offset} makes the file also an HDF5 file",
                )
            )
    return tuple(found)


def _json_artifact(
    data: bytes | str,
    digest: str,
    findings: tuple[Finding, ...],
    fixed_format: ArtifactFormat | None,
    limits: Limits,
    deadline: Deadline,
) -> Artifact:
    """Parse one JSON config document; ``to_json()`` output is told apart by its keys."""
    value, problems = parse_json_document(data, JSON_MEMBER, limits, deadline)
    documents: tuple[ConfigDocument, ...] = ()
    if not problems:
        documents = (ConfigDocument(member=JSON_MEMBER, role=ConfigRole.MODEL, value=value),)
    if fixed_format is not None:
        kind = fixed_format
    elif isinstance(value, dict) and any(key in value for key in _MODEL_JSON_KEYS):
        kind = ArtifactFormat.MODEL_JSON
    else:
        kind = ArtifactFormat.CONFIG_JSON
    return Artifact(
        format=kind,
        sha256=digest,
        documents=documents,
        findings=(*findings, *problems),
    )


def _read_json_text(text: str, limits: Limits, deadline: Deadline) -> Artifact:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return _json_artifact(text, digest, (), None, limits, deadline)


def _as_dict(value: object) -> object:
    """``json.dumps`` hook: nested read-only mappings serialise like dicts, nothing else does."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"a {type(value).__name__} is not JSON")


def _read_mapping(
    source: Mapping[str, object], limits: Limits, deadline: Deadline
) -> Artifact:
    """Serialise a dict to JSON text and audit the text, so dicts get the file checks."""
    where = Location(member=JSON_MEMBER, pointer=Pointer(""))
    try:
        text = json.dumps(source, allow_nan=False, default=_as_dict)
    except RecursionError:
        problem = Finding.of(
            rules.JSON_TOO_DEEP, where, "the dict nests deeper than the JSON encoder can follow"
        )
    except ValueError as exc:
        non_finite = "Out of range float" in str(exc)
        problem = Finding.of(
            rules.JSON_NON_FINITE if non_finite else rules.JSON_INVALID,
            where,
            f"the dict cannot be written as JSON: {exc}",
        )
    except Exception as exc:
        problem = Finding.of(
            rules.JSON_INVALID, where, f"the dict cannot be written as JSON: {exc}"
        )
    else:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return _json_artifact(text, digest, (), ArtifactFormat.PYTHON_DICT, limits, deadline)
    return Artifact(
        format=ArtifactFormat.PYTHON_DICT, sha256=None, documents=(), findings=(problem,)
    )
