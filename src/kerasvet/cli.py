"""The ``kerasvet`` command: parse arguments, call the library, render, choose the exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kerasvet import __version__
from kerasvet.audit import audit_many, resolve_policy
from kerasvet.baseline import Baseline, baseline_from_report, load_baseline, render_baseline
from kerasvet.catalogue import RULES
from kerasvet.config import ConfigError, ExcludePattern, FailOn, check_docs_base, load_config
from kerasvet.errors import KerasvetError, PolicyViolation
from kerasvet.policy import Policy
from kerasvet.report.formats import FORMATS, OutputFormat
from kerasvet.report.model import RenderOptions, Report
from kerasvet.report.summary import exit_code
from kerasvet.report.text import printable, printable_lines
from kerasvet.scan import Progress, default_jobs, scan

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
        "audit", help="audit .keras, .h5 and JSON model configs, files or whole trees",
        description="Exit 0 when no finding at or above --fail-on is left outside the "
                    "baseline, 1 when one is, 2 for usage errors, missing paths, invalid "
                    "policies, baselines or [tool.kerasvet] settings, and unreadable files. "
                    "Settings come from [tool.kerasvet] in the nearest pyproject.toml above "
                    "the scan root; flags win.",
    )
    audit.add_argument("paths", nargs="+", metavar="PATH", type=Path,
                       help="files, unzipped .keras folders, or folders to walk")
    audit.add_argument("--policy", default=None, metavar="NAME|FILE",
                       help="a shipped policy name (default: default) or a policy file")
    audit.add_argument("--format", default=OutputFormat.TEXT.value,
                       choices=[f.value for f in OutputFormat], help="output format")
    audit.add_argument("--output", type=Path, metavar="FILE",
                       help="write the report here instead of standard output")
    audit.add_argument("--show-allowed", action="store_true",
                       help="list every node's decision, allowed ones included (text and "
                            "JSON; SARIF, GitHub and JUnit carry findings only)")
    audit.add_argument("--fail-on", default=None, choices=[f.value for f in FailOn],
                       help="lowest severity that makes the run exit 1 (default: high)")
    audit.add_argument("--baseline", type=Path, metavar="FILE",
                       help="accepted findings (same artifact sha256, rule and pointer) "
                            "do not fail the run; every entry needs a reason")
    audit.add_argument("--write-baseline", type=Path, metavar="FILE",
                       help="record today's findings at or above --fail-on, each with a "
                            "placeholder reason a person must replace")
    audit.add_argument("--exclude", action="append", default=None, metavar="GLOB",
                       help="skip paths matching GLOB (relative to the scan root, a parent "
                            "folder, or a single name); repeatable; replaces the config's")
    audit.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="worker processes (default: all cores)")
    audit.add_argument("--by-content", action="store_true",
                       help="judge named files by content as files found in folders are: "
                            "pass over those that are no Keras model (for pre-commit, which "
                            "names every .json file)")
    audit.add_argument("--root", type=Path, default=None, metavar="DIR",
                       help="scan root: SARIF and baseline paths are relative to it, and "
                            "pyproject.toml is looked for from it upward (default: .)")
    audit.add_argument("--docs-base", default=None, metavar="URL",
                       help="absolute URL the repository's docs/rules pages live under, "
                            "for SARIF helpUri")
    explain = commands.add_parser(
        "explain", help="show, for a person, how each lambda (or one node) was judged",
        description="Prints every serialized lambda with its reconstructed source, the "
                    "CPython versions whose reading survived and the reasons for the verdict; "
                    "with --node, every rule considered for that node in the engine's order "
                    "(deny rules, allow entries, [[custom]], each argument constraint, names, "
                    "sizes, lambda analysis, whole-model findings), each with its outcome and "
                    "the policy's file:line, then the verdict and the rule that settled it. "
                    "Exit 0 when the artifact is allowed, 1 denied, 2 for a bad path, pointer "
                    "or policy.",
    )
    explain.add_argument("path", metavar="PATH", type=Path)
    explain.add_argument("--policy", default="default", metavar="NAME|FILE")
    explain.add_argument("--node", metavar="POINTER",
                         help="the JSON pointer of one node, e.g. /config/layers/2 (or "
                              "member#pointer as reports print it)")
    explain.add_argument("--format", default="text", choices=["text", "json"],
                         help="output format")
    load = commands.add_parser(
        "load", help="load a model through the safe path and print its summary",
        description="Audits the artifact, then builds it with Keras under the runtime guard "
                    "(needs the [keras] extra). Exit 0 loaded, 1 refused by the policy or the "
                    "guard, 2 for usage errors, missing paths or a load that failed.",
    )
    load.add_argument("path", metavar="PATH", type=Path)
    load.add_argument("--policy", default="default", metavar="NAME|FILE")
    commands.add_parser("rules", help="list every rule id with its severity and summary")
    _policy_parser(commands)
    return parser


def _policy_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    policy = commands.add_parser("policy", help="check, describe, test and explain policy files")
    actions = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="load policy files (with extends) and list every problem",
        description="Prints one `file:line: where: message` line per problem. Exit 0 when "
                    "every file is valid, 2 otherwise.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", type=Path)
    actions.add_parser("schema", help="print the JSON Schema (draft 2020-12) of policy files")
    show = actions.add_parser(
        "show", help="print the effective, flattened policy with the file:line of each rule",
    )
    show.add_argument("policy", metavar="NAME|FILE")
    show.add_argument("--full", action="store_true",
                      help="list every allowed class and function, not counts per module")
    test = actions.add_parser(
        "test", help="run each policy's own [[tests]] against its effective policy",
        description="Audits every [[tests]] case of each policy (its own file's cases; tests "
                    "are not inherited through extends) and prints one `ok` or `FAIL` line "
                    "per case. Exit 0 when every case passes, 1 when one fails, 2 for an "
                    "invalid policy or a missing artifact.",
    )
    test.add_argument("policies", nargs="+", metavar="FILE|NAME",
                      help="policy files or shipped policy names")


def _policy_check(args: argparse.Namespace) -> int:
    from kerasvet.policy.check import check_policies

    problems = check_policies(args.files)
    for problem in problems:
        sys.stdout.write(f"{problem}\n")
    if problems:
        return EXIT_USAGE
    sys.stdout.write(f"{len(args.files)} polic{'y' if len(args.files) == 1 else 'ies'} valid\n")
    return EXIT_OK


def _policy_test(args: argparse.Namespace) -> int:
    from kerasvet.policy.testing import run_policy_tests

    policies = [resolve_policy(reference) for reference in args.policies]
    passed = failed = 0
    for policy in policies:
        results = run_policy_tests(policy)
        if not results:
            sys.stdout.write(f"{policy.name}: no tests  # {policy.sources[-1]}\n")
        for result in results:
            sys.stdout.write(f"{policy.name}: {result}\n")
            if result.passed:
                passed += 1
            else:
                failed += 1
    sys.stdout.write(f"{passed} passed, {failed} failed\n")
    return EXIT_DENIED if failed else EXIT_OK


def _policy(args: argparse.Namespace) -> int:
    if args.policy_command == "check":
        return _policy_check(args)
    if args.policy_command == "test":
        return _policy_test(args)
    if args.policy_command == "show":
        from kerasvet.policy.show import render_policy

        sys.stdout.write(render_policy(resolve_policy(args.policy), full=args.full))
        return EXIT_OK
    if args.policy_command == "schema":
        from kerasvet.policy.schema import render_policy_schema

        sys.stdout.write(render_policy_schema())
        return EXIT_OK
    raise KerasvetError(f"unknown policy action {args.policy_command!r}")


def _explain_node(args: argparse.Namespace, policy: Policy) -> int:
    from kerasvet.explain import PolicySources, explain_node, trace_lines, traces_to_dict

    explained = explain_node(args.path, policy, args.node)
    sources = PolicySources.read(policy)
    if args.format == "json":
        data = traces_to_dict(explained, policy, sources)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        from rich.console import Console  # only `explain` draws; `audit` starts without rich

        console = Console(highlight=False, soft_wrap=True)
        report = explained.report
        console.print(f"{printable(report.path)}: {'ALLOWED' if report.allowed else 'DENIED'} "
                      f"under policy {policy.name}", markup=False)
        for trace in explained.traces:
            for line, style in trace_lines(trace, sources):
                console.print(line, style=style, markup=False)
    return EXIT_OK if explained.report.allowed else EXIT_DENIED


def _explain(args: argparse.Namespace) -> int:
    policy = resolve_policy(args.policy)
    if not args.path.exists():
        raise KerasvetError(f"no such file or directory: {printable(str(args.path))}")
    if args.node is not None:
        return _explain_node(args, policy)
    report = audit_many([str(args.path)], policy)
    (artifact,) = report.artifacts
    if args.format == "json":
        from kerasvet.report.json_format import report_to_dict

        artifacts = report_to_dict(report)["artifacts"]
        assert isinstance(artifacts, list)
        sys.stdout.write(json.dumps({"path": artifact.path, "verdict": artifact.verdict.value,
                                     "lambdas": artifacts[0]["lambdas"]}, indent=2) + "\n")
        return EXIT_OK if artifact.allowed else EXIT_DENIED
    from rich.console import Console
    from rich.syntax import Syntax

    console = Console(highlight=False, soft_wrap=True)
    console.print(f"{printable(artifact.path)}: {'ALLOWED' if artifact.allowed else 'DENIED'} "
                  f"under policy {report.policy_name}", markup=False)
    if not artifact.lambdas:
        console.print("no serialized lambdas in this artifact", markup=False)
    for record in artifact.lambdas:
        console.print(printable(f"lambda at {record.member}#{record.pointer} (layer "
                                f"{record.layer!r}): {record.verdict.value} by {record.rule}"),
                      markup=False)
        console.print(f"  CPython readings: {', '.join(record.versions) or 'none survived'}",
                      markup=False)
        if record.source is not None:
            console.print(Syntax(printable_lines(record.source, ""), "python",
                                 theme="ansi_dark", background_color="default"))
        else:
            console.print("  (no source: the bytecode could not be lifted)", markup=False)
        for reason in record.reasons:
            console.print(f"  - {printable_lines(reason, '    ')}", markup=False)
    return EXIT_OK if artifact.allowed else EXIT_DENIED


@dataclass(frozen=True, slots=True)
class _Settings:
    """Flags merged over ``[tool.kerasvet]`` over the defaults."""

    policy: str
    fail_on: FailOn
    baseline: str | None
    exclude: tuple[ExcludePattern, ...]
    jobs: int
    docs_base: str | None


def _settings(args: argparse.Namespace, root: str) -> _Settings:
    config = load_config(Path(root))
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    exclude = (tuple(ExcludePattern(base=root, glob=g) for g in args.exclude)
               if args.exclude is not None else config.exclude or ())
    docs_base = (check_docs_base(args.docs_base, "--docs-base")
                 if args.docs_base is not None else config.docs_base)
    fail_on = FailOn(args.fail_on) if args.fail_on is not None else config.fail_on
    return _Settings(
        policy=args.policy or config.policy or "default",
        fail_on=fail_on or FailOn.HIGH,
        baseline=str(args.baseline) if args.baseline is not None else config.baseline,
        exclude=exclude,
        jobs=args.jobs or config.jobs or default_jobs(),
        docs_base=docs_base,
    )


def _progress() -> tuple[Progress | None, Callable[[], None]]:
    """A progress bar on a terminal only: never in a pipe or a CI log."""
    if not sys.stderr.isatty() or os.environ.get("CI", "").lower() not in ("", "0", "false"):
        return None, lambda: None
    from rich.console import Console  # imported only when drawn
    from rich.progress import Progress as Bar

    bar = Bar(transient=True, console=Console(stderr=True))
    task = bar.add_task("auditing", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


def _write_baseline(path: Path, report: Report, fail_on: FailOn,
                    previous: Baseline | None) -> None:
    written, unhashed = baseline_from_report(report, fail_on.severity, previous)
    path.write_text(render_baseline(written), encoding="utf-8")
    count = len(written.entries)
    sys.stderr.write(f"kerasvet: wrote {count} baseline entr{'y' if count == 1 else 'ies'} "
                     f"to {path}; a person must replace each placeholder reason before "
                     "--baseline accepts it\n")
    if unhashed:
        sys.stderr.write(f"kerasvet: {unhashed} finding(s) could not be recorded: their "
                         "artifact has no hash (too large or unreadable)\n")


def _audit(args: argparse.Namespace) -> int:
    root = os.path.abspath(args.root if args.root is not None else os.getcwd())
    settings = _settings(args, root)
    policy = resolve_policy(settings.policy)
    baseline = load_baseline(settings.baseline) if settings.baseline is not None else None
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise KerasvetError(f"no such file or directory: {', '.join(missing)}")
    progress, stop = _progress()
    try:
        report = scan([str(p) for p in args.paths], policy, root=root,
                      exclude=settings.exclude, jobs=settings.jobs,
                      fail_on=settings.fail_on.severity, baseline=baseline,
                      by_content=args.by_content, progress=progress)
    finally:
        stop()
    options = RenderOptions(show_allowed=args.show_allowed, docs_base=settings.docs_base)
    text = FORMATS[OutputFormat(args.format)](report, options)
    if args.write_baseline is not None:
        _write_baseline(args.write_baseline, report, settings.fail_on, baseline)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return int(exit_code(report))


def _rules() -> int:
    for rule in RULES:
        sys.stdout.write(f"{rule.id}  {rule.severity.label:8}  {rule.slug}: {rule.summary}\n")
    return EXIT_OK


def _load(args: argparse.Namespace) -> int:
    policy = resolve_policy(args.policy)
    if not args.path.exists():
        raise KerasvetError(f"no such file or directory: {args.path}")
    try:
        from kerasvet.loader import load_and_summarize
    except ImportError as exc:  # pragma: no cover - only without the [keras] extra
        raise KerasvetError(f"`kerasvet load` needs the [keras] extra ({exc})") from None
    sys.stdout.write(load_and_summarize(args.path, policy) + "\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "audit":
            return _audit(args)
        if args.command == "explain":
            return _explain(args)
        if args.command == "load":
            return _load(args)
        if args.command == "policy":
            return _policy(args)
        return _rules()
    # Messages quote artifact content and file names: escape what a terminal would act on.
    except PolicyViolation as exc:
        sys.stderr.write(f"{printable_lines(str(exc), '')}\n")
        return EXIT_DENIED
    except KerasvetError as exc:
        sys.stderr.write(f"kerasvet: error: {printable_lines(str(exc), '  ')}\n")
        return EXIT_USAGE
    except OSError as exc:
        where = printable(str(exc.filename or ""))
        sys.stderr.write(f"kerasvet: error: {exc.strerror or exc}: {where}\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
