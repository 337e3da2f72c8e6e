"""Numbers: parse what a peer sends, normalize to E.164 digits and back.

Inside the engine a number is its E.164 digits without '+' ("33123456789"). Each carrier
and PBX has an ordered list of rules per direction; the first rule that matches applies,
and a number no rule matches is taken as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CALLEE = "callee"
CALLER = "caller"
BOTH = "both"

# Visual separators RFC 3966 allows in a telephone number: dropped before matching.
_VISUAL = str.maketrans("", "", "-.() ")


@dataclass(frozen=True, slots=True)
class NumberRule:
    """One normalization rule: a regex (full match + replacement) or strip/prefix."""

    priority: int
    applies_to: str  # CALLEE, CALLER or BOTH
    pattern: str | None  # None: a strip/prefix rule
    replacement: str = ""
    match_prefix: str = ""
    strip: int = 0
    add_prefix: str = ""
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            # Anchored at both ends: subn() then replaces the whole number or nothing, and
            # (unlike match.expand in Python 3.11) reuses the compiled replacement template.
            object.__setattr__(self, "_regex", re.compile(rf"\A(?:{self.pattern})\Z"))

    def applies(self, which: str) -> bool:
        return self.applies_to in (BOTH, which)

    def apply(self, number: str) -> str | None:
        """The transformed number, or None when the rule does not match it."""
        if self._regex is not None:
            result, count = self._regex.subn(self.replacement, number, count=1)
            return result if count else None
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
    if text.startswith("+"):
        digits = text[1:]
        return digits if digits.isdigit() and digits.isascii() else None
    if not text:
        return None
    result = plan.transform(text, which)
    if result.startswith("+"):
        result = result[1:]
    return result if result.isdigit() and result.isascii() else None


def from_e164(number: str, plan: NumberPlan, which: str) -> str:
    """The number as a peer wants it, from E.164 digits (unchanged when no rule matches)."""
    return plan.transform(number, which)


def strip_and_prefix(number: str, strip: int, prefix: str) -> str:
    """A gateway's last touch on the called number: drop `strip` digits, add `prefix`."""
    return prefix + number[strip:] if strip or prefix else number
