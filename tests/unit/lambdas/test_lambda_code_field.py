"""decode_code_field: standard base64 only, the way Keras writes it, nothing Keras tolerates."""

from __future__ import annotations

import base64

import pytest

from kerasvet.lambdas.marshal_reader import decode_code_field
from kerasvet.lambdas.model import MarshalError

from ._support import all_cases


def test_every_fixture_round_trips() -> None:
    for case in all_cases():
        raw = decode_code_field(case.keras["code"])
        assert base64.encodebytes(raw).decode("ascii") == case.keras["code"]


def test_single_line_without_newline_is_accepted() -> None:
    assert decode_code_field("YWJj") == b"abc"
    assert decode_code_field("YWJjZA==\n") == b"abcd"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("\n", "empty"),
        ("YWJj ZA==", "outside standard base64"),
        ("YWJj\r\nZA==", "outside standard base64"),
        ("YW-j", "outside standard base64"),  # urlsafe alphabet
        ("YW_j", "outside standard base64"),
        ("YWJjZA", "whole number"),  # missing padding
        ("YQ==YWJj", "outside standard base64"),
        ("YQ==\nYWJj", "padding in the middle"),
        ("YR==", "non-canonical"),  # unused trailing bits set
        ("YWJ\u00e9", "not ASCII"),
        # Keras' func_load falls back to raw_unicode_escape on a decode error; we do not.
        ("c\\x00\\x00\\x00", "outside standard base64"),
    ],
)
def test_refused_spellings(text: str, reason: str) -> None:
    with pytest.raises(MarshalError) as info:
        decode_code_field(text)
    assert reason in info.value.reason


@pytest.mark.parametrize("value", [None, b"YWJj", 12, ["YWJj"]])
def test_non_string_is_refused(value: object) -> None:
    with pytest.raises(MarshalError, match="not a string"):
        decode_code_field(value)


def test_size_cap() -> None:
    text = base64.encodebytes(b"\0" * 300).decode("ascii")
    assert decode_code_field(text, max_chars=len(text)) == b"\0" * 300
    with pytest.raises(MarshalError, match="exceeds"):
        decode_code_field(text, max_chars=len(text) - 1)
    with pytest.raises(MarshalError, match="exceeds 65536"):
        decode_code_field("A" * 65540)
