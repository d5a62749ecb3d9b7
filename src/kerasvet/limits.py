"""Resource caps. Every cap is a policy setting with a safe default, enforced while reading.

The wall-time cap is enforced cooperatively: the audit starts one :class:`Deadline` and hands
it down, and each reader, walk and engine loop calls :meth:`Deadline.check` at its loop
boundaries. No signal, thread or global clock state is involved, so a library caller's own
signal handlers and threads are untouched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

__all__ = ["NO_DEADLINE", "Deadline", "DeadlineExceeded", "Limits"]

_MIB = 1024 * 1024
_LAMBDA_CODE_CHARS = 65_536
"""Default lambda code cap, the same under both of its spellings."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what an artifact may cost to read and to build."""

    max_artifact_bytes: int = 4096 * _MIB
    """Largest artifact (file, or sum of a directory's files) read at all."""
    max_config_bytes: int = 64 * _MIB
    """Largest config document (``config.json``, an HDF5 JSON attribute, a JSON string)."""
    max_zip_members: int = 1000
    """Most members a ``.keras`` zip may list."""
    max_compression_ratio: int = 100
    """Largest uncompressed/compressed size ratio of any zip member."""
    max_json_depth: int = 128
    """Deepest nesting of lists and objects in a config document."""
    max_json_values: int = 2_000_000
    """Most JSON values (of any kind) in one config document."""
    max_nodes: int = 100_000
    """Most config nodes (dicts with ``class_name``) in one artifact."""
    max_int_digits: int = 19
    """Longest integer literal, in decimal digits (sign excluded): about the 64-bit range."""
    max_string_length: int = 1 * _MIB
    """Longest string value in a config document."""
    max_dimension: int = 1 << 24
    """Largest single size argument (units, filters, vocabulary size, a shape entry)."""
    max_parameters: int = 2_000_000_000
    """Model-wide budget of trainable parameters estimated from the config."""
    max_hdf5_objects: int = 100_000
    """Most groups, datasets and links walked in one HDF5 file."""
    max_lambda_code_chars: int = _LAMBDA_CODE_CHARS
    """Longest base64 ``code`` field of a serialized lambda read at all (also spelled
    ``[lambdas] max_code_chars``: the policy loader keeps the two equal)."""
    max_audit_seconds: int = 60
    """Wall time one artifact's audit may take (read, walk and engine together)."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The setting names, as they appear in a policy's ``[limits]`` table."""
        return tuple(f.name for f in fields(cls))


class DeadlineExceeded(Exception):
    """Raised by :meth:`Deadline.check`; each pipeline stage turns it into a KV002 finding."""

    def __init__(self, deadline: Deadline, stage: str) -> None:
        super().__init__(f"the audit ran past its {deadline.seconds} s cap while {stage}")
        self.deadline = deadline
        self.stage = stage


@dataclass(frozen=True, slots=True)
class Deadline:
    """The moment an audit must stop by, read from a monotonic clock.

    Immutable and passed down explicitly, so the engine stays a function of its arguments
    (the clock being the one input it samples). ``clock`` exists for tests that need an
    exact elapsed time; production code always uses the default.
    """

    seconds: float
    """The cap the deadline was started with (``max_audit_seconds``)."""
    expires_at: float
    """``clock()`` value after which :meth:`check` raises."""
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    """The clock sampled: ``time.monotonic`` unless a test supplies its own."""

    @classmethod
    def start(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(seconds=seconds, expires_at=clock() + seconds, clock=clock)

    @classmethod
    def for_limits(cls, limits: Limits) -> Deadline:
        """A deadline for one audit under ``limits`` (``max_audit_seconds`` from now)."""
        return cls.start(limits.max_audit_seconds)

    @classmethod
    def never(cls) -> Deadline:
        """A deadline that never passes, for readers called on their own."""
        return cls(seconds=math.inf, expires_at=math.inf)

    def expired(self) -> bool:
        """Whether the cap has been passed."""
        return self.clock() > self.expires_at

    def check(self, stage: str) -> None:
        """Raise :class:`DeadlineExceeded` naming ``stage`` once the cap has been passed."""
        if self.clock() > self.expires_at:
            raise DeadlineExceeded(self, stage)


NO_DEADLINE = Deadline.never()
"""The default of the readers' ``deadline`` parameter: no wall-time check."""
