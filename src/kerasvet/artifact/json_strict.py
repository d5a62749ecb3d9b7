"""One strict JSON parse per document.

Keras itself uses plain ``json.loads``, which keeps the last of two duplicate keys and
accepts NaN and Infinity; any difference between what we audit and what Keras builds is an
attack surface, so those are refused here, as are numbers too large to be real settings and
over-long strings.

The parse is built to stay close to plain ``json.loads`` speed: hooks run per object and per
number, never per value, and duplicate keys are ruled out by counting. In valid JSON every
``:`` outside a string separates a key from its value, so when the text holds exactly as many
``:`` as the parsed objects hold keys, no key was repeated and no string contains a colon;
only when the counts differ is the document parsed again, pair by pair, to find the culprit.

The value cap is enforced before the parse builds anything: a 64 MiB document of ``{},``
would otherwise become a gigabyte of empty dicts before the tree walk could count them.
Counting commas and brackets bounds the values from above at C speed; only a document over
that bound has its strings blanked out (one regex pass) for the exact count.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

from kerasvet.artifact import rules
from kerasvet.findings import Finding, Location, Pointer, Rule, join_pointer
from kerasvet.limits import NO_DEADLINE, Deadline, Limits

__all__ = ["parse_json_document"]


class _Refused(Exception):
    """Raised from inside the parser hooks to stop at the first structural problem."""

    def __init__(self, finding_rule: Rule, message: str, value: object,
                 pointer: str = "") -> None:
        super().__init__(message)
        self.finding_rule = finding_rule
        self.message = message
        self.value = value
        self.pointer = pointer


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


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(rules.JSON_HUGE_NUMBER, f"the number {text[:40]} overflows a float", text)
    return number


def _int_parser(max_digits: int) -> Callable[[str], int]:
    def parse_int(text: str) -> int:
        if len(text) - text.startswith("-") > max_digits:
            raise _Refused(
                rules.JSON_HUGE_NUMBER,
                f"an integer of {len(text)} digits, over the cap of {max_digits} "
                "(`max_int_digits`)",
                text,
            )
        return int(text)

    return parse_int


def _long_string(value: object, limit: int) -> tuple[str, int] | None:
    """Pointer and length of the first key or string longer than ``limit``."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, pointer = stack.pop()
        if isinstance(item, str):
            if len(item) > limit:
                return pointer, len(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                if len(key) > limit:
                    return pointer, len(key)
                stack.append((child, join_pointer(pointer, key)))
        elif isinstance(item, list):
            stack.extend((child, f"{pointer}/{i}") for i, child in enumerate(item))
    return None


_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
"""Translation table: digits stay digits ("0"), everything else becomes a space."""


def _may_hold_long_integer(data: bytes, max_digits: int) -> bool:
    """Whether any run of more than ``max_digits`` digits occurs (in a number or a string).

    Two C-speed passes instead of a Python call per integer; only a hit pays for the
    precise per-integer check.
    """
    return b"0" * (max_digits + 1) in data.translate(_DIGITS)


_STRING = re.compile(rb'"[^"]*"')
"""A JSON string once its escaped quotes are gone: quote, anything but a quote, quote.
Each is replaced by one character, so ``["a"]`` does not turn into an empty list."""
_WHITESPACE = b" \t\r\n"


def _structural_values(data: bytes) -> int:
    """Commas plus containers: every value inside a container is its first or follows a comma."""
    return data.count(b",") + data.count(b"[") + data.count(b"{")


def count_values(data: bytes) -> int:
    """How many values the containers of a valid JSON document hold, without parsing it.

    The same count the tree walk takes (the length of every object and list, summed): one
    per comma outside strings plus one per non-empty container. Valid JSON has backslashes
    only inside strings, so blanking escaped backslashes, then escaped quotes, leaves only
    the quotes that open and close strings; a few C-speed passes, about half a parse.
    """
    unescaped = data.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    structure = _STRING.sub(b"0", unescaped).translate(None, _WHITESPACE)
    empty = structure.count(b"[]") + structure.count(b"{}")
    return _structural_values(structure) - empty


def _parse(text: str, data: bytes, limits: Limits, deadline: Deadline) -> object:
    if _structural_values(data) > limits.max_json_values:
        values = count_values(data)
        if values > limits.max_json_values:
            raise _Refused(rules.JSON_TOO_BIG,
                           f"the document holds {values} JSON values, over the cap of "
                           f"{limits.max_json_values} (`max_json_values`)", values)
    keys = 0

    def count_keys(obj: dict[str, object]) -> dict[str, object]:
        nonlocal keys
        keys += len(obj)
        return obj

    long_ints = _may_hold_long_integer(data, limits.max_int_digits)
    parse_int = _int_parser(limits.max_int_digits) if long_ints else int
    value = json.loads(text, object_hook=count_keys, parse_constant=_refuse_constant,
                       parse_int=parse_int, parse_float=_parse_float)
    if text.count(":") != keys:
        # A duplicate key, or merely a colon inside a string: parse again, pair by pair.
        deadline.check("parsing a JSON document")
        value = json.loads(text, object_pairs_hook=_pairs_to_dict,
                           parse_constant=_refuse_constant, parse_int=parse_int,
                           parse_float=_parse_float)
    if len(text) > limits.max_string_length:
        found = _long_string(value, limits.max_string_length)
        if found is not None:
            raise _Refused(rules.JSON_TOO_BIG,
                           f"a string of {found[1]} characters, over the cap of "
                           f"{limits.max_string_length} (`max_string_length`)", None, found[0])
    return value


def parse_json_document(
    data: bytes | str, member: str, limits: Limits, deadline: Deadline = NO_DEADLINE
) -> tuple[object | None, tuple[Finding, ...]]:
    """Parse ``data`` once; on any refusal return ``None`` and the finding that says why."""
    deadline.check(f"parsing {member}")
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
        if isinstance(data, bytes):
            text = data.decode("utf-8")
        else:
            text, data = data, data.encode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        return None, (
            Finding.of(
                rules.JSON_INVALID,
                Location(member=member, detail=f"byte {exc.start}"),
                f"{member} is not valid UTF-8",
            ),
        )
    try:
        return _parse(text, data, limits, deadline), ()
    except _Refused as refused:
        return None, (
            Finding.of(refused.finding_rule,
                       Location(member=member, pointer=Pointer(refused.pointer)),
                       refused.message, value=refused.value),
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
