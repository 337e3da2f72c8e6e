"""Numbers: parse what a peer sends, normalize to E.164 digits and back.

Inside the engine a number is its E.164 digits without '+' ("33123456789"). Each carrier
and PBX has an ordered list of rules per direction; the first rule that matches applies,
and a number no rule matches is taken as it is.

Regex rules run on RE2 (google-re2), not Python's re: an admin types the pattern, and a
backtracking engine lets one pattern such as (1+)+2 cost seconds of a worker's event loop
per query. RE2 matches in time linear in the number's length, so it has no backreferences,
lookarounds, atomic groups, possessive quantifiers or conditionals; compile_pattern() and
compile_rule() say so in words. They are the only way a pattern or replacement is compiled:
the validators (routing.validators) call them too, so what an admin may save is exactly
what the engine can run. A number longer than MAX_NUMBER_LENGTH is no number (E.164 has
15 digits at most): no pattern ever sees one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import re2
from re2 import _re2

CALLEE = "callee"
CALLER = "caller"
BOTH = "both"

# The longest user part taken as a number: E.164 is 15 digits; national formats, 00 and
# tech prefixes (*31#) fit with room to spare. Also the model's example field length.
MAX_NUMBER_LENGTH = 32
# RE2 compiles a pattern to a program; matching a number costs at most about its size
# times the number's length: tens of microseconds for hostile programs near this size on
# 32 characters (bench/normalization_bench.py: 55 us of CPU; up to 300 us of wall time on
# the loaded 2-core machine). Real number patterns are 15-70 steps.
MAX_PROGRAM_SIZE = 200

# Visual separators RFC 3966 allows in a telephone number: dropped before matching.
_VISUAL = str.maketrans("", "", "-.() ")

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are raised (PatternError), not printed on stderr
_OPTIONS.max_mem = 1 << 20  # per rule: the program and its match cache (RE2's default 8 MiB)
_ANCHOR_BOTH = _re2.RE2.Anchor.ANCHOR_BOTH
_NO_SPAN = (-1, -1)


class RuleError(ValueError):
    """A rule the engine cannot run; the message says why, in an admin's words."""

    field = "pattern"
    unsupported = False

    @property
    def reason(self) -> str:
        """The field and the problem: what the table's report of a left-out rule says."""
        return f"{self.field}: {self}"


class PatternError(RuleError):
    """The pattern does not compile, or uses what RE2 does not have (unsupported=True)."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


class ReplacementError(RuleError):
    """The replacement refers to a group the pattern lacks, or has a bad escape."""

    field = "replacement"


# What RE2 refuses that Python's re has, by the start of RE2's error text.
_UNSUPPORTED = (
    (r"invalid escape sequence: \1", "backreferences such as \\1 (a replacement may use them)"),
    ("invalid perl operator: (?P", "backreferences such as (?P=name)"),
    ("invalid perl operator: (?=", "lookahead (?=...)"),
    ("invalid perl operator: (?!", "negative lookahead (?!...)"),
    ("invalid perl operator: (?<=", "lookbehind (?<=...)"),
    ("invalid perl operator: (?<!", "negative lookbehind (?<!...)"),
    ("invalid perl operator: (?>", "atomic groups (?>...)"),
    ("invalid perl operator: (?(", "conditional groups (?(1)...)"),
    ("invalid perl operator: (?#", "comments (?#...)"),
    ("bad repetition operator: ++", "possessive quantifiers such as ++"),
    ("bad repetition operator: *+", "possessive quantifiers such as *+"),
    ("bad repetition operator: ?+", "possessive quantifiers such as ?+"),
    ("bad repetition operator: }+", "possessive quantifiers such as {1,3}+"),
)
_BACKREFERENCE_RE = re.compile(r"invalid escape sequence: \\[1-9]")
_FLAGS_RE = re.compile(r"invalid perl operator: \(\?([a-zA-Z-]*)")


def _unsupported(error: str) -> str | None:
    if _BACKREFERENCE_RE.match(error):
        return _UNSUPPORTED[0][1]
    for start, what in _UNSUPPORTED[1:]:
        if error.startswith(start):
            return what
    flags = _FLAGS_RE.match(error)
    if flags is not None and set(flags.group(1)) - set("imsU-"):  # else: a syntax error
        return "flags other than i, m, s and U (such as x, a or L)"
    return None


def _python_syntax_to_re2(pattern: str) -> str:
    r"""The two spellings Python's re has for what RE2 writes otherwise, translated: \Z
    (RE2: \z, the end of the text) and {,n} (RE2 reads it as the literal text '{,n}': it
    means {0,n}). Patterns saved before c4router used RE2 keep their meaning."""
    if "\\Z" not in pattern and "{," not in pattern:
        return pattern
    out: list[str] = []
    index, length, in_class = 0, len(pattern), False
    while index < length:
        char = pattern[index]
        if char == "\\" and index + 1 < length:
            escaped = pattern[index + 1]
            out.append("\\z" if escaped == "Z" and not in_class else char + escaped)
            index += 2
            continue
        if in_class:
            # ']' right after '[' or '[^' is a member, not the end.
            if char == "]" and not (out[-1] == "[" or out[-2:] == ["[", "^"]):
                in_class = False
        elif char == "[":
            in_class = True
        elif char == "{" and pattern.startswith("{,", index):
            end = pattern.find("}", index)
            count = pattern[index + 2 : end]
            if end != -1 and (not count or (count.isascii() and count.isdigit())):
                out.append("{0," + count + "}")
                index = end + 1
                continue
        out.append(char)
        index += 1
    return "".join(out)


def compile_pattern(pattern: str) -> Any:
    """The pattern as the engine runs it (an RE2 program matched against the whole
    number); raises PatternError saying why it cannot be used."""
    try:
        text = _python_syntax_to_re2(pattern).encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry
        raise PatternError("the pattern is not valid Unicode text") from None
    regex = _re2.RE2(text, _OPTIONS)
    if not regex.ok():
        error = regex.error().decode(errors="replace")
        what = _unsupported(error)
        if what is not None:
            raise PatternError(
                f"{what} cannot be used: patterns run on RE2, which matches in linear time "
                "and has no backreferences, lookarounds, atomic groups, possessive "
                "quantifiers or conditionals",
                unsupported=True,
            )
        if error.startswith("pattern too large"):
            raise PatternError(_too_complex(None), unsupported=True)
        raise PatternError(f"the regular expression does not compile: {error}")
    size = regex.ProgramSize()
    if size > MAX_PROGRAM_SIZE:
        raise PatternError(_too_complex(size), unsupported=True)
    return regex


def _too_complex(size: int | None) -> str:
    shown = f"{size} steps" if size is not None else "too many steps"
    return (
        f"the pattern is too complex ({shown}, at most {MAX_PROGRAM_SIZE}): a number has "
        f"at most {MAX_NUMBER_LENGTH} characters, so no repeat needs to be longer"
    )


Template = tuple[str | int, ...]


def compile_replacement(regex: Any, replacement: str) -> Template:
    r"""The replacement as pieces: literal text, and group numbers (0: the whole number).

    Python's template syntax, as the admin was told: \1 to \99, \g<1>, \g<name>, and \\ for
    a backslash; any other escape is an error. Raises ReplacementError.
    """
    groups = regex.NumberOfCapturingGroups()
    names = {name.decode(): index for name, index in regex.NamedCapturingGroups()}
    pieces: list[str | int] = []
    literal: list[str] = []
    index, length = 0, len(replacement)
    while index < length:
        char = replacement[index]
        index += 1
        if char != "\\":
            literal.append(char)
            continue
        if index == length:
            raise ReplacementError(f"bad escape (end of pattern) at position {index - 1}")
        escaped = replacement[index]
        if escaped == "\\":
            literal.append("\\")
            index += 1
            continue
        if escaped == "g":
            end = replacement.find(">", index)
            if not replacement.startswith("g<", index) or end == -1:
                raise ReplacementError(f"missing group name in \\g<...> at position {index - 1}")
            name = replacement[index + 2 : end]
            if name.isascii() and name.isdigit():
                group = int(name)
            elif name in names:
                group = names[name]
            else:
                raise ReplacementError(f"unknown group name '{name}'")
            where = index + 2
            index = end + 1
        elif escaped.isascii() and escaped.isdigit() and escaped != "0":
            digits = escaped
            if (
                index + 1 < length
                and replacement[index + 1].isascii()
                and (replacement[index + 1].isdigit())
            ):
                digits += replacement[index + 1]
            group, where = int(digits), index
            index += len(digits)
        else:
            raise ReplacementError(f"bad escape \\{escaped} at position {index - 1}")
        if not 0 <= group <= groups:
            raise ReplacementError(f"invalid group reference {group} at position {where}")
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append(group)
    if literal:
        pieces.append("".join(literal))
    return tuple(pieces)


def compile_rule(pattern: str, replacement: str) -> tuple[Any, Template]:
    """A regex rule as the engine runs it: (the compiled pattern, the replacement's
    pieces). Raises PatternError or ReplacementError (both RuleError)."""
    regex = compile_pattern(pattern)
    return regex, compile_replacement(regex, replacement)


@dataclass(frozen=True, slots=True)
class NumberRule:
    """One normalization rule: a regex (full match + replacement) or strip/prefix.

    A regex rule compiles when made (compile_rule): a rule the engine cannot run raises
    RuleError here, never at match time.
    """

    priority: int
    applies_to: str  # CALLEE, CALLER or BOTH
    pattern: str | None  # None: a strip/prefix rule
    replacement: str = ""
    match_prefix: str = ""
    strip: int = 0
    add_prefix: str = ""
    _regex: Any = field(default=None, init=False, repr=False, compare=False)
    _template: Template = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            regex, template = compile_rule(self.pattern, self.replacement)
            object.__setattr__(self, "_regex", regex)
            object.__setattr__(self, "_template", template)

    def applies(self, which: str) -> bool:
        return self.applies_to in (BOTH, which)

    def apply(self, number: str) -> str | None:
        """The transformed number, or None when the rule does not match it."""
        regex = self._regex
        if regex is not None:
            # Numbers are ASCII (the query parser's URI user part), so RE2's byte offsets
            # are character offsets. The RE2 object is called directly: re2's Python
            # wrapper (re2.compile().fullmatch) costs 4-5 times as much per call.
            if len(number) > MAX_NUMBER_LENGTH or not number.isascii():
                return None
            data = number.encode()
            spans = regex.Match(_ANCHOR_BOTH, data, 0, len(data))
            if spans[0] == _NO_SPAN:
                return None
            # A group that did not take part spans (-1, -1): the empty string, as in re.
            return "".join(
                piece if piece.__class__ is str else number[slice(*spans[piece])]
                for piece in self._template
            )
        if not number.startswith(self.match_prefix) or len(number) < self.strip:
            return None
        return self.add_prefix + number[self.strip :]


@dataclass(frozen=True, slots=True)
class NumberPlan:
    """A peer's rules for one direction, split by the number they apply to, in order."""

    callee: tuple[NumberRule, ...] = ()
    caller: tuple[NumberRule, ...] = ()

    @classmethod
    def from_rules(cls, rules: list[NumberRule] | tuple[NumberRule, ...]) -> NumberPlan:
        ordered = sorted(rules, key=lambda rule: rule.priority)  # stable: ties keep input order
        return cls(
            callee=tuple(rule for rule in ordered if rule.applies(CALLEE)),
            caller=tuple(rule for rule in ordered if rule.applies(CALLER)),
        )

    def rules_for(self, which: str) -> tuple[NumberRule, ...]:
        return self.callee if which == CALLEE else self.caller

    def transform(self, number: str, which: str) -> str:
        for rule in self.callee if which == CALLEE else self.caller:
            result = rule.apply(number)
            if result is not None:
                return result
        return number


EMPTY_PLAN = NumberPlan()


def to_e164(user: str, plan: NumberPlan, which: str) -> str | None:
    """E.164 digits for a URI user part as a peer sent it, or None if it is not a number.

    '+' followed by digits is already E.164 and skips the rules; anything else goes through
    the peer's inbound rules first (national formats, 00 prefixes, tech prefixes).
    """
    text = user.translate(_VISUAL)
    if len(text) > MAX_NUMBER_LENGTH:
        return None  # no number is this long: no pattern sees it
    if text.startswith("+"):
        digits = text[1:]
        return digits if digits.isdigit() and digits.isascii() else None
    if not text:
        return None
    result = plan.transform(text, which)
    if result.startswith("+"):
        result = result[1:]
    if len(result) > MAX_NUMBER_LENGTH:
        return None  # a rule that adds digits cannot make one either
    return result if result.isdigit() and result.isascii() else None


def from_e164(number: str, plan: NumberPlan, which: str) -> str:
    """The number as a peer wants it, from E.164 digits (unchanged when no rule matches)."""
    return plan.transform(number, which)


def strip_and_prefix(number: str, strip: int, prefix: str) -> str:
    """A gateway's last touch on the called number: drop `strip` digits, add `prefix`."""
    return prefix + number[strip:] if strip or prefix else number
