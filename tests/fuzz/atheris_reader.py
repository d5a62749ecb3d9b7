"""atheris harness for the artifact reader (not run in CI; see tests/fuzz/README.md).

    python tests/fuzz/atheris_reader.py -atheris_runs=200000        # reader only
    python tests/fuzz/atheris_reader.py --audit -max_total_time=900  # reader, tree, engine

The reader must turn any bytes into an ``Artifact``; the audit into a report. Both swallow
unexpected exceptions into a KV001 finding so a caller never sees a traceback, which would
also hide every bug from a fuzzer. So a KV001 finding is the crash here: the failing stage is
re-run without its safety net and its exception propagates to libFuzzer, traceback and all.
"""

from __future__ import annotations

import sys

import atheris
from atheris_support import FIXTURES, ROOT, prepare_argv, use_this_checkout

use_this_checkout()

with atheris.instrument_imports(include=["kerasvet"]):
    from kerasvet.artifact import read as reader
    from kerasvet.artifact.rules import INTERNAL_ERROR
    from kerasvet.audit import analyse_artifact, audit_artifact
    from kerasvet.policy import load_policy

POLICY = load_policy("default")
MAX_SEED_BYTES = 48 * 1024
"""Smaller seeds mutate faster; the larger benign files add nothing the small ones lack."""


def seeds() -> list[tuple[str, bytes]]:
    """Every small fixture: JSON attacks and configs, legacy HDF5 files, .keras zips."""
    paths = [
        *sorted((FIXTURES / "attacks").glob("*.json")),
        *sorted((FIXTURES / "keras2").glob("*.h5")),
        FIXTURES / "keras2" / "model.json",
        *sorted((FIXTURES / "benign").glob("*.config.json")),
        *sorted((FIXTURES / "benign" / "files").iterdir()),
        *sorted((ROOT / "examples").glob("*.keras")),
        *sorted((ROOT / "examples").glob("*.h5")),
    ]
    return [(p.name, p.read_bytes()) for p in paths
            if p.name != "MANIFEST.json" and p.stat().st_size <= MAX_SEED_BYTES]


class InternalError(AssertionError):
    """A KV001 finding whose cause could not be reproduced outside the safety net."""


def read_only(data: bytes) -> None:
    artifact = reader.read_artifact(data, POLICY.limits)
    if any(f.rule.id == INTERNAL_ERROR.id for f in artifact.findings):
        reader._dispatch(data, POLICY.limits)  # raises the reader's own exception
        raise InternalError([f.message for f in artifact.findings])


def whole_audit(data: bytes) -> None:
    report = audit_artifact(data, POLICY)
    internal = [f for f in report.findings if f.rule.id == INTERNAL_ERROR.id]
    if internal:
        artifact = reader._dispatch(data, POLICY.limits)
        analyse_artifact(artifact, POLICY, "<bytes>")
        raise InternalError([f"{f.location.pointer}: {f.message}" for f in internal])


def main() -> None:
    target = read_only
    if "--audit" in sys.argv:
        sys.argv.remove("--audit")
        target = whole_audit
    atheris.Setup(prepare_argv("audit" if target is whole_audit else "reader", seeds()),
                  target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
