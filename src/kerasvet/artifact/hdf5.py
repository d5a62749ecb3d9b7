"""HDF5 checks on bytes already in memory: links, dataset storage and data types.

Keras' own guards check only the groups it happens to open; an attacker can hide an external
link, an external or virtual dataset, or a shape bomb anywhere else in the file. So every object
is visited, with an explicit stack, through the low-level link API (``H5Lget_info``), which
reports a link's class without resolving it: no external file is ever opened and no dataset
is ever read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import h5py
from h5py import h5a, h5d, h5g, h5l, h5o, h5s, h5t

from kerasvet.artifact import rules
from kerasvet.artifact.json_strict import parse_json_document
from kerasvet.artifact.model import ConfigDocument, ConfigRole
from kerasvet.artifact.sniff import HDF5_MAGIC, MemoryFile, describe_error
from kerasvet.findings import Finding, Location, Pointer, Rule
from kerasvet.limits import NO_DEADLINE, Deadline, DeadlineExceeded, Limits

__all__ = [
    "ARTIFACT",
    "Hdf5Check",
    "LegacyModel",
    "check_hdf5",
    "global_heap_problem",
    "read_legacy_hdf5",
    "vlen_length_problem",
]

ARTIFACT = "<artifact>"
"""Member name used for findings about the container itself."""

_SLACK = 64 * 1024
"""Bytes a dataset may declare beyond what it stores (headers, tiny fill-only datasets)."""
_MAX_FINDINGS = 200
"""Stop walking after this many findings: the file is refused long before that."""
_MAX_HEAP_STEPS = 1_000_000
"""Most object records checked in one global heap collection (Keras writes a handful)."""
_GCOL = re.compile(b"GCOL")
_MAX_CHECKED_COLLECTIONS = 64
"""Most global heap collections whose objects are checked (Keras writes one or two)."""
_MAX_OPAQUE_NUMBER = 16
"""Largest opaque element accepted in a dataset (an ml_dtypes number is 1 or 2 bytes)."""

_PLAIN_CLASSES = frozenset(
    c for c in (h5t.INTEGER, h5t.FLOAT, h5t.STRING, getattr(h5t, "COMPLEX", None)) if c is not None
)
_CLASS_NAMES = {
    h5t.INTEGER: "integer",
    h5t.FLOAT: "float",
    h5t.STRING: "string",
    h5t.BITFIELD: "bitfield",
    h5t.OPAQUE: "opaque (raw bytes, e.g. a pickle)",
    h5t.COMPOUND: "compound",
    h5t.REFERENCE: "object reference",
    h5t.ENUM: "enum",
    h5t.VLEN: "variable-length sequence",
    h5t.ARRAY: "array",
    h5t.TIME: "time",
}


@dataclass(frozen=True, slots=True)
class Hdf5Check:
    """What walking one HDF5 file found."""

    findings: tuple[Finding, ...]
    """Link, storage, type and walk findings, in walk order."""
    root_attributes: frozenset[str]
    """Names of the root group's attributes (``model_config`` marks a legacy model file)."""
    opened: bool
    """Whether the bytes could be opened as HDF5 at all."""


@dataclass(frozen=True, slots=True)
class LegacyModel:
    """A legacy ``model.save("x.h5")`` file: its config documents and container findings."""

    findings: tuple[Finding, ...]
    documents: tuple[ConfigDocument, ...]
    weights_member: str | None


def _decode(name: bytes | str) -> str:
    """An HDF5 name as printable text; undecodable bytes are shown, not dropped."""
    if isinstance(name, str):
        return name
    return name.decode("utf-8", "backslashreplace")


def _type_problem(type_id: Any, *, dataset: bool = False) -> str | None:
    """Why a datatype cannot be read as plain numbers or strings, or ``None`` when it can.

    Only one level of nesting is looked at (an array or compound of plain members); deeper
    types are refused rather than walked, since Keras never writes them. A dataset may be
    opaque with small elements: that is how h5py stores ``ml_dtypes`` numbers (bfloat16,
    float8), which Keras writes for low-precision weights.
    """
    cls = type_id.get_class()
    if cls in _PLAIN_CLASSES:
        return None
    if cls == h5t.OPAQUE and dataset and type_id.get_size() <= _MAX_OPAQUE_NUMBER:
        return None
    if cls == h5t.ENUM and type_id.get_super().get_class() == h5t.INTEGER:
        return None  # h5py stores numpy booleans as an enum over int8
    if cls == h5t.ARRAY:
        base = type_id.get_super().get_class()
        if base in _PLAIN_CLASSES:
            return None
        return f"array of {_CLASS_NAMES.get(base, f'class {base}')}"
    if cls == h5t.COMPOUND:
        members = type_id.get_nmembers()
        if members <= 16 and all(
            type_id.get_member_type(i).get_class() in _PLAIN_CLASSES for i in range(members)
        ):
            return None  # complex numbers, as h5py writes them
        return "compound with non-numeric members"
    return _CLASS_NAMES.get(cls, f"class {cls}")


def _identity(object_id: Any) -> tuple[int, int]:
    """File number and header address: equal for two hard links to one object."""
    info = h5o.get_info(object_id)
    return int(info.fileno), int(info.addr)


def _declared_bytes(dataset: Any) -> int:
    """Bytes a reader would allocate for the dataset, from its dataspace and type only."""
    space = dataset.get_space()
    if space.get_simple_extent_type() == h5s.NULL:
        return 0
    dims = space.get_simple_extent_dims() or ()
    return math.prod(int(d) for d in dims) * int(dataset.get_type().get_size())


class _Walk:
    """The state of one walk: findings so far and the object budget left."""

    def __init__(self, member: str, limits: Limits, deadline: Deadline) -> None:
        self.member = member
        self.limits = limits
        self.deadline = deadline
        self.findings: list[Finding] = []
        self.visited = 0
        self.stopped = False

    def add(self, rule: Rule, detail: str, message: str, value: object = None) -> None:
        """Record a finding; past the finding cap, record why the walk stops and stop."""
        if self.stopped:
            return
        self.findings.append(
            Finding.of(rule, Location(member=self.member, detail=detail), message, value=value)
        )
        if len(self.findings) >= _MAX_FINDINGS:
            self.findings.append(
                Finding.of(
                    rules.HDF5_CORRUPT,
                    Location(member=self.member, detail=detail),
                    f"stopped walking {self.member} after {_MAX_FINDINGS} findings",
                )
            )
            self.stopped = True

    def spend(self, count: int, detail: str) -> bool:
        """Charge ``count`` objects to the budget; ``False`` (and a finding) when it runs out."""
        self.visited += count
        if self.visited > self.limits.max_hdf5_objects:
            self.add(
                rules.HDF5_CORRUPT,
                detail,
                f"{self.member} holds more than {self.limits.max_hdf5_objects} objects "
                "(links and attributes); the walk stopped here",
            )
            self.stopped = True
            return False
        return True

    def run(self, root: Any) -> None:
        """Visit every link, object and attribute reachable from ``root`` by hard links."""
        seen = {_identity(root)}
        stack: list[tuple[str, Any]] = [("/", root)]
        while stack and not self.stopped:
            path, group = stack.pop()
            self.deadline.check(f"walking {self.member} at {path}")
            try:
                self.attributes(group, path)
                count = len(group)
            except Exception as exc:
                self.add(rules.HDF5_CORRUPT, path, f"cannot list {path}: {describe_error(exc)}")
                continue
            if self.stopped or not self.spend(count, path):
                return
            groups: list[tuple[str, Any]] = []
            for name in group:
                if self.stopped:
                    return
                child = f"{path.rstrip('/')}/{_decode(name)}"
                try:
                    found = self.link(group, name, child, seen)
                except Exception as exc:
                    self.add(
                        rules.HDF5_CORRUPT, child, f"cannot inspect {child}: {describe_error(exc)}"
                    )
                    continue
                if found is not None:
                    groups.append((child, found))
            stack.extend(reversed(groups))

    def link(self, group: Any, name: bytes, path: str, seen: set[tuple[int, int]]) -> Any:
        """Check one link without following it; return the child group to descend into."""
        kind = group.links.get_info(name).type
        if kind == h5l.TYPE_EXTERNAL:
            filename, target = group.links.get_val(name)
            self.add(
                rules.HDF5_EXTERNAL_LINK,
                path,
                f"{path} is an external link to {_decode(target)!r} in file {_decode(filename)!r}",
                value=_decode(filename),
            )
            return None
        if kind == h5l.TYPE_SOFT:
            target = _decode(group.links.get_val(name))
            self.add(rules.HDF5_SOFT_LINK, path, f"{path} is a soft link to {target!r}", target)
            return None
        if kind != h5l.TYPE_HARD:
            self.add(rules.HDF5_CORRUPT, path, f"{path} is a user-defined link (class {kind})")
            return None
        child = h5o.open(group, name)
        identity = _identity(child)
        if identity in seen:
            return None  # a second hard link to an object already checked (or a cycle)
        seen.add(identity)
        object_type = h5o.get_info(child).type
        if object_type == h5o.TYPE_GROUP:
            return child
        if object_type == h5o.TYPE_DATASET:
            self.dataset(child, path)
        elif object_type == h5o.TYPE_NAMED_DATATYPE:
            problem = _type_problem(child)
            if problem is not None:
                self.add(rules.WEIGHTS_DTYPE, path, f"{path} is a named {problem} type")
        else:
            self.add(rules.HDF5_CORRUPT, path, f"{path} is an object of unknown type {object_type}")
            return None
        self.attributes(child, path)
        return None

    def dataset(self, dataset: Any, path: str) -> None:
        """External storage, virtual layout, unusual types, and declared-versus-stored size."""
        plist = dataset.get_create_plist()
        if plist.get_external_count() > 0:
            filename = _decode(plist.get_external(0)[0])
            self.add(
                rules.HDF5_EXTERNAL_STORAGE,
                path,
                f"{path} keeps its data in the external file {filename!r}",
                value=filename,
            )
            return
        if plist.get_layout() == h5d.VIRTUAL:
            sources = plist.get_virtual_count()
            source = _decode(plist.get_virtual_filename(0)) if sources else ""
            self.add(
                rules.HDF5_VIRTUAL,
                path,
                f"{path} is a virtual dataset assembled from {sources} source(s) such as "
                f"{source!r}",
                value=source,
            )
            return
        problem = _type_problem(dataset.get_type(), dataset=True)
        if problem is not None:
            self.add(rules.WEIGHTS_DTYPE, path, f"{path} holds {problem} values")
        declared = _declared_bytes(dataset)
        stored = int(dataset.get_storage_size())
        if declared > max(2 * stored, stored + _SLACK) or declared > self.limits.max_artifact_bytes:
            self.add(
                rules.HDF5_SHAPE_BOMB,
                path,
                f"{path} declares {declared} bytes but stores {stored}",
                value=declared,
            )

    def attributes(self, object_id: Any, path: str) -> None:
        """Check the type of every attribute of one object, without reading any value."""
        count = h5a.get_num_attrs(object_id)
        if not self.spend(count, path):
            return
        for index in range(count):
            attribute = h5a.open(object_id, index=index)
            problem = _type_problem(attribute.get_type())
            if problem is not None:
                name = _decode(attribute.name)
                self.add(
                    rules.WEIGHTS_DTYPE,
                    f"{path}@{name}",
                    f"attribute {name!r} of {path} holds {problem} values",
                )


def _superblock_size_field(buf: memoryview, v01_at: int, v23_at: int) -> int:
    """A byte-size field of the superblock (8 in every file h5py writes)."""
    version = buf[8] if len(buf) > 16 and bytes(buf[:8]) == HDF5_MAGIC else None
    at = v01_at if version in (0, 1) else v23_at if version in (2, 3) else None
    size = buf[at] if at is not None else 8
    return size if size in (2, 4, 8, 16) else 8


def _lengths_size(buf: memoryview) -> int:
    """Bytes per "length" field."""
    return _superblock_size_field(buf, 14, 10)


def _offsets_size(buf: memoryview) -> int:
    """Bytes per "offset" (address) field."""
    return _superblock_size_field(buf, 13, 9)


def global_heap_problem(data: bytes | memoryview) -> tuple[int, str] | None:
    """A global heap collection that would send the HDF5 library into an endless loop.

    HDF5 (up to at least 2.0.0) walks a collection's objects by their declared sizes; a
    free-space record of size 0 never advances, so reading any variable-length string (such
    as ``model_config``) spins forever inside C code that no signal can interrupt. Each
    ``GCOL`` collection is walked here the same way first, with a bound on the steps.
    """
    return _scan_global_heaps(data)[0]


def _scan_global_heaps(data: bytes | memoryview) -> tuple[tuple[int, str] | None, int]:
    """The endless-loop problem of :func:`global_heap_problem`, and the largest object.

    Variable-length strings (``model_config`` among them) live in global heap objects, and
    HDF5 allocates an object's declared size to read it; the largest one bounds what reading
    any such string costs, before it is read.
    """
    buf = memoryview(data).cast("B")
    length = _lengths_size(buf)
    header = 8 + length
    largest = 0
    for match in _GCOL.finditer(buf):
        start = match.start()
        size = int.from_bytes(buf[start + 8 : start + header], "little")
        end = start + size
        if size < header or end > len(buf):
            continue  # HDF5 fails to load such a collection instead of looping over it
        position = start + header
        steps = 0
        while position + header <= end:
            steps += 1
            index = int.from_bytes(buf[position : position + 2], "little")
            declared = int.from_bytes(buf[position + 8 : position + header], "little")
            need = header + -(-declared // 8) * 8 if index else declared
            if need == 0 or need >= 1 << 63 or steps > _MAX_HEAP_STEPS:
                return (start, (
                    f"the global heap collection at offset {start} has a malformed object "
                    f"record at offset {position}, which the HDF5 library would loop over "
                    "forever"
                )), largest
            if index and declared <= size:
                largest = max(largest, declared)
            position += need
    return None, largest


def vlen_length_problem(data: bytes | memoryview) -> tuple[int, str] | None:
    """A variable-length value that declares more elements than its heap object holds.

    HDF5 allocates a variable-length value's declared length (up to 2**32 - 1 elements)
    *before* it compares it with the global heap object, so one edited 4-byte length in
    ``training_config``'s descriptor costs 4 GiB and ~10 s of C code per read. A descriptor
    is the length, then the heap ID (collection address, object index); any 16 bytes that
    name a real object and declare more elements than its bytes are refused first.
    """
    buf = memoryview(data).cast("B")
    length = _lengths_size(buf)
    offsets = _offsets_size(buf)
    header = 8 + length
    objects: dict[bytes, dict[int, int]] = {}
    for match in _GCOL.finditer(buf):
        start = match.start()
        size = int.from_bytes(buf[start + 8 : start + header], "little")
        end = start + size
        if size < header or end > len(buf):
            continue
        if len(objects) >= _MAX_CHECKED_COLLECTIONS:
            return start, (f"the file holds more than {_MAX_CHECKED_COLLECTIONS} global heap "
                           "collections, more than kerasvet checks")
        sizes: dict[int, int] = {}
        position = start + header
        for _ in range(_MAX_HEAP_STEPS):
            if position + header > end:
                break
            index = int.from_bytes(buf[position : position + 2], "little")
            declared = int.from_bytes(buf[position + 8 : position + header], "little")
            if index == 0:
                break
            sizes[index] = declared
            position += header + -(-declared // 8) * 8
        objects[start.to_bytes(offsets, "little")] = sizes
    for address, sizes in objects.items():
        for match in re.finditer(re.escape(address), buf):  # the buffer is never copied
            at = match.start()
            if at < 4:
                continue
            index = int.from_bytes(buf[at + offsets : at + offsets + 4], "little")
            declared = int.from_bytes(buf[at - 4 : at], "little")
            if index in sizes and declared > sizes[index]:
                return at - 4, (
                    f"a variable-length value at offset {at - 4} declares {declared} elements "
                    f"but its global heap object holds {sizes[index]} bytes; the HDF5 library "
                    "would allocate the declared length before noticing"
                )
    return None


def _walk(
    file: Any, member: str, limits: Limits, deadline: Deadline
) -> tuple[list[Finding], frozenset[str]]:
    """Walk the whole file; also return the root group's attribute names."""
    root = h5g.open(file.id, b"/")
    walk = _Walk(member, limits, deadline)
    walk.run(root)
    count = min(h5a.get_num_attrs(root), limits.max_hdf5_objects)
    names = frozenset(_decode(h5a.open(root, index=i).name) for i in range(count))
    return walk.findings, names


def check_hdf5(
    data: bytes | memoryview, member: str, limits: Limits, deadline: Deadline = NO_DEADLINE
) -> Hdf5Check:
    """Open in-memory weights and walk them; a file that cannot be opened is one KV116."""
    heap = global_heap_problem(data)
    if heap is not None:
        return Hdf5Check(
            findings=(
                Finding.of(
                    rules.HDF5_CORRUPT, Location(member=member, detail=f"offset {heap[0]}"), heap[1]
                ),
            ),
            root_attributes=frozenset(),
            opened=False,
        )
    try:
        with h5py.File(MemoryFile(memoryview(data)), "r") as file:
            findings, names = _walk(file, member, limits, deadline)
    except DeadlineExceeded:
        raise
    except Exception as exc:
        return Hdf5Check(
            findings=(
                Finding.of(
                    rules.HDF5_CORRUPT,
                    Location(member=member, detail="/"),
                    f"{member} cannot be opened as HDF5: {describe_error(exc)}",
                ),
            ),
            root_attributes=frozenset(),
            opened=False,
        )
    return Hdf5Check(findings=tuple(findings), root_attributes=names, opened=True)


def _string_attribute(
    file: Any, name: str, findings: list[Finding], cap: int, largest_heap_object: int
) -> bytes | str | None:
    """The value of a scalar string attribute of the root group, or ``None`` (with a finding
    when it exists but is not a single string, as Keras would fail to decode it, or when
    reading it could cost more than ``cap`` bytes)."""
    root = file.id
    key = name.encode()
    if not h5a.exists(root, key):
        return None
    attribute = h5a.open(root, key)
    string_type = attribute.get_type()
    type_class = string_type.get_class()
    scalar = attribute.get_space().get_simple_extent_type() == h5s.SCALAR
    if type_class != h5t.STRING or not scalar:
        what = _CLASS_NAMES.get(type_class, f"class {type_class}")
        findings.append(
            Finding.of(
                rules.JSON_INVALID,
                Location(member=name, pointer=Pointer("")),
                f"{name} is {'a' if scalar else 'an array of'} {what} attribute, not one "
                "JSON string",
            )
        )
        return None
    variable = string_type.is_variable_str()
    size = largest_heap_object if variable else string_type.get_size()
    if size > cap:
        where = "the file's global heap holds a string" if variable else "it is a string"
        findings.append(
            Finding.of(
                rules.TOO_LARGE,
                Location(member=name, pointer=Pointer(""), detail="before reading"),
                f"{name} is not read: {where} of {size} bytes, over the cap of {cap} "
                "(`max_config_bytes`)",
                value=size,
            )
        )
        return None
    try:
        value = file.attrs[name]
    except Exception as exc:
        findings.append(
            Finding.of(
                rules.JSON_INVALID,
                Location(member=name, pointer=Pointer("")),
                f"{name} cannot be read as a string: {describe_error(exc)}",
            )
        )
        return None
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    findings.append(
        Finding.of(
            rules.JSON_INVALID,
            Location(member=name, pointer=Pointer("")),
            f"{name} reads back as {type(value).__name__}, not a string",
        )
    )
    return None


def read_legacy_hdf5(
    data: bytes | memoryview, limits: Limits, deadline: Deadline = NO_DEADLINE
) -> LegacyModel:
    """Walk a legacy HDF5 model file and parse its ``model_config``/``training_config``.

    Both are sized before they are read (``max_config_bytes``), not after.
    """
    findings: list[Finding] = []
    raw: dict[str, bytes | str | None] = {}
    weights_member: str | None = None
    heap, largest_heap_object = _scan_global_heaps(data)
    if heap is None:
        heap = vlen_length_problem(data)
    if heap is not None:
        findings.append(
            Finding.of(
                rules.HDF5_CORRUPT, Location(member=ARTIFACT, detail=f"offset {heap[0]}"), heap[1]
            )
        )
        return LegacyModel(tuple(findings), (), None)
    try:
        with h5py.File(MemoryFile(memoryview(data)), "r") as file:
            walk_findings, _ = _walk(file, ARTIFACT, limits, deadline)
            findings.extend(walk_findings)
            root = file.id
            if (
                root.links.exists(b"model_weights")
                and root.links.get_info(b"model_weights").type == h5l.TYPE_HARD
                and h5o.get_info(root, b"model_weights").type == h5o.TYPE_GROUP
            ):
                weights_member = "model_weights"
            if not h5a.exists(root, b"model_config"):
                findings.append(
                    Finding.of(
                        rules.ZIP_NO_CONFIG,
                        Location(member=ARTIFACT, detail="model_config"),
                        "the HDF5 file has no model_config attribute, so it holds no model",
                    )
                )
            for name in ("model_config", "training_config"):
                raw[name] = _string_attribute(file, name, findings, limits.max_config_bytes,
                                              largest_heap_object)
    except DeadlineExceeded:
        raise
    except Exception as exc:
        findings.append(
            Finding.of(
                rules.HDF5_CORRUPT,
                Location(member=ARTIFACT, detail="/"),
                f"the HDF5 file cannot be read: {describe_error(exc)}",
            )
        )
        return LegacyModel(tuple(findings), (), weights_member)
    documents: list[ConfigDocument] = []
    roles = (("model_config", ConfigRole.MODEL), ("training_config", ConfigRole.TRAINING))
    for name, role in roles:
        text = raw.get(name)
        if text is None:
            continue
        value, parse_findings = parse_json_document(text, name, limits, deadline)
        findings.extend(parse_findings)
        if not parse_findings:
            documents.append(ConfigDocument(member=name, role=role, value=value))
    return LegacyModel(tuple(findings), tuple(documents), weights_member)
