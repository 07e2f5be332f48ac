"""Parsing NAME, NAME:VERSION and NAME@ALIAS, and refusing everything else clearly."""

from __future__ import annotations

import pytest

from shipyard.errors import RegistryError
from shipyard.registry.reference import (
    InvalidReferenceError,
    ModelRef,
    check_alias,
    check_name,
    parse_ref,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("housing", ModelRef("housing")),
        ("housing:3", ModelRef("housing", version=3)),
        ("housing@champion", ModelRef("housing", alias="champion")),
        ("housing@latest", ModelRef("housing", alias="latest")),
        ("Churn-v2.1_a:12", ModelRef("Churn-v2.1_a", version=12)),
        ("  housing@blue  ", ModelRef("housing", alias="blue")),
        ("7up@x1", ModelRef("7up", alias="x1")),
    ],
)
def test_valid_references_parse(text: str, expected: ModelRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize("text", ["housing", "housing:3", "housing@champion"])
def test_a_reference_prints_as_it_was_written(text: str) -> None:
    assert str(parse_ref(text)) == text
    assert parse_ref(parse_ref(text)) == parse_ref(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("housing:", "version after ':' is empty"),
        ("housing@", "alias after '@' is empty"),
        (":3", "model name is empty"),
        ("@champion", "model name is empty"),
        ("housing:abc", "not a whole number"),
        ("housing:-1", "not a whole number"),
        ("housing:1.5", "not a whole number"),
        ("housing:0", "versions start at 1"),
        ("housing:99999999999", "too large"),
        ("housing:" + "9" * 5000, "too large"),
        ("housing:٣", "not a whole number"),
        ("housing:1@champion", "not both"),
        ("housing:1:2", "more than one"),
        ("a@b@c", "more than one"),
        ("-housing", "must start with a letter or digit"),
        ("hous ing", "must start with a letter or digit"),
        ("../etc/passwd", "must start with a letter or digit"),
        ("housing@3", "all digits"),
        ("housing@bad alias", "must start with a letter or digit"),
        ("x" * 201, "longer than 200"),
    ],
)
def test_malformed_references_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(InvalidReferenceError, match=problem) as info:
        parse_ref(text)
    assert isinstance(info.value, RegistryError)
    assert isinstance(info.value, ValueError)
    assert "NAME:VERSION" in str(info.value)


def test_latest_is_readable_but_never_settable() -> None:
    assert check_alias("latest", allow_latest=True) == "latest"
    with pytest.raises(InvalidReferenceError, match="reserved"):
        check_alias("latest")


def test_check_name_accepts_only_valid_names() -> None:
    assert check_name("housing") == "housing"
    with pytest.raises(InvalidReferenceError):
        check_name("housing:1")
    with pytest.raises(InvalidReferenceError):
        check_name("")
