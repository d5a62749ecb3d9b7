"""An unzipped ``.keras`` folder (``save_model(..., zipped=False)``), walked without following
links.

Every entry is ``lstat``-ed; links and special files are findings and are never opened. Files
are opened with ``O_NOFOLLOW`` and re-checked with ``fstat``, so swapping a file for a link or
a FIFO between the walk and the read cannot redirect or block the read.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass

from kerasvet.artifact import rules
from kerasvet.artifact.hdf5 import ARTIFACT, check_hdf5
from kerasvet.artifact.json_strict import parse_json_document
from kerasvet.artifact.keras_zip import (
    ASSETS_PREFIX,
    CONFIG,
    METADATA,
    WEIGHTS_H5,
    WEIGHTS_NPZ,
    check_npz,
    keras_member_problem,
    name_problem,
)
from kerasvet.artifact.model import ConfigDocument, ConfigRole
from kerasvet.artifact.sniff import READ_FLAGS_NO_LINKS
from kerasvet.findings import Finding, Location, Rule
from kerasvet.limits import NO_DEADLINE, Deadline, Limits

__all__ = ["KerasDir", "read_keras_dir"]

_KEPT = frozenset({CONFIG, METADATA, WEIGHTS_H5, WEIGHTS_NPZ})
"""Files whose bytes are kept in memory; assets are only hashed."""
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class KerasDir:
    """What reading an unzipped ``.keras`` folder produced."""

    findings: tuple[Finding, ...]
    documents: tuple[ConfigDocument, ...]
    weights_member: str | None
    sha256: str | None


class _Reader:
    """State of reading one folder: findings, the listing and the read budget."""

    def __init__(self, root: str, limits: Limits, deadline: Deadline) -> None:
        self.root = root
        self.limits = limits
        self.deadline = deadline
        self.findings: list[Finding] = []
        self.files: dict[str, int] = {}
        self.total = 0

    def add(self, rule: Rule, detail: str | None, message: str, value: object = None) -> None:
        self.findings.append(
            Finding.of(rule, Location(member=ARTIFACT, detail=detail), message, value=value)
        )

    def walk(self) -> bool:
        """List the tree iteratively; ``False`` when it is too big to read at all."""
        entries = 0
        stack: list[tuple[str, bool]] = [("", False)]
        while stack:
            relative, reported = stack.pop()
            self.deadline.check(f"listing {relative or 'the folder'!r}")
            directory = os.path.join(self.root, relative) if relative else self.root
            try:
                with os.scandir(directory) as scan:
                    children = sorted(scan, key=lambda entry: entry.name)
            except OSError as exc:
                if not relative:
                    raise  # the folder itself cannot be opened: the caller's I/O problem
                self.add(rules.ZIP_CORRUPT, relative, f"cannot list {relative!r}: {exc}")
                continue
            entries += len(children)
            if entries > self.limits.max_zip_members:
                self.add(
                    rules.ZIP_TOO_MANY_MEMBERS,
                    relative or ".",
                    f"the folder holds more than {self.limits.max_zip_members} entries",
                )
                return False
            subdirectories: list[tuple[str, bool]] = []
            for entry in children:
                name = f"{relative}/{entry.name}" if relative else entry.name
                pushed = self.entry(entry, name, reported)
                if pushed is not None:
                    subdirectories.append((name, pushed))
            stack.extend(reversed(subdirectories))
        if self.total > self.limits.max_artifact_bytes:
            self.add(
                rules.TOO_LARGE,
                None,
                f"the folder holds {self.total} bytes, over the cap of "
                f"{self.limits.max_artifact_bytes}",
                value=self.total,
            )
            return False
        return True

    def entry(self, entry: os.DirEntry[str], name: str, reported: bool) -> bool | None:
        """Judge one entry; for a directory return whether it was already reported."""
        problem = name_problem(name)
        if problem is not None:
            self.add(rules.ZIP_UNSAFE_NAME, name, f"unsafe file name {name!r}: {problem}", name)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            self.add(rules.ZIP_CORRUPT, name, f"cannot stat {name!r}: {exc}")
            return None
        if stat.S_ISLNK(info.st_mode):
            self.add(rules.ZIP_SYMLINK, name, f"{name!r} is a symbolic link")
            return None
        if stat.S_ISDIR(info.st_mode):
            inside_assets = name == ASSETS_PREFIX[:-1] or name.startswith(ASSETS_PREFIX)
            if not inside_assets and not reported:
                self.add(rules.ZIP_UNEXPECTED, name, f"unexpected directory {name!r}", name)
            return reported or not inside_assets
        if not stat.S_ISREG(info.st_mode):
            self.add(rules.ZIP_SYMLINK, name, f"{name!r} is a special file")
            return None
        unexpected = keras_member_problem(name)
        if unexpected is not None and not reported:
            self.add(rules.ZIP_UNEXPECTED, name, f"unexpected file {name!r}: {unexpected}", name)
        self.files[name] = info.st_size
        self.total += info.st_size
        return None

    def read(self, name: str) -> tuple[bytes | None, str | None]:
        """Read one file once, within the budget; return its bytes if kept, and its hash."""
        self.deadline.check(f"reading {name!r}")
        path = os.path.join(self.root, *name.split("/"))
        try:
            fd = os.open(path, READ_FLAGS_NO_LINKS)
        except OSError as exc:
            self.add(
                rules.ZIP_SYMLINK if _is_loop(exc) else rules.ZIP_CORRUPT,
                name,
                f"cannot open {name!r}: {exc}",
            )
            return None, None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                self.add(rules.ZIP_SYMLINK, name, f"{name!r} changed into a special file")
                return None, None
            # The walk already held the listed sizes under the cap; a file that grew since
            # then is a race (or an attack on one), so it is refused rather than read on.
            expected = self.files[name]
            if name in _KEPT:
                data = handle.read(min(expected, info.st_size) + 1)
                if len(data) > expected:
                    self.add(rules.ZIP_CORRUPT, name, f"{name!r} grew while it was read")
                    return None, None
                return data, hashlib.sha256(data).hexdigest()
            digest = hashlib.sha256()
            size = 0
            while chunk := handle.read(_CHUNK):
                size += len(chunk)
                if size > expected:
                    self.add(rules.ZIP_CORRUPT, name, f"{name!r} grew while it was read")
                    return None, None
                digest.update(chunk)
                self.deadline.check(f"hashing {name!r}")
        return None, digest.hexdigest()


def _is_loop(exc: OSError) -> bool:
    """``O_NOFOLLOW`` on a link fails with ELOOP (EMLINK on some BSDs)."""
    return exc.errno in (errno.ELOOP, errno.EMLINK)


def _hash_listing(hashes: dict[str, str]) -> str:
    """sha256 over sorted ``<relative path>\\0<sha256 of content>\\n`` lines."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(os.fsencode(name) + b"\0" + hashes[name].encode("ascii") + b"\n")
    return digest.hexdigest()


def read_keras_dir(root: str, limits: Limits, deadline: Deadline = NO_DEADLINE) -> KerasDir:
    """Check an unzipped ``.keras`` folder and parse its ``config.json``."""
    reader = _Reader(root, limits, deadline)
    if not reader.walk():
        return KerasDir(tuple(reader.findings), (), None, None)
    names = set(reader.files)
    if WEIGHTS_H5 in names and WEIGHTS_NPZ in names:
        reader.add(
            rules.ZIP_UNEXPECTED,
            WEIGHTS_NPZ,
            "both model.weights.h5 and model.weights.npz are present; Keras reads only the first",
        )
    if CONFIG not in names:
        reader.add(rules.ZIP_NO_CONFIG, CONFIG, "the folder has no config.json")
    contents: dict[str, bytes] = {}
    hashes: dict[str, str] = {}
    complete = True
    for name in sorted(names):
        content, digest = reader.read(name)
        if digest is None:
            complete = False
            continue
        hashes[name] = digest
        if content is not None:
            contents[name] = content
    documents: list[ConfigDocument] = []
    if METADATA in contents:
        reader.findings.extend(
            parse_json_document(contents[METADATA], METADATA, limits, deadline)[1])
    if CONFIG in contents:
        value, findings = parse_json_document(contents[CONFIG], CONFIG, limits, deadline)
        reader.findings.extend(findings)
        if not findings:
            documents.append(ConfigDocument(member=CONFIG, role=ConfigRole.MODEL, value=value))
    weights_member: str | None = None
    if WEIGHTS_H5 in names:
        weights_member = WEIGHTS_H5
        if WEIGHTS_H5 in contents:
            reader.findings.extend(
                check_hdf5(contents[WEIGHTS_H5], WEIGHTS_H5, limits, deadline).findings)
    if WEIGHTS_NPZ in names:
        weights_member = weights_member or WEIGHTS_NPZ
        if WEIGHTS_NPZ in contents:
            reader.findings.extend(
                check_npz(contents[WEIGHTS_NPZ], WEIGHTS_NPZ, limits, deadline))
    sha256 = _hash_listing(hashes) if complete else None
    return KerasDir(tuple(reader.findings), tuple(documents), weights_member, sha256)
