#!/usr/bin/env python3
"""Regenerate every generated part of every shipped policy, or check that none is stale.

Usage (from the repository root, with Keras 3 installed; KerasHub's files for keras-hub)::

    PYTHONPATH=src python scripts/regenerate_policies.py           # rewrite what is stale
    PYTHONPATH=src python scripts/regenerate_policies.py --check   # exit 1 + diffs if stale

It runs the existing generators, each on its own part, in parallel:

* ``policies/keras-builtins.toml``: ``generate_builtins_policy.py`` (Keras' registry;
  its slow ``--scan-applications`` is skipped here: applications.toml is the exact scan);
* the ``[lambdas]`` sections of ``default.toml`` and ``lambdas-reviewed.toml``:
  ``write_lambda_section.py`` (kerasvet.lambdas.defaults);
* ``policies/applications.toml``: ``generate_applications_policy.py`` (builds every
  keras.applications model, without allocating weights);
* ``policies/keras-hub.toml``: ``generate_keras_hub_policy.py`` (KerasHub's source, read
  with ``ast``; ``--keras-hub-source DIR|WHEEL`` or the installed package's files).

``--only NAME`` runs one of them (builtins, lambdas, applications, keras-hub).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"


def commands(check: bool, keras_hub_source: str | None) -> dict[str, list[str]]:
    """Each generator's command line."""
    flag = ["--check"] if check else []
    hub = ["--source", keras_hub_source] if keras_hub_source else []
    return {
        "builtins": [str(SCRIPTS / "generate_builtins_policy.py"), *flag,
                     "--no-scan-applications"],
        "lambdas": [str(SCRIPTS / "write_lambda_section.py"), *flag],
        "applications": [str(SCRIPTS / "generate_applications_policy.py"), *flag, "--jobs", "2"],
        "keras-hub": [str(SCRIPTS / "generate_keras_hub_policy.py"), *flag, *hub],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 and print diffs if a shipped file is stale")
    parser.add_argument("--only", action="append", choices=sorted(commands(False, None)))
    parser.add_argument("--keras-hub-source", help="a keras_hub source folder or wheel")
    args = parser.parse_args(argv)
    chosen = {k: v for k, v in commands(args.check, args.keras_hub_source).items()
              if not args.only or k in args.only}
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    procs = {name: subprocess.Popen([sys.executable, *cmd], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, cmd in chosen.items()}
    failed = []
    for name, proc in procs.items():
        out, err = proc.communicate()
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        print(f"{name}: {status}")
        if proc.returncode != 0:
            failed.append(name)
            sys.stdout.write(out)
            sys.stdout.write("".join(line for line in err.splitlines(keepends=True)
                                     if "arning" not in line)[-4000:])
    if failed:
        verb = "stale" if args.check else "failed"
        print(f"{verb}: {', '.join(failed)}; regenerate with: PYTHONPATH=src python "
              f"scripts/regenerate_policies.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
