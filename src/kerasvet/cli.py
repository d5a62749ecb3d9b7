"""The ``kerasvet`` command: parse arguments, call the library, render, choose the exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from kerasvet import __version__
from kerasvet.audit import audit_many, resolve_policy
from kerasvet.catalogue import RULES
from kerasvet.errors import KerasvetError
from kerasvet.report.formats import FORMATS, OutputFormat

__all__ = ["main"]

EXIT_OK = 0
EXIT_DENIED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasvet",
        description="Audit Keras model artifacts against an allowlist policy, without Keras.",
    )
    parser.add_argument("--version", action="version", version=f"kerasvet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    audit = commands.add_parser(
        "audit", help="audit .keras, .h5 and JSON model configs",
        description="Exit 0 when every artifact is allowed, 1 when any is denied, "
                    "2 for usage errors, missing paths or invalid policies.",
    )
    audit.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    audit.add_argument("--policy", default="default", metavar="NAME|FILE",
                       help="a shipped policy name (default: %(default)s) or a policy file")
    audit.add_argument("--format", default=OutputFormat.TEXT.value,
                       choices=[f.value for f in OutputFormat], help="output format")
    audit.add_argument("--output", type=Path, metavar="FILE",
                       help="write the report here instead of standard output")
    audit.add_argument("--show-allowed", action="store_true",
                       help="list every node's decision, allowed ones included")
    explain = commands.add_parser(
        "explain", help="show, for a person, how each lambda (or one node) was judged",
        description="Prints every serialized lambda with its reconstructed source, the "
                    "CPython versions whose reading survived and the reasons for the verdict; "
                    "with --node, the decision and findings of one node.",
    )
    explain.add_argument("path", metavar="PATH", type=Path)
    explain.add_argument("--policy", default="default", metavar="NAME|FILE")
    explain.add_argument("--node", metavar="POINTER",
                         help="the JSON pointer of one node, e.g. /config/layers/2")
    commands.add_parser("rules", help="list every rule id with its severity and summary")
    return parser


def _explain(args: argparse.Namespace) -> int:
    policy = resolve_policy(args.policy)
    if not args.path.exists():
        raise KerasvetError(f"no such file or directory: {args.path}")
    from rich.console import Console  # only `explain` draws; `audit` starts without rich
    from rich.syntax import Syntax

    report = audit_many([str(args.path)], policy)
    (artifact,) = report.artifacts
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"{artifact.path}: {'ALLOWED' if artifact.allowed else 'DENIED'} "
                  f"under policy {report.policy_name}", markup=False)
    if args.node is not None:
        matches = [d for d in artifact.decisions if d.pointer == args.node]
        if not matches:
            raise KerasvetError(f"no node at {args.node!r}; nodes are dicts with class_name")
        for decision in matches:
            console.print(f"node {decision.member}#{decision.pointer} "
                          f"{decision.module or '-'}.{decision.class_name} "
                          f"layer={decision.layer!r}: {decision.verdict.value} "
                          f"by {decision.rule}", markup=False)
            for finding in decision.findings:
                console.print(f"  {finding.rule.id} {finding.severity.label}: "
                              f"{finding.message}", markup=False)
        return EXIT_OK if artifact.allowed else EXIT_DENIED
    if not artifact.lambdas:
        console.print("no serialized lambdas in this artifact", markup=False)
    for record in artifact.lambdas:
        console.print(f"lambda at {record.member}#{record.pointer} (layer {record.layer!r}): "
                      f"{record.verdict.value} by {record.rule}", markup=False)
        console.print(f"  CPython readings: {', '.join(record.versions) or 'none survived'}",
                      markup=False)
        if record.source is not None:
            console.print(Syntax(record.source, "python", theme="ansi_dark",
                                 background_color="default"))
        else:
            console.print("  (no source: the bytecode could not be lifted)", markup=False)
        for reason in record.reasons:
            console.print(f"  - {reason}", markup=False)
    return EXIT_OK if artifact.allowed else EXIT_DENIED


def _audit(args: argparse.Namespace) -> int:
    policy = resolve_policy(args.policy)
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise KerasvetError(f"no such file or directory: {', '.join(missing)}")
    report = audit_many([str(p) for p in args.paths], policy)
    text = FORMATS[OutputFormat(args.format)](report, args.show_allowed)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK if report.allowed else EXIT_DENIED


def _rules() -> int:
    for rule in RULES:
        sys.stdout.write(f"{rule.id}  {rule.severity.label:8}  {rule.slug}: {rule.summary}\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "audit":
            return _audit(args)
        if args.command == "explain":
            return _explain(args)
        return _rules()
    except KerasvetError as exc:
        sys.stderr.write(f"kerasvet: error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        sys.stderr.write(f"kerasvet: error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
