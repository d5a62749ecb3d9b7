"""``kerasvet explain --node``: every rule considered for one node, for a person to read.

The artifact is read once: the same bytes give the artifact's verdict (``analyse_artifact``)
and the tree whose node is traced (``engine.trace``). The trace names table entries
(``classes."keras.layers"`` holding ``Dense``) without their place, since the merged policy
keeps no provenance; ``PolicySources`` rereads the already-validated policy files to find the
``file:line``, as ``kerasvet policy show`` does. Every string from the artifact goes through
``printable`` before it reaches a terminal.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kerasvet import __version__
from kerasvet.artifact.read import read_artifact
from kerasvet.artifact.rules import AUDIT_TIMEOUT
from kerasvet.audit import analyse_artifact
from kerasvet.engine import evaluate
from kerasvet.engine.trace import NodeTrace, Outcome, PolicyEntry, findings_by_node, trace_node
from kerasvet.errors import KerasvetError
from kerasvet.findings import Finding
from kerasvet.limits import Deadline
from kerasvet.policy.lines import BUILT_IN, PolicyFile
from kerasvet.policy.model import Policy
from kerasvet.report.model import ArtifactReport
from kerasvet.report.text import printable, printable_lines
from kerasvet.tree import Node, walk_documents

__all__ = ["Explained", "PolicySources", "explain_node", "trace_lines", "traces_to_dict"]

EXPLAIN_SCHEMA_VERSION = 1
_NEARBY = 5


@dataclass(frozen=True, slots=True)
class PolicySources:
    """The merged policy files, reread to say where a table entry comes from."""

    files: tuple[PolicyFile, ...]
    """Parents first, as merged."""

    @classmethod
    def read(cls, policy: Policy) -> PolicySources:
        """Parse every file the policy was merged from (the loader has accepted them)."""
        return cls(tuple(PolicyFile.read(source) for source in policy.sources))

    def locate(self, entry: PolicyEntry) -> str:
        """``file:line`` of the entry: each file listing the name (tables merge), or the last
        file setting a value (settings override), or ``built-in default``."""
        found = []
        merged = entry.name is not None
        for file in self.files:
            section = file.table.get(entry.section)
            value = section.get(entry.key) if isinstance(section, Mapping) else None
            if value is None:
                continue
            if entry.name is not None and not (isinstance(value, list) and entry.name in value):
                continue
            found.append(f"{file.path}:{_line(file, entry)}")
            merged = merged or isinstance(value, list)  # lists merge across files
        if not found:
            return BUILT_IN if entry.name is None else "not found in the policy files"
        return ", ".join(found) if merged else found[-1]


def _line(file: PolicyFile, entry: PolicyEntry) -> int | str:
    """The line of the listed name inside the key's array, else of the key itself."""
    start = file.lines.find(f"{entry.section}.{entry.key}")
    if start is None:
        return "?"
    if entry.name is None:
        return start
    later = [line for line in file.lines.lines.values() if line > start]
    stop = min(later) if later else len(file.text) + 1
    quoted = (f'"{entry.name}"', f"'{entry.name}'")
    for number in range(start, stop):
        if any(q in file.text[number - 1] for q in quoted):
            return number
    return start


@dataclass(frozen=True, slots=True)
class Explained:
    """One artifact's report and the traces of the nodes asked for."""

    report: ArtifactReport
    """The artifact's audit (its verdict includes container and whole-model findings)."""
    traces: tuple[NodeTrace, ...]
    """One per node at the pointer (a legacy ``.h5`` holds two documents)."""


def _split(asked: str, members: set[str]) -> tuple[str | None, str]:
    """``config.json#/config/layers/2`` (as reports print it) or a bare pointer."""
    member, hash_mark, pointer = asked.partition("#")
    if hash_mark and (member in members or member == ""):
        return member or None, pointer
    return None, asked


def _tokens(pointer: str) -> list[str]:
    return pointer.split("/")


def _nearby(asked: str, nodes: Sequence[Node]) -> list[str]:
    """Pointers of nodes close to ``asked``: sharing the most leading tokens, then alike."""
    wanted = _tokens(asked)

    def shared(pointer: str) -> int:
        count = 0
        for mine, theirs in zip(wanted, _tokens(pointer), strict=False):
            if mine != theirs:
                break
            count += 1
        return count

    pointers: list[str] = list(dict.fromkeys(node.pointer for node in nodes))
    ranked = sorted(pointers, key=lambda p: (
        -shared(p), -difflib.SequenceMatcher(None, asked, p).ratio()))
    return ranked[:_NEARBY]


def explain_node(path: Path, policy: Policy, asked: str) -> Explained:
    """Trace the node(s) at ``asked`` in the artifact at ``path``; a clear error when no node
    is there, naming the nearest ones."""
    # One wall-time cap for everything explain does with the artifact, as for an audit.
    deadline = Deadline.for_limits(policy.limits)
    try:
        artifact = read_artifact(str(path), policy.limits, deadline)
    except KerasvetError:
        raise
    except Exception as exc:  # fail closed, and no traceback from deep inside
        raise KerasvetError(f"reading {printable(str(path))} failed "
                            f"({type(exc).__name__}: {printable(str(exc))})") from None
    report = analyse_artifact(artifact, policy, str(path), deadline)
    _refuse_if_timed_out(path, report.findings)
    tree = walk_documents(artifact.documents, policy.limits, deadline)
    member, pointer = _split(asked, {node.member for node in tree.nodes})
    matches = [n for n in tree.nodes
               if n.pointer == pointer and (member is None or n.member == member)]
    if not matches:
        raise KerasvetError(_no_node(asked, tree.nodes, report))
    evaluation = evaluate(tree, policy, deadline)
    _refuse_if_timed_out(path, (*tree.findings, *evaluation.findings))
    located = findings_by_node(tree, (*tree.findings, *evaluation.findings))
    return Explained(report, tuple(
        trace_node(node, policy, located.get((node.member, node.pointer), ()))
        for node in matches))


def _refuse_if_timed_out(path: Path, findings: Sequence[Finding]) -> None:
    """Past ``max_audit_seconds`` not every node was judged: trace none rather than some."""
    if any(f.rule.id == AUDIT_TIMEOUT.id for f in findings):
        raise KerasvetError(f"{printable(str(path))}: the audit ran past `max_audit_seconds` "
                            f"({AUDIT_TIMEOUT.id}), so its nodes were not all judged and none "
                            "is traced; `kerasvet audit` shows the finding")


def _no_node(asked: str, nodes: Sequence[Node], report: ArtifactReport) -> str:
    head = f"no node at {printable(asked)!r}"
    if not nodes:
        rules = ", ".join(sorted({f.rule.id for f in report.findings if f.denies})) or "none"
        return (f"{head}: the artifact has no config nodes (it is {report.verdict.value}ed; "
                f"denying findings: {rules}; run `kerasvet audit` for them)")
    shown = ", ".join(printable(p) or '""' for p in _nearby(asked, nodes))
    return (f"{head}; a node is a dict with class_name (or a Keras 2 lambda); nearby nodes: "
            f"{shown}")


# --- text ------------------------------------------------------------------------------------

_STYLES = {Outcome.MATCHED: "green", Outcome.PASSED: "green", Outcome.BROKEN: "red",
           Outcome.NOT_APPLICABLE: "dim"}
_INDENT = " " * 8


def _finding_line(finding: Finding) -> str:
    where = finding.location
    place = where.member if where.pointer is None else f"{where.member}#{where.pointer}"
    reference = f" [{finding.reference}]" if finding.reference else ""
    return (f"{_INDENT}{finding.rule.id} {finding.severity.label} at {printable(place)}"
            f"{reference}: {printable_lines(finding.message, _INDENT + '  ')}")


def _where(source: str | None, entry: PolicyEntry | None, sources: PolicySources) -> str | None:
    if source:
        return source
    return sources.locate(entry) if entry is not None else None


def trace_lines(trace: NodeTrace, sources: PolicySources) -> list[tuple[str, str | None]]:
    """The trace as (line, rich style) pairs, every line printable."""
    node = f"{trace.member}#{trace.pointer}"
    named = f"{trace.module or '-'}.{trace.class_name}"
    layer = f" layer {trace.layer!r}" if trace.layer is not None else ""
    registered = (f" registered_name {trace.registered_name!r}"
                  if trace.registered_name else "")
    lines: list[tuple[str, str | None]] = [
        (printable(f"node {node} ({trace.kind.value}) {named}{layer}{registered}"), "bold")]
    if trace.lambda_source is not None:
        lines.append((f"  source: {printable_lines(trace.lambda_source, ' ' * 10)}", None))
    width = len(str(len(trace.steps)))
    for number, step in enumerate(trace.steps, start=1):
        mark = "->" if number - 1 == trace.settled_by else "  "
        lines.append((printable(f"{mark}{number:>{width}}. {step.outcome.value:14} "
                                f"{step.kind.value}: {step.subject}"),
                      _STYLES[step.outcome]))
        lines.append((f"{_INDENT}{printable_lines(step.why, _INDENT)}", None))
        where = _where(step.source, step.entry, sources)
        if where is not None:
            lines.append((f"{_INDENT}policy: {printable(where)}", None))
        lines.extend((_finding_line(f), None) for f in step.findings)
    settled = ("no step (the trace lost track: please report this)"
               if trace.settled_by is None else f"step {trace.settled_by + 1}")
    lines.append((printable(f"verdict: {trace.verdict.value}, settled by {settled}: "
                            f"{trace.rule}"),
                  "bold green" if trace.verdict.value == "allow" else "bold red"))
    return lines


# --- JSON ------------------------------------------------------------------------------------


def _finding_dict(finding: Finding) -> dict[str, object]:
    where = finding.location
    return {"rule": finding.rule.id, "slug": finding.rule.slug,
            "severity": finding.severity.label, "member": where.member,
            "pointer": where.pointer, "layer": where.layer, "message": finding.message,
            "value": finding.value, "reference": finding.reference,
            "denies": finding.denies}


def _trace_dict(trace: NodeTrace, sources: PolicySources) -> dict[str, object]:
    return {
        "member": trace.member, "pointer": trace.pointer, "layer": trace.layer,
        "kind": trace.kind.value, "module": trace.module, "class_name": trace.class_name,
        "registered_name": trace.registered_name,
        "steps": [{
            "kind": step.kind.value, "subject": step.subject, "outcome": step.outcome.value,
            "why": step.why, "source": _where(step.source, step.entry, sources),
            "findings": [_finding_dict(f) for f in step.findings],
        } for step in trace.steps],
        "verdict": trace.verdict.value, "rule": trace.rule, "settled_by": trace.settled_by,
        "lambda_source": trace.lambda_source,
    }


def traces_to_dict(explained: Explained, policy: Policy,
                   sources: PolicySources) -> dict[str, object]:
    """The explanation as plain JSON data (``settled_by`` indexes ``steps``, from 0)."""
    report = explained.report
    return {
        "schema_version": EXPLAIN_SCHEMA_VERSION,
        "kerasvet_version": __version__,
        "policy": {"name": policy.name, "sha256": policy.sha256},
        "path": report.path,
        "artifact_verdict": report.verdict.value,
        "nodes": [_trace_dict(t, sources) for t in explained.traces],
    }
