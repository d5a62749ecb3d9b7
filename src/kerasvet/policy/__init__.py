"""Policies: the TOML allowlists that decide what a config may build."""

from kerasvet.policy.load import SHIPPED_DIR, load_policy, shipped_policy_names
from kerasvet.policy.model import (
    ArgumentConstraint,
    DenyKind,
    DenyRule,
    LambdaMode,
    LambdaPolicy,
    Policy,
    PolicyFileError,
    PolicyTest,
)

__all__ = [
    "SHIPPED_DIR",
    "ArgumentConstraint",
    "DenyKind",
    "DenyRule",
    "LambdaMode",
    "LambdaPolicy",
    "Policy",
    "PolicyFileError",
    "PolicyTest",
    "load_policy",
    "shipped_policy_names",
]
