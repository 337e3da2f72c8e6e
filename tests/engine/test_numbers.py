"""Regex normalization rules on RE2: the same results as Python's re gave, linear time."""

from __future__ import annotations

import re

import pytest
import re2

from routing.engine.numbers import (
    MAX_NUMBER_LENGTH,
    NumberRule,
    PatternError,
    ReplacementError,
    compile_pattern,
    compile_replacement,
    compile_rule,
)

# (pattern, replacement): the demo's, the bench's and what operators write.
RULES = [
    (r"^33(\d{9})$", r"0\1"),
    (r"0(\d{9})", r"33\1"),
    (r"^(?:\+|00)?(\d{7,15})$", r"\1"),
    (r"^(?:0|\+33|0033)([1-9]\d{8})$", r"33\g<1>"),
    (r"^(?:\*31#|#31#)?0?([1-9]\d{1,14})$", r"+\1"),
    (r"(?P<area>\d{3})(?P<rest>\d{4,})", r"1\g<area>\g<rest>"),
    (r"0(\d+)|1(\d+)", r"\2#\1"),  # a group that does not take part: empty, as in re
    (r"(1+)+2", r"\1"),
    (r"(?i)0(\d+)", r"33\1"),
    (r"\d*", r"\g<0>9"),
]
NUMBERS = ["33123456789", "0123456789", "0033612345678", "+33612345678", "*31#0612345678",
           "4930901820", "1" * 20 + "2", "11", "0", "", "06x", "1234567"]  # fmt: skip


def python_re(pattern: str, replacement: str, number: str) -> str | None:
    """What c4router answered before RE2: the pattern anchored, subn once."""
    try:
        regex = re.compile(rf"\A(?:{pattern})\Z")
    except re.error:
        regex = re.compile(pattern)  # (?i) first: what the wrapping refused
        if regex.fullmatch(number) is None:
            return None
        return regex.fullmatch(number).expand(replacement)  # type: ignore[union-attr]
    result, count = regex.subn(replacement, number, count=1)
    return result if count else None


@pytest.mark.parametrize(("pattern", "replacement"), RULES)
def test_results_are_those_of_python_re(pattern: str, replacement: str) -> None:
    rule = NumberRule(priority=1, applies_to="both", pattern=pattern, replacement=replacement)
    for number in NUMBERS:
        assert rule.apply(number) == python_re(pattern, replacement, number), number


@pytest.mark.parametrize(("pattern", "replacement"), RULES)
def test_the_direct_call_matches_re2s_own_api(pattern: str, replacement: str) -> None:
    """The rule calls the RE2 object directly (re2's Python wrapper is 4-5 times slower):
    a google-re2 upgrade that changed that interface fails here."""
    rule = NumberRule(priority=1, applies_to="both", pattern=pattern, replacement=replacement)
    public = re2.compile(pattern)
    for number in NUMBERS:
        match = public.fullmatch(number)
        expected = None if match is None else match.expand(replacement)
        assert rule.apply(number) == expected, number


@pytest.mark.parametrize(
    ("python", "number", "matches"),
    [
        (r"^0(\d+)\Z", "0612", True),  # \Z: the end, RE2's \z
        (r"0\d{,3}", "0612", True),  # {,n}: {0,n}, not the text '{,3}'
        (r"0\d{,3}", "06123", False),
        (r"0\d{,}", "06123", True),
        (r"0[{,3}]", "0{", True),  # in a class: characters
        (r"0\{,3}", "0{,3}", True),  # escaped: the text
    ],
)
def test_pythons_own_spellings_keep_their_meaning(python: str, number: str, matches: bool) -> None:
    rule = NumberRule(priority=1, applies_to="both", pattern=python, replacement="1")
    assert (rule.apply(number) is not None) is matches


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        (r"0\2", "invalid group reference 2 at position 2"),
        (r"0\g<2>", "invalid group reference 2 at position 4"),  # as re says
        (r"0\g<name>", "unknown group name 'name'"),
        (r"0\g<1", "missing group name in \\g<...> at position 1"),
        ("0\\", "bad escape (end of pattern) at position 1"),
        (r"0\n", "bad escape \\n at position 1"),
        (r"0\01", "bad escape \\0 at position 1"),
    ],
)
def test_replacement_errors_say_where(replacement: str, message: str) -> None:
    with pytest.raises(ReplacementError) as error:
        compile_rule(r"^33(\d{9})$", replacement)
    assert str(error.value) == message
    assert error.value.reason == f"replacement: {message}"


def test_replacement_pieces() -> None:
    regex = compile_pattern(r"(?P<cc>\d{2})(\d+)")
    assert compile_replacement(regex, r"+\g<cc>\\\2\g<0>12") == ("+", 1, "\\", 2, 0, "12")


def test_a_syntax_error_is_not_called_unsupported() -> None:
    with pytest.raises(PatternError) as error:
        compile_pattern(r"^(33")
    assert not error.value.unsupported
    assert str(error.value) == "the regular expression does not compile: missing ): ^(33"


def test_no_pattern_sees_a_number_longer_than_any_number() -> None:
    rule = NumberRule(priority=1, applies_to="both", pattern=r"\d+", replacement=r"\g<0>")
    assert rule.apply("1" * MAX_NUMBER_LENGTH) == "1" * MAX_NUMBER_LENGTH
    assert rule.apply("1" * (MAX_NUMBER_LENGTH + 1)) is None
    assert rule.apply("١٢٣") is None  # not ASCII: no number (and RE2 offsets are bytes)


@pytest.mark.parametrize(
    ("pattern", "unsupported", "message"),
    [
        ("(?i", False, "the regular expression does not compile: invalid perl operator: (?i"),
        ("(?x)1", True, "flags other than i, m, s and U (such as x, a or L) cannot be used"),
        ("0\ud800", False, "the pattern is not valid Unicode text"),  # JSON can carry one
    ],
)
def test_pattern_errors(pattern: str, unsupported: bool, message: str) -> None:
    with pytest.raises(PatternError) as error:
        compile_pattern(pattern)
    assert error.value.unsupported is unsupported
    assert str(error.value).startswith(message)
