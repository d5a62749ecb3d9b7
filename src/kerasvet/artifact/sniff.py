"""Byte-level helpers shared by the readers: format sniffing, zip end records, a memory file.

Everything here works on bytes already in memory and only ever copies small windows, so an
attacker controls how long a check takes only through the size cap checked before reading.
"""

from __future__ import annotations

import enum
import errno
import io
import os
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
"""Flags for opening a file to read once: non-blocking, so a FIFO swapped in cannot hang."""
READ_FLAGS_NO_LINKS = READ_FLAGS | getattr(os, "O_NOFOLLOW", 0)
"""The same, refusing a symbolic link (for files found inside folders, not named by users)."""

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "HDF5_MAGIC",
    "ZIP_LOCAL_MAGIC",
    "EndRecord",
    "MemoryFile",
    "Sniffed",
    "count_central_entries",
    "describe_error",
    "find_end_record",
    "hdf5_signature_offsets",
    "sniff",
]

ZIP_LOCAL_MAGIC = b"PK\x03\x04"
ZIP_EOCD_MAGIC = b"PK\x05\x06"
_ZIP_CENTRAL_MAGIC = b"PK\x01\x02"
_ZIP64_LOCATOR_MAGIC = b"PK\x06\x07"
_ZIP64_EOCD_MAGIC = b"PK\x06\x06"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR_SIZE = 20
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_EOCD_SEARCH = 0xFFFF + _EOCD.size
"""How far from the end an end record can sit (a zip comment is at most 64 KiB - 1)."""

_FIRST_NON_SPACE = re.compile(rb"[^ \t\r\n]")
_HDF5_FIRST_USERBLOCK = 512


class Sniffed(enum.Enum):
    """What the first bytes of a file say it is."""

    ZIP = "zip"
    HDF5 = "hdf5"
    JSON = "json"
    UNKNOWN = "unknown"


def sniff(data: bytes | memoryview) -> Sniffed:
    """Decide the format from magic bytes at offset 0 (never from a file name)."""
    head = bytes(data[:8])
    if head.startswith(ZIP_LOCAL_MAGIC) or head.startswith(ZIP_EOCD_MAGIC):
        return Sniffed.ZIP
    if head == HDF5_MAGIC:
        return Sniffed.HDF5
    # Whitespace before the object is legal JSON; the regex skips it without copying.
    first = _FIRST_NON_SPACE.search(data)
    # A top-level array is JSON too: it is parsed, then refused as "not a model config".
    if first is not None and first.group() in (b"{", b"["):
        return Sniffed.JSON
    return Sniffed.UNKNOWN


@dataclass(frozen=True, slots=True)
class EndRecord:
    """The zip end-of-central-directory record, located the way ``zipfile`` locates it."""

    position: int
    """Offset of the ``PK\\x05\\x06`` record."""
    central_start: int
    """Where the central directory really starts (``ZipFile.start_dir``)."""
    central_size: int
    """Declared size of the central directory in bytes."""
    declared_entries: int
    """Entry count the record declares (``zipfile`` ignores it; other tools trust it)."""
    end: int
    """Offset just past the record and its comment; bytes beyond it are trailing data."""


def find_end_record(data: bytes | memoryview) -> EndRecord | None:
    """Locate the end record as CPython's ``zipfile`` does; ``None`` if it would refuse.

    Mirroring ``zipfile._EndRecData`` matters: a differently located record would make us
    audit one central directory while Keras reads another.
    """
    size = len(data)
    if size < _EOCD.size:
        return None
    tail_start = max(0, size - _EOCD_SEARCH)
    tail = bytes(data[tail_start:])
    if tail[-_EOCD.size : -_EOCD.size + 4] == ZIP_EOCD_MAGIC and tail[-2:] == b"\0\0":
        position = size - _EOCD.size
    else:
        found = tail.rfind(ZIP_EOCD_MAGIC)
        if found < 0 or tail_start + found + _EOCD.size > size:
            return None
        position = tail_start + found
    record = _EOCD.unpack(bytes(data[position : position + _EOCD.size]))
    entries, central_size, central_offset, comment_length = record[4:8]
    zip64_bytes = 0
    locator_at = position - _ZIP64_LOCATOR_SIZE
    zip64_at = locator_at - _ZIP64_EOCD.size
    if (
        zip64_at >= 0
        and bytes(data[locator_at : locator_at + 4]) == _ZIP64_LOCATOR_MAGIC
        and bytes(data[zip64_at : zip64_at + 4]) == _ZIP64_EOCD_MAGIC
    ):
        zip64 = _ZIP64_EOCD.unpack(bytes(data[zip64_at : zip64_at + _ZIP64_EOCD.size]))
        entries, central_size, central_offset = zip64[7], zip64[8], zip64[9]
        zip64_bytes = _ZIP64_EOCD.size + _ZIP64_LOCATOR_SIZE
    concat = position - central_size - central_offset - zip64_bytes
    central_start = central_offset + concat
    if central_start < 0 or central_start + central_size > position:
        return None
    if central_size and bytes(data[central_start : central_start + 4]) != _ZIP_CENTRAL_MAGIC:
        return None
    return EndRecord(
        position=position,
        central_start=central_start,
        central_size=central_size,
        declared_entries=entries,
        end=position + _EOCD.size + comment_length,
    )


def count_central_entries(data: bytes | memoryview, record: EndRecord, limit: int) -> int:
    """Count central-directory entries the way ``zipfile`` walks them, stopping past ``limit``.

    ``zipfile`` builds one object per entry before we could look at the list, so the count is
    taken first from the raw bytes to keep a million-entry directory from costing memory.
    """
    count = 0
    offset = 0
    while offset < record.central_size and count <= limit:
        at = record.central_start + offset
        header = bytes(data[at : at + _CENTRAL.size])
        if len(header) != _CENTRAL.size or header[:4] != _ZIP_CENTRAL_MAGIC:
            break
        fields = _CENTRAL.unpack(header)
        offset += _CENTRAL.size + fields[12] + fields[13] + fields[14]
        count += 1
    return count


def hdf5_signature_offsets(data: bytes | memoryview) -> list[int]:
    """Offsets past 0 (512, 1024, 2048, ...) where the HDF5 library would find a superblock."""
    found: list[int] = []
    offset = _HDF5_FIRST_USERBLOCK
    while offset + len(HDF5_MAGIC) <= len(data):
        if bytes(data[offset : offset + len(HDF5_MAGIC)]) == HDF5_MAGIC:
            found.append(offset)
        offset *= 2
    return found


def describe_error(exc: BaseException) -> str:
    """A one-line, bounded description of an exception raised by a parser library."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    message = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return message if len(message) <= 200 else message[:197] + "..."


class MemoryFile(io.RawIOBase):
    """A read-only, seekable file over a ``memoryview``, so h5py and zipfile copy nothing."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        self._position = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def writable(self) -> bool:
        """Never writable."""
        return False

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Copy the next bytes into ``buffer`` (what h5py's file-object driver calls).

        Past the end the rest of ``buffer`` is zeroed, as HDF5's own drivers do: h5py's
        file-object driver ignores a short count, so HDF5 would otherwise parse whatever
        its buffer held before, bytes of an earlier file, and a truncated file's verdict
        would depend on what was audited before it.
        """
        target = memoryview(buffer).cast("B")
        start = min(self._position, len(self._view))
        count = min(len(target), len(self._view) - start)
        target[:count] = self._view[start : start + count]
        if count < len(target):
            target[count:] = bytes(len(target) - count)
        self._position = start + count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position; before the start is an ``OSError``, past the end is allowed."""
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = len(self._view) + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            # What a real file raises (EINVAL); zipfile probes for zip64 records this way.
            raise OSError(errno.EINVAL, "negative seek position")
        self._position = position
        return position

    def tell(self) -> int:
        """The current position."""
        return self._position
