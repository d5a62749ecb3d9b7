"""Project settings from ``[tool.kerasvet]`` in ``pyproject.toml``, and the ``--fail-on`` choice.

The nearest ``pyproject.toml`` holding a ``[tool.kerasvet]`` table, from the scan root
upward, is used (files without the table are passed over, as ruff does). Paths in it are
relative to that file's folder. Unknown keys and wrong types are errors (exit 2): a typo
such as ``fail_on`` silently ignored would loosen a CI gate without anyone noticing.
Command-line flags win over every key.
"""

from __future__ import annotations

import enum
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from kerasvet.errors import KerasvetError
from kerasvet.findings import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "CONFIG_KEYS",
    "ConfigError",
    "ExcludePattern",
    "FailOn",
    "ProjectConfig",
    "check_docs_base",
    "find_pyproject",
    "load_config",
    "parse_config",
]

CONFIG_KEYS = ("policy", "fail-on", "baseline", "exclude", "jobs", "docs-base")
"""Every key ``[tool.kerasvet]`` accepts."""

_POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
"""A shipped policy name, as ``kerasvet.policy`` spells them; anything else is a path."""


def _never(value: NoReturn) -> NoReturn:
    """``typing.assert_never`` (3.11+): mypy proves every enum member is handled."""
    raise AssertionError(f"unhandled choice {value!r}")


class ConfigError(KerasvetError):
    """``[tool.kerasvet]`` or a command-line value is malformed (exit 2)."""


class FailOn(str, enum.Enum):
    """``--fail-on``: the lowest severity that makes ``kerasvet audit`` exit 1."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def severity(self) -> Severity:
        """The severity this choice names."""
        if self is FailOn.INFO:
            return Severity.INFO
        if self is FailOn.LOW:
            return Severity.LOW
        if self is FailOn.MEDIUM:
            return Severity.MEDIUM
        if self is FailOn.HIGH:
            return Severity.HIGH
        if self is FailOn.CRITICAL:
            return Severity.CRITICAL
        _never(self)


@dataclass(frozen=True, slots=True)
class ExcludePattern:
    """A glob and the folder it is relative to (a config file's folder, or the scan root)."""

    base: str
    """Absolute folder the pattern's relative paths start from."""
    glob: str
    """``fnmatch`` pattern, matched against the relative path, each of its parent folders
    and each single name in it (``*.json``, ``tests/fixtures``, ``attacks``)."""


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """What ``[tool.kerasvet]`` set; ``None`` where it said nothing."""

    source: str | None = None
    """The ``pyproject.toml`` it came from, or ``None`` when none was found."""
    policy: str | None = None
    """A shipped policy name, or an absolute policy file path."""
    fail_on: FailOn | None = None
    """The threshold."""
    baseline: str | None = None
    """Absolute path of the baseline file."""
    exclude: tuple[ExcludePattern, ...] | None = None
    """Patterns relative to the config file's folder."""
    jobs: int | None = None
    """Worker processes."""
    docs_base: str | None = None
    """Absolute URI under which ``docs/rules/KV###.md`` is published."""


def check_docs_base(text: str, where: str) -> str:
    """An absolute URI with a trailing slash, or a ``ConfigError`` naming ``where``."""
    parts = urlsplit(text)
    if not parts.scheme or not (parts.netloc or parts.scheme == "file"):
        raise ConfigError(f"{where}: docs base {text!r} is not an absolute URI "
                          "(SARIF requires an absolute helpUri)")
    return text if text.endswith("/") else text + "/"


def find_pyproject(start: Path) -> tuple[Path, Mapping[str, object]] | None:
    """The nearest ``pyproject.toml`` from ``start`` upward that has ``[tool.kerasvet]``,
    with that table; a file on the way that is no valid TOML is an error."""
    folder = Path(os.path.abspath(start))
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        tool = document.get("tool")
        if isinstance(tool, dict) and "kerasvet" in tool:
            return path, {"kerasvet": tool["kerasvet"]}
    return None


def _string(value: object, key: str, source: Path) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: [tool.kerasvet] {key} must be a non-empty string")
    return value


def parse_config(table: object, source: Path) -> ProjectConfig:
    """Check the ``[tool.kerasvet]`` table strictly and resolve its paths."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [tool.kerasvet] must be a table")
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) in [tool.kerasvet]: {', '.join(unknown)} "
                          f"(known: {', '.join(CONFIG_KEYS)})")
    folder = source.parent
    policy = fail_on = baseline = exclude = jobs = docs_base = None
    if "policy" in table:
        policy = _string(table["policy"], "policy", source)
        if not _POLICY_NAME.fullmatch(policy):
            policy = str(folder / policy)
    if "fail-on" in table:
        text = _string(table["fail-on"], "fail-on", source)
        try:
            fail_on = FailOn(text)
        except ValueError:
            choices = ", ".join(f.value for f in FailOn)
            raise ConfigError(f"{source}: [tool.kerasvet] fail-on {text!r} is not one of "
                              f"{choices}") from None
    if "baseline" in table:
        baseline = str(folder / _string(table["baseline"], "baseline", source))
    if "exclude" in table:
        globs = table["exclude"]
        if not isinstance(globs, list) or not all(isinstance(g, str) and g for g in globs):
            raise ConfigError(f"{source}: [tool.kerasvet] exclude must be a list of globs")
        exclude = tuple(ExcludePattern(base=str(folder), glob=g) for g in globs)
    if "jobs" in table:
        value = table["jobs"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{source}: [tool.kerasvet] jobs must be a positive integer")
        jobs = value
    if "docs-base" in table:
        docs_base = check_docs_base(_string(table["docs-base"], "docs-base", source),
                                    f"{source}: [tool.kerasvet] docs-base")
    return ProjectConfig(source=str(source), policy=policy, fail_on=fail_on, baseline=baseline,
                         exclude=exclude, jobs=jobs, docs_base=docs_base)


def load_config(start: Path) -> ProjectConfig:
    """The settings that apply to a scan rooted at ``start`` (empty when none are found)."""
    found = find_pyproject(start)
    if found is None:
        return ProjectConfig()
    path, tool = found
    return parse_config(tool["kerasvet"], path)
