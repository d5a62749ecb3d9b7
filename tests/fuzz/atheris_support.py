"""Shared set-up of the atheris harnesses: which kerasvet is fuzzed, the seed corpus, the flags.

Not a test module (pytest collects only ``test_*.py``); imported by ``atheris_reader.py`` and
``atheris_marshal.py``, which are run by hand, never in CI.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
ROOT = FUZZ_DIR.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
WORK_DIR = FUZZ_DIR / ".atheris"
"""Working corpus and crash files (git-ignored): seeds are copied here, finds are added."""

DEFAULT_FLAGS = ("-timeout=10", "-rss_limit_mb=3072", "-print_final_stats=1")
"""A single input slower than 10 s or a process over 3 GiB is a finding (a DoS), not a wait."""


def use_this_checkout() -> None:
    """Fuzz the ``src/`` next to this file, not whatever kerasvet is installed."""
    source = str(ROOT / "src")
    if source not in sys.path:
        sys.path.insert(0, source)


def prepare_argv(name: str, seeds: Iterable[tuple[str, bytes]]) -> list[str]:
    """libFuzzer's argv: the caller's flags, our defaults unless overridden, and a corpus.

    Without a corpus directory on the command line the seeds are written to
    ``tests/fuzz/.atheris/<name>/corpus`` and crash files go to ``.../crashes/``.
    """
    argv = list(sys.argv)
    flags = [a for a in argv[1:] if a.startswith("-")]
    given = {flag.split("=", 1)[0] for flag in flags}
    extra = [flag for flag in DEFAULT_FLAGS if flag.split("=", 1)[0] not in given]
    if not any(not a.startswith("-") for a in argv[1:]):
        corpus = WORK_DIR / name / "corpus"
        crashes = WORK_DIR / name / "crashes"
        corpus.mkdir(parents=True, exist_ok=True)
        crashes.mkdir(parents=True, exist_ok=True)
        for seed_name, data in seeds:
            target = corpus / f"seed-{seed_name}"
            if not target.exists():
                target.write_bytes(data)
        if "-artifact_prefix" not in given:
            extra.append(f"-artifact_prefix={crashes}/")
        argv.append(str(corpus))
    return [argv[0], *extra, *argv[1:]]
