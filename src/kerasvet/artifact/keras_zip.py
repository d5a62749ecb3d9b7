"""The ``.keras`` zip container (and the ``model.weights.npz`` zip inside it).

The member list is judged before any member is read: names, types, sizes, ratios, duplicates
and the raw layout of the archive. Only then are ``metadata.json``, ``config.json`` and the
weights read, each with a hard cap; nothing is ever extracted to disk.
"""

from __future__ import annotations

import io
import math
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from numpy.lib import format as npy_format

from kerasvet.artifact import rules
from kerasvet.artifact.hdf5 import ARTIFACT, check_hdf5
from kerasvet.artifact.json_strict import parse_json_document
from kerasvet.artifact.model import ConfigDocument, ConfigRole
from kerasvet.artifact.sniff import (
    ZIP_LOCAL_MAGIC,
    EndRecord,
    MemoryFile,
    count_central_entries,
    describe_error,
    find_end_record,
    hdf5_signature_offsets,
)
from kerasvet.findings import Finding, Location, Rule
from kerasvet.limits import NO_DEADLINE, Deadline, Limits

__all__ = [
    "ASSETS_PREFIX",
    "CONFIG",
    "METADATA",
    "WEIGHTS_H5",
    "WEIGHTS_NPZ",
    "KerasZip",
    "check_npz",
    "keras_member_problem",
    "name_problem",
    "read_keras_zip",
]

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS_H5 = "model.weights.h5"
WEIGHTS_NPZ = "model.weights.npz"
ASSETS_PREFIX = "assets/"
_TOP_LEVEL = frozenset({CONFIG, METADATA, WEIGHTS_H5, WEIGHTS_NPZ})

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_FLAG_ENCRYPTED = 0x01
_FLAG_DESCRIPTOR = 0x08
_FLAG_UTF8 = 0x800
_DESCRIPTOR_MAGIC = b"PK\x07\x08"
_DESCRIPTOR_32 = struct.Struct("<3L")
_DESCRIPTOR_64 = struct.Struct("<LQQ")
_ZIP32_MAX = 0xFFFFFFFF
_NPY_HEAD = 16 * 1024
"""Enough bytes for any .npy header numpy accepts (10 000 bytes of header by default)."""
_SLACK = 64 * 1024
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
"""Control, format (bidi overrides, zero-width) and undecodable (surrogate) characters."""
_SPECIAL_TYPES = {
    0o010000: "a FIFO",
    0o020000: "a character device",
    0o060000: "a block device",
    0o120000: "a symbolic link",
    0o140000: "a socket",
}


@dataclass(frozen=True, slots=True)
class KerasZip:
    """What reading a ``.keras`` zip produced."""

    findings: tuple[Finding, ...]
    documents: tuple[ConfigDocument, ...]
    weights_member: str | None


def name_problem(name: str) -> str | None:
    """Why an extractor could write this member outside its folder or mis-read it, or None."""
    if not name:
        return "the name is empty"
    for char in name:
        if unicodedata.category(char) in _BAD_CATEGORIES:
            return f"the name contains the character U+{ord(char):04X}"
    drive = len(name) > 1 and name[1] == ":" and name[0].isascii() and name[0].isalpha()
    if name.startswith("/") or drive:
        return "the name is an absolute path"
    if "\\" in name:
        return "the name contains a backslash"
    parts = (name[:-1] if name.endswith("/") else name).split("/")
    if ".." in parts:
        return "the name climbs out of the archive with '..'"
    if "." in parts:
        return "the name contains a '.' component"
    if "" in parts:
        return "the name contains an empty component"
    return None


def keras_member_problem(name: str) -> str | None:
    """Why Keras would not write this member into a ``.keras`` container, or None."""
    if name in _TOP_LEVEL or (name.startswith(ASSETS_PREFIX) and len(name) > len(ASSETS_PREFIX)):
        return None
    if name == ASSETS_PREFIX:
        return None  # a directory entry for assets/, as `zip -r` writes
    return "Keras writes only metadata.json, config.json, model.weights.h5/.npz and assets/"


def _npz_member_problem(name: str) -> str | None:
    if name.endswith(".npy") and not name.endswith("/"):
        return None
    return "an .npz weights archive holds only .npy members"


def _casefold_key(name: str) -> str:
    """The name as a case-insensitive, normalising file system would see it."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


class _Findings:
    """Findings of one container, all located at ``container`` with a detail."""

    def __init__(self, container: str) -> None:
        self.container = container
        self.items: list[Finding] = []

    def add(self, rule: Rule, detail: str | None, message: str, value: object = None) -> None:
        self.items.append(
            Finding.of(rule, Location(member=self.container, detail=detail), message, value=value)
        )


def _open_zip(
    buf: memoryview, out: _Findings, limits: Limits
) -> tuple[zipfile.ZipFile, EndRecord] | None:
    """Find the end record, count entries from the raw bytes, then let ``zipfile`` parse."""
    record = find_end_record(buf)
    if record is None:
        out.add(rules.ZIP_CORRUPT, None, f"{out.container} has no usable zip end record")
        return None
    count = count_central_entries(buf, record, limits.max_zip_members)
    if count > limits.max_zip_members:
        out.add(
            rules.ZIP_TOO_MANY_MEMBERS,
            None,
            f"the zip lists more than {limits.max_zip_members} members",
            value=record.declared_entries,
        )
        return None
    try:
        archive = zipfile.ZipFile(MemoryFile(buf), "r")
    except Exception as exc:
        out.add(rules.ZIP_CORRUPT, None, f"the zip cannot be parsed: {describe_error(exc)}")
        return None
    return archive, record


def _position_findings(
    buf: memoryview, record: EndRecord, infos: Sequence[zipfile.ZipInfo], out: _Findings
) -> None:
    """Bytes before the first entry or after the end record make a polyglot (KV108)."""
    first = min((info.header_offset for info in infos), default=record.central_start)
    if first > 0:
        out.add(
            rules.ZIP_PREFIX,
            "offset 0",
            f"{first} bytes precede the first zip entry, so the file is also something else",
            value=bytes(buf[:16]),
        )
    if record.end < len(buf):
        out.add(
            rules.ZIP_PREFIX,
            f"offset {record.end}",
            f"{len(buf) - record.end} bytes follow the end of the zip",
        )
    elif record.end > len(buf):
        out.add(rules.ZIP_CORRUPT, None, "the zip comment runs past the end of the file")
    if record.declared_entries != len(infos):
        out.add(
            rules.ZIP_CORRUPT,
            None,
            f"the end record declares {record.declared_entries} entries but the central "
            f"directory lists {len(infos)}",
        )


def _member_findings(
    infos: Sequence[zipfile.ZipInfo],
    out: _Findings,
    limits: Limits,
    allowed: Callable[[str], str | None],
    deadline: Deadline,
    config_caps: frozenset[str] = frozenset(),
) -> None:
    """Judge every entry of the central directory before anything is read."""
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    total = 0
    for info in infos:
        name = info.orig_filename
        deadline.check(f"checking the zip member {name!r}")
        problem = name_problem(name)
        if problem is not None:
            out.add(rules.ZIP_UNSAFE_NAME, name, f"unsafe member name {name!r}: {problem}", name)
        file_type = (info.external_attr >> 16) & 0o170000
        if file_type in _SPECIAL_TYPES:
            out.add(rules.ZIP_SYMLINK, name, f"{name!r} is {_SPECIAL_TYPES[file_type]}")
        elif file_type not in (0, 0o100000, 0o040000) or (
            file_type == 0o040000 and not name.endswith("/")
        ):
            out.add(rules.ZIP_SYMLINK, name, f"{name!r} has the non-regular mode {file_type:o}")
        key = info.filename  # what ZipFile.getinfo (and so Keras) looks names up by
        if key in exact:
            out.add(rules.ZIP_DUPLICATE, name, f"the member name {key!r} appears twice")
        elif _casefold_key(key) in folded:
            other = folded[_casefold_key(key)]
            out.add(
                rules.ZIP_DUPLICATE,
                name,
                f"{name!r} and {other!r} are the same name on a case-insensitive or "
                "normalising file system",
            )
        exact.setdefault(key, name)
        folded.setdefault(_casefold_key(key), name)
        unexpected = allowed(key)
        if unexpected is not None:
            out.add(rules.ZIP_UNEXPECTED, name, f"unexpected member {name!r}: {unexpected}", name)
        if info.flag_bits & _FLAG_ENCRYPTED:
            out.add(rules.ZIP_CORRUPT, name, f"{name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            out.add(
                rules.ZIP_CORRUPT,
                name,
                f"{name!r} uses compression method {info.compress_type} (Keras stores members)",
            )
        elif info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            out.add(
                rules.ZIP_CORRUPT,
                name,
                f"{name!r} is stored uncompressed but declares {info.file_size} bytes "
                f"unpacked and {info.compress_size} packed",
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_compression_ratio:
            out.add(
                rules.ZIP_RATIO,
                name,
                f"{name!r} expands {info.compress_size} bytes to {info.file_size} "
                f"(ratio {ratio:.0f}, cap {limits.max_compression_ratio})",
                value=info.file_size,
            )
        cap = limits.max_config_bytes if key in config_caps else limits.max_artifact_bytes
        if info.file_size > cap:
            out.add(
                rules.TOO_LARGE,
                name,
                f"{name!r} declares {info.file_size} bytes, over the cap of {cap}",
                value=info.file_size,
            )
        total += info.file_size
    if total > limits.max_artifact_bytes:
        out.add(
            rules.TOO_LARGE,
            None,
            f"the members declare {total} bytes in total, over the cap of "
            f"{limits.max_artifact_bytes}",
            value=total,
        )


def _descriptor_length(buf: memoryview, at: int, info: zipfile.ZipInfo) -> int:
    """Length of the data descriptor after an entry written to a non-seekable stream.

    The signature is optional and the sizes are 4 or 8 bytes (zip64), so the layout whose
    CRC and sizes match the central directory is the one taken; none matching is a gap.
    """
    expected = (info.CRC, info.compress_size, info.file_size)
    signed = bytes(buf[at : at + 4]) == _DESCRIPTOR_MAGIC
    start = at + 4 if signed else at
    for layout in (_DESCRIPTOR_64, _DESCRIPTOR_32):
        raw = bytes(buf[start : start + layout.size])
        if len(raw) == layout.size and layout.unpack(raw) == expected:
            return (start - at) + layout.size
    return 0


def _layout_findings(
    buf: memoryview, record: EndRecord, infos: Sequence[zipfile.ZipInfo], out: _Findings
) -> None:
    """Local headers must agree with the central directory and tile the archive exactly.

    Streaming unzippers read local headers, ``zipfile`` reads the central directory: any
    disagreement, overlap or unowned gap lets two tools see two different archives.
    """
    spans: list[tuple[int, int, str]] = []
    for info in infos:
        name = info.orig_filename
        offset = info.header_offset
        header = bytes(buf[offset : offset + _LOCAL.size])
        if len(header) != _LOCAL.size or header[:4] != ZIP_LOCAL_MAGIC:
            out.add(rules.ZIP_CORRUPT, name, f"{name!r} has no local header at offset {offset}")
            continue
        fields = _LOCAL.unpack(header)
        flags, method = fields[3:5]
        packed, unpacked, name_length, extra_length = fields[8:12]
        raw_name = bytes(buf[offset + _LOCAL.size : offset + _LOCAL.size + name_length])
        try:
            local_name: str | None = raw_name.decode("utf-8" if flags & _FLAG_UTF8 else "cp437")
        except UnicodeDecodeError:
            local_name = None
        if local_name != name:
            out.add(
                rules.ZIP_CORRUPT,
                name,
                f"the local header of {name!r} names it {local_name!r}",
            )
        if method != info.compress_type:
            out.add(
                rules.ZIP_CORRUPT,
                name,
                f"the local header of {name!r} says compression {method}, the central "
                f"directory {info.compress_type}",
            )
        if (
            not flags & _FLAG_DESCRIPTOR
            and _ZIP32_MAX not in (packed, unpacked)
            and (packed, unpacked) != (info.compress_size, info.file_size)
        ):
            out.add(
                rules.ZIP_CORRUPT,
                name,
                f"the local header of {name!r} declares other sizes than the central directory",
            )
        end = offset + _LOCAL.size + name_length + extra_length + info.compress_size
        if info.flag_bits & _FLAG_DESCRIPTOR:
            end += _descriptor_length(buf, end, info)
        spans.append((offset, end, name))
    spans.sort()
    position = spans[0][0] if spans else record.central_start
    for offset, end, name in spans:
        if offset < position:
            out.add(rules.ZIP_CORRUPT, name, f"{name!r} overlaps the entry before it")
        elif offset > position:
            out.add(
                rules.ZIP_CORRUPT,
                f"offset {position}",
                f"{offset - position} bytes before {name!r} belong to no member",
            )
        position = max(position, end)
    if position > record.central_start:
        out.add(rules.ZIP_CORRUPT, None, "member data runs into the central directory")
    elif position < record.central_start:
        out.add(
            rules.ZIP_CORRUPT,
            f"offset {position}",
            f"{record.central_start - position} bytes before the central directory belong to "
            "no member",
        )


def _readable(info: zipfile.ZipInfo) -> bool:
    return not info.flag_bits & _FLAG_ENCRYPTED and info.compress_type in (
        zipfile.ZIP_STORED,
        zipfile.ZIP_DEFLATED,
    )


def _read_capped(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, out: _Findings
) -> bytes | None:
    """Read at most ``cap`` bytes of a member; a CRC or inflate error is a KV110.

    ``zipfile`` inflates only as much as is asked for (and never past the declared size,
    which the member checks held under the caps), so a member that really inflates to more
    than it declares costs at most ``cap`` bytes before its CRC fails.
    """
    try:
        with archive.open(info) as handle:
            return handle.read(cap)
    except Exception as exc:
        out.add(
            rules.ZIP_CORRUPT,
            info.orig_filename,
            f"{info.orig_filename!r} cannot be read: {describe_error(exc)}",
        )
        return None


def _data_span(buf: memoryview, info: zipfile.ZipInfo) -> tuple[int, int] | None:
    offset = info.header_offset
    header = bytes(buf[offset : offset + _LOCAL.size])
    if len(header) != _LOCAL.size or header[:4] != ZIP_LOCAL_MAGIC:
        return None
    fields = _LOCAL.unpack(header)
    start = offset + _LOCAL.size + fields[10] + fields[11]
    end = start + info.compress_size
    return (start, end) if end <= len(buf) else None


def _member_bytes(
    buf: memoryview, archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: _Findings
) -> memoryview | bytes | None:
    """A stored member as a zero-copy view (CRC checked); a deflated one inflated to its
    declared size, which the member checks already held under the caps."""
    if info.compress_type == zipfile.ZIP_STORED and info.file_size == info.compress_size:
        span = _data_span(buf, info)
        if span is not None:
            view = buf[span[0] : span[1]]
            if zlib.crc32(view) & _ZIP32_MAX != info.CRC:
                out.add(
                    rules.ZIP_CORRUPT, info.orig_filename, f"{info.orig_filename!r} fails its CRC"
                )
                return None
            return view
    return _read_capped(archive, info, info.file_size + 1, out)


def _within_caps(info: zipfile.ZipInfo, cap: int, limits: Limits) -> bool:
    return (
        _readable(info)
        and info.file_size <= cap
        and info.file_size / max(info.compress_size, 1) <= limits.max_compression_ratio
    )


def _check_npy(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: _Findings, limits: Limits
) -> None:
    """Read one ``.npy`` header from a bounded prefix: refuse object dtypes and shape bombs."""
    name = info.orig_filename
    head = _read_capped(archive, info, min(info.file_size, _NPY_HEAD), out)
    if head is None:
        return
    stream = io.BytesIO(head)
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(stream)
        else:
            out.add(rules.ZIP_CORRUPT, name, f"{name!r} uses .npy format version {version}")
            return
    except Exception as exc:
        out.add(rules.ZIP_CORRUPT, name, f"{name!r} is not a valid .npy: {describe_error(exc)}")
        return
    if dtype.hasobject:
        out.add(
            rules.WEIGHTS_DTYPE,
            name,
            f"{name!r} holds Python objects (dtype {dtype.str}), which only a pickle load reads",
            value=dtype.str,
        )
        return
    declared = math.prod(int(d) for d in shape) * dtype.itemsize
    stored = info.file_size - stream.tell()
    if declared > max(2 * stored, stored + _SLACK) or declared > limits.max_artifact_bytes:
        out.add(
            rules.HDF5_SHAPE_BOMB,
            name,
            f"{name!r} declares {declared} bytes of data but stores {stored}",
            value=declared,
        )


def check_npz(
    data: bytes | memoryview, member: str, limits: Limits, deadline: Deadline = NO_DEADLINE
) -> tuple[Finding, ...]:
    """Check a ``.npz`` weights archive with the zip rules plus a look at each .npy header."""
    buf = memoryview(data)
    out = _Findings(member)
    opened = _open_zip(buf, out, limits)
    if opened is None:
        return tuple(out.items)
    archive, record = opened
    with archive:
        infos = archive.infolist()
        _position_findings(buf, record, infos, out)
        _member_findings(infos, out, limits, _npz_member_problem, deadline)
        _layout_findings(buf, record, infos, out)
        for info in infos:
            deadline.check(f"reading {member}/{info.orig_filename}")
            if _npz_member_problem(info.filename) is None and _within_caps(
                info, limits.max_artifact_bytes, limits
            ):
                _check_npy(archive, info, out, limits)
    return tuple(out.items)


def _parse_member(
    archive: zipfile.ZipFile, name: str, out: _Findings, limits: Limits, deadline: Deadline
) -> tuple[object | None, bool]:
    """Read and strictly parse one JSON member; ``(value, parsed)``."""
    info = archive.getinfo(name)  # the last of duplicates, as Keras would read it
    if not _within_caps(info, limits.max_config_bytes, limits):
        return None, False
    raw = _read_capped(archive, info, limits.max_config_bytes + 1, out)
    if raw is None:
        return None, False
    value, findings = parse_json_document(raw, name, limits, deadline)
    out.items.extend(findings)
    return value, not findings


def read_keras_zip(
    data: bytes | memoryview, limits: Limits, deadline: Deadline = NO_DEADLINE
) -> KerasZip:
    """Check a ``.keras`` zip held in memory and parse its ``config.json``."""
    buf = memoryview(data)
    out = _Findings(ARTIFACT)
    opened = _open_zip(buf, out, limits)
    if opened is None:
        return KerasZip(tuple(out.items), (), None)
    archive, record = opened
    documents: list[ConfigDocument] = []
    weights_member: str | None = None
    with archive:
        infos = archive.infolist()
        names = {info.filename for info in infos}
        _position_findings(buf, record, infos, out)
        _member_findings(infos, out, limits, keras_member_problem, deadline,
                         frozenset({CONFIG, METADATA}))
        if WEIGHTS_H5 in names and WEIGHTS_NPZ in names:
            out.add(
                rules.ZIP_UNEXPECTED,
                WEIGHTS_NPZ,
                "both model.weights.h5 and model.weights.npz are present; Keras reads only "
                "the first, so the second is never what gets loaded",
            )
        _layout_findings(buf, record, infos, out)
        if CONFIG not in names:
            out.add(rules.ZIP_NO_CONFIG, CONFIG, "the zip has no config.json")
        if METADATA in names:
            # Well-formedness only, never trusted.
            _parse_member(archive, METADATA, out, limits, deadline)
        if CONFIG in names:
            value, parsed = _parse_member(archive, CONFIG, out, limits, deadline)
            if parsed:
                documents.append(ConfigDocument(member=CONFIG, role=ConfigRole.MODEL, value=value))
        weights_start: int | None = None
        weights_is_model = False
        for weights in (WEIGHTS_H5, WEIGHTS_NPZ):
            if weights not in names:
                continue
            weights_member = weights_member or weights
            info = archive.getinfo(weights)
            if not _within_caps(info, limits.max_artifact_bytes, limits):
                continue
            deadline.check(f"reading {weights}")
            content = _member_bytes(buf, archive, info, out)
            if content is None:
                continue
            if weights == WEIGHTS_NPZ:
                out.items.extend(check_npz(content, weights, limits, deadline))
                continue
            check = check_hdf5(content, weights, limits, deadline)
            out.items.extend(check.findings)
            span = _data_span(buf, info)
            weights_start = span[0] if span is not None else None
            weights_is_model = "model_config" in check.root_attributes
        for offset in hdf5_signature_offsets(buf):
            if offset == weights_start and not weights_is_model:
                continue  # the stored weights file itself, which carries no model config
            out.add(
                rules.ZIP_PREFIX,
                f"offset {offset}",
                f"an HDF5 superblock at offset {offset} makes the zip also an HDF5 file, "
                "which Keras opens as a legacy model when the name ends in .h5",
            )
    return KerasZip(tuple(out.items), tuple(documents), weights_member)
