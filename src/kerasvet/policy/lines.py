"""Find where a key sits in a policy file.

``tomllib`` keeps no positions, yet a user fixing a policy (or auditing why a rule exists)
needs a line number. A plain text scan of headers and ``key =`` lines is enough for the
policy format, which uses no multi-line keys; when a key cannot be found the nearest
enclosing table is reported instead, and when nothing is found the caller omits the line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["BUILT_IN", "KeyLines", "PolicyFile", "line_of"]

BUILT_IN = "built-in default"
"""The source shown for a setting no policy file sets."""

_PART = r"""(?:"[^"\n]*"|'[^'\n]*'|[A-Za-z0-9_-]+)"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)


def _dotted(text: str) -> str:
    """``arguments."keras.layers.Dense".units`` -> ``arguments.keras.layers.Dense.units``,
    the spelling the loader uses in its error locations."""
    return ".".join(p.strip("\"'") for p in _PART_RE.findall(text))


def _parent(where: str) -> str:
    """Drop the last component (``.key`` or ``[i]``); module names keep their dots, which is
    harmless because every prefix is tried in turn."""
    cut = max(where.rfind("."), where.rfind("["))
    return where[:cut] if cut > 0 else ""


@dataclass(frozen=True, slots=True)
class KeyLines:
    """The first line (1-based) of every table header and key in one file, by the dotted
    location the loader reports (``limits.max_nodes``, ``deny[2].reason``)."""

    lines: Mapping[str, int]
    """Location -> line number."""

    @classmethod
    def scan(cls, text: str) -> KeyLines:
        """Index ``text``; arrays of tables are numbered in file order like the loader does."""
        lines: dict[str, int] = {}
        counts: dict[str, int] = {}
        table = ""
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header is not None:
                path = _dotted(header.group(2))
                if header.group(1) == "[[":
                    index = counts.get(path, 0)
                    counts[path] = index + 1
                    table = f"{path}[{index}]"
                else:
                    table = path
                lines.setdefault(table, number)
                parent = _parent(table)
                while parent:
                    lines.setdefault(parent, number)
                    parent = _parent(parent)
                continue
            key = _KEY.match(line)
            if key is not None:
                full = f"{table}.{_dotted(key.group(1))}" if table else _dotted(key.group(1))
                lines.setdefault(full, number)
        return cls(lines=lines)

    def find(self, where: str) -> int | None:
        """The line of ``where``, else of its nearest enclosing table that appears."""
        while where:
            if where in self.lines:
                return self.lines[where]
            where = _parent(where)
        return None


def line_of(path: Path, where: str, key: str | None = None) -> int | None:
    """The line of ``where`` (``key`` inside it, when given) in ``path``; ``None`` if the
    file cannot be read or nothing matches. Used only on the error path, so it rereads."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    location = "" if where == "top level" else where
    if key is not None:
        location = f"{location}.{key}" if location else key
    return KeyLines.scan(text).find(location)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One merged policy file, reread for provenance: its tables, the line of each key and
    its text (``policy show`` and ``explain`` keep provenance out of the hot ``Policy``)."""

    path: str
    """The file, as ``Policy.sources`` names it."""
    table: Mapping[str, Any]
    """Its parsed TOML."""
    lines: KeyLines
    """The line of each key and table header."""
    text: tuple[str, ...]
    """Its lines, for finding a name inside a multi-line array."""

    @classmethod
    def read(cls, path: str) -> PolicyFile:
        """Parse a file the loader has already accepted."""
        text = Path(path).read_text(encoding="utf-8")
        return cls(path=path, table=tomllib.loads(text), lines=KeyLines.scan(text),
                   text=tuple(text.splitlines()))

    def has(self, section: str, key: str) -> bool:
        """Whether this file sets ``section.key``."""
        part = self.table.get(section)
        return isinstance(part, Mapping) and key in part

    def at(self, where: str) -> str:
        """``path:line`` of ``where``, or the path alone."""
        line = self.lines.find(where)
        return f"{self.path}:{line}" if line is not None else self.path
