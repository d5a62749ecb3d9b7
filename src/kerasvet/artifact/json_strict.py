"""One strict JSON parse per document.

Keras itself uses plain ``json.loads``, which keeps the last of two duplicate keys and
accepts NaN and Infinity; any difference between what we audit and what Keras builds is an
attack surface, so those are refused here. Huge numbers, long strings and deep nesting are
caught by the tree walk, which visits every value anyway (cheaper than parse hooks).
"""

from __future__ import annotations

import json

from kerasvet.artifact import rules
from kerasvet.findings import Finding, Location, Pointer, Rule
from kerasvet.limits import Limits

__all__ = ["parse_json_document"]


class _Refused(Exception):
    """Raised from inside the parser hooks to stop at the first structural problem."""

    def __init__(self, finding_rule: Rule, message: str, value: object) -> None:
        super().__init__(message)
        self.finding_rule = finding_rule
        self.message = message
        self.value = value


def _pairs_to_dict(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(
                    rules.JSON_DUPLICATE_KEY, f"the key {key!r} appears twice in one object", key
                )
            seen.add(key)
    return result


def _refuse_constant(name: str) -> object:
    raise _Refused(rules.JSON_NON_FINITE, f"the literal {name} is not JSON", name)


def parse_json_document(
    data: bytes | str, member: str, limits: Limits
) -> tuple[object | None, tuple[Finding, ...]]:
    """Parse ``data`` once; on any refusal return ``None`` and the finding that says why."""
    where = Location(member=member, pointer=Pointer(""))
    if len(data) > limits.max_config_bytes:
        return None, (
            Finding.of(
                rules.TOO_LARGE,
                where,
                f"{member} is {len(data)} bytes, over the cap of {limits.max_config_bytes}",
            ),
        )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        return None, (
            Finding.of(
                rules.JSON_INVALID,
                Location(member=member, detail=f"byte {exc.start}"),
                f"{member} is not valid UTF-8",
            ),
        )
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs_to_dict, parse_constant=_refuse_constant
        )
    except _Refused as refused:
        return None, (
            Finding.of(refused.finding_rule, where, refused.message, value=refused.value),
        )
    except RecursionError:
        return None, (
            Finding.of(
                rules.JSON_TOO_DEEP,
                where,
                f"{member} nests deeper than the parser can follow",
            ),
        )
    except ValueError as exc:
        # JSONDecodeError, and int() refusing a literal over sys.int_info's digit limit.
        syntax = isinstance(exc, json.JSONDecodeError)
        detail = f"line {exc.lineno} column {exc.colno}" if syntax else None  # type: ignore[attr-defined]
        message = exc.msg if syntax else str(exc)  # type: ignore[attr-defined]
        rule = rules.JSON_INVALID if syntax else rules.JSON_HUGE_NUMBER
        return None, (
            Finding.of(rule, Location(member=member, pointer=Pointer(""), detail=detail),
                       f"{member} is not valid JSON: {message}"),
        )
    return value, ()
