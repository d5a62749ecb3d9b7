"""The policy engine: (tree, policy) -> decisions, with no I/O and no global state."""

from kerasvet.engine.evaluate import KIND_CHECKS, evaluate
from kerasvet.engine.model import Decision, Evaluation, Verdict

__all__ = ["KIND_CHECKS", "Decision", "Evaluation", "Verdict", "evaluate"]
