"""What every fuzz property shares: the hypothesis profiles, the import recorder, the checks.

The profiles are applied per test (``@FUZZ``), never loaded globally, so the other suites'
own ``@settings`` are untouched. ``KERASVET_FUZZ_PROFILE`` picks one: ``ci`` (the default,
also what CI runs: 2 000 examples, derandomized so a run is reproducible), ``dev`` (200
examples, for a quick local loop) or ``long`` (20 000 random examples, for soak runs).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings

import kerasvet
from kerasvet.artifact.rules import INTERNAL_ERROR
from kerasvet.policy import Policy, load_policy
from kerasvet.report.json_format import render_json

from .strategies import CANARY_PACKAGE

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=2000, deadline=None, derandomize=True,
                          database=None, suppress_health_check=_HEALTH, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None, derandomize=True,
                          database=None, suppress_health_check=_HEALTH, print_blob=True)
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=_HEALTH, print_blob=True)
PROFILE = os.environ.get("KERASVET_FUZZ_PROFILE", "ci")
FUZZ = settings(settings.get_profile(PROFILE))
"""The settings every fuzz property runs under."""

DEFAULT = load_policy("default")
TIGHT = load_policy(Path(__file__).resolve().parent / "policies" / "fuzz-tight.toml")

TIME_CAP = 2.0
"""Seconds one audit of one generated input may take. The inputs are at most ~100 KB and
typically 1-10 ms to audit; the largest real benign config (787 KB, 3 790 nodes) takes
~0.2 s, so 2 s is ten times that for inputs a tenth its size: only work that grows with a
*declared* size (a zip member, an HDF5 shape, a digit count) or a super-linear walk could
reach it, and those are exactly what the Limits exist to stop."""

_WATCHED_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "socket.connect", "socket.getaddrinfo", "urllib.Request",
    "ctypes.dlopen", "webbrowser.open",
})
"""Events an audit must never raise at all, whatever the config names."""


def _is_bandit_scratch(path: object) -> bool:
    """The one file an audit writes: the reconstructed lambda source bandit scans, in a
    private ``kerasvet-bandit-*`` directory under the system temp dir."""
    if not isinstance(path, str):
        return False
    scratch = Path(path).parent
    return scratch.parent == Path(tempfile.gettempdir()) and scratch.name.startswith(
        "kerasvet-bandit-")


@dataclass
class Recorder:
    """Collects ``import`` and dangerous audit events while armed.

    ``sys.addaudithook`` cannot be undone, so one recorder is installed per process and
    stays idle (one attribute check per event) outside ``recording()``.
    """

    armed: bool = False
    imports: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def hook(self, event: str, args: tuple[object, ...]) -> None:
        if not self.armed:
            return
        if event == "import":
            self.imports.append(str(args[0]))
        elif event in _WATCHED_EVENTS:
            self.events.append(event)
        elif event == "open" and len(args) > 1 and isinstance(args[1], str) and any(
                mode in args[1] for mode in "wax+") and not _is_bandit_scratch(args[0]):
            self.events.append(f"open for writing: {args[0]!r}")

    @contextmanager
    def recording(self) -> Iterator[Recorder]:
        self.imports.clear()
        self.events.clear()
        self.armed = True
        try:
            yield self
        finally:
            self.armed = False


RECORDER = Recorder()
sys.addaudithook(RECORDER.hook)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def mentioned_modules(texts: Iterable[str]) -> frozenset[str]:
    """Every dotted name (and each dotted prefix of it) that occurs in ``texts``."""
    found: set[str] = set()
    for text in texts:
        for match in _NAME.finditer(text):
            parts = match.group().split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(found)


def strings_of(value: object) -> Iterator[str]:
    """Every string (keys included) in a JSON-like value, iteratively."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


@dataclass(frozen=True)
class Outcome:
    """One checked audit: the report (None when it raised KerasvetError) and its cost."""

    report: kerasvet.Report | None
    seconds: float


def audit_once(data: bytes, policy: Policy, mentioned: frozenset[str]) -> Outcome:
    """Audit ``data`` under the recorder; check (a) the result type and (b) the imports."""
    before = set(sys.modules)
    with RECORDER.recording() as recorder:
        started = time.perf_counter()
        try:
            report: kerasvet.Report | None = kerasvet.audit(data, policy)
        except kerasvet.KerasvetError:
            report = None
        seconds = time.perf_counter() - started
    imported = {*recorder.imports, *(set(sys.modules) - before)}
    named = sorted(name for name in imported if name in mentioned
                   or name.split(".")[0] == CANARY_PACKAGE)
    assert not named, f"the audit imported modules the input names: {named}"
    assert not recorder.events, f"the audit raised audit events: {recorder.events}"
    assert CANARY_PACKAGE not in sys.modules
    if report is not None:
        assert isinstance(report, kerasvet.Report)
        internal = [(f.rule.id, f.location.pointer, f.message) for f in all_findings(report)
                    if f.rule.id == INTERNAL_ERROR.id]
        assert not internal, f"an analysis stage crashed (KV001): {internal}"
        assert report.verdict.value in ("allow", "deny")
    return Outcome(report, seconds)


def check_audit(
    data: bytes, policy: Policy, configs: Iterable[object] = ()
) -> kerasvet.Report | None:
    """Properties (a), (b), (d) on one input; (c)'s time cap on each of the two runs."""
    texts = [data.decode("latin-1"), *(s for c in configs for s in strings_of(c))]
    mentioned = mentioned_modules(texts)
    first = audit_once(data, policy, mentioned)
    second = audit_once(data, policy, mentioned)
    assert max(first.seconds, second.seconds) < TIME_CAP, (first.seconds, second.seconds)
    if first.report is None or second.report is None:
        assert first.report is second.report
        return None
    assert render_json(first.report) == render_json(second.report)
    return first.report


def all_findings(report: kerasvet.Report) -> list[kerasvet.Finding]:
    """Every finding of every artifact in the report."""
    return [f for artifact in report.artifacts for f in artifact.findings]


def finding_pairs(report: kerasvet.Report) -> set[tuple[str, str | None]]:
    """(rule id, JSON pointer) of every finding in the report."""
    return {(f.rule.id, f.location.pointer) for f in all_findings(report)}
