"""docs/policies.md: every TOML snippet does what the page says it does."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from kerasvet.policy import load_policy
from kerasvet.policy.check import check_policies
from kerasvet.policy.testing import run_policy_tests

DOC = Path(__file__).resolve().parents[3] / "docs" / "policies.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_page_has_snippets():
    assert len(BLOCKS) >= 3
    # Every constraint key of the language appears in a valid, tested snippet.
    valid = "\n".join(b for b in BLOCKS if b.startswith("# valid"))
    for key in ("types", "pattern", "max_items", "nodes", "max_parameters", "[remove",
                "extends", "[[custom]]", "[[tests]]"):
        assert key in valid, key


@pytest.mark.parametrize("block", BLOCKS)
def test_snippet(tmp_path, block):
    name = re.search(r'^name = "([a-z0-9-]+)"', block, re.MULTILINE)
    assert name is not None
    path = tmp_path / f"{name.group(1)}.toml"
    path.write_text(block, encoding="utf-8")
    problems = check_policies([path])
    if block.startswith("# valid"):
        assert problems == ()
        # A snippet's own [[tests]] show what it does; they must hold (artifact cases
        # name files relative to the page's readers, so only inline configs run here).
        policy = load_policy(path)
        inline = tuple(t for t in policy.tests if t.artifact is None)
        results = run_policy_tests(dataclasses.replace(policy, tests=inline))
        failed = [str(r) for r in results if not r.passed]
        assert failed == []
    else:
        assert block.startswith("# invalid")
        (problem,) = problems
        comment = next(line for line in block.splitlines() if "# ->" in line)
        expected = comment.split("# -> ", 1)[1].split("...", 1)[0]
        assert str(problem).replace(str(tmp_path) + "/", "").startswith(expected)
